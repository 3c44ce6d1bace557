/*
 * latency.c — one-way latency from a publisher process to a subscriber
 * process on another CPU. The publisher reads CLOCK_MONOTONIC and puts it in
 * the payload; the subscriber reads the clock when the message arrives and
 * records the difference in a histogram shared with the parent.
 *
 *   latency --dir=D --mode=spin|futex|raw --count=N [--warmup=W]
 *           [--interval=NS] [--size=32] [--pub-cpu=0] [--sub-cpu=1]
 *
 * spin:  the subscriber busy-polls chron_reader_next.
 * futex: the subscriber sleeps in chron_reader_wait with no spinning, so
 *        every message that finds it asleep costs a futex wake-up.
 * raw:   the limit — one shared cache line holding (seq, timestamp), written
 *        by the publisher, polled by the subscriber, which acknowledges on a
 *        second line before the next is sent (a ping-pong), with the same
 *        clock reads on both sides.
 * --interval paces the publisher (busy-waiting until each send time; 0 = as
 * fast as it can). At full speed a Chronicle subscriber falls behind and the
 * figure includes the time spent queued behind earlier messages.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chronicle.h"
#include "util.h"

typedef struct shared {
    bench_hist_t hist;
    _Alignas(64) _Atomic uint64_t raw_seq; /* raw mode: the message line */
    int64_t raw_ts;
    _Alignas(64) _Atomic uint64_t raw_ack; /* raw mode: the subscriber's line */
    _Alignas(64) int sub_pinned;
    uint64_t sub_sleeps;                  /* futex mode: waits that slept */
} shared_t;

typedef struct cfg {
    const char *mode;
    const char *qdir;
    long long count, warmup, interval;
    size_t size;
    int pub_cpu, sub_cpu;
} cfg_t;

static inline void relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

static void read_byte(int fd) {
    char c;
    if (read(fd, &c, 1) != 1) {
        fprintf(stderr, "latency: the other process went away\n");
        _exit(2);
    }
}

static void write_byte(int fd) {
    char c = 1;
    if (write(fd, &c, 1) != 1) _exit(2);
}

/* ---- subscriber (child) ---- */

/* Read every message with an opened reader (spinning or sleeping). */
static void sub_chronicle(const cfg_t *c, shared_t *sh, chron_reader_t *r, int futex) {
    long long total = c->warmup + c->count;
    chron_msg_t m;
    for (long long i = 0; i < total; i++) {
        int rc;
        while ((rc = chron_reader_next(r, &m)) == 0) {
            if (futex) {
                sh->sub_sleeps++;
                bench_check(chron_reader_wait(r, 1000000000), "chron_reader_wait");
            } else {
                relax();
            }
        }
        int64_t now = bench_now_ns();
        bench_check(rc, "chron_reader_next");
        int64_t sent;
        memcpy(&sent, m.payload, sizeof sent);
        if (i >= c->warmup) bench_hist_add(&sh->hist, now - sent);
    }
}

static void sub_raw(const cfg_t *c, shared_t *sh) {
    long long total = c->warmup + c->count;
    for (long long i = 0; i < total; i++) {
        uint64_t want = (uint64_t)i + 1;
        while (atomic_load_explicit(&sh->raw_seq, memory_order_acquire) != want) relax();
        int64_t now = bench_now_ns();
        int64_t sent = sh->raw_ts;
        atomic_store_explicit(&sh->raw_ack, want, memory_order_release);
        if (i >= c->warmup) bench_hist_add(&sh->hist, now - sent);
    }
}

/* ---- publisher (parent) ---- */

static inline void pace(int64_t t0, long long i, long long interval) {
    if (interval <= 0) return;
    int64_t due = t0 + i * interval;
    while (bench_now_ns() < due) relax();
}

static void pub_chronicle(const cfg_t *c, chron_writer_t *w) {
    uint8_t payload[4096] = {0};
    long long total = c->warmup + c->count;
    int64_t t0 = bench_now_ns();
    for (long long i = 0; i < total; i++) {
        pace(t0, i, c->interval);
        int64_t now = bench_now_ns();
        memcpy(payload, &now, sizeof now);
        bench_check(chron_append(w, 1, payload, c->size), "chron_append");
    }
}

static void pub_raw(const cfg_t *c, shared_t *sh) {
    long long total = c->warmup + c->count;
    int64_t t0 = bench_now_ns();
    for (long long i = 0; i < total; i++) {
        pace(t0, i, c->interval);
        while (atomic_load_explicit(&sh->raw_ack, memory_order_acquire) != (uint64_t)i) relax();
        sh->raw_ts = bench_now_ns();
        atomic_store_explicit(&sh->raw_seq, (uint64_t)i + 1, memory_order_release);
    }
}

int main(int argc, char **argv) {
    cfg_t c;
    c.mode = bench_arg(argc, argv, "mode", "spin");
    c.count = bench_arg_ll(argc, argv, "count", 1000000);
    c.warmup = bench_arg_ll(argc, argv, "warmup", 10000);
    c.interval = bench_arg_ll(argc, argv, "interval", 0);
    c.size = (size_t)bench_arg_ll(argc, argv, "size", 32);
    c.pub_cpu = (int)bench_arg_ll(argc, argv, "pub-cpu", -1);
    c.sub_cpu = (int)bench_arg_ll(argc, argv, "sub-cpu", -1);
    int raw = strcmp(c.mode, "raw") == 0, futex = strcmp(c.mode, "futex") == 0;
    if (!raw && !futex && strcmp(c.mode, "spin") != 0) {
        fprintf(stderr, "--mode must be spin, futex or raw\n");
        return 2;
    }
    if (c.size < 8 || c.size > 4096 || c.count < 1 || c.warmup < 0) {
        fprintf(stderr, "need 8 <= size <= 4096, count >= 1, warmup >= 0\n");
        return 2;
    }
    bench_watchdog((unsigned)(120 + (c.count + c.warmup) * (c.interval + 2000) / 1000000000));
    char *dir = bench_mkdtemp(bench_arg(argc, argv, "dir", "/tmp"), "chron-bench-latency");
    char qdir[4200];
    snprintf(qdir, sizeof qdir, "%s/queue", dir);
    c.qdir = qdir;

    shared_t *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 2;
    bench_hist_init(&sh->hist);
    int to_child[2], to_parent[2];
    if (pipe(to_child) || pipe(to_parent)) return 2;

    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        sh->sub_pinned = bench_pin(c.sub_cpu);
        read_byte(to_child[0]); /* the queue exists */
        if (raw) {
            write_byte(to_parent[1]);
            sub_raw(&c, sh);
        } else {
            chron_reader_opts_t o = {CHRON_START_EARLIEST, 0, futex ? 0 : -1};
            chron_reader_t *r;
            bench_check(chron_reader_open(c.qdir, "latency", &o, &r), "chron_reader_open");
            write_byte(to_parent[1]);
            sub_chronicle(&c, sh, r, futex);
            chron_reader_close(r);
        }
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    chron_writer_t *w = NULL;
    if (!raw) bench_check(chron_writer_open(qdir, NULL, &w), "chron_writer_open");
    int pub_pinned = bench_pin(c.pub_cpu); /* after the open: the helper thread stays free */
    long settle_ms = raw ? 0 : bench_settle(100, 5000); /* the helper pre-faults new segments */
    write_byte(to_child[1]);
    read_byte(to_parent[0]);
    int64_t t0 = bench_now_ns();
    if (raw) pub_raw(&c, sh);
    else pub_chronicle(&c, w);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "latency: subscriber failed\n");
        return 2;
    }
    int64_t t1 = bench_now_ns();

    bench_json_t j;
    bench_json_begin(&j, "latency");
    bench_json_str(&j, "mode", c.mode);
    bench_json_int(&j, "size", (long long)c.size);
    bench_json_int(&j, "count", c.count);
    bench_json_int(&j, "warmup", c.warmup);
    bench_json_int(&j, "interval_ns", c.interval);
    bench_json_int(&j, "pub_cpu", pub_pinned ? c.pub_cpu : -1);
    bench_json_int(&j, "sub_cpu", sh->sub_pinned ? c.sub_cpu : -1);
    bench_json_int(&j, "settle_ms", settle_ms);
    bench_json_num(&j, "rate_mps", (double)(c.count + c.warmup) * 1e9 / (double)(t1 - t0));
    if (futex) bench_json_int(&j, "sub_waits", (long long)sh->sub_sleeps);
    bench_json_hist(&j, "latency_ns", &sh->hist);
    bench_json_end(&j);

    chron_writer_close(w);
    bench_rmtree(dir);
    free(dir);
    return 0;
}
