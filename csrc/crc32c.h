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
static inline uint32_t chron_crc_u64(uint32_t crc, uint64_t v) { return (uint32_t)_mm_crc32_u64(crc, v); }
static inline uint32_t chron_crc_u32(uint32_t crc, uint32_t v) { return _mm_crc32_u32(crc, v); }
static inline uint32_t chron_crc_inline(uint32_t crc, const void *buf, size_t len) {
    const uint8_t *p = buf;
    uint64_t c = crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    if (len >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c32 = _mm_crc32_u32(c32, v);
        p += 4;
        len -= 4;
    }
    for (; len; len--) c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static inline uint32_t chron_crc_u64(uint32_t crc, uint64_t v) { return __crc32cd(crc, v); }
static inline uint32_t chron_crc_u32(uint32_t crc, uint32_t v) { return __crc32cw(crc, v); }
static inline uint32_t chron_crc_inline(uint32_t crc, const void *buf, size_t len) {
    const uint8_t *p = buf;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc = __crc32cd(crc, v);
    }
    for (; len; len--) crc = __crc32cb(crc, *p++);
    return crc;
}
#else
static inline uint32_t chron_crc_inline(uint32_t crc, const void *buf, size_t len) {
    return chron_crc_update(crc, buf, len);
}
static inline uint32_t chron_crc_u64(uint32_t crc, uint64_t v) { return chron_crc_update(crc, &v, 8); }
static inline uint32_t chron_crc_u32(uint32_t crc, uint32_t v) { return chron_crc_update(crc, &v, 4); }
#endif

#endif
