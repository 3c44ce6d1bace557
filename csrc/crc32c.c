/*
 * crc32c.c — CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
 * SSE4.2's crc32 instruction where the CPU has it (8 bytes per instruction),
 * ARMv8's CRC32C instructions on aarch64, otherwise a table.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "chronicle.h"
#include "crc32c.h"
#include "internal.h"

static uint32_t crc_table[256];

static void crc_table_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len) {
    while (len--) crc = crc_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                            size_t len) {
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    if (len >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c32 = _mm_crc32_u32(c32, v);
        p += 4;
        len -= 4;
    }
    while (len--) c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}
static int have_hw(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len) {
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc = __crc32cd(crc, v);
        p += 8;
        len -= 8;
    }
    while (len--) crc = __crc32cb(crc, *p++);
    return crc;
}
static int have_hw(void) { return 1; }
#else
#define crc32c_hw crc32c_sw
static int have_hw(void) { return 0; }
#endif

typedef uint32_t (*crc_fn)(uint32_t, const uint8_t *, size_t);
static crc_fn crc_impl;

__attribute__((constructor)) static void crc_init(void) {
    crc_table_init();
    crc_impl = have_hw() ? crc32c_hw : crc32c_sw;
}

/* Raw (non-inverted) update used inside records. */
uint32_t chron_crc_update(uint32_t crc, const void *buf, size_t len) {
    return crc_impl(crc, (const uint8_t *)buf, len);
}

uint32_t chron_crc32c(uint32_t crc, const void *buf, size_t len) {
    return ~crc_impl(~crc, (const uint8_t *)buf, len);
}
