/*
 * internal.h — declarations shared by the core's files; not installed.
 */
#ifndef CHRON_INTERNAL_H
#define CHRON_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "atomics.h"
#include "chronicle.h"
#include "format.h"

#define CHRON_PATH_MAX 4096

/* ---- errors (error.c) ---- */
int chron_fail_at(const char *func, int code, const char *path, int64_t detail,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int chron_fail_errno_at(const char *func, int err, const char *path, const char *what);
#define chron_fail(code, path, detail, ...) \
    chron_fail_at(__func__, (code), (path), (detail), __VA_ARGS__)
#define chron_fail_errno(err, path, what) chron_fail_errno_at(__func__, (err), (path), (what))

/* ---- checksum (crc32c.c): raw update, no pre/post inversion ---- */
uint32_t chron_crc_update(uint32_t crc, const void *buf, size_t len);

/* ---- platform (platform.c): the only file with #if per operating system ---- */
int64_t chron_monotonic_ns(void);
/* Sleep while *addr == expected, at most timeout_ns. 0 = woken or value
 * changed or timed out (callers re-check), CHRON_E_INTR on a signal. Works
 * between processes (shared futex / ulock). */
int chron_futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns);
/* Wake every sleeper on addr; returns how many woke, or -1 if unknown. */
int chron_futex_wake_all(_Atomic uint32_t *addr);
/* Writer side: make chron_membarrier() in other processes fence this one.
 * 0 on success, <0 where unsupported (the writer then fences each append). */
int chron_membarrier_register(void);
/* Reader side: a full barrier in every registered writer process. */
int chron_membarrier(void);
/* Fault in [base, base+len) writable without changing its bytes, so the
 * appending thread takes no page faults. <0 where unsupported. */
int chron_prefault_write(void *base, uint64_t len);
/* Reserve `size` bytes of disk for fd, so mapped writes never hit ENOSPC. */
int chron_prealloc(int fd, uint64_t size);
static inline void chron_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- sleeping and waking on a queue (wait.c) ---- */
/* The longest a sleeper sleeps before it looks again by itself. */
#define CHRON_SLEEP_SLICE_NS 100000000ll
#define CHRON_SLEEP_UNFENCED (1ull << 32)
/* Announce a sleeper (read notify, raise wake_pending, then a barrier in the
 * writer). The caller must re-check for data after this and before sleeping;
 * the token carries the notify value to sleep on. */
uint64_t chron_sleep_announce(chron_meta_t *m);
/* Sleep on the token until woken or timeout_ns (<0: one slice). 0 or CHRON_E_INTR. */
int chron_sleep(chron_meta_t *m, uint64_t token, int64_t timeout_ns);
/* Withdraw the announcement from the `waiters` hint. */
void chron_sleep_withdraw(chron_meta_t *m);
/* Writer side, after publishing: wake the sleepers if one announced itself. */
void chron_wake_pending(chron_meta_t *m);
/* Wake every sleeper unconditionally (a new publisher, a closing waiter). */
void chron_wake_all(chron_meta_t *m);

/* ---- the writer's clock (clock.c) ---- */
typedef struct chron_clock {
    uint64_t anchor_tsc;     /* TSC at the last anchor */
    int64_t anchor_ns;       /* CLOCK_REALTIME at the last anchor */
    uint64_t mult;           /* ns per tick, 32.32 fixed point */
    uint64_t reanchor_ticks; /* re-read the real clock after this many ticks */
    uint64_t base_tsc;       /* first anchor: the long baseline for the rate */
    int64_t base_ns;
    int64_t last_ns;         /* timestamps never go backwards */
    int use_tsc;
} chron_clock_t;

void chron_clock_init(chron_clock_t *c);
int64_t chron_clock_reanchor(chron_clock_t *c);

#if defined(__x86_64__)
#include <x86intrin.h>
static inline int64_t chron_clock_now(chron_clock_t *c) {
    if (chron_likely(c->use_tsc)) {
        uint64_t d = __rdtsc() - c->anchor_tsc;
        if (chron_likely(d < c->reanchor_ticks)) {
            int64_t ns = c->anchor_ns + (int64_t)((d * c->mult) >> 32);
            if (chron_likely(ns >= c->last_ns)) c->last_ns = ns;
            return c->last_ns;
        }
    }
    return chron_clock_reanchor(c);
}
#else
static inline int64_t chron_clock_now(chron_clock_t *c) { return chron_clock_reanchor(c); }
#endif

/* ---- the queue directory and its files (queue.c) ---- */
typedef struct chron_qdir {
    char path[CHRON_PATH_MAX]; /* as given, for messages */
    int dirfd;
    int meta_fd;
    chron_meta_t *meta;        /* shared mapping of queue.meta */
    uint32_t file_mode;
} chron_qdir_t;

typedef struct chron_segmap {
    uint64_t index;
    int fd;
    uint8_t *base;
    uint64_t size;
} chron_segmap_t;

/* Open (create=1: create if absent, with parents) the queue directory and map
 * its meta file. */
int chron_qdir_open(chron_qdir_t *q, const char *dir, uint32_t file_mode, int create);
void chron_qdir_close(chron_qdir_t *q);
void chron_seg_name(uint64_t index, char *buf, size_t n);
void chron_qdir_file(const chron_qdir_t *q, const char *name, char *buf, size_t n);
/* Sorted indexes of the segment files present (malloc'd array in *out). */
int chron_seg_list(chron_qdir_t *q, uint64_t **out, size_t *n);
/* Map an existing segment and validate its header. */
int chron_seg_map(chron_qdir_t *q, uint64_t index, int writable, chron_segmap_t *out);
/* Map segment `index` for writing: reuse it if present, valid and not yet
 * activated; otherwise create it preallocated (via a temporary file renamed
 * into place, so readers never see a half-made segment). */
int chron_seg_prepare(chron_qdir_t *q, uint64_t index, uint64_t size, chron_segmap_t *out);
void chron_seg_unmap(chron_segmap_t *s);
/* Fault in every page of a segment that is not in use yet (helper thread). */
void chron_seg_prefault(chron_segmap_t *s);
static inline chron_seg_hdr_t *chron_seg_hdr(const chron_segmap_t *s) {
    return (chron_seg_hdr_t *)s->base;
}
/* Take the writer lock (flock, released by the kernel when the holder dies). */
int chron_lock_writer(chron_qdir_t *q, int *lock_fd);
/* Open or create a file in the queue with the queue's mode. */
int chron_qdir_openat(chron_qdir_t *q, const char *rel, int flags, char *path_out);
void chron_random_bytes(uint8_t *out, size_t n);
/* Zero every nonzero byte of [from, to): wipes a torn tail after a crash.
 * Returns how many bytes lay in the chunks it had to wipe. */
uint64_t chron_zero_range(uint8_t *base, uint64_t from, uint64_t to);

/* ---- recovery (recover.c) ---- */
/* Give a prepared segment its first seq, making it part of the queue. */
void chron_seg_activate(chron_qdir_t *q, chron_segmap_t *s, uint64_t base_seq);
typedef struct chron_tail {
    uint64_t segment;      /* active segment index */
    uint64_t pos;          /* offset of the next record */
    uint64_t next_seq;     /* seq of the next record */
    uint64_t dropped_bytes;/* torn or corrupt bytes wiped */
    uint64_t dropped_segments;
} chron_tail_t;
/* Find the end of the queue (the writer holds the lock), wipe whatever
 * follows the last intact record and leave the active segment mapped in *seg. */
int chron_recover(chron_qdir_t *q, uint64_t seg_size, chron_tail_t *tail,
                  chron_segmap_t *seg);

#endif
