/*
 * crc32c.h — CRC32C inline for the record path. With SSE4.2 (every x86-64
 * CPU since 2008; the build enables it) or ARMv8 CRC the instruction is
 * inlined into append and read; otherwise the table version in crc32c.c.
 * Raw update: no pre/post inversion.
 */
#ifndef CHRON_CRC32C_H
#define CHRON_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

uint32_t chron_crc_update(uint32_t crc, const void *buf, size_t len);

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#define CHRON_CRC_HW 1
static inline uint32_t chron_crc_u64(uint32_t crc, uint64_t v) { return (uint32_t)_mm_crc32_u64(crc, v); }
static inline uint32_t chron_crc_u32(uint32_t crc, uint32_t v) { return _mm_crc32_u32(crc, v); }
static inline uint32_t chron_crc_u8(uint32_t crc, uint8_t v) { return _mm_crc32_u8(crc, v); }
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#define CHRON_CRC_HW 1
static inline uint32_t chron_crc_u64(uint32_t crc, uint64_t v) { return __crc32cd(crc, v); }
static inline uint32_t chron_crc_u32(uint32_t crc, uint32_t v) { return __crc32cw(crc, v); }
static inline uint32_t chron_crc_u8(uint32_t crc, uint8_t v) { return __crc32cb(crc, v); }
#endif

#ifdef CHRON_CRC_HW
/* Buffers of three strides or more run three chains side by side: the
 * instruction takes 3 cycles but a new one can start every cycle. The
 * chains are joined with tables that advance a CRC over STRIDE and
 * 2 * STRIDE zero bytes (filled at load time in crc32c.c): for the raw
 * update, crc(c, A B C) = zeros(crc(c, A), |B C|) ^ zeros(crc(0, B), |C|)
 * ^ crc(0, C), and advancing over zeros is linear in the CRC, so four table
 * lookups, one per byte of it, do it. */
#define CHRON_CRC_STRIDE 64
extern uint32_t chron_crc_zeros[2][4][256]; /* [0]: one stride, [1]: two */

static inline uint32_t chron_crc_advance(const uint32_t t[4][256], uint32_t c) {
    return t[0][c & 0xffu] ^ t[1][(c >> 8) & 0xffu] ^ t[2][(c >> 16) & 0xffu] ^ t[3][c >> 24];
}

static inline uint32_t chron_crc_inline(uint32_t crc, const void *buf, size_t len) {
    const uint8_t *p = buf;
    uint32_t c = crc;
    for (; len >= 3 * CHRON_CRC_STRIDE; p += 3 * CHRON_CRC_STRIDE, len -= 3 * CHRON_CRC_STRIDE) {
        uint32_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < CHRON_CRC_STRIDE; i += 8) {
            uint64_t v0, v1, v2;
            memcpy(&v0, p + i, 8);
            memcpy(&v1, p + CHRON_CRC_STRIDE + i, 8);
            memcpy(&v2, p + 2 * CHRON_CRC_STRIDE + i, 8);
            c = chron_crc_u64(c, v0);
            c1 = chron_crc_u64(c1, v1);
            c2 = chron_crc_u64(c2, v2);
        }
        c = chron_crc_advance(chron_crc_zeros[1], c) ^ chron_crc_advance(chron_crc_zeros[0], c1) ^ c2;
    }
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = chron_crc_u64(c, v);
    }
    if (len >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c = chron_crc_u32(c, v);
        p += 4;
        len -= 4;
    }
    for (; len; len--) c = chron_crc_u8(c, *p++);
    return c;
}
#else
static inline uint32_t chron_crc_inline(uint32_t crc, const void *buf, size_t len) {
    return chron_crc_update(crc, buf, len);
}
static inline uint32_t chron_crc_u64(uint32_t crc, uint64_t v) { return chron_crc_update(crc, &v, 8); }
static inline uint32_t chron_crc_u32(uint32_t crc, uint32_t v) { return chron_crc_update(crc, &v, 4); }
#endif

#endif
