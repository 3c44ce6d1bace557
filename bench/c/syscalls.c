/*
 * syscalls.c — the workload that bench/run.py runs under strace to count the
 * system calls of N appends, or of N reads, and nothing else: the measured
 * loop is fenced by two marker calls, write(-1, "chronicle-bench:begin") and
 * write(-1, "chronicle-bench:end"), which fail harmlessly and show in the
 * trace.
 *
 *   syscalls --dir=D --mode=append|read --count=N [--size=32]
 *            [--segment-size=BYTES]
 *
 * For reads, the queue is filled first (outside the markers); the writer is
 * closed before the reader starts, so only the reader's calls fall inside.
 * Prints the number of segments the N messages used.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chronicle.h"
#include "util.h"

static void marker(const char *what) {
    ssize_t rc = write(-1, what, strlen(what));
    (void)rc;
}

int main(int argc, char **argv) {
    bench_watchdog(300);
    const char *mode = bench_arg(argc, argv, "mode", "append");
    long long count = bench_arg_ll(argc, argv, "count", 1000000);
    size_t size = (size_t)bench_arg_ll(argc, argv, "size", 32);
    uint64_t seg_size = (uint64_t)bench_arg_ll(argc, argv, "segment-size", 16 << 20);
    int reading = strcmp(mode, "read") == 0;
    if ((!reading && strcmp(mode, "append") != 0) || count < 1 || size > 4096) {
        fprintf(stderr, "need --mode=append|read, count >= 1, size <= 4096\n");
        return 2;
    }
    char *dir = bench_mkdtemp(bench_arg(argc, argv, "dir", "/tmp"), "chron-bench-syscalls");
    char qdir[4200];
    snprintf(qdir, sizeof qdir, "%s/queue", dir);
    uint8_t payload[4096] = {0};
    chron_writer_opts_t o = {seg_size, 0, 0};
    chron_writer_t *w;
    bench_check(chron_writer_open(qdir, &o, &w), "chron_writer_open");
    bench_settle(100, 5000);
    if (!reading) marker("chronicle-bench:begin");
    for (long long i = 0; i < count; i++) bench_check(chron_append(w, 1, payload, size), "chron_append");
    if (!reading) marker("chronicle-bench:end");
    chron_writer_close(w);

    chron_reader_t *r;
    bench_check(chron_reader_open(qdir, "syscalls", NULL, &r), "chron_reader_open");
    chron_msg_t m;
    uint64_t first_seg = UINT64_MAX, last_seg = 0;
    if (reading) marker("chronicle-bench:begin");
    for (long long i = 0; i < count; i++) {
        int rc = chron_reader_next(r, &m);
        bench_check(rc, "chron_reader_next");
        if (rc == 0) {
            fprintf(stderr, "syscalls: message %lld missing\n", i);
            return 2;
        }
        if (first_seg == UINT64_MAX) first_seg = m.segment;
        last_seg = m.segment;
    }
    if (reading) marker("chronicle-bench:end");
    chron_reader_close(r);

    bench_json_t j;
    bench_json_begin(&j, "syscalls");
    bench_json_str(&j, "mode", mode);
    bench_json_int(&j, "count", count);
    bench_json_int(&j, "size", (long long)size);
    bench_json_int(&j, "segment_size", (long long)seg_size);
    bench_json_int(&j, "segments", (long long)(last_seg - first_seg + 1));
    bench_json_end(&j);
    bench_rmtree(dir);
    free(dir);
    return 0;
}
