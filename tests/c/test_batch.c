/*
 * test_batch.c — chron_append_packed, chron_reader_read_fixed,
 * chron_reader_unread and the split wait (begin / sleep / end / wake).
 */
#include "test_util.h" /* first: it sets the feature macros */

#include <pthread.h>
#include <time.h>

#include "internal.h" /* CHRON_SLEEP_UNFENCED */

#define SEG (64u << 10)
#define REC 24

/* read_fixed returns exactly what next returns, across segment rolls, with
 * a type filter that skips, one that stops, and wrong sizes. */
static void test_read_fixed(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 3000; i++) tu_append(w, i % 5 == 4 ? 2 : 1, REC); /* ~5 segments */
    tu_append(w, 1, REC + 1);
    tu_append(w, 1, REC);

    chron_reader_t *r = tu_reader(dir, "fixed", CHRON_START_EARLIEST);
    static uint8_t recs[4000 * REC];
    static uint64_t seqs[4000];
    static int64_t ts[4000];
    static uint16_t types[4000];
    /* type 1, skipping the type 2 messages: 2400 of them, then the odd size */
    int64_t total = 0;
    for (;;) {
        int64_t n = chron_reader_read_fixed(r, 1, CHRON_READ_SKIP_OTHERS, REC, UINT64_MAX, recs + total * REC,
                                            seqs + total, ts + total, types + total, 7);
        if (n == CHRON_E_INVAL) break;
        CHECK(n > 0 && n <= 7);
        total += n;
    }
    CHECK(strstr(chron_errmsg(), "25-byte payload") != NULL);
    CHECK(total == 2400);
    for (int64_t i = 0; i < total; i++) {
        uint64_t want = (uint64_t)(i / 4 * 5 + i % 4);
        chron_msg_t m = {.seq = seqs[i], .len = REC, .payload = recs + i * REC};
        CHECK(seqs[i] == want && types[i] == 1 && ts[i] > 0);
        CHECK(tu_payload_ok(&m, REC));
    }
    /* the odd one stays: next() returns it, then the last record reads */
    chron_msg_t m;
    CHECK_RC(chron_reader_next(r, &m), 1);
    CHECK(m.seq == 3000 && m.len == REC + 1);
    CHECK_RC(chron_reader_read_fixed(r, -1, 0, REC, UINT64_MAX, recs, NULL, NULL, NULL, 10), 1);
    CHECK_RC(chron_reader_read_fixed(r, -1, 0, REC, UINT64_MAX, recs, NULL, NULL, NULL, 10), 0);

    /* without skipping: stops before type 2, which next() then takes */
    CHECK_OK(chron_reader_seek(r, 0));
    CHECK_RC(chron_reader_read_fixed(r, 1, 0, REC, UINT64_MAX, recs, seqs, ts, types, 100), 4);
    CHECK_RC(chron_reader_read_fixed(r, 1, 0, REC, UINT64_MAX, recs, seqs, ts, types, 100), 0);
    CHECK_RC(chron_reader_next(r, &m), 1);
    CHECK(m.seq == 4 && m.type_id == 2);
    /* end_seq bounds the read */
    CHECK_RC(chron_reader_read_fixed(r, -1, 0, REC, 7, recs, seqs, ts, types, 100), 2);
    CHECK(chron_reader_next_seq(r) == 7);
    CHECK_ERR(chron_reader_read_fixed(r, 70000, 0, REC, UINT64_MAX, recs, seqs, ts, types, 1), CHRON_E_INVAL,
              "outside");
    chron_reader_close(r);
    chron_writer_close(w);
}

static void test_unread(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    tu_append(w, 1, 10);
    tu_append(w, 1, 20);
    chron_reader_t *r = tu_reader(dir, "unread", CHRON_START_EARLIEST);
    chron_msg_t a, b;
    CHECK_RC(chron_reader_next(r, &a), 1);
    CHECK_RC(chron_reader_next(r, &b), 1);
    CHECK_ERR(chron_reader_unread(r, &a), CHRON_E_INVAL, "last message");
    CHECK_OK(chron_reader_unread(r, &b));
    CHECK_ERR(chron_reader_unread(r, &b), CHRON_E_INVAL, "last message");
    CHECK(chron_reader_next_seq(r) == 1);
    CHECK_RC(chron_reader_next(r, &b), 1);
    CHECK(b.seq == 1 && tu_payload_ok(&b, 20));
    chron_reader_close(r);
    chron_writer_close(w);
}

static void test_append_packed(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)i;
    size_t lens[600];
    for (int i = 0; i < 600; i++) lens[i] = (size_t)(i % 3); /* 600 messages, 600 bytes */
    CHECK_ERR(chron_append_packed(w, 1, data, lens, 600, 599), CHRON_E_INVAL, "past");
    CHECK_ERR(chron_append_packed(w, 1, data, lens, 600, 601), CHRON_E_INVAL, "add up");
    CHECK_ERR(chron_append_packed(w, -1, data, lens, 600, 600), CHRON_E_INVAL, "outside");
    size_t huge[2] = {1, SEG};
    CHECK_RC(chron_append_packed(w, 1, data, huge, 2, SEG + 1), CHRON_E_TOOBIG);
    CHECK(chron_writer_next_seq(w) == 0); /* nothing written by the failures */
    CHECK_RC(chron_append_packed(w, 3, data, lens, 600, 600), 0);
    CHECK_RC(chron_append_packed(w, 3, NULL, NULL, 0, 0), 600);
    chron_reader_t *r = tu_reader(dir, "packed", CHRON_START_EARLIEST);
    size_t off = 0;
    for (int i = 0; i < 600; i++) {
        chron_msg_t m;
        CHECK_RC(chron_reader_next(r, &m), 1);
        CHECK(m.seq == (uint64_t)i && m.type_id == 3 && m.len == lens[i]);
        CHECK(m.len == 0 || memcmp(m.payload, data + off, m.len) == 0);
        off += m.len;
    }
    chron_reader_close(r);
    chron_writer_close(w);
}

typedef struct sleeper {
    chron_reader_t *r;
    uint64_t token;
    int rc;
} sleeper_t;

static void *sleep_forever(void *arg) {
    sleeper_t *s = arg;
    s->rc = chron_reader_sleep(s->r, s->token, -1);
    return NULL;
}

static uint32_t waiters(const char *dir) {
    tu_map_t m = tu_map(tu_path(dir, "queue.meta"));
    uint32_t n = atomic_load(&((chron_meta_t *)m.p)->waiters);
    tu_unmap(&m);
    return n;
}

/* The split wait: a sleeper on another thread is woken by an append and by
 * chron_reader_wake; the waiter count returns to zero. */
static void test_split_wait(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    chron_reader_t *r = tu_reader(dir, "split", CHRON_START_EARLIEST);
    sleeper_t s = {.r = r};
    pthread_t t;

    CHECK_RC(chron_reader_wait_begin(r, &s.token), 0);
    CHECK(waiters(dir) == 1);
    CHECK(pthread_create(&t, NULL, sleep_forever, &s) == 0);
    tu_append(w, 1, 8); /* a sleeper is registered: the append wakes it */
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(s.rc == 0);
    chron_reader_wait_end(r);
    CHECK(waiters(dir) == 0);
    CHECK_RC(chron_reader_wait_begin(r, &s.token), 1); /* ready: nothing registered */
    CHECK(waiters(dir) == 0);
    chron_msg_t m;
    CHECK_RC(chron_reader_next(r, &m), 1);

    CHECK_RC(chron_reader_wait_begin(r, &s.token), 0);
    CHECK(pthread_create(&t, NULL, sleep_forever, &s) == 0);
    chron_reader_wake(r); /* before or during its sleep: either way it returns */
    CHECK(pthread_join(t, NULL) == 0);
    chron_reader_wait_end(r);
    CHECK(waiters(dir) == 0);
    CHECK_RC(chron_reader_sleep(r, s.token, 1000000), 0); /* stale token: at once */

    /* a quiet sleep lasts its whole timeout, across the core's 100 ms slices,
     * and stays announced throughout */
    CHECK_RC(chron_reader_wait_begin(r, &s.token), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_RC(chron_reader_sleep(r, s.token, 250000000), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t slept = (t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec);
    if (!(s.token & CHRON_SLEEP_UNFENCED)) CHECK(slept >= 250000000); /* else 1 ms bounds */
    CHECK(waiters(dir) == 1);
    chron_reader_wait_end(r);
    CHECK(waiters(dir) == 0);
    chron_reader_close(r);
    chron_writer_close(w);
}

int main(void) {
    test_read_fixed();
    test_unread();
    test_append_packed();
    test_split_wait();
    return 0;
}
