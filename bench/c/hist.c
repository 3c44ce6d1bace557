/* hist.c — see hist.h. */
#include "hist.h"

#include <string.h>

#define SUB (1u << BENCH_HIST_SUB_BITS)
#define HALF (SUB / 2)

void bench_hist_init(bench_hist_t *h) {
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static unsigned bucket_of(uint64_t v) {
    if (v < SUB) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    if (msb >= BENCH_HIST_MAX_BITS) return BENCH_HIST_BUCKETS - 1;
    unsigned shift = msb - (BENCH_HIST_SUB_BITS - 1);
    unsigned sub = (unsigned)(v >> shift); /* HALF..SUB-1 */
    return SUB + (msb - BENCH_HIST_SUB_BITS) * HALF + (sub - HALF);
}

/* [lo, hi) of a bucket */
static void bucket_range(unsigned b, double *lo, double *hi) {
    if (b < SUB) {
        *lo = b;
        *hi = b + 1;
        return;
    }
    unsigned k = b - SUB;
    unsigned msb = BENCH_HIST_SUB_BITS + k / HALF;
    unsigned shift = msb - (BENCH_HIST_SUB_BITS - 1);
    double sub = HALF + k % HALF;
    *lo = sub * (double)(1ull << shift);
    *hi = (sub + 1) * (double)(1ull << shift);
}

void bench_hist_add(bench_hist_t *h, int64_t value) {
    uint64_t v = value < 0 ? 0 : (uint64_t)value;
    h->bucket[bucket_of(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

double bench_hist_pct(const bench_hist_t *h, double p) {
    if (h->count == 0) return 0;
    if (p <= 0) return (double)h->min;
    if (p >= 100) return (double)h->max;
    /* the smallest value with at least p % of the samples at or below it */
    double want = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want) rank++;
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < BENCH_HIST_BUCKETS; b++) {
        seen += h->bucket[b];
        if (seen >= rank) {
            double lo, hi;
            bucket_range(b, &lo, &hi);
            double v = b < SUB ? lo : (lo + hi) / 2;
            if (v < (double)h->min) v = (double)h->min;
            if (v > (double)h->max) v = (double)h->max;
            return v;
        }
    }
    return (double)h->max;
}
