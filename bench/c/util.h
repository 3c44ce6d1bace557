/*
 * util.h — what every C benchmark shares: clocks, CPU pinning, a watchdog,
 * --key=value arguments, temporary queue directories and JSON output.
 *
 * Each benchmark prints its results as one JSON object per line on stdout;
 * bench/run.py reads them. Diagnostics go to stderr.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* CLOCK_MONOTONIC in ns: the clock both sides of a latency test read. */
int64_t bench_now_ns(void);

/* Cheap cycle counter for timing single calls (TSC on x86-64, else the
 * monotonic clock), and its rate, measured once against the monotonic clock. */
uint64_t bench_ticks(void);
double bench_ticks_per_ns(void);

/* Pin the calling process to one CPU; cpu < 0 leaves it unpinned.
 * Returns 1 pinned, 0 not pinned (unsupported or refused). */
int bench_pin(int cpu);

/* Wait (at most max_ms) until the other threads of this process, such as the
 * writer's segment helper that pre-faults segments after an open, have used
 * no CPU for quiet_ms, so that a measurement starts in the steady state.
 * Returns the ms waited. Where /proc is missing it sleeps quiet_ms. */
long bench_settle(long quiet_ms, long max_ms);

/* Reserve size bytes of disk for fd (ftruncate where there is no
 * posix_fallocate). 0 or -1. */
int bench_fallocate(int fd, uint64_t size);

/* Kill this process (and report why) if it runs past `seconds`. */
void bench_watchdog(unsigned seconds);

/* --key=value argument, or `def` when absent. */
const char *bench_arg(int argc, char **argv, const char *key, const char *def);
long long bench_arg_ll(int argc, char **argv, const char *key, long long def);

/* A fresh directory under `parent` (caller frees), and removing a tree. */
char *bench_mkdtemp(const char *parent, const char *prefix);
void bench_rmtree(const char *path);

/* Exit with a message if a Chronicle call failed. */
void bench_check(long long rc, const char *what);

/* Median of n doubles (sorts them in place). */
double bench_median(double *v, size_t n);

/* A JSON object built field by field, printed on one line. */
typedef struct bench_json {
    char buf[65536];
    size_t n;
    int fields;
} bench_json_t;

void bench_json_begin(bench_json_t *j, const char *bench);
void bench_json_str(bench_json_t *j, const char *key, const char *value);
void bench_json_num(bench_json_t *j, const char *key, double value);
void bench_json_int(bench_json_t *j, const char *key, long long value);
void bench_json_nums(bench_json_t *j, const char *key, const double *v, size_t n);
/* Summary of a latency histogram: count, min, mean, p50 ... p99.99, max, and a
 * percentile spectrum for plots. */
void bench_json_hist(bench_json_t *j, const char *key, const bench_hist_t *h);
void bench_json_end(bench_json_t *j);

#endif
