/*
 * crc32c.c — CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
 * Where the build has the CRC32C instruction (SSE4.2 on x86-64, the CRC
 * extension on ARMv8) crc32c.h inlines it and this file only wraps it;
 * elsewhere this is a table version.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>

#include "chronicle.h"
#include "crc32c.h"

#if defined(__SSE4_2__) || (defined(__aarch64__) && defined(__ARM_FEATURE_CRC32))
uint32_t chron_crc_update(uint32_t crc, const void *buf, size_t len) {
    return chron_crc_inline(crc, buf, len);
}
#else
static uint32_t crc_table[256];

__attribute__((constructor)) static void crc_table_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
}

/* Raw (non-inverted) update used inside records. */
uint32_t chron_crc_update(uint32_t crc, const void *buf, size_t len) {
    const uint8_t *p = buf;
    while (len--) crc = crc_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
    return crc;
}
#endif

uint32_t chron_crc32c(uint32_t crc, const void *buf, size_t len) {
    return ~chron_crc_update(~crc, buf, len);
}
