/*
 * hist.h — an HDR-style latency histogram: exact below 256 ns, then 128
 * linear sub-buckets per power of two (relative error under 0.8 %), up to
 * 2^40 ns. Fixed size, no allocation, so it can live in memory shared with a
 * forked child.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 8
#define BENCH_HIST_MAX_BITS 40
#define BENCH_HIST_BUCKETS ((1 << BENCH_HIST_SUB_BITS) + \
                            (BENCH_HIST_MAX_BITS - BENCH_HIST_SUB_BITS) * (1 << (BENCH_HIST_SUB_BITS - 1)))

typedef struct bench_hist {
    uint64_t count;
    uint64_t min, max;
    double sum;
    uint64_t bucket[BENCH_HIST_BUCKETS];
} bench_hist_t;

void bench_hist_init(bench_hist_t *h);
/* Record one value (ns); negative values count as 0. */
void bench_hist_add(bench_hist_t *h, int64_t value);
/* Value at percentile p (0..100): the midpoint of the bucket holding it,
 * clamped to the exact min and max. */
double bench_hist_pct(const bench_hist_t *h, double p);

#endif
