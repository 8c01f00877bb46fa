/* WebSocket masking (RFC 6455 5.3): out[i] = in[i] ^ key[(phase + i) % 4].
 *
 * The payload is processed 32 bytes at a time with AVX2 where the CPU has it,
 * else 16 bytes with SSE2 (always present on x86-64), else 8-byte words.
 * Every load and store stays inside [0, size): the tail is done byte by byte,
 * so masking never touches memory outside the payload.
 */
#ifndef PICOWS_LIKE_WS_MASK_H
#define PICOWS_LIKE_WS_MASK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define WS_MASK_X86 1
#endif

/* key is the 4 mask bytes exactly as they appear on the wire. */
static inline uint64_t ws_mask_word(const uint8_t key[4])
{
    uint32_t k32;
    memcpy(&k32, key, 4);
    return ((uint64_t)k32 << 32) | k32;
}

static inline void ws_mask_tail(uint8_t *dst, const uint8_t *src, size_t i,
                                size_t size, const uint8_t key[4])
{
    for (; i < size; ++i)
        dst[i] = src[i] ^ key[i & 3];
}

static inline size_t ws_mask_words(uint8_t *dst, const uint8_t *src, size_t size,
                                   uint64_t k64)
{
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= k64;
        memcpy(dst + i, &w, 8);
    }
    return i;
}

#ifdef WS_MASK_X86
__attribute__((target("avx2")))
static size_t ws_mask_avx2(uint8_t *dst, const uint8_t *src, size_t size, uint64_t k64)
{
    __m256i k = _mm256_set1_epi64x((long long)k64);
    size_t i = 0;
    for (; i + 128 <= size; i += 128) {        /* unrolled: 4 vectors per trip */
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, k));
    }
    for (; i + 32 <= size; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(v, k));
    }
    return i;
}

static inline size_t ws_mask_sse2(uint8_t *dst, const uint8_t *src, size_t size, uint64_t k64)
{
    __m128i k = _mm_set1_epi64x((long long)k64);
    size_t i = 0;
    for (; i + 16 <= size; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(v, k));
    }
    return i;
}

static int ws_mask_has_avx2 = -1;
#endif

/* Mask src into dst (they may be the same buffer for in-place unmasking). */
static inline void ws_mask_copy(char *dst_c, const char *src_c, size_t size,
                                const uint8_t key[4])
{
    uint8_t *dst = (uint8_t *)dst_c;
    const uint8_t *src = (const uint8_t *)src_c;
    uint64_t k64 = ws_mask_word(key);
    size_t i = 0;
#ifdef WS_MASK_X86
    if (size >= 64) {
        if (ws_mask_has_avx2 < 0) {
            __builtin_cpu_init();
            ws_mask_has_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
        }
        i = ws_mask_has_avx2 ? ws_mask_avx2(dst, src, size, k64)
                             : ws_mask_sse2(dst, src, size, k64);
    }
#endif
    /* i is a multiple of 4, so the key phase is unchanged. */
    i += ws_mask_words(dst + i, src + i, size - i, k64);
    ws_mask_tail(dst, src, i, size, key);
}

static inline void ws_mask_inplace(char *data, size_t size, const uint8_t key[4])
{
    ws_mask_copy(data, data, size, key);
}

#endif
