/*
 * append.c — append throughput of one publisher with no reader, against the
 * limit: a raw memcpy of the same payloads, back to back with no framing,
 * into a mapped, preallocated and pre-faulted file of the segment's size.
 *
 *   append --dir=D --size=32 --count=N --reps=R [--sustained=M] [--cpu=C]
 *
 * Repetitions alternate Chronicle and raw, after one warm-up of each, and
 * report the median rate of each, so that a noisy neighbour hits both alike.
 * Before each Chronicle repetition the program waits until the writer's
 * helper thread is idle, so that the repetition appends into segments it has
 * prepared: the cost of the append path itself. Only the appending thread is
 * pinned; the helper thread may run on any CPU.
 *
 * --sustained=M then appends M messages in one go, across several segments,
 * against a raw copy into fresh files of a segment's size (created,
 * preallocated and mapped when the previous one is full, faulted in by the
 * copy itself): writing that much new data is bounded by how fast the kernel
 * supplies zeroed page-cache pages, for the raw copy as for Chronicle.
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

#define MAX_REPS 64

typedef struct raw_file {
    uint8_t *base;
    size_t size, off;
} raw_file_t;

static void raw_map(raw_file_t *f, const char *dir, const char *name, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || bench_fallocate(fd, size) != 0) {
        perror("raw file");
        exit(2);
    }
    f->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (f->base == MAP_FAILED) {
        perror("mmap raw file");
        exit(2);
    }
    f->size = size;
    f->off = 0;
}

static void raw_open(raw_file_t *f, const char *dir, size_t size) {
    raw_map(f, dir, "raw.bin", size);
    memset(f->base, 0, size); /* fault every page in, as the writer's helper does */
}

/* The sustained limit: copy each payload after the previous one into fresh
 * files, a new one whenever the current one is full. */
static double raw_fresh_rate(const char *dir, const uint8_t *payload, size_t len, long long count, size_t size) {
    raw_file_t f = {0};
    int files = 0;
    char name[64];
    int64_t t0 = bench_now_ns();
    for (long long i = 0; i < count; i++) {
        if (!f.base || f.off + len > f.size) {
            if (f.base) munmap(f.base, f.size);
            snprintf(name, sizeof name, "fresh-%d.bin", files++);
            raw_map(&f, dir, name, size);
        }
        memcpy(f.base + f.off, payload, len);
        __asm__ __volatile__("" ::: "memory");
        f.off += len;
    }
    int64_t t1 = bench_now_ns();
    munmap(f.base, f.size);
    for (int i = 0; i < files; i++) { /* give the disk space back */
        char path[4096];
        snprintf(path, sizeof path, "%s/fresh-%d.bin", dir, i);
        unlink(path);
    }
    return (double)count * 1e9 / (double)(t1 - t0);
}

/* The limit: copy each payload after the previous one, wrapping at the end. */
static double raw_rate(raw_file_t *f, const uint8_t *payload, size_t len, long long count) {
    uint8_t *base = f->base;
    size_t off = f->off, size = f->size;
    int64_t t0 = bench_now_ns();
    for (long long i = 0; i < count; i++) {
        if (off + len > size) off = 0;
        memcpy(base + off, payload, len);
        __asm__ __volatile__("" ::: "memory"); /* one message at a time, like an append */
        off += len;
    }
    int64_t t1 = bench_now_ns();
    f->off = off;
    return (double)count * 1e9 / (double)(t1 - t0);
}

static double chron_rate(chron_writer_t *w, const uint8_t *payload, size_t len, long long count) {
    int64_t t0 = bench_now_ns();
    for (long long i = 0; i < count; i++) bench_check(chron_append(w, 1, payload, len), "chron_append");
    int64_t t1 = bench_now_ns();
    return (double)count * 1e9 / (double)(t1 - t0);
}

int main(int argc, char **argv) {
    bench_watchdog(300);
    const char *parent = bench_arg(argc, argv, "dir", "/tmp");
    size_t len = (size_t)bench_arg_ll(argc, argv, "size", 32);
    long long count = bench_arg_ll(argc, argv, "count", 1000000);
    int reps = (int)bench_arg_ll(argc, argv, "reps", 5);
    long long sustained = bench_arg_ll(argc, argv, "sustained", 0);
    int cpu = (int)bench_arg_ll(argc, argv, "cpu", -1);
    if (reps < 1 || reps > MAX_REPS || count < 1) {
        fprintf(stderr, "need 1 <= reps <= %d and count >= 1\n", MAX_REPS);
        return 2;
    }
    char *dir = bench_mkdtemp(parent, "chron-bench-append");
    uint8_t *payload = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++) payload[i] = (uint8_t)(i * 7 + 1);

    chron_writer_t *w;
    char qdir[4200];
    snprintf(qdir, sizeof qdir, "%s/queue", dir);
    bench_check(chron_writer_open(qdir, NULL, &w), "chron_writer_open");
    /* pin after the open: the writer's helper thread keeps the whole CPU set */
    int pinned = bench_pin(cpu);
    long settle_ms = bench_settle(100, 5000); /* the helper pre-faults new segments */
    raw_file_t raw;
    raw_open(&raw, dir, CHRON_DEFAULT_SEGMENT_SIZE);

    double c[MAX_REPS], r[MAX_REPS];
    chron_rate(w, payload, len, count); /* warm-up: faults, caches, the helper thread */
    raw_rate(&raw, payload, len, count);
    for (int i = 0; i < reps; i++) {
        settle_ms += bench_settle(50, 5000); /* the helper has prepared what comes next */
        c[i] = chron_rate(w, payload, len, count);
        r[i] = raw_rate(&raw, payload, len, count);
    }
    double sustained_c = 0, sustained_r = 0;
    if (sustained > 0) {
        settle_ms += bench_settle(50, 5000);
        sustained_c = chron_rate(w, payload, len, sustained);
        sustained_r = raw_fresh_rate(dir, payload, len, sustained, CHRON_DEFAULT_SEGMENT_SIZE);
    }
    bench_json_t j;
    bench_json_begin(&j, "append");
    bench_json_int(&j, "size", (long long)len);
    bench_json_int(&j, "count", count);
    bench_json_int(&j, "reps", reps);
    bench_json_int(&j, "cpu", pinned ? cpu : -1);
    bench_json_int(&j, "settle_ms", settle_ms);
    bench_json_nums(&j, "chronicle_mps_all", c, (size_t)reps);
    bench_json_nums(&j, "raw_mps_all", r, (size_t)reps);
    double cm = bench_median(c, (size_t)reps), rm = bench_median(r, (size_t)reps);
    bench_json_num(&j, "chronicle_mps", cm);
    bench_json_num(&j, "raw_mps", rm);
    bench_json_num(&j, "chronicle_ns", 1e9 / cm);
    bench_json_num(&j, "raw_ns", 1e9 / rm);
    if (sustained > 0) {
        bench_json_int(&j, "sustained_count", sustained);
        bench_json_num(&j, "sustained_chronicle_mps", sustained_c);
        bench_json_num(&j, "sustained_raw_fresh_mps", sustained_r);
    }
    bench_json_end(&j);

    chron_writer_close(w);
    munmap(raw.base, raw.size);
    bench_rmtree(dir);
    free(dir);
    free(payload);
    return 0;
}
