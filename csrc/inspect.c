/*
 * inspect.c — read-only walks over segment bytes, for the operator tools.
 *
 * The tools (verify, tail, export, stats) map segment files themselves and
 * hand the bytes here, so that checking millions of records costs no Python
 * per record. Every record goes through chron_rec_check, the same bounds-,
 * seq- and checksum-checked parser the reader uses; nothing here writes to a
 * segment. chron_tail_wait lets a tool sleep like a subscriber does without
 * owning a named reader (and so without a position file).
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

_Static_assert(CHRON_WALK_TAIL == (int)CHRON_SCAN_EMPTY && CHRON_WALK_EOS == (int)CHRON_SCAN_EOS &&
                   CHRON_WALK_BAD == (int)CHRON_SCAN_BAD && CHRON_WALK_FULL == (int)CHRON_SCAN_FULL &&
                   CHRON_WALK_LIMIT == (int)CHRON_SCAN_LIMIT,
               "walk ends match scan ends");
_Static_assert(sizeof(chron_rec_info_t) == 32, "record info is 32 bytes (the tools unpack it)");

uint64_t chron_walk(const void *base, uint64_t size, uint64_t pos, uint64_t seq,
                    uint64_t max_records, chron_rec_info_t *recs, chron_walk_t *out) {
    chron_scan_t sc;
    chron_scan_records(base, size, pos, seq, max_records, UINT64_MAX, recs, &sc);
    out->pos = sc.pos;
    out->next_seq = sc.next_seq;
    out->count = sc.count;
    out->first_ts = sc.first_ts;
    out->last_ts = sc.last_ts;
    out->end = (int)sc.end;
    out->why = sc.why ? sc.why : "";
    return sc.count;
}

uint64_t chron_nonzero_end(const void *base, uint64_t from, uint64_t to) {
    const uint8_t *b = base;
    /* word-wise from the end: a mostly zeroed segment is scanned at memory speed */
    while (to > from && to % 8) {
        if (b[to - 1]) return to;
        to--;
    }
    while (to >= from + 8) {
        uint64_t w;
        memcpy(&w, b + to - 8, 8);
        if (w) break;
        to -= 8;
    }
    while (to > from && !b[to - 1]) to--;
    return to;
}

int chron_tail_wait(void *meta, const void *commit_word, int64_t timeout_ns) {
    chron_meta_t *m = meta;
    const _Atomic uint32_t *word = commit_word;
    if (word && chron_load_acquire(word) != 0) return 1;
    if (timeout_ns <= 0) return 0;
    /* the subscribers' protocol (wait.c): announce, re-check, sleep, withdraw */
    uint64_t token = chron_sleep_announce(m);
    if (word && chron_load_acquire(word) != 0) {
        chron_sleep_withdraw(m);
        return 1;
    }
    int rc = chron_sleep(m, token, timeout_ns);
    chron_sleep_withdraw(m);
    if (word && chron_load_acquire(word) != 0) return 1;
    if (rc == CHRON_E_INTR) return CHRON_E_INTR;
    return chron_load_acquire(&m->notify) != (uint32_t)token ? 1 : 0;
}
