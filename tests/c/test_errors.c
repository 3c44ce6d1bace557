/*
 * test_errors.c — failures say what happened: the publisher lock (in this
 * process and held by a child that is then killed), bad options, files of
 * an unknown version or with a bad magic, corrupt records, the wait's flow
 * results, and chron_strerror for every code.
 */
#include "test_util.h" /* first: it sets _GNU_SOURCE */

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define SEG (64u << 10)

static void test_second_writer(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    chron_writer_t *w2 = (chron_writer_t *)1;
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int)getpid());
    CHECK_ERR(chron_writer_open(dir, NULL, &w2), CHRON_E_LOCKED, pid);
    CHECK(w2 == NULL);
    CHECK(chron_errdetail() == (int64_t)getpid());
    CHECK(strcmp(chron_errpath(), dir) == 0);
    int64_t holder = 0;
    CHECK_RC(chron_writer_alive(dir, &holder), 1);
    CHECK(holder == (int64_t)getpid());
    chron_writer_close(w);
    CHECK_RC(chron_writer_alive(dir, &holder), 0);
    CHECK(holder == -1);
    w = tu_writer(dir, 0); /* the size is fixed by the first publisher */
    CHECK(chron_writer_max_payload(w) == chron_max_payload_for(SEG));
    chron_writer_close(w);
    CHECK_RC(chron_writer_alive(tu_path(dir, "no-such-queue"), NULL), 0);
}

/* A child holds the lock; once it is killed (-9) the next publisher takes over. */
static void test_lock_holder_killed(void) {
    const char *dir = tu_tmpdir();
    int up[2];
    CHECK(pipe(up) == 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        close(up[0]);
        chron_writer_t *w = NULL;
        if (chron_writer_open(dir, &(chron_writer_opts_t){.segment_size = SEG}, &w) != 0) _exit(2);
        for (int i = 0; i < 10; i++) chron_append(w, 1, "x", 1);
        if (write(up[1], "R", 1) != 1) _exit(3);
        for (;;) pause(); /* until killed */
    }
    close(up[1]);
    struct pollfd p = {up[0], POLLIN, 0};
    CHECK(poll(&p, 1, 10000) == 1);
    char c = 0;
    CHECK(read(up[0], &c, 1) == 1 && c == 'R');

    chron_writer_t *w = (chron_writer_t *)1;
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int)child);
    CHECK_ERR(chron_writer_open(dir, NULL, &w), CHRON_E_LOCKED, pid);
    CHECK(chron_errdetail() == child);
    int64_t holder = 0;
    CHECK_RC(chron_writer_alive(dir, &holder), 1);
    CHECK(holder == child);

    CHECK(kill(child, SIGKILL) == 0);
    int st = 0;
    CHECK(waitpid(child, &st, 0) == child && WIFSIGNALED(st));
    close(up[0]);
    CHECK_RC(chron_writer_alive(dir, &holder), 0);
    w = tu_writer(dir, SEG);
    CHECK(chron_writer_next_seq(w) == 10);
    CHECK(chron_writer_dropped_bytes(w) == 0);
    chron_writer_close(w);
}

static void test_bad_options(void) {
    const char *dir = tu_tmpdir();
    uint64_t bad[] = {1000, CHRON_MIN_SEGMENT_SIZE - 4096, CHRON_MIN_SEGMENT_SIZE + 1,
                      CHRON_MIN_SEGMENT_SIZE + 2048, CHRON_MAX_SEGMENT_SIZE + 4096};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        chron_writer_opts_t o = {.segment_size = bad[i]};
        chron_writer_t *w = (chron_writer_t *)1;
        CHECK_ERR(chron_writer_open(dir, &o, &w), CHRON_E_INVAL, "segment size");
        CHECK(w == NULL);
    }
    chron_writer_t *w;
    CHECK_ERR(chron_writer_open(dir, &(chron_writer_opts_t){.flags = 4}, &w), CHRON_E_INVAL, "flags");
    CHECK_ERR(chron_writer_open(dir, NULL, NULL), CHRON_E_INVAL, "NULL out");
    CHECK_ERR(chron_writer_open("", NULL, &w), CHRON_E_INVAL, "empty queue path");
    /* nothing was created by the refused opens */
    CHECK(!tu_exists(tu_path(dir, "queue.meta")));

    /* an OS failure is -errno, with the path */
    int fd = open(tu_path(dir, "file"), O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK_ERR(chron_writer_open(tu_path(dir, "file/q"), NULL, &w), -ENOTDIR, "file/q");
    chron_reader_t *r;
    CHECK_ERR(chron_reader_open(tu_path(dir, "file/q"), "r", NULL, &r), -ENOTDIR, "file/q");
    CHECK(strstr(chron_errmsg(), strerror(ENOTDIR)) != NULL);

    /* closing NULL handles is allowed */
    chron_writer_close(NULL);
    chron_reader_close(NULL);
    CHECK(chron_writer_next_seq(NULL) == 0 && chron_writer_max_payload(NULL) == 0);
    CHECK(chron_reader_next_seq(NULL) == 0 && chron_reader_segment_fd(NULL) == -1);
}

static void test_bad_files(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 5; i++) tu_append(w, 1, 8);
    chron_writer_close(w);
    const char *meta = tu_path(dir, "queue.meta");
    chron_reader_t *r = NULL;

    /* unknown version in queue.meta: CHRON_E_VERSION naming the file */
    tu_map_t m = tu_map(meta);
    chron_meta_t *mh = (chron_meta_t *)m.p;
    mh->version = 99;
    mh->header_crc = chron_crc32c(0, mh, offsetof(chron_meta_t, header_crc));
    CHECK_ERR(chron_writer_open(dir, NULL, &w), CHRON_E_VERSION, "queue.meta");
    CHECK(strstr(chron_errmsg(), "version") != NULL);
    CHECK(strcmp(chron_errpath(), meta) == 0);
    CHECK_ERR(chron_reader_open(dir, "r", NULL, &r), CHRON_E_VERSION, "queue.meta");
    CHECK(r == NULL);
    mh->version = CHRON_FORMAT_VERSION;
    mh->magic = 0x12345678;
    CHECK_ERR(chron_writer_open(dir, NULL, &w), CHRON_E_CORRUPT, "bad magic");
    CHECK(strcmp(chron_errpath(), meta) == 0);
    mh->magic = CHRON_META_MAGIC;
    mh->created_ns++;
    CHECK_ERR(chron_writer_open(dir, NULL, &w), CHRON_E_CORRUPT, "checksum");
    mh->header_crc = chron_crc32c(0, mh, offsetof(chron_meta_t, header_crc));
    tu_unmap(&m);

    /* a segment from a future version, or of another queue */
    const char *seg = tu_seg_path(dir, 0);
    m = tu_map(seg);
    chron_seg_hdr_t *sh = (chron_seg_hdr_t *)m.p;
    sh->version = 2;
    sh->header_crc = chron_crc32c(0, sh, offsetof(chron_seg_hdr_t, header_crc));
    CHECK_ERR(chron_writer_open(dir, NULL, &w), CHRON_E_VERSION, "00000000000000000000.seg");
    CHECK_ERR(chron_reader_open(dir, "r", NULL, &r), CHRON_E_VERSION, "00000000000000000000.seg");
    sh->version = CHRON_FORMAT_VERSION;
    sh->queue_id[3] ^= 1;
    sh->header_crc = chron_crc32c(0, sh, offsetof(chron_seg_hdr_t, header_crc));
    CHECK_ERR(chron_writer_open(dir, NULL, &w), CHRON_E_CORRUPT, "another queue");
    sh->queue_id[3] ^= 1;
    sh->header_crc = chron_crc32c(0, sh, offsetof(chron_seg_hdr_t, header_crc));
    tu_unmap(&m);

    /* a segment file of a size no segment has (checked before mapping) */
    CHECK(truncate(seg, SEG - 100) == 0);
    CHECK_ERR(chron_writer_open(dir, NULL, &w), CHRON_E_CORRUPT, "not a valid segment size");
    CHECK(truncate(seg, SEG) == 0);
    w = tu_writer(dir, 0);
    CHECK(chron_writer_next_seq(w) == 5);
    chron_writer_close(w);

    /* a queue.meta cut short */
    CHECK(truncate(meta, 100) == 0);
    CHECK_ERR(chron_writer_open(dir, NULL, &w), CHRON_E_CORRUPT, "shorter than");
    CHECK(chron_errdetail() == 0);
}

static void test_corrupt_record(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 3; i++) tu_append(w, 1, 40);
    chron_reader_t *r = tu_reader(dir, "c", CHRON_START_EARLIEST);
    chron_msg_t msg;
    CHECK_RC(chron_reader_next(r, &msg), 1);

    /* flip a payload bit of seq 1 (live, under both handles) */
    tu_map_t m = tu_map(tu_seg_path(dir, 0));
    uint64_t off = 64 + chron_rec_size(40);
    m.p[off + 32 + 3] ^= 0x04;
    char where[64];
    snprintf(where, sizeof where, "offset %" PRIu64, off);
    for (int i = 0; i < 2; i++) { /* it stays on the bad record */
        CHECK_ERR(chron_reader_next(r, &msg), CHRON_E_CORRUPT, "checksum");
        CHECK(strstr(chron_errmsg(), where) != NULL);
        CHECK(strstr(chron_errmsg(), "00000000000000000000.seg") != NULL);
        CHECK(chron_errdetail() == (int64_t)off);
        CHECK(chron_reader_next_seq(r) == 1);
    }
    chron_msg_t batch[4];
    CHECK_ERR(chron_reader_next_batch(r, batch, 4), CHRON_E_CORRUPT, "checksum");
    m.p[off + 32 + 3] ^= 0x04;
    CHECK_RC(chron_reader_next_batch(r, batch, 4), 2);
    CHECK(batch[0].seq == 1 && batch[1].seq == 2);
    tu_unmap(&m);
    chron_reader_close(r);
    chron_writer_close(w);
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct waker {
    const char *dir;
    chron_writer_t *w;   /* append once a reader sleeps, or */
    pthread_t target;    /* signal this thread once it sleeps, */
    atomic_int done;     /* again and again until it has returned */
    int ok;
} waker_t;

/* Waits (bounded) until a reader is asleep on the queue's futex. */
static int await_sleeper(const char *dir) {
    tu_map_t m = tu_map(tu_path(dir, "queue.meta"));
    chron_meta_t *meta = (chron_meta_t *)m.p;
    int64_t end = mono_ns() + 10 * 1000000000ll;
    int seen = 0;
    while (!(seen = atomic_load(&meta->waiters) != 0) && mono_ns() < end) sched_yield();
    tu_unmap(&m);
    return seen;
}

static void *waker_main(void *arg) {
    waker_t *k = arg;
    k->ok = await_sleeper(k->dir);
    if (k->w) {
        k->ok = k->ok && chron_append(k->w, 1, "wake", 4) >= 0;
        return NULL;
    }
    /* a signal that lands after the reader registered as a sleeper but
     * before it entered the futex is handled and gone: repeat it */
    int64_t end = mono_ns() + 10 * 1000000000ll;
    while (k->ok && !atomic_load(&k->done) && mono_ns() < end) {
        k->ok = pthread_kill(k->target, SIGUSR1) == 0;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    k->ok = k->ok && atomic_load(&k->done);
    return NULL;
}

static void on_usr1(int sig) { (void)sig; }

static void test_wait(void) {
    const char *dir = tu_tmpdir();
    chron_reader_t *r = tu_reader(dir, "waiter", CHRON_START_EARLIEST);
    /* no publisher yet: a flow result, not an error */
    CHECK_RC(chron_reader_wait(r, 0), 0);
    CHECK_RC(chron_reader_wait(r, 1000000), 0);
    chron_writer_t *w = tu_writer(dir, SEG);
    CHECK_RC(chron_reader_wait(r, 0), 0);
    int64_t t0 = mono_ns();
    CHECK_RC(chron_reader_wait(r, 2000000), 0);
    CHECK(mono_ns() - t0 >= 2000000); /* it did wait its timeout out */
    tu_append(w, 1, 8);
    CHECK_RC(chron_reader_wait(r, 0), 1);
    CHECK_RC(chron_reader_wait(r, -1), 1);
    chron_msg_t m;
    CHECK_RC(chron_reader_next(r, &m), 1);
    CHECK_RC(chron_reader_wait(r, 0), 0);

    /* asleep on the futex, woken by an append */
    waker_t k = {.dir = dir, .w = w};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, waker_main, &k) == 0);
    int rc = chron_reader_wait(r, 30 * 1000000000ll);
    pthread_join(th, NULL);
    CHECK(k.ok);
    CHECK_RC(rc, 1);
    CHECK_RC(chron_reader_next(r, &m), 1);
    CHECK(m.seq == 1 && m.len == 4 && memcmp(m.payload, "wake", 4) == 0);

    /* a signal ends an unbounded wait with CHRON_E_INTR */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    CHECK(sigaction(SIGUSR1, &sa, &old) == 0);
    waker_t s = {.dir = dir, .target = pthread_self()};
    CHECK(pthread_create(&th, NULL, waker_main, &s) == 0);
    rc = chron_reader_wait(r, -1);
    atomic_store(&s.done, 1);
    pthread_join(th, NULL);
    CHECK(s.ok);
    CHECK_RC(rc, CHRON_E_INTR);
    CHECK(strstr(chron_errmsg(), "interrupted") != NULL);
    sigaction(SIGUSR1, &old, NULL);
    /* and no sleeper is left registered */
    tu_map_t mm = tu_map(tu_path(dir, "queue.meta"));
    CHECK(atomic_load(&((chron_meta_t *)mm.p)->waiters) == 0);
    tu_unmap(&mm);
    CHECK_ERR(chron_reader_wait(NULL, 0), CHRON_E_INVAL, "NULL reader");
    chron_reader_close(r);
    chron_writer_close(w);
}

static void test_strerror(void) {
    int codes[] = {CHRON_E_INVAL, CHRON_E_TOOBIG, CHRON_E_LOCKED, CHRON_E_CORRUPT,
                   CHRON_E_VERSION, CHRON_E_RANGE, CHRON_E_INTR, CHRON_E_RETIRED};
    const char *seen[8];
    for (size_t i = 0; i < 8; i++) {
        const char *s = chron_strerror(codes[i]);
        CHECK(s != NULL && *s != '\0' && strcmp(s, "unknown error") != 0);
        for (size_t j = 0; j < i; j++) CHECK(strcmp(seen[j], s) != 0);
        seen[i] = s;
    }
    CHECK(strstr(chron_strerror(CHRON_E_LOCKED), "locked") != NULL);
    CHECK(strstr(chron_strerror(CHRON_E_VERSION), "version") != NULL);
    CHECK(strcmp(chron_strerror(0), "success") == 0);
    CHECK(strcmp(chron_strerror(-ENOENT), strerror(ENOENT)) == 0);
    CHECK(strcmp(chron_strerror(-ENOSPC), strerror(ENOSPC)) == 0);
    CHECK(strcmp(chron_strerror(12345), "unknown error") == 0);
    CHECK(strcmp(chron_strerror(-20099), "unknown error") == 0);
    /* the last error is per thread and keeps its code */
    chron_writer_t *w;
    CHECK_ERR(chron_writer_open("", NULL, &w), CHRON_E_INVAL, "empty");
    CHECK(chron_errcode() == CHRON_E_INVAL);
}

int main(void) {
    test_second_writer();
    test_lock_holder_killed();
    test_bad_options();
    test_bad_files();
    test_corrupt_record();
    test_wait();
    test_strerror();
    return 0;
}
