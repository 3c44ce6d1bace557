/*
 * test_util.h — assertions and file helpers for the C tests.
 *
 * Each test is its own executable: exit 0 = pass, 1 = fail, 77 = skip.
 * A failing check prints where and why (with chron_errmsg() when a library
 * call failed) and exits, which also removes the test's temporary queues.
 */
#ifndef CHRON_TEST_UTIL_H
#define CHRON_TEST_UTIL_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chronicle.h"
#include "format.h"

#define TU_SKIP 77
#define TU_MAX_TMPDIRS 16

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) tu_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);              \
    } while (0)

/* expr must succeed (>= 0); evaluates to its value. */
#define CHECK_OK(expr)                                                                    \
    __extension__({                                                                       \
        int64_t tu_v_ = (int64_t)(expr);                                                  \
        if (tu_v_ < 0)                                                                    \
            tu_fail(__FILE__, __LINE__, "%s failed: %" PRId64 " (%s): %s", #expr, tu_v_,  \
                    chron_strerror((int)tu_v_), chron_errmsg());                          \
        tu_v_;                                                                            \
    })

/* expr must return exactly `code`. */
#define CHECK_RC(expr, code)                                                              \
    do {                                                                                  \
        int64_t tu_v_ = (int64_t)(expr), tu_c_ = (int64_t)(code);                         \
        if (tu_v_ != tu_c_)                                                               \
            tu_fail(__FILE__, __LINE__, "%s returned %" PRId64 ", expected %s = %" PRId64 \
                    " (last error: %s)", #expr, tu_v_, #code, tu_c_, chron_errmsg());     \
    } while (0)

/* expr must fail with `code`, and chron_errmsg() must contain `text`. */
#define CHECK_ERR(expr, code, text)                                                       \
    do {                                                                                  \
        CHECK_RC(expr, code);                                                             \
        if (chron_errcode() != (code))                                                    \
            tu_fail(__FILE__, __LINE__, "chron_errcode() is %d, expected %s",             \
                    chron_errcode(), #code);                                              \
        if (!strstr(chron_errmsg(), (text)))                                              \
            tu_fail(__FILE__, __LINE__, "error message \"%s\" does not mention \"%s\"",   \
                    chron_errmsg(), (text));                                              \
    } while (0)

static char tu_dirs[TU_MAX_TMPDIRS][256];
static int tu_ndirs;

static inline void tu_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static inline void tu_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static inline void tu_skip(const char *why) {
    fprintf(stderr, "SKIP: %s\n", why);
    exit(TU_SKIP);
}

static inline int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)st;
    (void)f;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static inline void tu_rmtree(const char *path) {
    nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void tu_cleanup(void) {
    for (int i = 0; i < tu_ndirs; i++) tu_rmtree(tu_dirs[i]);
    tu_ndirs = 0;
}

/* A fresh empty directory, removed when the test exits (by any exit()). */
static inline const char *tu_tmpdir(void) {
    if (tu_ndirs == TU_MAX_TMPDIRS) tu_fail(__FILE__, __LINE__, "too many temp dirs");
    const char *base = getenv("TMPDIR");
    char *d = tu_dirs[tu_ndirs];
    snprintf(d, sizeof tu_dirs[0], "%s/chron-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(d)) tu_fail(__FILE__, __LINE__, "mkdtemp(%s): %s", d, strerror(errno));
    if (tu_ndirs++ == 0) atexit(tu_cleanup);
    return d;
}

/* A path inside a directory: a new string in one of a few rotating buffers. */
static inline const char *tu_path(const char *dir, const char *name) {
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static inline const char *tu_seg_path(const char *dir, uint64_t index) {
    char name[64];
    snprintf(name, sizeof name, "%020" PRIu64 ".seg", index);
    return tu_path(dir, name);
}

static inline int tu_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of segment files in a queue directory. */
static inline int tu_count_segments(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) tu_fail(__FILE__, __LINE__, "opendir(%s): %s", dir, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len == CHRON_SEG_NAME_DIGITS + 4 && strcmp(e->d_name + CHRON_SEG_NAME_DIGITS, ".seg") == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* A whole file mapped shared and writable, to edit it as a crash or a
 * corruption would. Unmap with tu_unmap. */
typedef struct tu_map {
    uint8_t *p;
    size_t size;
} tu_map_t;

static inline tu_map_t tu_map(const char *path) {
    int fd = open(path, O_RDWR);
    if (fd < 0) tu_fail(__FILE__, __LINE__, "open(%s): %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size == 0) tu_fail(__FILE__, __LINE__, "fstat(%s)", path);
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) tu_fail(__FILE__, __LINE__, "mmap(%s): %s", path, strerror(errno));
    tu_map_t m = {p, (size_t)st.st_size};
    return m;
}

static inline void tu_unmap(tu_map_t *m) {
    munmap(m->p, m->size);
    m->p = NULL;
}

/* Deterministic payload bytes for a seq, so a reader can verify content. */
static inline void tu_fill(uint8_t *buf, size_t len, uint64_t seq) {
    uint64_t x = seq * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

static inline int tu_payload_ok(const chron_msg_t *m, size_t want_len) {
    uint8_t buf[4096];
    if (m->len != want_len || want_len > sizeof buf) return 0;
    tu_fill(buf, want_len, m->seq);
    return want_len == 0 || memcmp(buf, m->payload, want_len) == 0;
}

static inline chron_writer_t *tu_writer(const char *dir, uint64_t segment_size) {
    chron_writer_opts_t o = {.segment_size = segment_size};
    chron_writer_t *w = NULL;
    CHECK_OK(chron_writer_open(dir, &o, &w));
    CHECK(w != NULL);
    return w;
}

static inline chron_reader_t *tu_reader(const char *dir, const char *name, int start) {
    chron_reader_opts_t o = {.start = start, .spin_ns = 0};
    chron_reader_t *r = NULL;
    CHECK_OK(chron_reader_open(dir, name, &o, &r));
    CHECK(r != NULL);
    return r;
}

/* Append a message whose payload is tu_fill(len, seq); returns its seq. */
static inline uint64_t tu_append(chron_writer_t *w, int type_id, size_t len) {
    uint8_t buf[4096];
    uint64_t seq = chron_writer_next_seq(w);
    if (len > sizeof buf) tu_fail(__FILE__, __LINE__, "tu_append: len %zu too big", len);
    tu_fill(buf, len, seq);
    int64_t got = CHECK_OK(chron_append(w, type_id, buf, len));
    if ((uint64_t)got != seq) tu_fail(__FILE__, __LINE__, "append got seq %" PRId64 ", expected %" PRIu64, got, seq);
    return seq;
}

#endif
