/*
 * test_seek.c — chron_reader_seek: first, middle, last and next-to-write
 * seqs, segment boundaries in both directions, targets out of range, an
 * empty queue, and segments removed by retention; chron_reader_rewind back
 * to a message already returned.
 */
#include "test_util.h"

#define SEG (64u << 10)
#define N 3000
#define LEN 100

static void expect_at(chron_reader_t *r, uint64_t seq) {
    chron_msg_t m;
    CHECK(chron_reader_next_seq(r) == seq);
    CHECK_RC(chron_reader_next(r, &m), 1);
    if (m.seq != seq || !tu_payload_ok(&m, LEN))
        tu_fail(__FILE__, __LINE__, "after seek to %" PRIu64 " read seq %" PRIu64, seq, m.seq);
}

static void test_seek(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < N; i++) tu_append(w, 1, LEN);

    /* learn where each segment starts by reading everything once */
    chron_reader_t *r = tu_reader(dir, "seek", CHRON_START_EARLIEST);
    uint64_t starts[64];
    int nseg = 0;
    uint64_t cur = UINT64_MAX;
    for (int i = 0; i < N; i++) {
        chron_msg_t m;
        CHECK_RC(chron_reader_next(r, &m), 1);
        if (m.segment != cur) {
            CHECK(nseg < 64);
            CHECK(m.segment == (uint64_t)nseg);
            starts[nseg++] = m.seq;
            cur = m.segment;
        }
    }
    CHECK(nseg >= 5); /* 3000 x 136 bytes in 64 KiB segments */

    CHECK_OK(chron_reader_seek(r, 0));
    expect_at(r, 0);
    CHECK_OK(chron_reader_seek(r, N / 2));
    expect_at(r, N / 2);
    expect_at(r, N / 2 + 1);
    CHECK_OK(chron_reader_seek(r, N - 1));
    expect_at(r, N - 1);
    /* backwards after forwards */
    CHECK_OK(chron_reader_seek(r, 17));
    expect_at(r, 17);

    /* both sides of every segment boundary, in both directions */
    for (int s = 1; s < nseg; s++) {
        CHECK_OK(chron_reader_seek(r, starts[s] - 1));
        chron_msg_t m;
        CHECK_RC(chron_reader_next(r, &m), 1);
        CHECK(m.seq == starts[s] - 1 && m.segment == (uint64_t)(s - 1));
        CHECK_RC(chron_reader_next(r, &m), 1);
        CHECK(m.seq == starts[s] && m.segment == (uint64_t)s);
    }
    for (int s = nseg - 1; s >= 0; s--) {
        CHECK_OK(chron_reader_seek(r, starts[s]));
        chron_msg_t m;
        CHECK_RC(chron_reader_next(r, &m), 1);
        CHECK(m.seq == starts[s] && m.segment == (uint64_t)s);
    }

    /* the next seq to be written: nothing yet, then exactly that message */
    CHECK_OK(chron_reader_seek(r, N));
    chron_msg_t m;
    CHECK_RC(chron_reader_next(r, &m), 0);
    CHECK_RC(chron_reader_ready(r), 0);
    tu_append(w, 1, LEN);
    expect_at(r, N);

    /* beyond the end: an error that says so, and the position is kept */
    CHECK_OK(chron_reader_seek(r, 5));
    CHECK_ERR(chron_reader_seek(r, N + 2), CHRON_E_RANGE, "beyond the end");
    CHECK(chron_errdetail() == N + 2);
    CHECK_ERR(chron_reader_seek(r, UINT64_MAX), CHRON_E_RANGE, "out of range");
    CHECK_ERR(chron_reader_seek(r, UINT64_MAX - 1), CHRON_E_RANGE, "beyond the end");
    expect_at(r, 5);
    CHECK_ERR(chron_reader_seek(NULL, 0), CHRON_E_INVAL, "NULL reader");

    /* retention removed the first segments: seqs before them are out of range */
    CHECK(unlink(tu_seg_path(dir, 0)) == 0);
    CHECK(unlink(tu_seg_path(dir, 1)) == 0);
    CHECK_ERR(chron_reader_seek(r, 0), CHRON_E_RANGE, "before the first retained");
    CHECK_ERR(chron_reader_seek(r, starts[2] - 1), CHRON_E_RANGE, "before the first retained");
    CHECK_OK(chron_reader_seek(r, starts[2]));
    expect_at(r, starts[2]);
    chron_reader_close(r);
    chron_writer_close(w);
}

static void test_seek_empty(void) {
    const char *dir = tu_tmpdir();
    /* a reader before any publisher: the queue exists, with no segment yet */
    chron_reader_t *r = tu_reader(dir, "early", CHRON_START_EARLIEST);
    CHECK_OK(chron_reader_seek(r, 0));
    CHECK_ERR(chron_reader_seek(r, 1), CHRON_E_RANGE, "empty queue");
    chron_msg_t m;
    CHECK_RC(chron_reader_next(r, &m), 0);

    /* a publisher with nothing appended yet */
    chron_writer_t *w = tu_writer(dir, SEG);
    CHECK_OK(chron_reader_seek(r, 0));
    CHECK_ERR(chron_reader_seek(r, 1), CHRON_E_RANGE, "beyond the end");
    tu_append(w, 1, LEN);
    expect_at(r, 0);
    chron_reader_close(r);
    chron_writer_close(w);
}

static void test_rewind(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < N; i++) tu_append(w, 1, LEN);
    chron_reader_t *r = tu_reader(dir, "rewind", CHRON_START_EARLIEST);
    chron_msg_t first, m;
    CHECK_RC(chron_reader_next(r, &first), 1);
    for (int i = 0; i < 10; i++) CHECK_RC(chron_reader_next(r, &m), 1);
    CHECK_OK(chron_reader_rewind(r, first.seq, first.segment, first.offset));
    expect_at(r, first.seq);
    /* not forward, not to a made-up offset, not to another segment */
    CHECK_ERR(chron_reader_rewind(r, m.seq + 5, m.segment, m.offset), CHRON_E_INVAL, "rewind");
    CHECK_ERR(chron_reader_rewind(r, first.seq, first.segment, first.offset + 8), CHRON_E_INVAL, "rewind");
    do CHECK_RC(chron_reader_next(r, &m), 1);
    while (m.segment == first.segment);
    CHECK_ERR(chron_reader_rewind(r, first.seq, first.segment, first.offset), CHRON_E_INVAL, "current segment");
    chron_reader_close(r);
    chron_writer_close(w);
}

int main(void) {
    test_seek();
    test_seek_empty();
    test_rewind();
    return 0;
}
