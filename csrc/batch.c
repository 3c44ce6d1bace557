/*
 * batch.c — many messages per call, for bindings where each call costs far
 * more than a message (Python): packed appends, and fixed-size records read
 * straight into caller arrays (NumPy) with no object per message.
 *
 * Everything goes through the public writer and reader functions, so the
 * commit protocol, the checksums and the bounds checks are the ones of
 * writer.c and reader.c.
 */
#include <string.h>

#include "internal.h"

/* pointers handed to chron_append_many per call: bounded stack use */
#define PACK_CHUNK 256

int64_t chron_append_packed(chron_writer_t *w, int type_id, const void *base,
                            const size_t *lens, size_t n, size_t total) {
    if (!w) return chron_fail(CHRON_E_INVAL, "", -1, "NULL writer");
    if (n && (!lens || (!base && total))) return chron_fail(CHRON_E_INVAL, "", -1, "NULL batch");
    if (type_id < 0 || type_id > 0xFFFF)
        return chron_fail(CHRON_E_INVAL, "", -1, "type id %d outside 0..65535", type_id);
    /* all-or-nothing: check every length before anything is written */
    uint64_t max = chron_writer_max_payload(w);
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > max)
            return chron_fail(CHRON_E_TOOBIG, "", (int64_t)lens[i],
                              "batch item %zu: payload of %zu bytes exceeds the %llu-byte maximum of a segment",
                              i, lens[i], (unsigned long long)max);
        if (lens[i] > total - sum)
            return chron_fail(CHRON_E_INVAL, "", -1, "batch item %zu runs past the %zu packed bytes", i, total);
        sum += lens[i];
    }
    if (sum != total)
        return chron_fail(CHRON_E_INVAL, "", -1, "lengths add up to %zu bytes, not the %zu packed", sum, total);
    int64_t first = (int64_t)chron_writer_next_seq(w);
    const uint8_t *p = base;
    const void *ptrs[PACK_CHUNK];
    for (size_t i = 0; i < n; i += PACK_CHUNK) {
        size_t k = n - i < PACK_CHUNK ? n - i : PACK_CHUNK;
        for (size_t j = 0; j < k; j++) {
            ptrs[j] = p;
            p += lens[i + j];
        }
        int64_t rc = chron_append_many(w, type_id, NULL, ptrs, lens + i, k);
        if (rc < 0) return rc; /* an OS failure at a roll: earlier items were written */
    }
    return first;
}

int64_t chron_reader_read_fixed(chron_reader_t *r, int type_id, unsigned flags,
                                size_t record_size, uint64_t end_seq, void *records,
                                uint64_t *seqs, int64_t *timestamps, uint16_t *type_ids,
                                size_t max) {
    if (!r || (max && !records)) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader or records");
    if (type_id < -1 || type_id > 0xFFFF)
        return chron_fail(CHRON_E_INVAL, "", -1, "type id %d outside 0..65535", type_id);
    uint8_t *out = records;
    size_t n = 0;
    chron_msg_t m;
    while (n < max && chron_reader_next_seq(r) < end_seq) {
        int rc = chron_reader_next(r, &m);
        if (rc == 0) break;
        if (rc < 0) return n ? (int64_t)n : rc; /* the reader stays before the bad record */
        if (type_id >= 0 && m.type_id != (uint32_t)type_id) {
            if (flags & CHRON_READ_SKIP_OTHERS) continue;
            (void)chron_reader_unread(r, &m); /* cannot fail: m was just read */
            break;
        }
        if (m.len != record_size) {
            (void)chron_reader_unread(r, &m);
            if (n) break;
            return chron_fail(CHRON_E_INVAL, "", (int64_t)m.seq,
                              "message seq %llu (type %u) has a %u-byte payload, not the %zu bytes of the record type",
                              (unsigned long long)m.seq, m.type_id, m.len, record_size);
        }
        if (record_size) memcpy(out + n * record_size, m.payload, record_size);
        if (seqs) seqs[n] = m.seq;
        if (timestamps) timestamps[n] = m.timestamp_ns;
        if (type_ids) type_ids[n] = (uint16_t)m.type_id;
        n++;
    }
    return (int64_t)n;
}
