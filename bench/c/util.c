/* util.c — see util.h. */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#include <unistd.h>

#include "chronicle.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

int64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t bench_ticks(void) {
#if defined(__x86_64__)
    return __rdtsc();
#else
    return (uint64_t)bench_now_ns();
#endif
}

double bench_ticks_per_ns(void) {
    static double rate;
    if (rate > 0) return rate;
#if defined(__x86_64__)
    int64_t n0 = bench_now_ns();
    uint64_t t0 = bench_ticks();
    while (bench_now_ns() - n0 < 20000000) { /* 20 ms */
    }
    int64_t n1 = bench_now_ns();
    uint64_t t1 = bench_ticks();
    rate = (double)(t1 - t0) / (double)(n1 - n0);
#else
    rate = 1.0;
#endif
    return rate;
}

int bench_pin(int cpu) {
#if defined(__linux__)
    if (cpu < 0) return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
#else
    (void)cpu; /* no CPU affinity API to pin a process (macOS) */
    return 0;
#endif
}

int bench_fallocate(int fd, uint64_t size) {
#if defined(__linux__)
    return posix_fallocate(fd, 0, (off_t)size) == 0 ? 0 : -1;
#else
    return ftruncate(fd, (off_t)size);
#endif
}

/* CPU ticks used by every thread of this process but the calling one, or
 * -1 where /proc does not tell. */
static long long other_threads_ticks(void) {
#if !defined(__linux__)
    return -1;
#else
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    long long sum = 0;
    char self[32];
    snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, self) == 0) continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *p = strrchr(buf, ')'); /* the name may hold spaces */
        unsigned long ut = 0, st = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            sum += (long long)(ut + st);
    }
    closedir(d);
    return sum;
#endif
}

long bench_settle(long quiet_ms, long max_ms) {
    int64_t t0 = bench_now_ns();
    long long last = other_threads_ticks();
    if (last < 0) {
        usleep((useconds_t)quiet_ms * 1000);
        return quiet_ms;
    }
    int64_t quiet_since = t0;
    for (;;) {
        usleep(10000);
        int64_t now = bench_now_ns();
        long long t = other_threads_ticks();
        if (t != last) {
            last = t;
            quiet_since = now;
        }
        if (now - quiet_since >= quiet_ms * 1000000LL || now - t0 >= max_ms * 1000000LL)
            return (long)((now - t0) / 1000000);
    }
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "benchmark watchdog: ran too long, giving up\n";
    ssize_t rc = write(2, msg, sizeof msg - 1);
    (void)rc;
    _exit(3);
}

void bench_watchdog(unsigned seconds) {
    signal(SIGALRM, on_alarm);
    alarm(seconds);
}

const char *bench_arg(int argc, char **argv, const char *key, const char *def) {
    size_t k = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, key, k) == 0 && argv[i][2 + k] == '=')
            return argv[i] + 3 + k;
    return def;
}

long long bench_arg_ll(int argc, char **argv, const char *key, long long def) {
    const char *v = bench_arg(argc, argv, key, NULL);
    if (!v) return def;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0') {
        fprintf(stderr, "bad value for --%s: %s\n", key, v);
        exit(2);
    }
    return x;
}

char *bench_mkdtemp(const char *parent, const char *prefix) {
    size_t n = strlen(parent) + strlen(prefix) + 16;
    char *p = malloc(n);
    if (!p) exit(2);
    snprintf(p, n, "%s/%s-XXXXXX", parent, prefix);
    if (!mkdtemp(p)) {
        fprintf(stderr, "cannot create a directory under %s: %s\n", parent, strerror(errno));
        exit(2);
    }
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void bench_rmtree(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

void bench_check(long long rc, const char *what) {
    if (rc >= 0) return;
    fprintf(stderr, "%s failed: %s\n", what, chron_errmsg());
    exit(2);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n) {
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- JSON ---- */

static void put(bench_json_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(bench_json_t *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(j->buf + j->n, sizeof j->buf - j->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof j->buf - j->n) {
        fprintf(stderr, "benchmark JSON record too long\n");
        exit(2);
    }
    j->n += (size_t)k;
}

static void key(bench_json_t *j, const char *k) {
    put(j, "%s\"%s\": ", j->fields++ ? ", " : "", k);
}

static void num(bench_json_t *j, double v) {
    if (isfinite(v)) put(j, "%.6g", v);
    else put(j, "null");
}

void bench_json_begin(bench_json_t *j, const char *bench) {
    j->n = 0;
    j->fields = 0;
    put(j, "{");
    bench_json_str(j, "bench", bench);
}

void bench_json_str(bench_json_t *j, const char *k, const char *value) {
    key(j, k);
    put(j, "\"");
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\') put(j, "\\%c", *p);
        else if ((unsigned char)*p < 0x20) put(j, "\\u%04x", (unsigned char)*p);
        else put(j, "%c", *p);
    }
    put(j, "\"");
}

void bench_json_num(bench_json_t *j, const char *k, double value) {
    key(j, k);
    num(j, value);
}

void bench_json_int(bench_json_t *j, const char *k, long long value) {
    key(j, k);
    put(j, "%lld", value);
}

void bench_json_nums(bench_json_t *j, const char *k, const double *v, size_t n) {
    key(j, k);
    put(j, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) put(j, ", ");
        num(j, v[i]);
    }
    put(j, "]");
}

void bench_json_hist(bench_json_t *j, const char *k, const bench_hist_t *h) {
    static const double pcts[] = {50, 90, 99, 99.9, 99.99};
    static const char *names[] = {"p50", "p90", "p99", "p99_9", "p99_99"};
    key(j, k);
    bench_json_t sub;
    sub.n = 0;
    sub.fields = 0;
    put(&sub, "{");
    bench_json_int(&sub, "count", (long long)h->count);
    bench_json_num(&sub, "min", h->count ? (double)h->min : 0);
    bench_json_num(&sub, "mean", h->count ? h->sum / (double)h->count : 0);
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++)
        bench_json_num(&sub, names[i], bench_hist_pct(h, pcts[i]));
    bench_json_num(&sub, "max", (double)h->max * (h->count > 0));
    /* percentile spectrum: p = 100 * (1 - 10^-x), x = 0, 0.1, ... 6 */
    double ps[61], vs[61];
    for (int i = 0; i <= 60; i++) {
        ps[i] = 100.0 * (1.0 - pow(10.0, -i / 10.0));
        vs[i] = bench_hist_pct(h, ps[i]);
    }
    bench_json_nums(&sub, "spectrum_pct", ps, 61);
    bench_json_nums(&sub, "spectrum_ns", vs, 61);
    put(&sub, "}");
    put(j, "%s", sub.buf);
}

void bench_json_end(bench_json_t *j) {
    put(j, "}");
    printf("%s\n", j->buf);
    fflush(stdout);
}
