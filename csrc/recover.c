/*
 * recover.c — finding the end of a queue when a publisher opens it.
 *
 * The previous publisher may have died at any instant, or the machine may
 * have lost its last pages. The active segment is the highest one the writer
 * activated (base_seq set). Its records are walked from the start: the first
 * one that is unpublished, torn or fails its checksum or sequence is the
 * tail. Everything after the tail is wiped to zero before anything new is
 * published there, because stale bytes could otherwise be read as a commit
 * word by a reader that gets there first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

void chron_seg_activate(chron_qdir_t *q, chron_segmap_t *s, uint64_t base_seq) {
    chron_store_release(&chron_seg_hdr(s)->base_seq, base_seq);
    chron_fetch_add_full(&q->meta->seg_epoch, 1);
}

static int bad_base(chron_qdir_t *q, uint64_t index, uint64_t base, const char *what, uint64_t seq) {
    char name[40], path[CHRON_PATH_MAX];
    chron_seg_name(index, name, sizeof name);
    chron_qdir_file(q, name, path, sizeof path);
    return chron_fail(CHRON_E_CORRUPT, path, 56, "segment starts at seq %" PRIu64 ", but %s seq %" PRIu64
                      " (damaged header?)", base, what, seq);
}

/* A publisher that died mid-roll activated segment `index` but never sealed
 * the one before it: seal it at its tail, or readers wait there forever.
 * The segment before must end at `base`, where `index` starts: a damaged
 * base seq would otherwise leave a gap or repeat seqs (CHRON_E_CORRUPT).
 * A damaged record in the segment before is left for readers to report.
 * Sets *wiped to the bytes wiped after the seal (a torn record). */
static int seal_previous(chron_qdir_t *q, uint64_t index, uint64_t base, uint64_t *wiped) {
    chron_segmap_t p;
    *wiped = 0;
    if (index == 0) return base == 0 ? 0 : bad_base(q, index, base, "the first segment starts at", 0);
    if (chron_seg_map(q, index - 1, 1, &p) < 0) return 0; /* retired or unusable */
    uint64_t b = chron_load_acquire(&chron_seg_hdr(&p)->base_seq);
    chron_scan_t sc;
    int rc = 0;
    if (b != CHRON_SEQ_UNSET) {
        chron_scan(p.base, p.size, CHRON_SEG_DATA_START, b, UINT64_MAX, UINT64_MAX, &sc);
        if (sc.end != CHRON_SCAN_BAD && sc.next_seq != base) {
            rc = bad_base(q, index, base, "the segment before ends at", sc.next_seq);
        } else if (sc.end == CHRON_SCAN_EMPTY) {
            *wiped = chron_zero_range(p.base, sc.pos + CHRON_REC_HDR, p.size);
            chron_store_release(&((chron_rec_hdr_t *)(p.base + sc.pos))->commit, CHRON_COMMIT_EOS);
        }
    }
    chron_seg_unmap(&p);
    return rc;
}

int chron_recover(chron_qdir_t *q, uint64_t seg_size, chron_tail_t *tail, chron_segmap_t *seg) {
    uint64_t *idx = NULL;
    size_t n = 0;
    int rc = chron_seg_list(q, &idx, &n);
    if (rc < 0) return rc;
    tail->dropped_bytes = tail->dropped_segments = 0;
    seg->base = NULL;
    seg->fd = -1;

    /* the highest activated segment; unactivated ones above it were made ahead */
    size_t h = n;
    while (h > 0) {
        chron_segmap_t s;
        if ((rc = chron_seg_map(q, idx[h - 1], 1, &s)) < 0) goto out;
        if (chron_load_acquire(&chron_seg_hdr(&s)->base_seq) != CHRON_SEQ_UNSET) {
            *seg = s;
            break;
        }
        chron_seg_unmap(&s);
        h--;
    }
    if (h == 0) {
        /* a new queue (or one whose first segment was made but never used) */
        uint64_t first = n ? idx[0] : 0;
        if (first != 0) {
            rc = chron_fail(CHRON_E_CORRUPT, q->path, -1,
                            "no segment was ever activated, yet the first is %" PRIu64, first);
            goto out;
        }
        if ((rc = chron_seg_prepare(q, 0, seg_size, seg)) < 0) goto out;
        chron_seg_activate(q, seg, 0);
        tail->segment = 0;
        tail->pos = CHRON_SEG_DATA_START;
        tail->next_seq = 0;
        goto out;
    }

    chron_seg_hdr_t *hdr = chron_seg_hdr(seg);
    chron_scan_t sc;
    chron_scan(seg->base, seg->size, CHRON_SEG_DATA_START, chron_load_relaxed(&hdr->base_seq),
               UINT64_MAX, UINT64_MAX, &sc);
    uint64_t base = chron_load_relaxed(&hdr->base_seq), sealed_wiped = 0;
    const chron_rec_hdr_t *first = (const chron_rec_hdr_t *)(seg->base + CHRON_SEG_DATA_START);
    uint32_t len;
    const char *why;
    /* an intact first record with another seq: the base seq is damaged, and
     * cutting the segment there would drop every record in it */
    if (sc.count == 0 && sc.end == CHRON_SCAN_BAD && first->seq != base &&
        chron_rec_check(seg->base, seg->size, CHRON_SEG_DATA_START, first->seq, &len, &why) == 1) {
        rc = bad_base(q, seg->index, base, "its first record has", first->seq);
        goto out;
    }
    /* a roll seals the old segment before the first append to the new one,
     * so only an empty active segment can follow an unsealed one */
    if (sc.count == 0 && (rc = seal_previous(q, seg->index, base, &sealed_wiped)) < 0) goto out;
    if (sc.end == CHRON_SCAN_EOS) {
        /* sealed: the writer died between sealing and its first append in the next */
        uint64_t next = seg->index + 1;
        chron_seg_unmap(seg);
        if ((rc = chron_seg_prepare(q, next, seg_size, seg)) < 0) goto out;
        chron_seg_activate(q, seg, sc.next_seq);
        tail->segment = next;
        tail->pos = CHRON_SEG_DATA_START;
        tail->next_seq = sc.next_seq;
        goto out;
    }
    tail->segment = seg->index;
    tail->pos = sc.pos;
    tail->next_seq = sc.next_seq;
    tail->dropped_bytes = sealed_wiped + chron_zero_range(seg->base, sc.pos, seg->size);
out:
    free(idx);
    if (rc < 0) chron_seg_unmap(seg);
    return rc;
}
