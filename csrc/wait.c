/*
 * wait.c — the sleeper side of the wake-up protocol, in one place.
 *
 * A reader that found nothing announces itself (waiters++), makes a barrier
 * in the writer's process (membarrier), re-checks for data, then sleeps on
 * the meta's notify word. The writer, after each publishing store, loads
 * `waiters` and wakes only if it is nonzero: an append with no sleeper makes
 * no system call. membarrier() gives the Dekker pairing without a fence on
 * the writer's path: after it, either the reader sees the writer's record or
 * the writer sees the reader's announcement.
 *
 * A process killed in its sleep never withdraws. Sleepers therefore sleep in
 * slices of at most CHRON_SLEEP_SLICE_NS and stamp `sleep_beat` each time
 * they announce. When a wake finds nobody asleep and no sleeper announced
 * itself for ten slices, the count can only be left over from the dead, and
 * the writer clears it, so appends stop making system calls again.
 */
#include "internal.h"

uint64_t chron_sleep_announce(chron_meta_t *m) {
    atomic_store(&m->sleep_beat, chron_monotonic_ns());
    chron_fetch_add_full(&m->waiters, 1);
    int fenced = chron_membarrier() == 0;
    uint32_t seen = chron_load_acquire(&m->notify);
    return seen | (fenced ? 0 : CHRON_SLEEP_UNFENCED);
}

int chron_sleep(chron_meta_t *m, uint64_t token, int64_t timeout_ns) {
    int64_t limit = CHRON_SLEEP_SLICE_NS;
    /* without the barrier a wake-up can be missed: bound the sleep tighter */
    if (token & CHRON_SLEEP_UNFENCED) limit = 1000000;
    if (timeout_ns < 0 || timeout_ns > limit) timeout_ns = limit;
    return chron_futex_wait(&m->notify, (uint32_t)token, timeout_ns);
}

void chron_sleep_withdraw(chron_meta_t *m) {
    /* a count the writer already cleared must not wrap below zero */
    uint32_t v = chron_load_relaxed(&m->waiters);
    while (v != 0 && !atomic_compare_exchange_weak(&m->waiters, &v, v - 1)) {
    }
}

void chron_wake_sleepers(chron_meta_t *m) {
    chron_fetch_add_full(&m->notify, 1);
    if (chron_futex_wake_all(&m->notify) != 0) return;
    uint32_t v = chron_load_acquire(&m->waiters);
    int64_t quiet = chron_monotonic_ns() - atomic_load(&m->sleep_beat);
    /* a new announcement changes `waiters`, so the exchange fails safely */
    if (v != 0 && quiet > 10 * CHRON_SLEEP_SLICE_NS) atomic_compare_exchange_strong(&m->waiters, &v, 0);
}
