/*
 * test_recover.c — a publisher opening a queue continues it densely: after a
 * clean close, after being killed, and after crashes simulated by editing
 * the mapped segment the way a dying writer or a lost page would leave it
 * (a record without its commit, a torn record, stale or random bytes past
 * the tail, a sealed segment with no successor, a successor activated
 * before the old segment was sealed).
 */
#include "test_util.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#define SEG (64u << 10)
#define LEN 50

/* Reads seqs [from, to) with payloads as tu_append wrote them, then nothing. */
static void read_all(const char *dir, const char *name, uint64_t from, uint64_t to) {
    chron_reader_t *r = tu_reader(dir, name, CHRON_START_EARLIEST);
    CHECK_OK(chron_reader_seek(r, from));
    chron_msg_t m;
    for (uint64_t s = from; s < to; s++) {
        CHECK_RC(chron_reader_next(r, &m), 1);
        if (m.seq != s || !tu_payload_ok(&m, LEN))
            tu_fail(__FILE__, __LINE__, "expected seq %" PRIu64 ", got %" PRIu64 " len %u", s, m.seq, m.len);
    }
    CHECK_RC(chron_reader_next(r, &m), 0);
    chron_reader_close(r);
}

/* Offset of the tail in a segment that holds k records of LEN bytes. */
static uint64_t tail_of(uint64_t k) { return 64 + k * chron_rec_size(LEN); }

static int all_zero(const uint8_t *p, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to; i++)
        if (p[i]) return 0;
    return 1;
}

static void test_clean_reopen(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 10; i++) tu_append(w, 1, LEN);
    chron_writer_close(w);
    w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 10 && chron_writer_dropped_bytes(w) == 0);
    /* many rolls, several reopens; the segment made ahead is never mistaken
     * for the active one */
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 1000; i++) tu_append(w, 1, LEN);
        CHECK_OK(chron_writer_flush(w, round & 1));
        chron_writer_close(w);
        w = tu_writer(dir, SEG);
        CHECK(chron_writer_next_seq(w) == 10 + 1000 * (uint64_t)(round + 1));
        CHECK(chron_writer_dropped_bytes(w) == 0);
    }
    tu_append(w, 1, LEN);
    chron_writer_close(w);
    read_all(dir, "all", 0, 4011);
}

static void test_uncommitted_record(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 5; i++) tu_append(w, 1, LEN);
    chron_writer_close(w);

    /* the writer died after filling a record, before its commit store */
    tu_map_t m = tu_map(tu_seg_path(dir, 0));
    uint64_t t = tail_of(5);
    chron_rec_hdr_t *h = (chron_rec_hdr_t *)(m.p + t);
    h->seq = 5;
    h->timestamp_ns = 123;
    h->type_id = 1;
    tu_fill((uint8_t *)(h + 1), LEN, 5);
    h->crc = chron_rec_crc(h, CHRON_COMMIT_MSG | LEN, LEN);
    CHECK(atomic_load(&h->commit) == 0);

    w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 5);
    CHECK(chron_writer_dropped_bytes(w) > 0);
    CHECK(all_zero(m.p, t, SEG)); /* wiped before anything new is published */
    for (int i = 0; i < 3; i++) tu_append(w, 1, LEN);
    chron_writer_close(w);
    tu_unmap(&m);
    read_all(dir, "r", 0, 8);
}

static void test_torn_and_stale(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 20; i++) tu_append(w, 1, LEN);
    chron_writer_close(w);
    tu_map_t m = tu_map(tu_seg_path(dir, 0));

    /* a record whose commit word landed but part of whose payload did not
     * (lost page): framing is fine, the checksum is not */
    uint64_t t19 = tail_of(19);
    m.p[t19 + 32 + 10] ^= 0xFF;
    w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 19);
    CHECK(chron_writer_dropped_bytes(w) > 0);
    CHECK(all_zero(m.p, t19, SEG));
    tu_append(w, 1, LEN);
    chron_writer_close(w);
    read_all(dir, "a", 0, 20);

    /* random bytes well past the tail, with a zero commit word at the tail */
    uint8_t junk[3000];
    tu_fill(junk, sizeof junk, 99);
    memcpy(m.p + 20000, junk, sizeof junk);
    w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 20);
    CHECK(chron_writer_dropped_bytes(w) >= sizeof junk);
    CHECK(all_zero(m.p, tail_of(20), SEG));
    chron_writer_close(w);

    /* a stale record at the tail: valid checksum, but an old seq */
    memcpy(m.p + tail_of(20), m.p + tail_of(3), chron_rec_size(LEN));
    /* and a record that claims to run past the segment end */
    w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 20 && chron_writer_dropped_bytes(w) > 0);
    chron_writer_close(w);
    atomic_store(&((chron_rec_hdr_t *)(m.p + tail_of(20)))->commit, CHRON_COMMIT_MSG | 0x7FFFFFF0u);
    w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 20 && chron_writer_dropped_bytes(w) > 0);
    for (int i = 0; i < 600; i++) tu_append(w, 1, LEN); /* on into segment 1 */
    chron_writer_close(w);
    tu_unmap(&m);
    read_all(dir, "b", 0, 620);
}

static void test_sealed_without_successor(void) {
    /* died right after sealing a segment: the next one was never activated */
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 7; i++) tu_append(w, 1, LEN);
    chron_writer_close(w);
    unlink(tu_seg_path(dir, 1)); /* the one made ahead, if it exists yet */
    tu_map_t m = tu_map(tu_seg_path(dir, 0));
    atomic_store(&((chron_rec_hdr_t *)(m.p + tail_of(7)))->commit, CHRON_COMMIT_EOS);
    tu_unmap(&m);

    chron_reader_t *r = tu_reader(dir, "through", CHRON_START_EARLIEST);
    w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 7);
    CHECK(chron_writer_dropped_bytes(w) == 0);
    for (int i = 0; i < 5; i++) tu_append(w, 1, LEN);
    chron_writer_close(w);
    chron_msg_t msg;
    for (uint64_t s = 0; s < 12; s++) {
        CHECK_RC(chron_reader_next(r, &msg), 1);
        CHECK(msg.seq == s && msg.segment == (s < 7 ? 0u : 1u) && tu_payload_ok(&msg, LEN));
    }
    chron_reader_close(r);
    read_all(dir, "r", 0, 12);
}

static void test_activated_before_sealed(void) {
    /* died during a roll, between activating the next segment and sealing
     * the current one: readers must still get from the old one to the new */
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 9; i++) tu_append(w, 1, LEN);
    CHECK_OK(chron_writer_flush(w, 0));
    chron_writer_close(w);
    chron_reader_t *r = tu_reader(dir, "through", CHRON_START_EARLIEST);
    chron_msg_t msg;
    for (uint64_t s = 0; s < 9; s++) CHECK_RC(chron_reader_next(r, &msg), 1);

    /* its successor, activated with the next seq: a copy of segment 0's
     * header renumbered, as the helper thread would have made it */
    unlink(tu_seg_path(dir, 1));
    tu_map_t m0 = tu_map(tu_seg_path(dir, 0));
    chron_seg_hdr_t h = {0};
    memcpy(&h, m0.p, sizeof h);
    tu_unmap(&m0);
    h.index = 1;
    h.header_crc = chron_crc32c(0, &h, offsetof(chron_seg_hdr_t, header_crc));
    atomic_store(&h.base_seq, 9);
    int fd = open(tu_seg_path(dir, 1), O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, SEG) == 0 && pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
    close(fd);

    w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 9);
    for (int i = 0; i < 4; i++) tu_append(w, 1, LEN);
    /* the reader that stayed open, at the old tail, continues */
    for (uint64_t s = 9; s < 13; s++) {
        CHECK_RC(chron_reader_next(r, &msg), 1);
        CHECK(msg.seq == s && tu_payload_ok(&msg, LEN));
    }
    chron_writer_close(w);
    chron_reader_close(r);
    read_all(dir, "fresh", 0, 13);
}

static void test_prepared_with_garbage(void) {
    /* a segment made ahead but never activated, whose data area was damaged:
     * activating it must not turn the stray bytes into records */
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    chron_writer_close(w);
    tu_map_t m = tu_map(tu_seg_path(dir, 0));
    atomic_store(&((chron_seg_hdr_t *)m.p)->base_seq, CHRON_SEQ_UNSET);
    atomic_store(&((chron_rec_hdr_t *)(m.p + 64))->commit, CHRON_COMMIT_EOS);
    memset(m.p + 128, 0xFF, 4096);
    tu_unmap(&m);
    w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 0);
    for (int i = 0; i < 3; i++) tu_append(w, 1, LEN);
    chron_writer_close(w);
    read_all(dir, "r", 0, 3);
}

/* A child appends, reports how many appends returned, and is killed -9. */
static void test_killed_writer(void) {
    const char *dir = tu_tmpdir();
    chron_reader_t *r = tu_reader(dir, "live", CHRON_START_EARLIEST);
    uint64_t expect = 0;
    for (int round = 0; round < 3; round++) {
        int up[2];
        CHECK(pipe(up) == 0);
        pid_t child = fork();
        CHECK(child >= 0);
        if (child == 0) {
            close(up[0]);
            chron_writer_t *w = NULL;
            if (chron_writer_open(dir, &(chron_writer_opts_t){.segment_size = SEG}, &w) != 0) _exit(2);
            uint8_t buf[LEN];
            for (int i = 0; i < 700; i++) { /* crosses a roll every round */
                uint64_t s = chron_writer_next_seq(w);
                tu_fill(buf, LEN, s);
                if (chron_append(w, 1, buf, LEN) != (int64_t)s) _exit(3);
            }
            uint64_t n = chron_writer_next_seq(w);
            if (write(up[1], &n, sizeof n) != (ssize_t)sizeof n) _exit(4);
            for (;;) pause();
        }
        close(up[1]);
        struct pollfd p = {up[0], POLLIN, 0};
        CHECK(poll(&p, 1, 20000) == 1);
        uint64_t n = 0;
        CHECK(read(up[0], &n, sizeof n) == (ssize_t)sizeof n);
        close(up[0]);
        CHECK(kill(child, SIGKILL) == 0);
        int st;
        CHECK(waitpid(child, &st, 0) == child && WIFSIGNALED(st));
        expect += 700;
        CHECK(n == expect);
        /* the reader that stays open reads every returned append, in order */
        chron_msg_t msg;
        while (chron_reader_next_seq(r) < n) {
            uint64_t s = chron_reader_next_seq(r);
            CHECK_RC(chron_reader_next(r, &msg), 1);
            CHECK(msg.seq == s && tu_payload_ok(&msg, LEN));
        }
        CHECK_RC(chron_reader_next(r, &msg), 0);
    }
    chron_writer_t *w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == expect);
    CHECK(chron_writer_dropped_bytes(w) == 0);
    tu_append(w, 1, LEN);
    chron_msg_t msg;
    CHECK_RC(chron_reader_next(r, &msg), 1);
    CHECK(msg.seq == expect);
    chron_writer_close(w);
    chron_reader_close(r);
    read_all(dir, "after", 0, expect + 1);
}

int main(void) {
    test_clean_reopen();
    test_uncommitted_record();
    test_torn_and_stale();
    test_sealed_without_successor();
    test_prepared_with_garbage();
    test_activated_before_sealed();
    test_killed_writer();
    return 0;
}
