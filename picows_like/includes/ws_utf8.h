/* Strict UTF-8 validation (RFC 3629: no overlongs, no surrogates, <= U+10FFFF),
 * incremental so a message can be checked fragment by fragment: a code point
 * may be split across fragments, and an invalid byte fails as soon as it is
 * seen (fail fast, as RFC 6455 8.1 allows).  ASCII runs are skipped 8 bytes at
 * a time.
 */
#ifndef PICOWS_LIKE_WS_UTF8_H
#define PICOWS_LIKE_WS_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t need;       /* continuation bytes still expected */
    uint8_t lo, hi;     /* allowed range of the next continuation byte */
} ws_utf8_state;

static inline void ws_utf8_reset(ws_utf8_state *st) { st->need = 0; st->lo = 0x80; st->hi = 0xBF; }

/* Feed bytes; returns 0 as soon as the input cannot be valid UTF-8. */
static inline int ws_utf8_feed(ws_utf8_state *st, const char *data_c, size_t size)
{
    const uint8_t *s = (const uint8_t *)data_c;
    size_t i = 0;
    uint8_t need = st->need, lo = st->lo, hi = st->hi;
    while (i < size) {
        uint8_t c = s[i];
        if (need) {
            if (c < lo || c > hi) return 0;
            lo = 0x80; hi = 0xBF;
            --need;
            ++i;
            continue;
        }
        if (c < 0x80) {
            ++i;
            while (i + 8 <= size) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ULL) break;
                i += 8;
            }
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) { need = 2; lo = 0xA0; }
        else if (c == 0xED) { need = 2; hi = 0x9F; }          /* no surrogates */
        else if (c >= 0xE1 && c <= 0xEF) need = 2;
        else if (c == 0xF0) { need = 3; lo = 0x90; }
        else if (c == 0xF4) { need = 3; hi = 0x8F; }          /* <= U+10FFFF */
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else return 0;
        ++i;
    }
    st->need = need; st->lo = lo; st->hi = hi;
    return 1;
}

/* Returns 1 if [data, data+size) is complete, valid UTF-8, else 0. */
static inline int ws_utf8_valid(const char *data, size_t size)
{
    ws_utf8_state st;
    ws_utf8_reset(&st);
    return ws_utf8_feed(&st, data, size) && st.need == 0;
}

#endif
