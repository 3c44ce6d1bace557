/*
 * test_format.c — the on-disk layout and the pure parsers of format.c, on
 * handcrafted buffers: record checks, scans, header checks, names, CRC32C.
 * Buffers are malloc'd to their exact size, so any read past the end is an
 * AddressSanitizer error.
 */
#include "test_util.h"

#define SEG (64u << 10)

static const uint8_t QID[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static uint8_t *new_segment(uint64_t size) {
    uint8_t *b = calloc(1, size);
    CHECK(b != NULL);
    chron_seg_hdr_t *h = (chron_seg_hdr_t *)b;
    h->magic = CHRON_SEG_MAGIC;
    h->version = CHRON_FORMAT_VERSION;
    h->header_size = sizeof *h;
    h->index = 3;
    h->segment_size = size;
    memcpy(h->queue_id, QID, 16);
    h->created_ns = 1;
    h->header_crc = chron_crc32c(0, h, offsetof(chron_seg_hdr_t, header_crc));
    atomic_store(&h->base_seq, 100);
    return b;
}

static void reseal_seg(uint8_t *b) {
    chron_seg_hdr_t *h = (chron_seg_hdr_t *)b;
    h->header_crc = chron_crc32c(0, h, offsetof(chron_seg_hdr_t, header_crc));
}

/* Write a committed record at pos; returns the offset after it. */
static uint64_t put_rec(uint8_t *b, uint64_t pos, uint64_t seq, uint16_t type, uint32_t len) {
    chron_rec_hdr_t *h = (chron_rec_hdr_t *)(b + pos);
    h->seq = seq;
    h->timestamp_ns = (int64_t)(1000 + seq);
    h->type_id = type;
    h->reserved16 = 0;
    h->reserved32 = 0;
    tu_fill((uint8_t *)(h + 1), len, seq);
    uint32_t commit = CHRON_COMMIT_MSG | len;
    h->crc = chron_rec_crc(h, commit, len);
    atomic_store(&h->commit, commit);
    return pos + chron_rec_size(len);
}

static void recrc(uint8_t *b, uint64_t pos) {
    chron_rec_hdr_t *h = (chron_rec_hdr_t *)(b + pos);
    uint32_t commit = atomic_load(&h->commit);
    h->crc = chron_rec_crc(h, commit, commit & CHRON_COMMIT_LEN_MASK);
}

static void test_layout(void) {
    CHECK(sizeof(chron_rec_hdr_t) == 32);
    CHECK(offsetof(chron_rec_hdr_t, commit) == 0);
    CHECK(offsetof(chron_rec_hdr_t, crc) == 4);
    CHECK(offsetof(chron_rec_hdr_t, seq) == 8);
    CHECK(offsetof(chron_rec_hdr_t, timestamp_ns) == 16);
    CHECK(offsetof(chron_rec_hdr_t, type_id) == 24);
    CHECK(offsetof(chron_rec_hdr_t, reserved16) == 26);
    CHECK(offsetof(chron_rec_hdr_t, reserved32) == 28);

    CHECK(sizeof(chron_seg_hdr_t) == 64);
    CHECK(offsetof(chron_seg_hdr_t, version) == 4);
    CHECK(offsetof(chron_seg_hdr_t, header_size) == 6);
    CHECK(offsetof(chron_seg_hdr_t, index) == 8);
    CHECK(offsetof(chron_seg_hdr_t, segment_size) == 16);
    CHECK(offsetof(chron_seg_hdr_t, queue_id) == 24);
    CHECK(offsetof(chron_seg_hdr_t, created_ns) == 40);
    CHECK(offsetof(chron_seg_hdr_t, reserved) == 48);
    CHECK(offsetof(chron_seg_hdr_t, header_crc) == 52);
    CHECK(offsetof(chron_seg_hdr_t, base_seq) == 56);

    CHECK(sizeof(chron_meta_t) == 4096);
    CHECK(offsetof(chron_meta_t, version) == 4);
    CHECK(offsetof(chron_meta_t, header_size) == 6);
    CHECK(offsetof(chron_meta_t, queue_id) == 8);
    CHECK(offsetof(chron_meta_t, created_ns) == 24);
    CHECK(offsetof(chron_meta_t, file_mode) == 32);
    CHECK(offsetof(chron_meta_t, header_crc) == 60);
    CHECK(offsetof(chron_meta_t, segment_size) == 64);
    CHECK(offsetof(chron_meta_t, seg_epoch) == 128);
    CHECK(offsetof(chron_meta_t, notify) == 192);
    CHECK(offsetof(chron_meta_t, waiters) == 256);
    CHECK(offsetof(chron_meta_t, writer_pid) == 320);
    CHECK(offsetof(chron_meta_t, writer_epoch) == 328);

    CHECK(sizeof(chron_pos_slot_t) == 64);
    CHECK(offsetof(chron_pos_slot_t, next_seq) == 8);
    CHECK(offsetof(chron_pos_slot_t, segment) == 16);
    CHECK(offsetof(chron_pos_slot_t, offset) == 24);
    CHECK(offsetof(chron_pos_slot_t, committed_ns) == 32);
    CHECK(offsetof(chron_pos_slot_t, crc) == 44);
    CHECK(sizeof(chron_pos_file_t) == 192);
    CHECK(offsetof(chron_pos_file_t, pid) == 16);
    CHECK(offsetof(chron_pos_file_t, slot) == 64);

    /* magics read as ASCII in a hex dump */
    CHECK(memcmp(&(uint32_t){CHRON_SEG_MAGIC}, "CHQS", 4) == 0);
    CHECK(memcmp(&(uint32_t){CHRON_META_MAGIC}, "CHQM", 4) == 0);
    CHECK(memcmp(&(uint32_t){CHRON_POS_MAGIC}, "CHQP", 4) == 0);

    CHECK(chron_rec_size(0) == 32);
    CHECK(chron_rec_size(1) == 40);
    CHECK(chron_rec_size(8) == 40);
    CHECK(chron_rec_size(9) == 48);
    /* header, one record, and room for the end marker */
    CHECK(chron_max_payload_for(SEG) == SEG - 64 - 64);
    CHECK(chron_max_payload_for(CHRON_MAX_SEGMENT_SIZE) == CHRON_MAX_PAYLOAD);
}

/* Bitwise CRC32C, independent of the library's table and SSE4.2 paths. */
static uint32_t crc_ref(const uint8_t *p, size_t n) {
    uint32_t c = ~0u;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static void test_crc32c(void) {
    CHECK(chron_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(chron_crc32c(0, "", 0) == 0);
    /* RFC 3720 B.4 vectors */
    uint8_t b[48];
    memset(b, 0, 32);
    CHECK(chron_crc32c(0, b, 32) == 0x8A9136AAu);
    memset(b, 0xFF, 32);
    CHECK(chron_crc32c(0, b, 32) == 0x62A8AB43u);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    CHECK(chron_crc32c(0, b, 32) == 0x46DD794Eu);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)(31 - i);
    CHECK(chron_crc32c(0, b, 32) == 0x113FDB5Cu);
    /* continuation: crc(a || b) == crc(crc(a), b) */
    CHECK(chron_crc32c(chron_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
    /* lengths and misalignments against the bitwise reference, past the
     * point where three chains run side by side (3 x 64 bytes) and their
     * joins, with a running CRC carried in */
    uint8_t buf[2200];
    tu_fill(buf, sizeof buf, 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 1 + n / 16)
            CHECK(chron_crc32c(0, buf + off, n) == crc_ref(buf + off, n));
    static const size_t edges[] = {191, 192, 193, 199, 200, 383, 384, 385, 575, 576, 1024, 1048, 2048};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        for (size_t split = 0; split <= 200; split += 67) {
            size_t n = edges[i];
            uint32_t c = chron_crc32c(chron_crc32c(0, buf + 3, split), buf + 3 + split, n);
            CHECK(c == crc_ref(buf + 3, split + n));
        }
}

static void test_rec_crc(void) {
    /* the record checksum is CRC32C over payload, header bytes 8..31, commit word */
    uint8_t *b = new_segment(SEG);
    put_rec(b, 64, 5, 9, 13);
    chron_rec_hdr_t *h = (chron_rec_hdr_t *)(b + 64);
    uint8_t flat[13 + 24 + 4];
    memcpy(flat, b + 64 + 32, 13);
    memcpy(flat + 13, b + 64 + 8, 24);
    memcpy(flat + 37, b + 64, 4);
    CHECK(h->crc == chron_crc32c(0, flat, sizeof flat));
    /* the writer's form, from the source values, agrees with the in-place form */
    CHECK(h->crc == chron_rec_crc_parts(b + 64 + 32, 13, 5, h->timestamp_ns, 9, CHRON_COMMIT_MSG | 13));
    free(b);
}

static void test_rec_check(void) {
    uint8_t *b = new_segment(SEG);
    uint32_t len = 0;
    const char *why = NULL;
    uint64_t p1 = put_rec(b, 64, 100, 7, 13);
    uint64_t p2 = put_rec(b, p1, 101, 8, 0);
    CHECK(p1 == 64 + 48 && p2 == p1 + 32);

    CHECK(chron_rec_check(b, SEG, 64, 100, &len, &why) == 1 && len == 13);
    CHECK(chron_rec_check(b, SEG, p1, 101, &len, &why) == 1 && len == 0);
    /* unpublished: the zero commit word of the tail */
    CHECK(chron_rec_check(b, SEG, p2, 102, &len, &why) == 0);
    /* end-of-segment marker */
    atomic_store(&((chron_rec_hdr_t *)(b + p2))->commit, CHRON_COMMIT_EOS);
    CHECK(chron_rec_check(b, SEG, p2, 102, &len, &why) == 2);

    /* wrong expected seq */
    why = NULL;
    CHECK(chron_rec_check(b, SEG, 64, 101, &len, &why) == -1);
    CHECK(why && strstr(why, "sequence"));

    /* bad checksum: one flipped payload bit */
    b[64 + 32 + 5] ^= 0x10;
    CHECK(chron_rec_check(b, SEG, 64, 100, &len, &why) == -1 && strstr(why, "checksum"));
    b[64 + 32 + 5] ^= 0x10;
    /* a flipped header bit (timestamp) also fails the checksum */
    b[64 + 17] ^= 1;
    CHECK(chron_rec_check(b, SEG, 64, 100, &len, &why) == -1 && strstr(why, "checksum"));
    b[64 + 17] ^= 1;
    CHECK(chron_rec_check(b, SEG, 64, 100, &len, &why) == 1);

    /* reserved bytes must be zero, even with a checksum that matches them */
    chron_rec_hdr_t *h = (chron_rec_hdr_t *)(b + 64);
    h->reserved16 = 1;
    recrc(b, 64);
    CHECK(chron_rec_check(b, SEG, 64, 100, &len, &why) == -1 && strstr(why, "reserved"));
    h->reserved16 = 0;
    h->reserved32 = 0x100;
    recrc(b, 64);
    CHECK(chron_rec_check(b, SEG, 64, 100, &len, &why) == -1 && strstr(why, "reserved"));
    h->reserved32 = 0;
    recrc(b, 64);
    CHECK(chron_rec_check(b, SEG, 64, 100, &len, &why) == 1);

    /* commit word without the message bit */
    atomic_store(&h->commit, 13);
    CHECK(chron_rec_check(b, SEG, 64, 100, &len, &why) == -1 && strstr(why, "commit"));
    /* lengths that run past the end (which must leave room for a marker);
     * 0x7FFFFFFF is no length: with the message bit it is the end marker */
    uint32_t bad_lens[] = {0x7FFFFFFEu, CHRON_MAX_PAYLOAD, SEG, SEG - 64 - 32 - 32 + 1};
    for (size_t i = 0; i < sizeof bad_lens / sizeof bad_lens[0]; i++) {
        atomic_store(&h->commit, CHRON_COMMIT_MSG | bad_lens[i]);
        CHECK(chron_rec_check(b, SEG, 64, 100, &len, &why) == -1 && strstr(why, "past the segment end"));
    }
    free(b);

    /* the largest record that fits: it ends where the end marker's slot begins */
    b = new_segment(SEG);
    uint32_t max = (uint32_t)chron_max_payload_for(SEG);
    uint64_t end = put_rec(b, 64, 0, 1, max);
    CHECK(end == SEG - 32);
    CHECK(chron_rec_check(b, SEG, 64, 0, &len, &why) == 1 && len == max);
    h = (chron_rec_hdr_t *)(b + 64);
    atomic_store(&h->commit, CHRON_COMMIT_MSG | (max + 1));
    CHECK(chron_rec_check(b, SEG, 64, 0, &len, &why) == -1);
    /* a record in the marker's own slot can never be a message */
    end = SEG - 32;
    memset(b + 64, 0, 32);
    put_rec(b, end, 0, 1, 0);
    CHECK(chron_rec_check(b, SEG, end, 0, &len, &why) == -1);
    free(b);

    /* offsets outside the data area or misaligned */
    b = new_segment(SEG);
    put_rec(b, 64, 0, 1, 8);
    uint64_t bad_pos[] = {0, 8, 56, 65, 68, SEG - 31, SEG - 24, SEG, SEG + 8, UINT64_MAX - 7};
    for (size_t i = 0; i < sizeof bad_pos / sizeof bad_pos[0]; i++) {
        why = NULL;
        CHECK(chron_rec_check(b, SEG, bad_pos[i], 0, &len, &why) == -1);
        CHECK(why && strstr(why, "outside"));
    }
    /* ranges too small to hold the header and a record: never read */
    for (uint64_t size = 0; size < 64 + 64; size++)
        CHECK(chron_rec_check(b, size, 64, 0, &len, &why) == -1);
    free(b);
}

static void test_scan(void) {
    uint8_t *b = new_segment(SEG);
    uint64_t pos = 64;
    for (uint64_t s = 100; s < 110; s++) pos = put_rec(b, pos, s, 1, (uint32_t)(s % 17));
    chron_scan_t sc;

    chron_scan(b, SEG, 64, 100, UINT64_MAX, UINT64_MAX, &sc);
    CHECK(sc.end == CHRON_SCAN_EMPTY && sc.count == 10 && sc.next_seq == 110 && sc.pos == pos);
    CHECK(sc.first_ts == 1100 && sc.last_ts == 1109);

    /* limits: a record count, or a seq to stop at */
    chron_scan(b, SEG, 64, 100, 3, UINT64_MAX, &sc);
    CHECK(sc.end == CHRON_SCAN_LIMIT && sc.count == 3 && sc.next_seq == 103);
    chron_scan(b, SEG, 64, 100, UINT64_MAX, 105, &sc);
    CHECK(sc.end == CHRON_SCAN_LIMIT && sc.count == 5 && sc.next_seq == 105);
    CHECK(chron_rec_check(b, SEG, sc.pos, 105, &(uint32_t){0}, &(const char *){NULL}) == 1);
    chron_scan(b, SEG, 64, 100, 0, UINT64_MAX, &sc);
    CHECK(sc.end == CHRON_SCAN_LIMIT && sc.count == 0 && sc.pos == 64 && sc.first_ts == -1);

    /* a sealed segment */
    atomic_store(&((chron_rec_hdr_t *)(b + pos))->commit, CHRON_COMMIT_EOS);
    chron_scan(b, SEG, 64, 100, UINT64_MAX, UINT64_MAX, &sc);
    CHECK(sc.end == CHRON_SCAN_EOS && sc.count == 10 && sc.pos == pos && sc.next_seq == 110);

    /* a bad record in the middle stops the scan on it, with a reason */
    uint64_t p4 = 64;
    for (int i = 0; i < 4; i++) p4 += chron_rec_size((uint64_t)(100 + i) % 17);
    b[p4 + 8] ^= 0xFF; /* its seq */
    chron_scan(b, SEG, 64, 100, UINT64_MAX, UINT64_MAX, &sc);
    CHECK(sc.end == CHRON_SCAN_BAD && sc.count == 4 && sc.pos == p4 && sc.next_seq == 104);
    CHECK(sc.why && strstr(sc.why, "sequence"));

    /* starting past the last record slot, or with nothing to scan */
    chron_scan(b, SEG, SEG - 24, 0, UINT64_MAX, UINT64_MAX, &sc);
    CHECK(sc.end == CHRON_SCAN_FULL && sc.count == 0);
    chron_scan(b, 0, 64, 0, UINT64_MAX, UINT64_MAX, &sc);
    CHECK(sc.end == CHRON_SCAN_FULL);
    chron_scan(b, 31, 0, 0, UINT64_MAX, UINT64_MAX, &sc);
    CHECK(sc.end == CHRON_SCAN_FULL);
    free(b);

    /* truncated copies of a full segment: every size, exact allocations */
    uint8_t *full = new_segment(SEG);
    pos = 64;
    uint64_t n = 0;
    while (pos + chron_rec_size(40) <= SEG - 32) pos = put_rec(full, pos, n++, 2, 40);
    atomic_store(&((chron_rec_hdr_t *)(full + pos))->commit, CHRON_COMMIT_EOS);
    chron_scan(full, SEG, 64, 0, UINT64_MAX, UINT64_MAX, &sc);
    CHECK(sc.end == CHRON_SCAN_EOS && sc.count == n);
    for (uint64_t size = 0; size <= 2048; size++) {
        uint8_t *t = malloc(size ? size : 1);
        CHECK(t != NULL);
        memcpy(t, full, size);
        chron_scan(t, size, 64, 0, UINT64_MAX, UINT64_MAX, &sc);
        /* records are valid only where they leave room for a marker */
        uint64_t fit = size >= 64 + 32 ? (size - 64 - 32) / chron_rec_size(40) : 0;
        CHECK(sc.count == fit);
        CHECK(sc.end == CHRON_SCAN_BAD || sc.end == CHRON_SCAN_FULL);
        free(t);
    }
    free(full);
}

static void test_seg_hdr_check(void) {
    uint8_t *b = new_segment(SEG);
    chron_seg_hdr_t *h = (chron_seg_hdr_t *)b;
    const char *why = NULL;
    CHECK(chron_seg_hdr_check(b, SEG, QID, &why) == 0);
    CHECK(chron_seg_hdr_check(b, SEG, NULL, &why) == 0);
    /* base_seq is not covered by the header checksum: it changes once */
    atomic_store(&h->base_seq, CHRON_SEQ_UNSET);
    CHECK(chron_seg_hdr_check(b, SEG, QID, &why) == 0);

    /* base seqs stay far from INT64_MAX, where a seq would look like an error */
    atomic_store(&h->base_seq, CHRON_MAX_BASE_SEQ);
    CHECK(chron_seg_hdr_check(b, SEG, QID, &why) == 0);
    uint64_t bad_base[] = {CHRON_MAX_BASE_SEQ + 1, (uint64_t)INT64_MAX, 1ull << 63, UINT64_MAX - 1};
    for (size_t i = 0; i < sizeof bad_base / sizeof bad_base[0]; i++) {
        atomic_store(&h->base_seq, bad_base[i]);
        CHECK(chron_seg_hdr_check(b, SEG, QID, &why) == CHRON_E_CORRUPT && strstr(why, "base seq"));
    }
    atomic_store(&h->base_seq, 0);

    CHECK(chron_seg_hdr_check(b, 63, QID, &why) == CHRON_E_CORRUPT && strstr(why, "shorter"));
    CHECK(chron_seg_hdr_check(b, SEG - 4096, QID, &why) == CHRON_E_CORRUPT && strstr(why, "size"));
    uint8_t other[16] = {0};
    CHECK(chron_seg_hdr_check(b, SEG, other, &why) == CHRON_E_CORRUPT && strstr(why, "another queue"));

    h->magic ^= 1;
    CHECK(chron_seg_hdr_check(b, SEG, QID, &why) == CHRON_E_CORRUPT && strstr(why, "magic"));
    h->magic ^= 1;
    h->version = 2;
    reseal_seg(b);
    CHECK(chron_seg_hdr_check(b, SEG, QID, &why) == CHRON_E_VERSION && strstr(why, "version"));
    h->version = CHRON_FORMAT_VERSION;
    h->header_size = 48;
    reseal_seg(b);
    CHECK(chron_seg_hdr_check(b, SEG, QID, &why) == CHRON_E_CORRUPT && strstr(why, "header size"));
    h->header_size = 64;
    h->created_ns++; /* without resealing */
    CHECK(chron_seg_hdr_check(b, SEG, QID, &why) == CHRON_E_CORRUPT && strstr(why, "checksum"));
    reseal_seg(b);
    CHECK(chron_seg_hdr_check(b, SEG, QID, &why) == 0);
    free(b);

    /* a header that claims a size below the minimum, on a buffer that small */
    b = new_segment(4096);
    CHECK(chron_seg_hdr_check(b, 4096, QID, &why) == CHRON_E_CORRUPT && strstr(why, "out of range"));
    free(b);
}

static uint8_t *new_meta(void) {
    chron_meta_t *m = calloc(1, sizeof *m);
    CHECK(m != NULL);
    m->magic = CHRON_META_MAGIC;
    m->version = CHRON_FORMAT_VERSION;
    m->header_size = sizeof *m;
    memcpy(m->queue_id, QID, 16);
    m->file_mode = 0600;
    m->header_crc = chron_crc32c(0, m, offsetof(chron_meta_t, header_crc));
    return (uint8_t *)m;
}

static void test_meta_check(void) {
    uint8_t *b = new_meta();
    chron_meta_t *m = (chron_meta_t *)b;
    const char *why = NULL;
    CHECK(chron_meta_check(b, sizeof *m, &why) == 0);
    /* the shared state is not part of the header checksum */
    atomic_store(&m->segment_size, SEG);
    atomic_store(&m->notify, 12345);
    CHECK(chron_meta_check(b, sizeof *m, &why) == 0);
    CHECK(chron_meta_check(b, sizeof *m - 1, &why) == CHRON_E_CORRUPT && strstr(why, "shorter"));

    uint64_t bad_sizes[] = {4096, SEG + 1, SEG + 512, CHRON_MAX_SEGMENT_SIZE * 2};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        atomic_store(&m->segment_size, bad_sizes[i]);
        CHECK(chron_meta_check(b, sizeof *m, &why) == CHRON_E_CORRUPT && strstr(why, "segment size"));
    }
    atomic_store(&m->segment_size, 0);

    m->magic = CHRON_SEG_MAGIC;
    CHECK(chron_meta_check(b, sizeof *m, &why) == CHRON_E_CORRUPT && strstr(why, "magic"));
    m->magic = CHRON_META_MAGIC;
    m->version = 7;
    CHECK(chron_meta_check(b, sizeof *m, &why) == CHRON_E_VERSION);
    m->version = CHRON_FORMAT_VERSION;
    m->header_size = 64;
    CHECK(chron_meta_check(b, sizeof *m, &why) == CHRON_E_CORRUPT && strstr(why, "header size"));
    m->header_size = sizeof *m;
    m->file_mode = 0644;
    CHECK(chron_meta_check(b, sizeof *m, &why) == CHRON_E_CORRUPT && strstr(why, "checksum"));
    free(b);
}

static void test_names(void) {
    char longest[CHRON_MAX_NAME_LEN + 2];
    memset(longest, 'n', sizeof longest);
    longest[CHRON_MAX_NAME_LEN] = '\0';
    const char *good[] = {"a", "strategy_1", "Feed-2.b", "0", "a..b", "x.", longest};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) CHECK(chron_name_valid(good[i]) == 1);
    longest[CHRON_MAX_NAME_LEN] = 'n';
    longest[CHRON_MAX_NAME_LEN + 1] = '\0';
    const char *bad[] = {"", ".", "..", ".hidden", "a/b", "../up", "/abs", "a\\b", "a b",
                         "tab\t", "caf\xc3\xa9", "new\nline", "colon:", "star*", longest};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (chron_name_valid(bad[i]) != 0) tu_fail(__FILE__, __LINE__, "name '%s' accepted", bad[i]);
    }
    CHECK(chron_name_valid(NULL) == 0);
}

int main(void) {
    test_layout();
    test_crc32c();
    test_rec_crc();
    test_rec_check();
    test_scan();
    test_seg_hdr_check();
    test_meta_check();
    test_names();
    return 0;
}
