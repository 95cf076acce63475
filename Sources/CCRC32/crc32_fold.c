// CRC-32 by carry-less multiplication, after Gopal et al., "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ Instruction" (Intel, 2009). zlib 1.2.13, which Debian ships, runs
// about 2.2 GB/s here; the pixel cache checks ~200 KB records on every read, so its CRC cost as
// much as its LZ4 decompress. Folding runs at memory speed.
#include "loom_crc32.h"

#include <zlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <stdatomic.h>
#include <immintrin.h>

// Constants for the reflected polynomial 0x1DB710641: x^(4*128+32), x^(4*128-32) mod P (fold by
// 512 bits), x^(128+32), x^(128-32) mod P (fold by 128), x^64 mod P, then P and floor(x^64 / P)
// for the Barrett reduction, each bit-reflected.
static const uint64_t fold512[2] __attribute__((aligned(16))) = {0x0154442bd4, 0x01c6e41596};
static const uint64_t fold128[2] __attribute__((aligned(16))) = {0x01751997d0, 0x00ccaa009e};
static const uint64_t fold64 = 0x0163cd6124;
static const uint64_t barrett[2] __attribute__((aligned(16))) = {0x01db710641, 0x01f7011641};

__attribute__((target("pclmul,sse4.1")))
static inline __m128i fold(__m128i acc, __m128i constants, __m128i next) {
    __m128i low = _mm_clmulepi64_si128(acc, constants, 0x00);
    __m128i high = _mm_clmulepi64_si128(acc, constants, 0x11);
    return _mm_xor_si128(_mm_xor_si128(low, high), next);
}

// `length` >= 64 and a multiple of 16; `crc` is the running register (already inverted).
__attribute__((target("pclmul,sse4.1")))
static uint32_t fold_bulk(uint32_t crc, const uint8_t *p, size_t length) {
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 0));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(p + 48));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    p += 64;
    length -= 64;

    __m128i k = _mm_load_si128((const __m128i *)fold512);
    while (length >= 64) {
        x1 = fold(x1, k, _mm_loadu_si128((const __m128i *)(p + 0)));
        x2 = fold(x2, k, _mm_loadu_si128((const __m128i *)(p + 16)));
        x3 = fold(x3, k, _mm_loadu_si128((const __m128i *)(p + 32)));
        x4 = fold(x4, k, _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        length -= 64;
    }

    k = _mm_load_si128((const __m128i *)fold128);
    x1 = fold(x1, k, x2);
    x1 = fold(x1, k, x3);
    x1 = fold(x1, k, x4);
    while (length >= 16) {
        x1 = fold(x1, k, _mm_loadu_si128((const __m128i *)p));
        p += 16;
        length -= 16;
    }

    // 128 bits to 64: the low half times x^(128-32) mod P, plus the high half.
    __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
    __m128i t = _mm_clmulepi64_si128(x1, k, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
    // 64 bits to 32 plus the remainder to reduce.
    t = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, mask32);
    x1 = _mm_clmulepi64_si128(x1, _mm_cvtsi64_si128((long long)fold64), 0x00);
    x1 = _mm_xor_si128(x1, t);
    // Barrett reduction to the 32-bit remainder.
    __m128i pu = _mm_load_si128((const __m128i *)barrett);
    t = _mm_and_si128(x1, mask32);
    t = _mm_clmulepi64_si128(t, pu, 0x10);
    t = _mm_and_si128(t, mask32);
    t = _mm_clmulepi64_si128(t, pu, 0x00);
    x1 = _mm_xor_si128(x1, t);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

static int detect(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_PCLMUL) && (ecx & bit_SSE4_1);
}

int loom_crc32_is_folded(void) {
    // Threads that race here all store the same answer.
    static atomic_int folded = -1;
    int known = atomic_load_explicit(&folded, memory_order_relaxed);
    if (known < 0) {
        known = detect();
        atomic_store_explicit(&folded, known, memory_order_relaxed);
    }
    return known;
}

uint32_t loom_crc32(uint32_t crc, const uint8_t *bytes, size_t length) {
    if (length < 64 || !loom_crc32_is_folded()) return (uint32_t)crc32_z(crc, bytes, length);
    size_t bulk = length & ~(size_t)15;
    crc = ~fold_bulk(~crc, bytes, bulk);
    return (uint32_t)crc32_z(crc, bytes + bulk, length - bulk);
}

#else

int loom_crc32_is_folded(void) { return 0; }

uint32_t loom_crc32(uint32_t crc, const uint8_t *bytes, size_t length) {
    return (uint32_t)crc32_z(crc, bytes, length);
}

#endif
