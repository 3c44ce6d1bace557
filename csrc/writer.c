/*
 * writer.c — the single publisher: append, segment roll, flush.
 *
 * The commit protocol (docs/FORMAT.md): fill header and payload with plain
 * stores, compute the checksum, then publish with ONE release store of the
 * record's commit word. A reader acquire-loads the commit word before reading
 * anything else of the record, so it can never see a partial record.
 *
 * The next segment is created and preallocated ahead of need by a helper
 * thread, which also unmaps retired segments, so a roll is a few pointer
 * swaps on the appending thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define NO_INDEX UINT64_MAX
#define MAX_RETIRED 8

struct chron_writer {
    /* hot: every append */
    uint8_t *base;          /* active segment mapping */
    uint64_t pos;           /* offset of the next record */
    uint64_t limit;         /* records must end here: room stays for the end marker */
    uint64_t next_seq;
    uint64_t max_payload;
    chron_meta_t *meta;
    int fence;              /* 1 when membarrier is unavailable: fence each append */
    chron_clock_t clock;
    /* cold */
    chron_segmap_t cur;
    chron_qdir_t q;
    int lock_fd;
    uint64_t seg_size;      /* size of segments this writer creates */
    uint64_t flushed_index; /* segments below this one are on disk */
    uint64_t dropped_bytes; /* wiped by recovery at open */
    int dir_dirty;
    /* the segment preparation thread, guarded by mu */
    pthread_t thread;
    int thread_ok;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    uint64_t want;          /* index to prepare next, or NO_INDEX */
    int preparing;          /* the thread is working on `want` */
    int ready;              /* ready_seg holds a result */
    int ready_rc;
    chron_segmap_t ready_seg;
    chron_segmap_t retired[MAX_RETIRED];
    int n_retired;
    uint8_t *prefault_base; /* the active segment at open, for the thread to fault in */
    uint64_t prefault_from, prefault_to;
};

static void *prep_main(void *arg) {
    chron_writer_t *w = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals belong to the user's threads */
    /* fault in the rest of the active segment (content unchanged) */
    uint64_t from = w->prefault_from & ~(uint64_t)4095;
    if (from < w->prefault_to) chron_prefault_write(w->prefault_base + from, w->prefault_to - from);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && w->want == NO_INDEX && w->n_retired == 0) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) break;
        if (w->want != NO_INDEX) { /* the appender may be about to need it: first */
            uint64_t idx = w->want;
            w->preparing = 1;
            pthread_mutex_unlock(&w->mu);
            chron_segmap_t s = {.fd = -1};
            int rc = chron_seg_prepare(&w->q, idx, w->seg_size, &s);
            /* Fault the segment in. MADV_POPULATE_WRITE leaves the bytes as they
             * are, so it can go on after the hand-over and a roll never waits
             * for it (the appender faults in whatever it reaches first); the
             * fallback writes into the pages and must finish before. */
            int populate_after = rc == 0 && chron_prefault_write(s.base, 4096) == 0;
            if (rc == 0 && !populate_after) chron_seg_prefault(&s);
            pthread_mutex_lock(&w->mu);
            w->preparing = 0;
            w->want = NO_INDEX;
            w->ready = 1;
            w->ready_rc = rc;
            w->ready_seg = s;
            pthread_cond_broadcast(&w->cv);
            if (populate_after) {
                /* close() joins this thread first; if the appender has already
                 * moved past the segment and unmapped it itself (a full retire
                 * list), madvise fails or faults in another mapping: harmless */
                pthread_mutex_unlock(&w->mu);
                chron_prefault_write(s.base + 4096, s.size - 4096);
                pthread_mutex_lock(&w->mu);
            }
            continue;
        }
        chron_segmap_t old[MAX_RETIRED];
        int n = w->n_retired;
        memcpy(old, w->retired, (size_t)n * sizeof old[0]);
        w->n_retired = 0;
        pthread_mutex_unlock(&w->mu);
        for (int i = 0; i < n; i++) chron_seg_unmap(&old[i]);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* After a roll, in one critical section: give the old mapping to the helper
 * thread to unmap and ask it to prepare segment `next`. Without the thread
 * (it could not be started) the mapping is unmapped here and the next
 * segment is prepared at the next roll. */
static void handoff(chron_writer_t *w, chron_segmap_t *old, uint64_t next) {
    if (!w->thread_ok) {
        chron_seg_unmap(old);
        return;
    }
    pthread_mutex_lock(&w->mu);
    int queued = w->n_retired < MAX_RETIRED;
    if (queued) w->retired[w->n_retired++] = *old;
    if (!w->preparing && !w->ready) w->want = next;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (!queued) chron_seg_unmap(old);
    old->base = NULL;
    old->fd = -1;
}

static void request_prepare(chron_writer_t *w, uint64_t index) {
    if (!w->thread_ok) return;
    pthread_mutex_lock(&w->mu);
    if (!w->preparing && !w->ready) {
        w->want = index;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

/* The prepared segment `index`, from the helper thread if it has it. */
static int take_prepared(chron_writer_t *w, uint64_t index, chron_segmap_t *out) {
    if (w->thread_ok) {
        pthread_mutex_lock(&w->mu);
        /* in progress or queued for the helper: wait rather than race it */
        while (w->preparing || w->want == index) pthread_cond_wait(&w->cv, &w->mu);
        w->want = NO_INDEX;
        int have = w->ready && w->ready_rc == 0 && w->ready_seg.index == index;
        chron_segmap_t s = w->ready_seg;
        int stale = w->ready && w->ready_rc == 0 && !have;
        w->ready = 0;
        w->ready_seg.base = NULL;
        w->ready_seg.fd = -1;
        pthread_mutex_unlock(&w->mu);
        if (have) {
            *out = s;
            return 0;
        }
        if (stale) chron_seg_unmap(&s);
    }
    /* not prepared (or it failed, e.g. ENOSPC): try here, reporting to the caller */
    return chron_seg_prepare(&w->q, index, w->seg_size, out);
}

static int roll(chron_writer_t *w) {
    chron_segmap_t next = {.fd = -1};
    int rc = take_prepared(w, w->cur.index + 1, &next);
    if (rc < 0) return rc; /* nothing written: the current segment stays open */
    /* the next segment's first seq is set before the end marker is published,
     * so a reader that sees the marker (acquire) sees the base seq too */
    chron_seg_activate(&w->q, &next, w->next_seq);
    chron_rec_hdr_t *eos = (chron_rec_hdr_t *)(w->base + w->pos);
    chron_store_release(&eos->commit, CHRON_COMMIT_EOS);
    chron_segmap_t old = w->cur;
    w->cur = next;
    w->base = next.base;
    w->pos = CHRON_SEG_DATA_START;
    w->limit = next.size - CHRON_REC_HDR;
    w->dir_dirty = 1;
    handoff(w, &old, next.index + 1);
    return 0;
}

static inline void wake_sleepers(chron_writer_t *w) {
    /* Dekker with the reader: it raises `wake_pending`, then checks for a record.
     * Its membarrier() makes our commit store visible before it checks, or
     * our load below see its bump; without membarrier we fence. */
    if (chron_unlikely(w->fence)) chron_fence_full();
    else atomic_signal_fence(memory_order_seq_cst); /* keep the compiler from hoisting the load */
    if (chron_unlikely(chron_load_relaxed(&w->meta->wake_pending) != 0)) chron_wake_pending(w->meta);
}

/* Write one record at the current position (it fits) and publish it. */
static inline __attribute__((always_inline)) uint64_t put(chron_writer_t *w, uint32_t type_id,
                                                          const void *payload, uint32_t len) {
    chron_rec_hdr_t *h = (chron_rec_hdr_t *)(w->base + w->pos);
    uint64_t seq = w->next_seq;
    uint32_t commit = CHRON_COMMIT_MSG | len;
    int64_t ts = chron_clock_now(&w->clock);
    if (len) memcpy(h + 1, payload, len);
    h->seq = seq;
    h->timestamp_ns = ts;
    h->type_id = (uint16_t)type_id;
    h->reserved16 = 0;
    h->reserved32 = 0;
    /* over the copy in the segment, so a caller that changes its buffer during
     * the call cannot leave a record that fails its own checksum; the header
     * fields come from registers */
    h->crc = chron_rec_crc_parts(h + 1, len, seq, ts, (uint16_t)type_id, commit);
    chron_store_release(&h->commit, commit); /* the one publishing store */
    w->pos += chron_rec_size(len);
    w->next_seq = seq + 1;
    return seq;
}

static int check_one(chron_writer_t *w, int type_id, const void *payload, size_t len) {
    if (chron_unlikely(type_id < 0 || type_id > 0xFFFF))
        return chron_fail(CHRON_E_INVAL, w->q.path, -1, "type id %d outside 0..65535", type_id);
    if (chron_unlikely(len > w->max_payload))
        return chron_fail(CHRON_E_TOOBIG, w->q.path, (int64_t)len,
                          "payload of %zu bytes exceeds the %" PRIu64 "-byte maximum of a segment",
                          len, w->max_payload);
    if (chron_unlikely(len && !payload))
        return chron_fail(CHRON_E_INVAL, w->q.path, -1, "NULL payload with nonzero length");
    return 0;
}

/* Everything but the common case, out of line so the fast path stays small:
 * a bad argument (reported), or a record that needs a roll first. */
static __attribute__((noinline, cold)) int64_t append_slow(chron_writer_t *w, int type_id,
                                                           const void *payload, size_t len) {
    if (!w) return chron_fail(CHRON_E_INVAL, "", -1, "NULL writer");
    int rc = check_one(w, type_id, payload, len);
    if (rc < 0) return rc;
    if (w->pos + chron_rec_size(len) > w->limit && (rc = roll(w)) < 0) return rc;
    uint64_t seq = put(w, (uint32_t)type_id, payload, (uint32_t)len);
    wake_sleepers(w);
    return (int64_t)seq;
}

int64_t chron_append(chron_writer_t *w, int type_id, const void *payload, size_t len) {
    /* one combined test for the common case: valid arguments, room left */
    if (chron_likely(w && (unsigned)type_id <= 0xFFFFu && len <= w->max_payload && (payload || !len) &&
                     w->pos + chron_rec_size(len) <= w->limit)) {
        uint64_t seq = put(w, (uint32_t)type_id, payload, (uint32_t)len);
        wake_sleepers(w);
        return (int64_t)seq;
    }
    return append_slow(w, type_id, payload, len);
}

int64_t chron_append_many(chron_writer_t *w, int type_id, const int *type_ids,
                          const void *const *payloads, const size_t *lens, size_t n) {
    if (!w) return chron_fail(CHRON_E_INVAL, "", -1, "NULL writer");
    if (n && (!payloads || !lens)) return chron_fail(CHRON_E_INVAL, w->q.path, -1, "NULL batch");
    for (size_t i = 0; i < n; i++) { /* all-or-nothing: check everything first */
        int rc = check_one(w, type_ids ? type_ids[i] : type_id, payloads[i], lens[i]);
        if (rc < 0) return chron_fail(rc, w->q.path, (int64_t)i, "batch item %zu: %s", i, chron_errmsg());
    }
    uint64_t first = w->next_seq;
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (chron_unlikely(w->pos + chron_rec_size(lens[i]) > w->limit) && (rc = roll(w)) < 0) {
            wake_sleepers(w); /* an OS failure at a roll: items before i were written */
            return rc;
        }
        put(w, (uint32_t)(type_ids ? type_ids[i] : type_id), payloads[i], (uint32_t)lens[i]);
    }
    wake_sleepers(w);
    return (int64_t)first;
}

int64_t chron_append_rows(chron_writer_t *w, int type_id, const void *base, size_t stride, size_t n) {
    if (!w) return chron_fail(CHRON_E_INVAL, "", -1, "NULL writer");
    int rc = check_one(w, type_id, base, n ? stride : 0);
    if (rc < 0) return rc;
    uint64_t first = w->next_seq;
    const uint8_t *p = base;
    for (size_t i = 0; i < n; i++, p += stride) {
        if (chron_unlikely(w->pos + chron_rec_size(stride) > w->limit) && (rc = roll(w)) < 0) {
            wake_sleepers(w); /* rows before i were written */
            return rc;
        }
        put(w, (uint32_t)type_id, p, (uint32_t)stride);
    }
    wake_sleepers(w);
    return (int64_t)first;
}

uint64_t chron_writer_max_payload(const chron_writer_t *w) { return w ? w->max_payload : 0; }
uint64_t chron_writer_next_seq(const chron_writer_t *w) { return w ? w->next_seq : 0; }
uint64_t chron_writer_dropped_bytes(const chron_writer_t *w) { return w ? w->dropped_bytes : 0; }

static int sync_segment_file(chron_writer_t *w, uint64_t index) {
    char name[40], path[CHRON_PATH_MAX];
    chron_seg_name(index, name, sizeof name);
    chron_qdir_file(&w->q, name, path, sizeof path);
    int fd = openat(w->q.dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : chron_fail_errno(errno, path, "cannot open to sync");
    int rc = fdatasync(fd) == 0 ? 0 : chron_fail_errno(errno, path, "cannot sync");
    close(fd);
    return rc;
}

int chron_writer_flush(chron_writer_t *w, int async) {
    if (!w) return chron_fail(CHRON_E_INVAL, "", -1, "NULL writer");
    char path[CHRON_PATH_MAX];
    char name[40];
    chron_seg_name(w->cur.index, name, sizeof name);
    chron_qdir_file(&w->q, name, path, sizeof path);
    if (async) {
#if defined(__linux__)
        if (sync_file_range(w->cur.fd, 0, (off64_t)w->pos, SYNC_FILE_RANGE_WRITE) != 0)
            return chron_fail_errno(errno, path, "cannot start write-back");
        return 0;
#else
        if (msync(w->base, (w->pos + 4095) & ~(uint64_t)4095, MS_ASYNC) != 0)
            return chron_fail_errno(errno, path, "cannot start write-back");
        return 0;
#endif
    }
    for (uint64_t i = w->flushed_index; i < w->cur.index; i++) {
        int rc = sync_segment_file(w, i);
        if (rc < 0) return rc;
    }
    if (msync(w->base, (w->pos + 4095) & ~(uint64_t)4095, MS_SYNC) != 0)
        return chron_fail_errno(errno, path, "cannot msync");
    if (w->dir_dirty) {
        if (fsync(w->q.dirfd) != 0) return chron_fail_errno(errno, w->q.path, "cannot sync directory");
        w->dir_dirty = 0;
    }
    w->flushed_index = w->cur.index;
    return 0;
}

void chron_writer_close(chron_writer_t *w) {
    if (!w) return;
    if (w->thread_ok) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        for (int i = 0; i < w->n_retired; i++) chron_seg_unmap(&w->retired[i]);
        if (w->ready && w->ready_rc == 0) chron_seg_unmap(&w->ready_seg);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
    }
    chron_seg_unmap(&w->cur);
    if (w->lock_fd >= 0) close(w->lock_fd); /* releases the publisher lock */
    chron_qdir_close(&w->q);
    free(w);
}

int chron_writer_open(const char *dir, const chron_writer_opts_t *opts, chron_writer_t **out) {
    if (!out) return chron_fail(CHRON_E_INVAL, dir, -1, "NULL out pointer");
    *out = NULL;
    chron_writer_opts_t o = {0};
    if (opts) o = *opts;
    if (o.flags) return chron_fail(CHRON_E_INVAL, dir, -1, "unknown flags %#x", o.flags);
    if (o.segment_size &&
        (o.segment_size < CHRON_MIN_SEGMENT_SIZE || o.segment_size > CHRON_MAX_SEGMENT_SIZE ||
         o.segment_size % 4096))
        return chron_fail(CHRON_E_INVAL, dir, -1,
                          "segment size %" PRIu64 " must be a multiple of 4096 in [%llu, %llu]",
                          o.segment_size, CHRON_MIN_SEGMENT_SIZE, CHRON_MAX_SEGMENT_SIZE);
    chron_writer_t *w = calloc(1, sizeof *w);
    if (!w) return chron_fail(-ENOMEM, dir, -1, "out of memory");
    w->lock_fd = -1;
    w->cur.fd = -1;
    w->want = NO_INDEX;
    int rc = chron_qdir_open(&w->q, dir, o.file_mode, 1);
    if (rc < 0) goto fail;
    if ((rc = chron_lock_writer(&w->q, &w->lock_fd)) < 0) goto fail;
    w->meta = w->q.meta;
    uint64_t want_size = o.segment_size ? o.segment_size : CHRON_DEFAULT_SEGMENT_SIZE;
    uint64_t zero = 0;
    /* the first publisher fixes the segment size; later ones keep it */
    atomic_compare_exchange_strong(&w->meta->segment_size, &zero, want_size);
    w->seg_size = chron_load_acquire(&w->meta->segment_size);

    chron_tail_t tail;
    if ((rc = chron_recover(&w->q, w->seg_size, &tail, &w->cur)) < 0) goto fail;
    w->base = w->cur.base;
    w->pos = tail.pos;
    w->limit = w->cur.size - CHRON_REC_HDR;
    w->next_seq = tail.next_seq;
    w->dropped_bytes = tail.dropped_bytes;
    w->flushed_index = w->cur.index;
    w->dir_dirty = 1; /* the queue's files may be new: the first flush syncs the directory */
    uint64_t a = chron_max_payload_for(w->cur.size), b = chron_max_payload_for(w->seg_size);
    w->max_payload = a < b ? a : b;
    chron_store_relaxed(&w->meta->writer_pid, (int64_t)getpid());
    chron_fetch_add_full(&w->meta->writer_epoch, 1);
    w->fence = chron_membarrier_register() != 0;
    chron_clock_init(&w->clock);

    w->prefault_base = w->base;
    w->prefault_from = w->pos;
    w->prefault_to = w->cur.size;
    if (pthread_mutex_init(&w->mu, NULL) == 0) {
        if (pthread_cond_init(&w->cv, NULL) == 0) {
            w->thread_ok = pthread_create(&w->thread, NULL, prep_main, w) == 0;
            if (!w->thread_ok) pthread_cond_destroy(&w->cv);
        }
        if (!w->thread_ok) pthread_mutex_destroy(&w->mu);
    }
    request_prepare(w, w->cur.index + 1);
    /* wake readers parked before this publisher existed */
    chron_wake_all(w->meta);
    *out = w;
    return 0;
fail:
    chron_writer_close(w);
    return rc;
}
