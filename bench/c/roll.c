/*
 * roll.c — the latency of an append that rolls to a new segment, against
 * the appends that do not, and against what a roll would cost if the next
 * segment were not prepared ahead (create, preallocate, map and pre-fault a
 * segment-sized file on the spot).
 *
 *   roll --dir=D --segment-size=BYTES --count=N [--size=32] [--cpu=0]
 *        [--interval=NS]
 *
 * Each append is timed with the cycle counter. Which appends rolled is read
 * back from the queue afterwards (the first message of each new segment).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "chronicle.h"
#include "util.h"

#define SYNC_REPS 5

/* What the appending thread would pay per roll without the helper thread. */
static double sync_segment_ns(const char *dir, uint64_t size) {
    char path[4200];
    snprintf(path, sizeof path, "%s/sync-roll.tmp", dir);
    double v[SYNC_REPS];
    for (int i = 0; i < SYNC_REPS; i++) {
        int64_t t0 = bench_now_ns();
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || bench_fallocate(fd, size) != 0) {
            perror("sync segment");
            exit(2);
        }
        uint8_t *b = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (b == MAP_FAILED) exit(2);
        for (uint64_t off = 0; off < size; off += 4096) b[off] = 0;
        int64_t t1 = bench_now_ns();
        munmap(b, size);
        close(fd);
        unlink(path);
        v[i] = (double)(t1 - t0);
    }
    return bench_median(v, SYNC_REPS);
}

int main(int argc, char **argv) {
    bench_watchdog(300);
    uint64_t seg_size = (uint64_t)bench_arg_ll(argc, argv, "segment-size", 16 << 20);
    long long count = bench_arg_ll(argc, argv, "count", 2000000);
    size_t size = (size_t)bench_arg_ll(argc, argv, "size", 32);
    int cpu = (int)bench_arg_ll(argc, argv, "cpu", -1);
    long long interval = bench_arg_ll(argc, argv, "interval", 0);
    if (count < 1 || size > 4096) {
        fprintf(stderr, "need count >= 1 and size <= 4096\n");
        return 2;
    }
    char *dir = bench_mkdtemp(bench_arg(argc, argv, "dir", "/tmp"), "chron-bench-roll");
    char qdir[4200];
    snprintf(qdir, sizeof qdir, "%s/queue", dir);
    chron_writer_opts_t o = {seg_size, 0, 0};
    chron_writer_t *w;
    bench_check(chron_writer_open(qdir, &o, &w), "chron_writer_open");
    int pinned = bench_pin(cpu);
    long settle_ms = bench_settle(100, 5000);
    double tpn = bench_ticks_per_ns();

    uint32_t *ticks = malloc((size_t)count * sizeof *ticks);
    uint8_t payload[4096] = {0};
    if (!ticks) return 2;
    int64_t start = bench_now_ns();
    for (long long i = 0; i < count; i++) {
        if (interval > 0)
            while (bench_now_ns() < start + i * interval) {
            }
        uint64_t t0 = bench_ticks();
        int64_t rc = chron_append(w, 1, payload, size);
        uint64_t t1 = bench_ticks();
        bench_check(rc, "chron_append");
        ticks[i] = t1 - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
    }
    chron_writer_close(w);

    /* which appends rolled: the first message of every segment but the first */
    chron_reader_t *r;
    bench_check(chron_reader_open(qdir, "roll", NULL, &r), "chron_reader_open");
    bench_hist_t normal, rolled;
    bench_hist_init(&normal);
    bench_hist_init(&rolled);
    chron_msg_t m;
    uint64_t seg = UINT64_MAX;
    double roll_ns[4096];
    size_t n_roll = 0;
    for (long long i = 0; i < count; i++) {
        int rc = chron_reader_next(r, &m);
        bench_check(rc, "chron_reader_next");
        if (rc == 0) {
            fprintf(stderr, "roll: message %lld missing\n", i);
            return 2;
        }
        double ns = ticks[i] / tpn;
        if (seg != UINT64_MAX && m.segment != seg) {
            bench_hist_add(&rolled, (int64_t)ns);
            if (n_roll < sizeof roll_ns / sizeof roll_ns[0]) roll_ns[n_roll++] = ns;
        } else {
            bench_hist_add(&normal, (int64_t)ns);
        }
        seg = m.segment;
    }
    chron_reader_close(r);
    double sync_ns = sync_segment_ns(dir, seg_size);

    bench_json_t j;
    bench_json_begin(&j, "roll");
    bench_json_int(&j, "segment_size", (long long)seg_size);
    bench_json_int(&j, "size", (long long)size);
    bench_json_int(&j, "count", count);
    bench_json_int(&j, "interval_ns", interval);
    bench_json_int(&j, "cpu", pinned ? cpu : -1);
    bench_json_int(&j, "settle_ms", settle_ms);
    bench_json_int(&j, "rolls", (long long)rolled.count);
    bench_json_nums(&j, "roll_ns", roll_ns, n_roll);
    bench_json_hist(&j, "normal_ns", &normal);
    bench_json_hist(&j, "roll_hist_ns", &rolled);
    bench_json_num(&j, "sync_segment_ns", sync_ns);
    bench_json_end(&j);

    free(ticks);
    bench_rmtree(dir);
    free(dir);
    return 0;
}
