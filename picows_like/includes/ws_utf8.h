/* Strict UTF-8 validation (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
 * ASCII runs are skipped 8 bytes at a time; the rest is a small state machine.
 */
#ifndef PICOWS_LIKE_WS_UTF8_H
#define PICOWS_LIKE_WS_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Returns 1 if [data, data+size) is complete, valid UTF-8, else 0. */
static inline int ws_utf8_valid(const char *data_c, size_t size)
{
    const uint8_t *s = (const uint8_t *)data_c;
    size_t i = 0;
    while (i < size) {
        if (i + 8 <= size) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) { i += 8; continue; }
        }
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF;   /* allowed range of the 2nd byte */
        if (c >= 0xC2 && c <= 0xDF) n = 1;
        else if (c == 0xE0) { n = 2; lo = 0xA0; }
        else if (c == 0xED) { n = 2; hi = 0x9F; }          /* no surrogates */
        else if (c >= 0xE1 && c <= 0xEF) n = 2;
        else if (c == 0xF0) { n = 3; lo = 0x90; }
        else if (c == 0xF4) { n = 3; hi = 0x8F; }          /* <= U+10FFFF */
        else if (c >= 0xF1 && c <= 0xF3) n = 3;
        else return 0;
        if (size - i <= n) return 0;                        /* truncated */
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t j = 2; j <= n; ++j)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += n + 1;
    }
    return 1;
}

#endif
