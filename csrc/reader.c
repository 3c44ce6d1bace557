/*
 * reader.c — a named subscriber: next, seek, commit, and the hybrid wait.
 *
 * A reader holds its position as (segment, offset, next_seq). next()
 * acquire-loads the commit word at the position (pairing with the writer's
 * release store), then validates framing, seq and checksum before returning
 * anything. A record that fails is never returned: the reader stays on it and
 * reports CHRON_E_CORRUPT. An end-of-segment marker moves it to the next
 * segment, whose base seq must continue the sequence.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "position.h"

struct chron_reader {
    /* hot */
    const uint8_t *base;     /* current segment mapping, NULL before the first */
    uint64_t size;
    uint64_t pos;
    uint64_t next_seq;
    chron_meta_t *meta;
    /* cold */
    chron_segmap_t seg;
    uint64_t seen_epoch;     /* meta->seg_epoch when we last looked for segments */
    int64_t spin_ns;
    chron_qdir_t q;
    chron_posfile_t posf;
    char name[CHRON_MAX_NAME_LEN + 1];
};

static void seg_path(const chron_reader_t *r, uint64_t index, char *buf, size_t n) {
    char name[40];
    chron_seg_name(index, name, sizeof name);
    chron_qdir_file(&r->q, name, buf, n);
}

static int corrupt_here(const chron_reader_t *r, const char *why) {
    char path[CHRON_PATH_MAX];
    seg_path(r, r->seg.index, path, sizeof path);
    return chron_fail(CHRON_E_CORRUPT, path, (int64_t)r->pos, "record at offset %" PRIu64 " (seq %" PRIu64 "): %s",
                      r->pos, r->next_seq, why);
}

static void use_segment(chron_reader_t *r, chron_segmap_t *s, uint64_t pos, uint64_t seq) {
    chron_seg_unmap(&r->seg);
    r->seg = *s;
    r->base = s->base;
    r->size = s->size;
    r->pos = pos;
    r->next_seq = seq;
}

/* The activated segments, ascending, each with its base seq. */
typedef struct seginfo {
    uint64_t index, base_seq;
} seginfo_t;

static int list_active(chron_reader_t *r, seginfo_t **out, size_t *n) {
    uint64_t *idx;
    size_t cnt;
    *out = NULL;
    *n = 0;
    int rc = chron_seg_list(&r->q, &idx, &cnt);
    if (rc < 0) return rc;
    seginfo_t *v = malloc((cnt ? cnt : 1) * sizeof *v);
    if (!v) {
        free(idx);
        return chron_fail(-ENOMEM, r->q.path, -1, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++) {
        chron_segmap_t s;
        rc = chron_seg_map(&r->q, idx[i], 0, &s);
        if (rc == -ENOENT) continue; /* retired while we listed */
        /* a damaged segment after an intact one is left out, so the records
         * on both sides stay readable; reading into it reports the damage */
        if ((rc == CHRON_E_CORRUPT || rc == CHRON_E_VERSION) && k > 0) continue;
        if (rc < 0) {
            free(idx);
            free(v);
            return rc;
        }
        uint64_t b = chron_load_acquire(&chron_seg_hdr(&s)->base_seq);
        chron_seg_unmap(&s);
        if (b == CHRON_SEQ_UNSET) continue; /* made ahead, not yet in use */
        v[k].index = idx[i];
        v[k].base_seq = b;
        k++;
    }
    free(idx);
    *out = v;
    *n = k;
    return 0;
}

/* Position the reader at `seq` (or at the tail when seq is CHRON_SEQ_UNSET).
 * Returns 1 positioned, 0 no segment exists yet, <0 error. Range errors
 * report the retained range. */
static int locate(chron_reader_t *r, uint64_t seq) {
    uint64_t epoch = chron_load_acquire(&r->meta->seg_epoch);
    seginfo_t *v;
    size_t n;
    int rc = list_active(r, &v, &n);
    if (rc < 0) return rc;
    r->seen_epoch = epoch;
    if (n == 0) {
        free(v);
        return 0;
    }
    size_t i = n - 1;
    if (seq != CHRON_SEQ_UNSET) {
        if (seq < v[0].base_seq) {
            rc = chron_fail(CHRON_E_RANGE, r->q.path, (int64_t)seq,
                            "seq %" PRIu64 " is before the first retained seq %" PRIu64, seq, v[0].base_seq);
            goto out;
        }
        while (i > 0 && v[i].base_seq > seq) i--;
    }
    chron_segmap_t s;
    if ((rc = chron_seg_map(&r->q, v[i].index, 0, &s)) < 0) goto out;
    chron_scan_t sc;
    chron_scan(s.base, s.size, CHRON_SEG_DATA_START, v[i].base_seq, UINT64_MAX, seq, &sc);
    if (sc.end == CHRON_SCAN_BAD) {
        char path[CHRON_PATH_MAX];
        seg_path(r, v[i].index, path, sizeof path);
        rc = chron_fail(CHRON_E_CORRUPT, path, (int64_t)sc.pos, "record at offset %" PRIu64 ": %s", sc.pos, sc.why);
        chron_seg_unmap(&s);
        goto out;
    }
    if (seq != CHRON_SEQ_UNSET && sc.next_seq != seq) {
        chron_seg_unmap(&s);
        /* past a sealed segment whose successor was left out of the list:
         * the seq lies in a damaged segment, report why it is unusable */
        if (sc.end == CHRON_SCAN_EOS && (i + 1 == n || v[i + 1].index != v[i].index + 1)) {
            if ((rc = chron_seg_map(&r->q, v[i].index + 1, 0, &s)) < 0 && rc != -ENOENT) goto out;
            if (rc == 0) chron_seg_unmap(&s);
        }
        rc = chron_fail(CHRON_E_RANGE, r->q.path, (int64_t)seq,
                        "seq %" PRIu64 " is beyond the end of the queue (next is %" PRIu64 ")", seq, sc.next_seq);
        goto out;
    }
    use_segment(r, &s, sc.pos, sc.next_seq);
    rc = 1;
out:
    free(v);
    return rc;
}

/* Before the first segment exists: look again only when the writer made one. */
static int try_attach(chron_reader_t *r) {
    if (chron_load_acquire(&r->meta->seg_epoch) == r->seen_epoch) return 0;
    return locate(r, r->next_seq);
}

/* At an end-of-segment marker: continue in the next segment. */
static int advance(chron_reader_t *r) {
    chron_segmap_t s;
    uint64_t next = r->seg.index + 1;
    int rc = chron_seg_map(&r->q, next, 0, &s);
    if (rc == -ENOENT) {
        char path[CHRON_PATH_MAX];
        seg_path(r, next, path, sizeof path);
        return chron_fail(CHRON_E_RETIRED, path, -1, "segment after a sealed one is missing (deleted?)");
    }
    if (rc < 0) return rc;
    uint64_t b = chron_load_acquire(&chron_seg_hdr(&s)->base_seq);
    if (b != r->next_seq) {
        char path[CHRON_PATH_MAX];
        seg_path(r, next, path, sizeof path);
        chron_seg_unmap(&s);
        return chron_fail(CHRON_E_CORRUPT, path, 56, "segment starts at seq %" PRIu64 ", expected %" PRIu64,
                          b, r->next_seq);
    }
    use_segment(r, &s, CHRON_SEG_DATA_START, r->next_seq);
    return 1;
}

int chron_reader_next(chron_reader_t *r, chron_msg_t *msg) {
    if (chron_unlikely(!r || !msg)) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader or message");
    for (;;) {
        if (chron_unlikely(!r->base)) {
            int rc = try_attach(r);
            if (rc <= 0) return rc;
        }
        uint32_t len = 0;
        const char *why = NULL;
        int k = chron_rec_check(r->base, r->size, r->pos, r->next_seq, &len, &why);
        if (chron_likely(k == 1)) {
            const chron_rec_hdr_t *h = (const chron_rec_hdr_t *)(r->base + r->pos);
            msg->seq = h->seq;
            msg->timestamp_ns = h->timestamp_ns;
            msg->type_id = h->type_id;
            msg->len = len;
            msg->payload = (const uint8_t *)(h + 1);
            msg->segment = r->seg.index;
            msg->offset = r->pos + CHRON_REC_HDR;
            r->pos += chron_rec_size(len);
            r->next_seq++;
            return 1;
        }
        if (k == 0) return 0;
        if (k < 0) return corrupt_here(r, why);
        int rc = advance(r);
        if (rc < 0) return rc;
    }
}

int chron_reader_next_batch(chron_reader_t *r, chron_msg_t *msgs, int max) {
    if (!r || !msgs || max < 0) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader or bad batch");
    int n = 0;
    while (n < max) {
        if (n > 0 && r->base) {
            /* stop at a segment roll: every payload of a batch shares one mapping */
            const chron_rec_hdr_t *h = (const chron_rec_hdr_t *)(r->base + r->pos);
            if (r->pos <= r->size - CHRON_REC_HDR && chron_load_acquire(&h->commit) == CHRON_COMMIT_EOS) break;
        }
        int rc = chron_reader_next(r, &msgs[n]);
        if (rc < 0) return n > 0 ? n : rc;
        if (rc == 0) break;
        n++;
    }
    return n;
}

int chron_reader_ready(chron_reader_t *r) {
    if (chron_unlikely(!r)) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader");
    if (chron_unlikely(!r->base)) {
        int rc = try_attach(r);
        if (rc <= 0) return rc < 0 ? 1 : 0; /* an error is "ready": next() reports it */
    }
    const chron_rec_hdr_t *h = (const chron_rec_hdr_t *)(r->base + r->pos);
    return chron_load_acquire(&h->commit) != 0;
}

int chron_reader_wait(chron_reader_t *r, int64_t timeout_ns) {
    if (!r) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader");
    if (chron_reader_ready(r)) return 1;
    if (timeout_ns == 0) return 0;
    int64_t start = chron_monotonic_ns();
    int64_t deadline = timeout_ns < 0 ? INT64_MAX : start + timeout_ns;
    if (r->spin_ns > 0) {
        int64_t spin_end = start + r->spin_ns < deadline ? start + r->spin_ns : deadline;
        do {
            for (int i = 0; i < 32; i++) {
                if (chron_reader_ready(r)) return 1;
                chron_cpu_relax();
            }
        } while (chron_monotonic_ns() < spin_end);
    }
    for (;;) {
        uint64_t token = chron_sleep_announce(r->meta);
        if (chron_reader_ready(r)) {
            chron_sleep_withdraw(r->meta);
            return 1;
        }
        int64_t now = chron_monotonic_ns();
        if (now >= deadline) {
            chron_sleep_withdraw(r->meta);
            return 0;
        }
        int rc = chron_sleep(r->meta, token, deadline - now);
        chron_sleep_withdraw(r->meta);
        if (chron_reader_ready(r)) return 1;
        if (rc == CHRON_E_INTR) return chron_fail(CHRON_E_INTR, r->q.path, -1, "wait interrupted by a signal");
        if (chron_monotonic_ns() >= deadline) return 0;
    }
}

/* The wait above, split for a sleeper on another thread (the asyncio
 * binding): the owner announces itself and checks (begin), a helper thread
 * sleeps touching only the shared futex word (sleep), the owner withdraws
 * (end). Same Dekker pairing with the writer as chron_reader_wait. */
int chron_reader_wait_begin(chron_reader_t *r, uint64_t *token) {
    if (!r || !token) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader or token");
    if (chron_reader_ready(r)) return 1;
    *token = chron_sleep_announce(r->meta);
    if (chron_reader_ready(r)) {
        chron_sleep_withdraw(r->meta);
        return 1;
    }
    return 0;
}

int chron_reader_sleep(chron_reader_t *r, uint64_t token, int64_t timeout_ns) {
    if (!r) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader");
    int64_t deadline = timeout_ns < 0 ? INT64_MAX : chron_monotonic_ns() + timeout_ns;
    for (;;) {
        /* chron_sleep takes one slice at most; the announcement stays up
         * across slices, so no append can slip between them unnoticed */
        int64_t left = deadline == INT64_MAX ? -1 : deadline - chron_monotonic_ns();
        if (deadline != INT64_MAX && left <= 0) return 0;
        int rc = chron_sleep(r->meta, token, left);
        if (rc != 0 || chron_load_acquire(&r->meta->notify) != (uint32_t)token) return rc;
        if (token & CHRON_SLEEP_UNFENCED) return 0; /* the owner must re-check often */
    }
}

void chron_reader_wait_end(chron_reader_t *r) {
    if (r) chron_sleep_withdraw(r->meta);
}

void chron_reader_wake(chron_reader_t *r) {
    if (r) chron_wake_all(r->meta);
}

int chron_reader_unread(chron_reader_t *r, const chron_msg_t *msg) {
    if (!r || !msg) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader or message");
    if (!r->base || msg->segment != r->seg.index || msg->seq + 1 != r->next_seq ||
        msg->offset < CHRON_SEG_DATA_START + CHRON_REC_HDR ||
        msg->offset - CHRON_REC_HDR + chron_rec_size(msg->len) != r->pos)
        return chron_fail(CHRON_E_INVAL, r->q.path, -1, "only the last message returned can be unread");
    r->pos = msg->offset - CHRON_REC_HDR;
    r->next_seq = msg->seq;
    return 0;
}

int chron_reader_rewind(chron_reader_t *r, uint64_t seq, uint64_t segment, uint64_t payload_offset) {
    if (!r) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader");
    uint32_t len;
    const char *why;
    /* only back to a record of the mapped segment, and only one that checks */
    if (!r->base || segment != r->seg.index || seq >= r->next_seq || payload_offset < CHRON_REC_HDR ||
        chron_rec_check(r->base, r->size, payload_offset - CHRON_REC_HDR, seq, &len, &why) != 1)
        return chron_fail(CHRON_E_INVAL, r->q.path, (int64_t)seq,
                          "can only rewind to a message already returned from the current segment");
    r->pos = payload_offset - CHRON_REC_HDR;
    r->next_seq = seq;
    return 0;
}

int chron_reader_commit(chron_reader_t *r, int sync) {
    if (!r) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader");
    chron_pos_commit(&r->posf, r->next_seq, r->base ? r->seg.index : 0, r->base ? r->pos : 0);
    return sync ? chron_pos_sync(&r->posf) : 0;
}

int chron_reader_seek(chron_reader_t *r, uint64_t seq) {
    if (!r) return chron_fail(CHRON_E_INVAL, "", -1, "NULL reader");
    if (seq == CHRON_SEQ_UNSET) return chron_fail(CHRON_E_RANGE, r->q.path, -1, "seq out of range");
    int rc = locate(r, seq);
    if (rc == 0) {
        if (seq == 0) {
            r->next_seq = 0;
            return 0;
        }
        return chron_fail(CHRON_E_RANGE, r->q.path, (int64_t)seq, "seq %" PRIu64 " is beyond the end of an empty queue", seq);
    }
    return rc < 0 ? rc : 0;
}

uint64_t chron_reader_next_seq(const chron_reader_t *r) { return r ? r->next_seq : 0; }
int chron_reader_segment_fd(const chron_reader_t *r) { return r && r->base ? r->seg.fd : -1; }
uint64_t chron_reader_segment_size(const chron_reader_t *r) { return r && r->base ? r->size : 0; }

void chron_reader_close(chron_reader_t *r) {
    if (!r) return;
    chron_seg_unmap(&r->seg);
    chron_pos_close(&r->posf);
    chron_qdir_close(&r->q);
    free(r);
}

/* Resume a committed position: trust its hint when the record there agrees. */
static int resume(chron_reader_t *r, const chron_pos_slot_t *s) {
    chron_segmap_t seg;
    if (chron_seg_map(&r->q, s->segment, 0, &seg) == 0) {
        uint32_t len;
        const char *why;
        uint64_t b = chron_load_acquire(&chron_seg_hdr(&seg)->base_seq);
        int k = b != CHRON_SEQ_UNSET && b <= s->next_seq
                    ? chron_rec_check(seg.base, seg.size, s->offset, s->next_seq, &len, &why)
                    : -1;
        /* a valid record with the right seq, or the end marker; an unpublished
         * spot could be anywhere past the tail, so that case is located by scan */
        if (k == 1 || k == 2) {
            r->seen_epoch = chron_load_acquire(&r->meta->seg_epoch);
            use_segment(r, &seg, s->offset, s->next_seq);
            return 1;
        }
        chron_seg_unmap(&seg);
    }
    int rc = locate(r, s->next_seq);
    if (rc != CHRON_E_RANGE) return rc;
    /* position outside what is retained: retention took older segments, or
     * the queue was recreated. Start from what exists (documented). */
    rc = locate(r, 0);
    if (rc == CHRON_E_RANGE) {
        seginfo_t *v;
        size_t n;
        if ((rc = list_active(r, &v, &n)) < 0) return rc;
        uint64_t first = n ? v[0].base_seq : 0;
        free(v);
        rc = locate(r, first);
    }
    return rc;
}

int chron_reader_open(const char *dir, const char *name, const chron_reader_opts_t *opts,
                      chron_reader_t **out) {
    if (!out) return chron_fail(CHRON_E_INVAL, dir, -1, "NULL out pointer");
    *out = NULL;
    chron_reader_opts_t o = {CHRON_START_EARLIEST, 0, -1};
    if (opts) o = *opts;
    if (!chron_name_valid(name))
        return chron_fail(CHRON_E_INVAL, dir, -1,
                          "invalid reader name '%.80s': use 1-%d characters of A-Z a-z 0-9 _ . - , not starting with '.'",
                          name ? name : "(null)", CHRON_MAX_NAME_LEN);
    if (o.start != CHRON_START_EARLIEST && o.start != CHRON_START_LATEST)
        return chron_fail(CHRON_E_INVAL, dir, -1, "start must be earliest or latest");
    chron_reader_t *r = calloc(1, sizeof *r);
    if (!r) return chron_fail(-ENOMEM, dir, -1, "out of memory");
    r->seg.fd = -1;
    r->posf.fd = -1;
    r->q.dirfd = r->q.meta_fd = -1;
    r->spin_ns = o.spin_ns < 0 ? CHRON_DEFAULT_SPIN_NS : o.spin_ns;
    snprintf(r->name, sizeof r->name, "%s", name);
    int rc = chron_qdir_open(&r->q, dir, o.file_mode, 1);
    if (rc < 0) goto fail;
    r->meta = r->q.meta;
    if ((rc = chron_pos_open(&r->q, name, &r->posf)) < 0) goto fail;
    if (r->posf.have) rc = resume(r, &r->posf.slot);
    else if (o.start == CHRON_START_LATEST) rc = locate(r, CHRON_SEQ_UNSET);
    else {
        seginfo_t *v;
        size_t n;
        r->seen_epoch = chron_load_acquire(&r->meta->seg_epoch);
        if ((rc = list_active(r, &v, &n)) < 0) goto fail;
        uint64_t first = n ? v[0].base_seq : 0;
        free(v);
        r->next_seq = first;
        rc = n ? locate(r, first) : 0;
    }
    if (rc < 0) goto fail;
    *out = r;
    return 0;
fail:
    chron_reader_close(r);
    return rc;
}
