/*
 * test_append_read.c — what goes in comes out: round trips of single,
 * batched and row appends, payload limits, failed appends that write
 * nothing, many segment rolls with dense seqs, and batched reads.
 */
#include "test_util.h"

#define SEG (64u << 10)

static void read_expect(chron_reader_t *r, uint64_t seq, int type_id, size_t len) {
    chron_msg_t m;
    int rc = (int)CHECK_OK(chron_reader_next(r, &m));
    if (rc != 1) tu_fail(__FILE__, __LINE__, "no message where seq %" PRIu64 " was expected", seq);
    if (m.seq != seq || (int)m.type_id != type_id || !tu_payload_ok(&m, len))
        tu_fail(__FILE__, __LINE__, "got seq %" PRIu64 " type %u len %u, expected seq %" PRIu64 " type %d len %zu",
                m.seq, m.type_id, m.len, seq, type_id, len);
}

static void expect_end(chron_reader_t *r) {
    chron_msg_t m;
    CHECK_RC(chron_reader_next(r, &m), 0);
    CHECK_RC(chron_reader_ready(r), 0);
}

static void test_round_trip(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 0);
    CHECK(chron_writer_dropped_bytes(w) == 0);
    int64_t before = chron_realtime_ns();
    for (uint64_t i = 0; i < 200; i++) CHECK(tu_append(w, (int)(i * 331 % 65536), i % 61) == i);
    int64_t after = chron_realtime_ns();
    CHECK(chron_writer_next_seq(w) == 200);

    chron_reader_t *r = tu_reader(dir, "rt", CHRON_START_EARLIEST);
    int64_t last_ts = INT64_MIN;
    for (uint64_t i = 0; i < 200; i++) {
        chron_msg_t m;
        CHECK_RC(chron_reader_next(r, &m), 1);
        CHECK(m.seq == i && m.type_id == i * 331 % 65536 && tu_payload_ok(&m, i % 61));
        /* the writer's clock: monotonic per writer, and close to the wall clock */
        CHECK(m.timestamp_ns >= last_ts);
        CHECK(m.timestamp_ns > before - 5000000000 && m.timestamp_ns < after + 5000000000);
        last_ts = m.timestamp_ns;
        CHECK(m.segment == 0 && m.offset >= 64 + 32 && m.offset % 8 == 0);
        CHECK(chron_reader_next_seq(r) == i + 1);
    }
    expect_end(r);
    CHECK(chron_reader_segment_fd(r) >= 0 && chron_reader_segment_size(r) == SEG);

    /* empty payloads, including a NULL pointer with length 0 */
    CHECK_RC(chron_append(w, 0, NULL, 0), 200);
    CHECK_RC(chron_append(w, 65535, "", 0), 201);
    CHECK_RC(chron_reader_ready(r), 1);
    read_expect(r, 200, 0, 0);
    read_expect(r, 201, 65535, 0);
    expect_end(r);
    chron_reader_close(r);
    chron_writer_close(w);
}

static void test_limits(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    uint64_t max = chron_writer_max_payload(w);
    CHECK(max == chron_max_payload_for(SEG));
    uint8_t *big = malloc(max + 1);
    CHECK(big != NULL);
    tu_append(w, 1, 10);

    /* the largest payload fits, in a segment of its own */
    tu_fill(big, max, 1);
    CHECK_RC(chron_append(w, 2, big, max), 1);
    tu_fill(big, max, 2);
    CHECK_RC(chron_append(w, 3, big, max), 2);

    /* failed appends write nothing and leave the seq where it was */
    CHECK_ERR(chron_append(w, 1, big, max + 1), CHRON_E_TOOBIG, "exceeds");
    CHECK(chron_errdetail() == (int64_t)(max + 1));
    CHECK_ERR(chron_append(w, 1, big, SIZE_MAX), CHRON_E_TOOBIG, "exceeds");
    CHECK_ERR(chron_append(w, -1, big, 1), CHRON_E_INVAL, "type id -1");
    CHECK_ERR(chron_append(w, 65536, big, 1), CHRON_E_INVAL, "type id 65536");
    CHECK_ERR(chron_append(w, 1, NULL, 5), CHRON_E_INVAL, "NULL payload");
    CHECK_ERR(chron_append(NULL, 1, big, 1), CHRON_E_INVAL, "NULL writer");
    CHECK(chron_writer_next_seq(w) == 3);
    tu_append(w, 4, 3);

    chron_reader_t *r = tu_reader(dir, "lim", CHRON_START_EARLIEST);
    chron_msg_t m;
    read_expect(r, 0, 1, 10);
    for (uint64_t s = 1; s <= 2; s++) {
        CHECK_RC(chron_reader_next(r, &m), 1);
        tu_fill(big, max, s);
        CHECK(m.seq == s && m.len == max && memcmp(m.payload, big, max) == 0);
        CHECK(m.segment == s); /* each filled a segment on its own */
    }
    read_expect(r, 3, 4, 3);
    expect_end(r);
    chron_reader_close(r);
    chron_writer_close(w);
    free(big);
}

static void test_many_rolls(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    const uint64_t n = 40000;
    for (uint64_t i = 0; i < n; i++) tu_append(w, (int)(i & 0xFFFF), (i * 7919) % 301);
    CHECK(chron_writer_next_seq(w) == n);
    /* about 190 bytes a record: well over 100 segments */
    int segs = tu_count_segments(dir);
    CHECK(segs > 100);

    chron_reader_t *r = tu_reader(dir, "rolls", CHRON_START_EARLIEST);
    uint64_t seg = 0, rolls = 0;
    for (uint64_t i = 0; i < n; i++) {
        chron_msg_t m;
        CHECK_RC(chron_reader_next(r, &m), 1);
        if (m.seq != i || m.type_id != (i & 0xFFFF) || !tu_payload_ok(&m, (i * 7919) % 301))
            tu_fail(__FILE__, __LINE__, "message %" PRIu64 " wrong (seq %" PRIu64 ")", i, m.seq);
        CHECK(m.segment == seg || m.segment == seg + 1);
        rolls += m.segment != seg;
        seg = m.segment;
    }
    expect_end(r);
    /* the writer may have prepared one more segment ahead */
    CHECK(rolls + 1 == (uint64_t)segs || rolls + 2 == (uint64_t)segs);

    /* a reader that was at the end follows the writer into new segments */
    for (uint64_t i = n; i < n + 2000; i++) tu_append(w, 9, 100);
    for (uint64_t i = n; i < n + 2000; i++) read_expect(r, i, 9, 100);
    expect_end(r);
    chron_reader_close(r);
    chron_writer_close(w);
}

static void test_append_many(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    enum { N = 600 };
    static uint8_t bufs[N][200];
    const void *ptrs[N];
    size_t lens[N];
    int types[N];
    for (int i = 0; i < N; i++) {
        lens[i] = (size_t)(i * 13 % 200);
        tu_fill(bufs[i], lens[i], (uint64_t)i);
        ptrs[i] = bufs[i];
        types[i] = i;
    }
    /* one batch that crosses segment rolls (about 2 segments) */
    CHECK_RC(chron_append_many(w, 0, types, ptrs, lens, N), 0);
    CHECK(chron_writer_next_seq(w) == N);
    /* an empty batch writes nothing and returns the next seq */
    CHECK_RC(chron_append_many(w, 0, NULL, NULL, NULL, 0), N);

    /* all-or-nothing: a bad item anywhere fails the whole batch up front */
    types[7] = 70000;
    CHECK_ERR(chron_append_many(w, 0, types, ptrs, lens, 10), CHRON_E_INVAL, "batch item 7");
    CHECK(chron_errdetail() == 7);
    types[7] = 7;
    lens[9] = chron_writer_max_payload(w) + 1;
    CHECK_ERR(chron_append_many(w, 0, types, ptrs, lens, 10), CHRON_E_TOOBIG, "batch item 9");
    lens[9] = 9 * 13 % 200;
    CHECK_ERR(chron_append_many(w, -5, NULL, ptrs, lens, 3), CHRON_E_INVAL, "batch item 0");
    CHECK_ERR(chron_append_many(w, 1, NULL, NULL, lens, 3), CHRON_E_INVAL, "NULL batch");
    CHECK(chron_writer_next_seq(w) == N);

    /* one type id for all */
    CHECK_RC(chron_append_many(w, 42, NULL, ptrs, lens, 5), N);

    chron_reader_t *r = tu_reader(dir, "many", CHRON_START_EARLIEST);
    for (int i = 0; i < N; i++) read_expect(r, (uint64_t)i, i, lens[i]);
    for (int i = 0; i < 5; i++) {
        chron_msg_t m;
        CHECK_RC(chron_reader_next(r, &m), 1);
        CHECK(m.seq == (uint64_t)(N + i) && m.type_id == 42 && m.len == lens[i]);
        CHECK(memcmp(m.payload, bufs[i], lens[i]) == 0);
    }
    expect_end(r);
    chron_reader_close(r);
    chron_writer_close(w);
}

static void test_append_rows(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    enum { ROWS = 3000, STRIDE = 24 };
    static uint8_t rows[ROWS][STRIDE];
    for (int i = 0; i < ROWS; i++) tu_fill(rows[i], STRIDE, (uint64_t)i);
    tu_append(w, 1, 5);
    CHECK_RC(chron_append_rows(w, 77, rows, STRIDE, ROWS), 1);
    CHECK(chron_writer_next_seq(w) == 1 + ROWS);
    CHECK_RC(chron_append_rows(w, 77, rows, STRIDE, 0), 1 + ROWS);
    CHECK_ERR(chron_append_rows(w, 70000, rows, STRIDE, 2), CHRON_E_INVAL, "type id");
    CHECK_ERR(chron_append_rows(w, 1, rows, chron_writer_max_payload(w) + 1, 1), CHRON_E_TOOBIG, "exceeds");
    CHECK(chron_writer_next_seq(w) == 1 + ROWS);

    chron_reader_t *r = tu_reader(dir, "rows", CHRON_START_EARLIEST);
    read_expect(r, 0, 1, 5);
    for (int i = 0; i < ROWS; i++) {
        chron_msg_t m;
        CHECK_RC(chron_reader_next(r, &m), 1);
        CHECK(m.seq == (uint64_t)(1 + i) && m.type_id == 77 && m.len == STRIDE);
        CHECK(memcmp(m.payload, rows[i], STRIDE) == 0);
    }
    expect_end(r);
    chron_reader_close(r);
    chron_writer_close(w);
}

static void test_next_batch(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    chron_reader_t *r = tu_reader(dir, "batch", CHRON_START_EARLIEST);
    chron_msg_t msgs[64];
    CHECK_RC(chron_reader_next_batch(r, msgs, 16), 0);
    for (int i = 0; i < 50; i++) tu_append(w, 3, 16);
    uint64_t seq = 0;
    int sizes[] = {16, 16, 16, 2};
    for (int k = 0; k < 4; k++) {
        CHECK_RC(chron_reader_next_batch(r, msgs, 16), sizes[k]);
        for (int i = 0; i < sizes[k]; i++) CHECK(msgs[i].seq == seq++ && tu_payload_ok(&msgs[i], 16));
    }
    CHECK_RC(chron_reader_next_batch(r, msgs, 16), 0);
    CHECK_RC(chron_reader_next_batch(r, msgs, 0), 0);
    CHECK_ERR(chron_reader_next_batch(r, msgs, -1), CHRON_E_INVAL, "bad batch");

    /* a batch never spans a roll: every payload of one call is in one segment */
    for (int i = 0; i < 2000; i++) tu_append(w, 3, 100);
    uint64_t total = 0, batches_at_roll = 0;
    for (int guard = 0; guard < 10000; guard++) {
        int n = (int)CHECK_OK(chron_reader_next_batch(r, msgs, 64));
        if (n == 0) break;
        for (int i = 0; i < n; i++) {
            CHECK(msgs[i].seq == seq++ && tu_payload_ok(&msgs[i], 100));
            if (msgs[i].segment != msgs[0].segment)
                tu_fail(__FILE__, __LINE__, "batch spans segments %" PRIu64 " and %" PRIu64,
                        msgs[0].segment, msgs[i].segment);
        }
        batches_at_roll += n < 64;
        total += (uint64_t)n;
    }
    CHECK(total == 2000 && seq == 2050);
    CHECK(batches_at_roll >= 3); /* 2000 x 136 bytes: at least 4 segments */
    chron_reader_close(r);
    chron_writer_close(w);
}

int main(void) {
    test_round_trip();
    test_limits();
    test_many_rolls();
    test_append_many();
    test_append_rows();
    test_next_batch();
    return 0;
}
