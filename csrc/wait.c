/*
 * wait.c — the sleeper side of the wake-up protocol, in one place.
 *
 * A reader that found nothing reads the meta's notify word, announces itself
 * (raises `wake_pending`, counts itself in `waiters`), makes a barrier in the
 * writer's process (membarrier), re-checks for data, then sleeps on notify
 * with the value it read. The writer, after each publishing store, loads
 * `wake_pending` and only if it is set clears it, bumps notify and wakes
 * every sleeper: an append with no new sleeper makes no system call, and a
 * burst of appends wakes a group of sleepers once, not once per append.
 *
 * membarrier() gives the Dekker pairing without a fence on the writer's path:
 * after it, either the reader sees the writer's record or the writer sees the
 * flag. Reading notify before raising the flag means a wake that consumed the
 * flag always changes notify after the sleeper read it, so its futex wait
 * returns at once instead of sleeping through it.
 *
 * A process killed in its sleep leaves the flag raised: the next append
 * makes one wake-up and clears it. `waiters` is only a hint for tools (a
 * killed sleeper leaves it one too high).
 */
#include "internal.h"

uint64_t chron_sleep_announce(chron_meta_t *m) {
    uint32_t seen = chron_load_acquire(&m->notify);
    chron_fetch_add_full(&m->waiters, 1);
    atomic_store(&m->wake_pending, 1); /* sequentially consistent */
    int fenced = chron_membarrier() == 0;
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
    uint32_t v = chron_load_relaxed(&m->waiters);
    while (v != 0 && !atomic_compare_exchange_weak(&m->waiters, &v, v - 1)) {
    }
}

void chron_wake_all(chron_meta_t *m) {
    atomic_store(&m->wake_pending, 0);
    chron_fetch_add_full(&m->notify, 1);
    chron_futex_wake_all(&m->notify);
}

void chron_wake_pending(chron_meta_t *m) {
    if (atomic_exchange(&m->wake_pending, 0)) {
        chron_fetch_add_full(&m->notify, 1);
        chron_futex_wake_all(&m->notify);
    }
}
