/*
 * standalone.c — a driver for LLVMFuzzerTestOneInput where libFuzzer is not
 * available (gcc): runs every corpus file once, then random mutations of the
 * corpus for a number of runs or seconds. No coverage feedback; instead the
 * mutations know the format (record boundaries, commit words, base seqs)
 * and can re-checksum a mutated record so it gets past the CRC check.
 *
 *   standalone [-n RUNS] [-t SECONDS] [-s SEED] [-m MAX_LEN] [-a PREFIX] CORPUS...
 *
 * CORPUS is files or directories of files. With -n 0 it only replays them
 * (reproducing a crash file). A crashing input is written to PREFIX<seed>-<run>
 * before the process dies (sanitizer report or abort).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chronicle.h"
#include "format.h"

#if defined(__has_include)
#if __has_include(<sanitizer/common_interface_defs.h>)
#include <sanitizer/common_interface_defs.h>
#define HAVE_DEATH_CALLBACK 1
#endif
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEG CHRON_MIN_SEGMENT_SIZE

typedef struct input {
    uint8_t *data;
    size_t len;
} input_t;

static input_t *corpus;
static size_t ncorpus, cap_corpus;

/* what is running now, for the crash handlers */
static const uint8_t *cur_data;
static size_t cur_len;
static char cur_artifact[512];

static void save_current(void) {
    if (!cur_data || !cur_artifact[0]) return;
    int fd = open(cur_artifact, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) return;
    size_t off = 0;
    while (off < cur_len) {
        ssize_t w = write(fd, cur_data + off, cur_len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(fd);
    static const char msg[] = "standalone: crashing input saved to ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, cur_artifact, strlen(cur_artifact)) < 0 ||
        write(2, "\n", 1) < 0)
        return;
}

static void on_fatal(int sig) {
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- random numbers: xorshift64* ------------------------------------------ */
static uint64_t rng;
static uint64_t rnd(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }

/* ---- corpus ----------------------------------------------------------------- */

static void add_file(const char *path, size_t max_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    uint8_t *buf = malloc(max_len ? max_len : 1);
    size_t n = buf ? fread(buf, 1, max_len, f) : 0;
    fclose(f);
    if (!buf) exit(2);
    if (ncorpus == cap_corpus) {
        cap_corpus = cap_corpus ? cap_corpus * 2 : 16;
        corpus = realloc(corpus, cap_corpus * sizeof *corpus);
        if (!corpus) exit(2);
    }
    corpus[ncorpus++] = (input_t){buf, n};
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_path(const char *path, size_t max_len) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        add_file(path, max_len);
        return;
    }
    DIR *d = opendir(path);
    if (!d) exit(2);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = realloc(names, cap * sizeof *names);
            if (!names) exit(2);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str); /* a fixed seed gives a fixed run */
    for (size_t i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, names[i]);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) add_file(p, max_len);
        free(names[i]);
    }
    free(names);
}

/* ---- mutations ------------------------------------------------------------------ */

static const uint32_t interesting32[] = {
    0, 1, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFF0u, 0x7FFFFFFFu,
    0x80000000u, 0x80000001u, 0x80000008u, 0x80000020u, 0x80007FF0u, 0x8000FFC0u, 0xFFFFFFF0u,
    0xFFFFFFFEu, 0xFFFFFFFFu};
static const uint64_t interesting64[] = {
    0, 1, 2, 0xFF, 0x7FFFFFFFull, 0xFFFFFFFFull, 0x100000000ull, (1ull << 62),
    0x7FFFFFFFFFFFFFFEull, 0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull, 0xFFFFFFFFFFFFFFFDull,
    0xFFFFFFFFFFFFFFFEull, 0xFFFFFFFFFFFFFFFFull};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Offsets of the record headers of the chunk at `base`, found by following
 * the commit words' lengths (valid or not). */
static size_t find_records(const uint8_t *b, size_t len, size_t base, size_t *out, size_t max) {
    size_t n = 0, end = base + SEG < len ? base + SEG : len;
    uint64_t pos = base + CHRON_SEG_DATA_START;
    while (n < max && pos + CHRON_REC_HDR <= end) {
        uint32_t commit;
        memcpy(&commit, b + pos, 4);
        out[n++] = pos;
        if (!(commit & CHRON_COMMIT_MSG) || commit == CHRON_COMMIT_EOS) break;
        pos += chron_rec_size(commit & CHRON_COMMIT_LEN_MASK);
    }
    return n;
}

/* Recompute the checksum of the record at pos, if its payload is in the buffer. */
static void reseal(uint8_t *b, size_t len, size_t pos) {
    uint32_t commit, n;
    memcpy(&commit, b + pos, 4);
    n = commit & CHRON_COMMIT_LEN_MASK;
    if (!(commit & CHRON_COMMIT_MSG) || commit == CHRON_COMMIT_EOS || pos + CHRON_REC_HDR + n > len) return;
    uint32_t c = chron_rec_crc((const chron_rec_hdr_t *)(b + pos), commit, n);
    memcpy(b + pos + offsetof(chron_rec_hdr_t, crc), &c, 4);
}

static void put32(uint8_t *b, size_t len, size_t pos, uint32_t v) {
    if (pos + 4 <= len) memcpy(b + pos, &v, 4);
}
static void put64(uint8_t *b, size_t len, size_t pos, uint64_t v) {
    if (pos + 8 <= len) memcpy(b + pos, &v, 8);
}

static void mutate_record(uint8_t *b, size_t len) {
    size_t chunks = (len + SEG - 1) / SEG, recs[256];
    size_t n = find_records(b, len, below(chunks) * SEG, recs, NELEM(recs));
    if (n == 0) return;
    size_t pos = recs[below(n)];
    uint64_t seq;
    switch (below(8)) {
    case 0: put32(b, len, pos, interesting32[below(NELEM(interesting32))]); break; /* commit */
    case 1: put32(b, len, pos, CHRON_COMMIT_MSG | (uint32_t)below(SEG)); break;
    case 2: put32(b, len, pos, CHRON_COMMIT_EOS); return;
    case 3: /* seq off by a little */
        if (pos + 16 > len) return;
        memcpy(&seq, b + pos + 8, 8);
        put64(b, len, pos + 8, seq + below(5) - 2);
        break;
    case 4: put64(b, len, pos + 8, interesting64[below(NELEM(interesting64))]); break;
    case 5: put32(b, len, pos + 24, (uint32_t)rnd()); break; /* type id and reserved */
    case 6: /* flip a payload or header bit, keeping the checksum stale */
        if (pos + CHRON_REC_HDR < len) b[pos + below(len - pos < 64 ? len - pos : 64)] ^= (uint8_t)(1u << below(8));
        return;
    default: /* duplicate an earlier record here (a stale record) */
        if (n > 1) {
            size_t from = recs[below(n)];
            size_t sz = 32 + below(200);
            if (from + sz <= len && pos + sz <= len) memmove(b + pos, b + from, sz);
        }
        return;
    }
    if (below(4)) reseal(b, len, pos); /* mostly: get past the checksum */
}

static void mutate_once(uint8_t *b, size_t *len, size_t max_len) {
    size_t n = *len;
    switch (below(12)) {
    case 0: /* bit flip */
        if (n) b[below(n)] ^= (uint8_t)(1u << below(8));
        break;
    case 1: /* byte set */
        if (n) b[below(n)] = (uint8_t)(below(3) ? rnd() : (below(2) ? 0xFF : 0));
        break;
    case 2: /* aligned 32-bit interesting value */
        if (n >= 4) put32(b, n, below(n / 4) * 4, interesting32[below(NELEM(interesting32))]);
        break;
    case 3: /* aligned 64-bit interesting value */
        if (n >= 8) put64(b, n, below(n / 8) * 8, interesting64[below(NELEM(interesting64))]);
        break;
    case 4: /* truncate: anywhere, or at a record-ish boundary */
        if (n) *len = below(2) ? below(n) : below(n / 8) * 8;
        break;
    case 5: { /* splice with another corpus entry */
        const input_t *o = &corpus[below(ncorpus)];
        size_t at = below(n + 1), from = below(o->len + 1);
        size_t take = o->len - from;
        if (at + take > max_len) take = max_len - at;
        memcpy(b + at, o->data + from, take);
        if (at + take > *len) *len = at + take;
        break;
    }
    case 6: { /* zero a range: a lost page */
        if (!n) break;
        size_t at = below(n), k = 1 + below(below(2) ? 64 : 4096);
        memset(b + at, 0, at + k > n ? n - at : k);
        break;
    }
    case 7: { /* random bytes in a range: garbage after a tail */
        if (!n) break;
        size_t at = below(n), k = 1 + below(256);
        for (size_t i = at; i < n && i < at + k; i++) b[i] = (uint8_t)rnd();
        break;
    }
    case 8: { /* a segment header field */
        size_t base = below((n + SEG - 1) / SEG + 1) * SEG;
        switch (below(4)) {
        case 0: put64(b, n, base + 56, interesting64[below(NELEM(interesting64))]); break;
        case 1: put64(b, n, base + 56, below(4096)); break;
        case 2: put32(b, n, base + (below(2) ? 0 : 4), interesting32[below(NELEM(interesting32))]); break;
        default: if (base + 7 < n) b[base + 6 + below(2)] ^= (uint8_t)(1u << below(8)); break;
        }
        break;
    }
    case 9: /* grow: zero padding, or a whole further segment of another input */
        if (n < max_len) {
            size_t to = n + 1 + below(max_len - n);
            memset(b + n, 0, to - n);
            *len = to;
        }
        break;
    default:
        mutate_record(b, n);
        break;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(const uint8_t *data, size_t len, const char *prefix, uint64_t seed, uint64_t i) {
    cur_data = data;
    cur_len = len;
    snprintf(cur_artifact, sizeof cur_artifact, "%s%" PRIu64 "-%" PRIu64, prefix, seed, i);
    LLVMFuzzerTestOneInput(data, len);
    cur_data = NULL;
}

static void usage(void) {
    fprintf(stderr, "usage: standalone [-n RUNS] [-t SECONDS] [-s SEED] [-m MAX_LEN] [-a PREFIX] CORPUS...\n");
    exit(2);
}

int main(int argc, char **argv) {
    uint64_t runs = UINT64_MAX, seed = 0;
    double seconds = 0;
    size_t max_len = 4 * SEG;
    const char *prefix = "crash-";
    int opt, have_seed = 0, have_limit = 0;
    while ((opt = getopt(argc, argv, "n:t:s:m:a:")) != -1) {
        switch (opt) {
        case 'n': runs = strtoull(optarg, NULL, 10); have_limit = 1; break;
        case 't': seconds = strtod(optarg, NULL); have_limit = 1; break;
        case 's': seed = strtoull(optarg, NULL, 10); have_seed = 1; break;
        case 'm': max_len = strtoull(optarg, NULL, 10); break;
        case 'a': prefix = optarg; break;
        default: usage();
        }
    }
    if (optind >= argc || max_len < 64) usage();
    if (!have_limit) runs = 1000;
    if (!have_seed) seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    rng = seed * 0x9E3779B97F4A7C15ull | 1;
    for (int i = optind; i < argc; i++) add_path(argv[i], max_len);
    if (ncorpus == 0) {
        fprintf(stderr, "standalone: empty corpus\n");
        return 2;
    }
#ifdef HAVE_DEATH_CALLBACK
    __sanitizer_set_death_callback(save_current);
#endif
    signal(SIGABRT, on_fatal);
    signal(SIGSEGV, on_fatal);
    signal(SIGBUS, on_fatal);
    signal(SIGILL, on_fatal);
    signal(SIGFPE, on_fatal);

    double start = now_s();
    uint64_t done = 0;
    for (size_t i = 0; i < ncorpus; i++, done++) run(corpus[i].data, corpus[i].len, prefix, seed, done);
    double replay = now_s() - start;

    uint8_t *buf = malloc(max_len);
    if (!buf) return 2;
    uint64_t mutated = 0;
    while (mutated < runs && (seconds <= 0 || now_s() - start < seconds)) {
        const input_t *src = &corpus[below(ncorpus)];
        size_t len = src->len;
        memcpy(buf, src->data, len);
        for (uint64_t k = 1 + below(below(2) ? 3 : 8); k > 0; k--) mutate_once(buf, &len, max_len);
        run(buf, len, prefix, seed, done++);
        mutated++;
    }
    double total = now_s() - start;
    printf("fuzz_segment (standalone): %" PRIu64 " runs (%zu corpus files in %.2f s, %" PRIu64
           " mutations) in %.1f s: %.0f exec/s, seed %" PRIu64 "\n",
           done, ncorpus, replay, mutated, total, total > 0 ? (double)done / total : 0.0, seed);
    free(buf);
    for (size_t i = 0; i < ncorpus; i++) free(corpus[i].data);
    free(corpus);
    return 0;
}
