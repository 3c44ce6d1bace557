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

#ifdef CHRON_CRC_HW
uint32_t chron_crc_zeros[2][4][256];

/* The instruction, one byte at a time: what the tables must reproduce. */
static uint32_t crc_bytes(uint32_t crc, const uint8_t *p, size_t len) {
    while (len--) crc = chron_crc_u8(crc, *p++);
    return crc;
}

__attribute__((constructor)) static void crc_zeros_init(void) {
    static const uint8_t zeros[2 * CHRON_CRC_STRIDE];
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 4; k++)
            for (uint32_t b = 0; b < 256; b++)
                chron_crc_zeros[s][k][b] = crc_bytes(b << (8 * k), zeros, (size_t)(s + 1) * CHRON_CRC_STRIDE);
}

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
