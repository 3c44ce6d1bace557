/*
 * fanout.c — cross-process throughput: one publisher appends N messages as
 * fast as it can while K subscriber processes (distinct names) read all of
 * them, each checking that seqs arrive dense and in order. Subscribers use
 * the hybrid wait (spin 10 us, then sleep on the futex), as an application
 * would.
 *
 *   fanout --dir=D --readers=K --count=N [--size=32] [--pub-cpu=0]
 *          [--sub-cpus=1,2,...]   (round-robin over the list)
 *
 * Reports the publisher's own rate and the end-to-end rate: N divided by the
 * time from the first append until the last subscriber has read the last
 * message.
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

#define MAX_READERS 64

typedef struct shared {
    int64_t end_ns[MAX_READERS];
    int pinned[MAX_READERS];
    _Atomic int ready;
} shared_t;

static int parse_cpus(const char *s, int *out, int max) {
    int n = 0;
    while (s && *s && n < max) {
        out[n++] = atoi(s);
        s = strchr(s, ',');
        if (s) s++;
    }
    return n;
}

static void reader_main(const char *qdir, int k, long long count, shared_t *sh, int ready_fd) {
    char name[32];
    snprintf(name, sizeof name, "fanout-%d", k);
    chron_reader_t *r;
    bench_check(chron_reader_open(qdir, name, NULL, &r), "chron_reader_open");
    char c = 1;
    if (write(ready_fd, &c, 1) != 1) _exit(2);
    chron_msg_t m;
    for (long long i = 0; i < count; i++) {
        int rc;
        while ((rc = chron_reader_next(r, &m)) == 0) bench_check(chron_reader_wait(r, 1000000000), "chron_reader_wait");
        bench_check(rc, "chron_reader_next");
        if (m.seq != (uint64_t)i) {
            fprintf(stderr, "fanout: reader %d got seq %llu, expected %lld\n", k, (unsigned long long)m.seq, i);
            _exit(2);
        }
    }
    sh->end_ns[k] = bench_now_ns();
    chron_reader_close(r);
}

int main(int argc, char **argv) {
    int readers = (int)bench_arg_ll(argc, argv, "readers", 1);
    long long count = bench_arg_ll(argc, argv, "count", 1000000);
    size_t size = (size_t)bench_arg_ll(argc, argv, "size", 32);
    int pub_cpu = (int)bench_arg_ll(argc, argv, "pub-cpu", -1);
    int cpus[MAX_READERS];
    int ncpus = parse_cpus(bench_arg(argc, argv, "sub-cpus", ""), cpus, MAX_READERS);
    if (readers < 1 || readers > MAX_READERS || count < 1 || size > 65536) {
        fprintf(stderr, "need 1 <= readers <= %d, count >= 1, size <= 65536\n", MAX_READERS);
        return 2;
    }
    bench_watchdog((unsigned)(120 + count * readers / 200000));
    char *dir = bench_mkdtemp(bench_arg(argc, argv, "dir", "/tmp"), "chron-bench-fanout");
    char qdir[4200];
    snprintf(qdir, sizeof qdir, "%s/queue", dir);
    shared_t *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 2;

    chron_writer_t *w;
    bench_check(chron_writer_open(qdir, NULL, &w), "chron_writer_open");
    long settle_ms = bench_settle(100, 5000); /* the helper pre-faults new segments */
    chron_writer_close(w); /* reopened after the fork: a child never holds the parent's threads */

    int ready[2];
    if (pipe(ready)) return 2;
    pid_t pids[MAX_READERS];
    for (int k = 0; k < readers; k++) {
        pids[k] = fork();
        if (pids[k] < 0) return 2;
        if (pids[k] == 0) {
            close(ready[0]);
            sh->pinned[k] = ncpus ? bench_pin(cpus[k % ncpus]) : 0;
            reader_main(qdir, k, count, sh, ready[1]);
            _exit(0);
        }
    }
    close(ready[1]);
    for (int k = 0; k < readers; k++) {
        char c;
        if (read(ready[0], &c, 1) != 1) {
            fprintf(stderr, "fanout: a reader failed to start\n");
            return 2;
        }
    }
    bench_check(chron_writer_open(qdir, NULL, &w), "chron_writer_open");
    int pub_pinned = bench_pin(pub_cpu);
    settle_ms += bench_settle(100, 5000);
    uint8_t *payload = calloc(1, size ? size : 1);
    int64_t t0 = bench_now_ns();
    for (long long i = 0; i < count; i++) bench_check(chron_append(w, 1, payload, size), "chron_append");
    int64_t t_pub = bench_now_ns();
    int failed = 0;
    for (int k = 0; k < readers; k++) {
        int status;
        if (waitpid(pids[k], &status, 0) != pids[k] || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
    }
    if (failed) {
        fprintf(stderr, "fanout: a reader failed\n");
        return 2;
    }
    int64_t t_end = 0;
    double per[MAX_READERS];
    for (int k = 0; k < readers; k++) {
        if (sh->end_ns[k] > t_end) t_end = sh->end_ns[k];
        per[k] = (double)count * 1e9 / (double)(sh->end_ns[k] - t0);
    }
    int all_pinned = 1;
    for (int k = 0; k < readers; k++) all_pinned &= sh->pinned[k];

    bench_json_t j;
    bench_json_begin(&j, "fanout");
    bench_json_int(&j, "readers", readers);
    bench_json_int(&j, "size", (long long)size);
    bench_json_int(&j, "count", count);
    bench_json_int(&j, "pub_cpu", pub_pinned ? pub_cpu : -1);
    bench_json_int(&j, "readers_pinned", all_pinned);
    bench_json_int(&j, "settle_ms", settle_ms);
    bench_json_num(&j, "publisher_mps", (double)count * 1e9 / (double)(t_pub - t0));
    bench_json_num(&j, "end_to_end_mps", (double)count * 1e9 / (double)(t_end - t0));
    bench_json_nums(&j, "per_reader_mps", per, (size_t)readers);
    bench_json_end(&j);

    chron_writer_close(w);
    bench_rmtree(dir);
    free(dir);
    free(payload);
    return 0;
}
