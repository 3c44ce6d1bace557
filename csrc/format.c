/*
 * format.c — parsing and validating the on-disk structures. Pure functions
 * over a memory range: every length and offset is checked against the range
 * before it is used, so a hostile file gives an error, never a bad access.
 * This is the code the fuzz target drives.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <string.h>

#include "internal.h"

int chron_meta_check(const void *base, uint64_t size, const char **why) {
    const chron_meta_t *m = base;
    if (size < sizeof(chron_meta_t)) return *why = "file shorter than the meta header", CHRON_E_CORRUPT;
    if (m->magic != CHRON_META_MAGIC) return *why = "bad magic (not a Chronicle queue.meta)", CHRON_E_CORRUPT;
    if (m->version != CHRON_FORMAT_VERSION) return *why = "unknown format version", CHRON_E_VERSION;
    if (m->header_size != sizeof(chron_meta_t)) return *why = "bad header size", CHRON_E_CORRUPT;
    if (chron_crc32c(0, m, offsetof(chron_meta_t, header_crc)) != m->header_crc)
        return *why = "meta header checksum mismatch", CHRON_E_CORRUPT;
    uint64_t seg = chron_load_relaxed(&m->segment_size);
    if (seg != 0 && (seg < CHRON_MIN_SEGMENT_SIZE || seg > CHRON_MAX_SEGMENT_SIZE || seg % 4096))
        return *why = "segment size out of range", CHRON_E_CORRUPT;
    return 0;
}

int chron_seg_hdr_check(const void *base, uint64_t size, const uint8_t *queue_id,
                        const char **why) {
    const chron_seg_hdr_t *h = base;
    if (size < sizeof(chron_seg_hdr_t)) return *why = "file shorter than the segment header", CHRON_E_CORRUPT;
    if (h->magic != CHRON_SEG_MAGIC) return *why = "bad magic (not a Chronicle segment)", CHRON_E_CORRUPT;
    if (h->version != CHRON_FORMAT_VERSION) return *why = "unknown format version", CHRON_E_VERSION;
    if (h->header_size != sizeof(chron_seg_hdr_t)) return *why = "bad header size", CHRON_E_CORRUPT;
    if (chron_crc32c(0, h, offsetof(chron_seg_hdr_t, header_crc)) != h->header_crc)
        return *why = "segment header checksum mismatch", CHRON_E_CORRUPT;
    if (h->segment_size != size) return *why = "file size differs from the header's segment size", CHRON_E_CORRUPT;
    if (size < CHRON_MIN_SEGMENT_SIZE || size > CHRON_MAX_SEGMENT_SIZE)
        return *why = "segment size out of range", CHRON_E_CORRUPT;
    if (queue_id && memcmp(h->queue_id, queue_id, 16) != 0)
        return *why = "segment belongs to another queue", CHRON_E_CORRUPT;
    uint64_t base_seq = chron_load_relaxed(&h->base_seq);
    if (base_seq != CHRON_SEQ_UNSET && base_seq > CHRON_MAX_BASE_SEQ)
        return *why = "base seq out of range", CHRON_E_CORRUPT;
    return 0;
}

int chron_rec_check(const uint8_t *base, uint64_t size, uint64_t pos, uint64_t seq,
                    uint32_t *len, const char **why) {
    if (size < CHRON_SEG_DATA_START + 2 * CHRON_REC_HDR || pos % CHRON_REC_ALIGN ||
        pos < CHRON_SEG_DATA_START || pos > size - CHRON_REC_HDR) {
        *why = "record offset outside the segment";
        return -1;
    }
    const chron_rec_hdr_t *h = (const chron_rec_hdr_t *)(base + pos);
    uint32_t commit = chron_load_acquire(&h->commit);
    if (commit == 0) return 0;
    if (commit == CHRON_COMMIT_EOS) return 2;
    if (!(commit & CHRON_COMMIT_MSG)) return *why = "bad commit word", -1;
    uint32_t n = commit & CHRON_COMMIT_LEN_MASK;
    if (n > CHRON_MAX_PAYLOAD || chron_rec_size(n) > size - pos - CHRON_REC_HDR)
        return *why = "record length runs past the segment end", -1;
    if (h->seq != seq) return *why = "sequence number out of order", -1;
    if (h->reserved16 != 0 || h->reserved32 != 0) return *why = "reserved header bytes not zero", -1;
    if (chron_rec_crc(h, commit, n) != h->crc)
        return *why = "record checksum mismatch", -1;
    *len = n;
    return 1;
}

void chron_scan_records(const uint8_t *base, uint64_t size, uint64_t pos, uint64_t seq,
                        uint64_t max_records, uint64_t stop_seq, chron_rec_info_t *recs,
                        chron_scan_t *out) {
    memset(out, 0, sizeof *out);
    out->first_ts = out->last_ts = -1;
    for (;;) {
        if (out->count >= max_records || seq >= stop_seq) {
            out->end = CHRON_SCAN_LIMIT;
            break;
        }
        if (size < CHRON_REC_HDR || pos > size - CHRON_REC_HDR) {
            out->end = CHRON_SCAN_FULL;
            break;
        }
        uint32_t len = 0;
        const char *why = NULL;
        int rc = chron_rec_check(base, size, pos, seq, &len, &why);
        if (rc == 0) { out->end = CHRON_SCAN_EMPTY; break; }
        if (rc == 2) { out->end = CHRON_SCAN_EOS; break; }
        if (rc < 0) { out->end = CHRON_SCAN_BAD; out->why = why; break; }
        const chron_rec_hdr_t *h = (const chron_rec_hdr_t *)(base + pos);
        if (recs) {
            chron_rec_info_t *r = &recs[out->count];
            r->seq = seq;
            r->timestamp_ns = h->timestamp_ns;
            r->offset = pos;
            r->len = len;
            r->type_id = h->type_id;
        }
        if (out->count == 0) out->first_ts = h->timestamp_ns;
        out->last_ts = h->timestamp_ns;
        out->count++;
        seq++;
        pos += chron_rec_size(len);
    }
    out->pos = pos;
    out->next_seq = seq;
}

void chron_scan(const uint8_t *base, uint64_t size, uint64_t pos, uint64_t seq,
                uint64_t max_records, uint64_t stop_seq, chron_scan_t *out) {
    chron_scan_records(base, size, pos, seq, max_records, stop_seq, NULL, out);
}

int chron_name_valid(const char *name) {
    if (!name) return 0;
    size_t n = strnlen(name, CHRON_MAX_NAME_LEN + 1);
    if (n == 0 || n > CHRON_MAX_NAME_LEN || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '.';
        if (!ok) return 0;
    }
    return 1;
}
