/* Cryptographically strong bytes for client masking keys.
 * Linux: getrandom(2); BSD/macOS: arc4random_buf. Returns 0 on success.
 */
#ifndef PICOWS_LIKE_WS_RANDOM_H
#define PICOWS_LIKE_WS_RANDOM_H

#include <stddef.h>
#include <errno.h>

#if defined(__linux__)
#include <sys/random.h>
static inline int ws_fill_random(char *buf, size_t n)
{
    while (n > 0) {
        ssize_t r = getrandom(buf, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#include <stdlib.h>
static inline int ws_fill_random(char *buf, size_t n) { arc4random_buf(buf, n); return 0; }
#else
static inline int ws_fill_random(char *buf, size_t n) { (void)buf; (void)n; return -1; }
#endif


/* A pool of random bytes handed out 4 at a time as masking keys: one
 * getrandom() call per 256 keys.  A forked child drops the pool it inherited,
 * so parent and child never share keys.
 */
#include <stdint.h>
#include <string.h>
#ifndef _WIN32
#include <pthread.h>
#endif

static unsigned char ws_key_pool[1024];
static size_t ws_key_pool_pos = sizeof(ws_key_pool);

static void ws_key_pool_drop(void) { ws_key_pool_pos = sizeof(ws_key_pool); }

static inline int ws_key_pool_init(void)
{
#ifndef _WIN32
    return pthread_atfork(NULL, NULL, ws_key_pool_drop);
#else
    return 0;
#endif
}

/* 0 on success, -1 when the OS has no random source for us. */
static inline int ws_next_mask_key(uint8_t key[4])
{
    if (ws_key_pool_pos + 4 > sizeof(ws_key_pool)) {
        if (ws_fill_random((char *)ws_key_pool, sizeof(ws_key_pool)) != 0)
            return -1;
        ws_key_pool_pos = 0;
    }
    memcpy(key, ws_key_pool + ws_key_pool_pos, 4);
    ws_key_pool_pos += 4;
    return 0;
}

/* Refill from a caller-provided source (the os.urandom fallback). */
static inline void ws_key_pool_set(const char *data, size_t n)
{
    if (n > sizeof(ws_key_pool)) n = sizeof(ws_key_pool);
    memcpy(ws_key_pool + sizeof(ws_key_pool) - n, data, n);
    ws_key_pool_pos = sizeof(ws_key_pool) - n;
}

#endif
