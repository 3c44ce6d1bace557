/*
 * atomics.h — every memory-ordering step of Chronicle goes through these
 * macros, so the protocol can be audited in one place.
 *
 * C11 7.17.3: a release store to an atomic object synchronizes-with an
 * acquire load that reads the value stored; every write sequenced before the
 * release store is then visible after the acquire load. That is the whole
 * commit protocol: the writer fills a record with plain stores and publishes
 * it with one release store of its commit word; a reader acquire-loads the
 * commit word and only then reads the record.
 */
#ifndef CHRON_ATOMICS_H
#define CHRON_ATOMICS_H

#include <stdatomic.h>
#include <stdint.h>

/* Publish: all earlier plain stores become visible with this one. */
#define chron_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
/* Observe: later plain loads see everything published before the value read. */
#define chron_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
/* No ordering needed: a hint, a counter read for a decision that is re-checked. */
#define chron_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define chron_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
/* Read-modify-write that is also a full barrier (a locked instruction on x86). */
#define chron_fetch_add_full(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define chron_fetch_sub_full(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_seq_cst)
/* StoreLoad barrier, used only where membarrier() is unavailable. */
#define chron_fence_full() atomic_thread_fence(memory_order_seq_cst)

#define chron_likely(x) __builtin_expect(!!(x), 1)
#define chron_unlikely(x) __builtin_expect(!!(x), 0)

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

#endif
