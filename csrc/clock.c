/*
 * clock.c — the writer's timestamp clock.
 *
 * clock_gettime(CLOCK_REALTIME) costs ~25 ns even through the vDSO, more than
 * the rest of an append. Where the CPU has an invariant TSC, the writer reads
 * the TSC (~7 ns) and converts it to wall time from an anchor: a
 * (TSC, CLOCK_REALTIME) pair re-read at least every millisecond of appends.
 * The rate comes from the first anchor to the latest, so it sharpens with
 * time. Error: the extrapolation over at most 1 ms, i.e. rate error x 1 ms,
 * well under a microsecond; timestamps never go backwards within a writer.
 * Elsewhere (no invariant TSC, or CHRON_CLOCK=realtime) every append reads
 * CLOCK_REALTIME.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

int64_t chron_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#if defined(__x86_64__)
static int tsc_invariant(void) {
    const char *env = getenv("CHRON_CLOCK");
    if (env && strcmp(env, "realtime") == 0) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u) return 0;
    __get_cpuid(0x80000007u, &a, &b, &c, &d);
    return (d >> 8) & 1u;
}

/* A (TSC, realtime) pair taken as close together as the CPU allows. */
static void sample(uint64_t *tsc, int64_t *ns) {
    uint64_t t0 = __rdtsc();
    *ns = chron_realtime_ns();
    uint64_t t1 = __rdtsc();
    *tsc = t0 + (t1 - t0) / 2;
}
#endif

void chron_clock_init(chron_clock_t *c) {
    memset(c, 0, sizeof *c);
#if defined(__x86_64__)
    if (!tsc_invariant()) return;
    uint64_t t0, t1;
    int64_t n0, n1;
    sample(&t0, &n0);
    do sample(&t1, &n1); while (n1 - n0 < 1000000); /* 1 ms baseline to start */
    if (t1 <= t0) return;
    c->mult = (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (t1 - t0));
    if (c->mult == 0) return;
    c->base_tsc = t0;
    c->base_ns = n0;
    c->anchor_tsc = t1;
    c->anchor_ns = n1;
    c->reanchor_ticks = (uint64_t)((1000000ull << 32) / c->mult); /* 1 ms of ticks */
    c->last_ns = n1;
    c->use_tsc = 1;
#endif
}

int64_t chron_clock_reanchor(chron_clock_t *c) {
#if defined(__x86_64__)
    if (c->use_tsc) {
        uint64_t t;
        int64_t n;
        sample(&t, &n);
        if (t > c->base_tsc && n > c->base_ns)
            c->mult = (uint64_t)(((unsigned __int128)(n - c->base_ns) << 32) / (t - c->base_tsc));
        c->anchor_tsc = t;
        c->anchor_ns = n;
        if (n > c->last_ns) c->last_ns = n;
        return c->last_ns;
    }
#endif
    int64_t n = chron_realtime_ns();
    if (n > c->last_ns) c->last_ns = n;
    return c->last_ns;
}
