/*
 * chronicle.h — the public C API of Chronicle, a persisted, memory-mapped,
 * single-writer / many-reader message queue for processes on one host.
 *
 * Every exported name starts with chron_ / CHRON_. Handles are opaque.
 * Functions return 0 (or a non-negative result) on success and a negative
 * code on failure: -errno for operating-system failures, or one of the
 * CHRON_E_* codes below. After a failure, chron_errmsg() describes it in the
 * calling thread (file, offset, pid where they apply).
 *
 * Flow results are not errors: chron_reader_next() returns 0 for "no message
 * yet" and chron_reader_wait() returns 0 for "timed out".
 *
 * Caveats (read before use):
 *  - Segments are mapped with mmap. Truncating a segment file while it is
 *    mapped (by hand, or by another program) raises SIGBUS in the processes
 *    that map it; Chronicle's own tools never shrink a segment file.
 *  - A handle belongs to the process that opened it. After fork() the child
 *    must not use its parent's handles; it opens its own.
 *  - A handle may be used by one thread at a time. Different handles may be
 *    used from different threads concurrently.
 *  - Durability: an append is visible to readers and survives the death of the
 *    writing process as soon as chron_append returns. It survives a power
 *    loss only after chron_writer_flush().
 */
#ifndef CHRONICLE_H
#define CHRONICLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHRON_VERSION_MAJOR 0
#define CHRON_VERSION_MINOR 1

/* Error codes, apart from the -errno range (errno values stay below 4096). */
#define CHRON_E_INVAL     (-20001) /* bad argument (type id, name, size, state) */
#define CHRON_E_TOOBIG    (-20002) /* payload can never fit in one segment */
#define CHRON_E_LOCKED    (-20003) /* another live process holds the lock */
#define CHRON_E_CORRUPT   (-20004) /* a file does not hold what the format says */
#define CHRON_E_VERSION   (-20005) /* a file has an unknown format version */
#define CHRON_E_RANGE     (-20006) /* seek target outside the retained seqs */
#define CHRON_E_INTR      (-20007) /* a wait was interrupted by a signal */
#define CHRON_E_RETIRED   (-20008) /* the segment a reader needs was deleted */

/* Limits and defaults. */
#define CHRON_DEFAULT_SEGMENT_SIZE (128ull << 20)
#define CHRON_MIN_SEGMENT_SIZE     (64ull << 10)
#define CHRON_MAX_SEGMENT_SIZE     (1ull << 40)
#define CHRON_MAX_NAME_LEN         64
#define CHRON_DEFAULT_SPIN_NS      10000
#define CHRON_DEFAULT_FILE_MODE    0600

/* Where a reader with no committed position starts. */
#define CHRON_START_EARLIEST 0
#define CHRON_START_LATEST   1

typedef struct chron_writer chron_writer_t;
typedef struct chron_reader chron_reader_t;

/* Options for chron_writer_open; zero-initialise for defaults. */
typedef struct chron_writer_opts {
    uint64_t segment_size; /* used only when the queue is created; 0 = default */
    uint32_t file_mode;    /* mode of created files; 0 = 0600 (dirs get +x) */
    uint32_t flags;        /* reserved, must be 0 */
} chron_writer_opts_t;

/* Options for chron_reader_open; zero-initialise for defaults. */
typedef struct chron_reader_opts {
    int start;          /* CHRON_START_EARLIEST or CHRON_START_LATEST */
    uint32_t file_mode; /* mode of created files; 0 = 0600 */
    int64_t spin_ns;    /* busy-wait before sleeping; <0 = default, 0 = none */
} chron_reader_opts_t;

/* One message, as returned by chron_reader_next. The payload points into the
 * reader's mapping of the segment; it stays valid until the reader moves to
 * another segment (chron_reader_next past the segment end, chron_reader_seek,
 * chron_reader_close). */
typedef struct chron_msg {
    uint64_t seq;
    int64_t timestamp_ns;     /* writer's CLOCK_REALTIME at append, ns */
    const uint8_t *payload;
    uint32_t len;
    uint32_t type_id;
    uint64_t segment;         /* index of the segment holding it */
    uint64_t offset;          /* byte offset of its payload in that segment */
} chron_msg_t;

/* ---- errors ------------------------------------------------------------ */

/* Message of the last failure in this thread ("" if none). Owned by the
 * library; valid until the next failing call in this thread. */
const char *chron_errmsg(void);
/* Code of the last failure in this thread (0 if none). */
int chron_errcode(void);
/* Name of the core function where the last failure in this thread arose. */
const char *chron_errfunc(void);
/* Path involved in the last failure in this thread ("" if none). */
const char *chron_errpath(void);
/* Extra detail of the last failure: the holder's pid for CHRON_E_LOCKED,
 * the byte offset for CHRON_E_CORRUPT, otherwise -1. */
int64_t chron_errdetail(void);
/* Static description of a code (CHRON_E_* or -errno). */
const char *chron_strerror(int code);

/* ---- writer ------------------------------------------------------------ */

/* Open the single publisher of the queue in directory `dir`, creating the
 * directory and queue if absent. If a previous publisher died, recovers the
 * tail (keeps every intact record, drops a torn or corrupt rest) and
 * continues the sequence. On success stores a handle in *out that the caller
 * must release with chron_writer_close. On failure *out is NULL; a second
 * live publisher gets CHRON_E_LOCKED and chron_errdetail() is its pid. */
int chron_writer_open(const char *dir, const chron_writer_opts_t *opts,
                      chron_writer_t **out);

/* Append one message. Returns its seq (>= 0) or a negative code; a failed
 * call writes nothing. type_id must be 0..65535. No system call, allocation
 * or lock except when the append rolls to a new segment, or wakes a reader
 * that is asleep. */
int64_t chron_append(chron_writer_t *w, int type_id, const void *payload,
                     size_t len);

/* Append n messages with one call. payloads[i] has lens[i] bytes; type_ids
 * may be NULL (then every message has type id `type_id`). All-or-nothing on
 * bad arguments (checked before anything is written). Returns the seq of the
 * first message, or a negative code. */
int64_t chron_append_many(chron_writer_t *w, int type_id, const int *type_ids,
                          const void *const *payloads, const size_t *lens,
                          size_t n);

/* Append n messages of `stride` bytes each, laid out back to back from
 * `base` (the rows of an array), all with type id `type_id`. */
int64_t chron_append_rows(chron_writer_t *w, int type_id, const void *base,
                          size_t stride, size_t n);

/* Largest payload this writer accepts. */
uint64_t chron_writer_max_payload(const chron_writer_t *w);
/* Bytes of a torn or corrupt tail that recovery wiped when this writer
 * opened the queue (0 after a clean shutdown or a clean crash). */
uint64_t chron_writer_dropped_bytes(const chron_writer_t *w);
/* Seq the next append will get. */
uint64_t chron_writer_next_seq(const chron_writer_t *w);
/* msync the written part of the active segment: synchronously (durable on
 * return) or, with async != 0, schedule the write-back. */
int chron_writer_flush(chron_writer_t *w, int async);
/* Flush nothing, release the lock and every mapping, free the handle.
 * Accepts NULL. */
void chron_writer_close(chron_writer_t *w);

/* ---- reader ------------------------------------------------------------ */

/* Open a named reader of the queue in `dir`, creating an empty queue if none
 * exists. The name is 1..64 characters of [A-Za-z0-9_.-], not starting with
 * '.'. A name with a committed position resumes right after it; otherwise
 * opts->start applies. A second live reader of the same name gets
 * CHRON_E_LOCKED. Release with chron_reader_close. */
int chron_reader_open(const char *dir, const char *name,
                      const chron_reader_opts_t *opts, chron_reader_t **out);

/* Read the next message into *msg: 1 = a message, 0 = none yet, <0 = error
 * (CHRON_E_CORRUPT for a record whose framing or checksum fails: the reader
 * stays on it and never returns it). Never blocks. */
int chron_reader_next(chron_reader_t *r, chron_msg_t *msg);

/* Read up to max messages into msgs[0..]: returns how many (>= 0), or an
 * error if the very first one failed. Messages may span a segment roll only
 * as far as the first message of the new segment: every payload returned by
 * one call lies in the same segment, reported in msgs[i].segment. */
int chron_reader_next_batch(chron_reader_t *r, chron_msg_t *msgs, int max);

/* 1 if a message (or a segment roll) is ready without waiting, else 0. */
int chron_reader_ready(chron_reader_t *r);

/* Wait until a message is ready: spin for spin_ns, then sleep on the queue's
 * futex (ulock on macOS) until woken or timeout_ns passes (<0 = no limit).
 * Returns 1 ready, 0 timed out, CHRON_E_INTR if a signal arrived. */
int chron_reader_wait(chron_reader_t *r, int64_t timeout_ns);

/* Persist the position after the last message returned, so that a reader of
 * the same name reopened later starts right after it. Crash-safe at any
 * instant (two alternating checksummed slots). With sync != 0 also msync the
 * position file (survives power loss). */
int chron_reader_commit(chron_reader_t *r, int sync);

/* Position the reader so the next message returned is `seq`. Returns
 * CHRON_E_RANGE if seq is beyond the end (seq == next to be written is
 * allowed) or before the first retained message. */
int chron_reader_seek(chron_reader_t *r, uint64_t seq);

/* Move the reader back to a message it already returned from its current
 * segment (seq, msg.segment and msg.offset of that message), so that it is
 * returned again. CHRON_E_INVAL for anything else. */
int chron_reader_rewind(chron_reader_t *r, uint64_t seq, uint64_t segment, uint64_t payload_offset);
/* Seq of the next message this reader will return. */
uint64_t chron_reader_next_seq(const chron_reader_t *r);
/* File descriptor of the reader's current segment, or -1 if none. Owned by
 * the reader; callers that map it themselves must dup it. */
int chron_reader_segment_fd(const chron_reader_t *r);
/* Size in bytes of the reader's current segment mapping (0 if none). */
uint64_t chron_reader_segment_size(const chron_reader_t *r);
/* Close the reader and release every mapping. Accepts NULL. */
void chron_reader_close(chron_reader_t *r);

/* Step back over msg, the message the last chron_reader_next returned, so
 * that the next read returns it again (a read that went one too far).
 * CHRON_E_INVAL if msg is not that message. */
int chron_reader_unread(chron_reader_t *r, const chron_msg_t *msg);

/* chron_reader_wait split in three, for sleeping on a thread other than the
 * reader's (event loops). The reader's thread calls wait_begin: 1 = a
 * message is ready; 0 = registered as a waiter, *token filled, and it must
 * call wait_end once. Between the two, any thread may call chron_reader_sleep
 * with the token: it touches only the queue's shared metadata, so the
 * reader's thread may keep using the reader meanwhile (not close it). It
 * returns 0 when woken, when the queue changed since wait_begin or on
 * timeout (<0 = no limit), CHRON_E_INTR on a signal: the caller re-checks.
 * Without membarrier it returns within 1 ms, as the owner must re-check.
 * chron_reader_wake, from any thread, ends every such sleep on this queue
 * in this process (it wakes other processes' sleepers too; they re-check). */
int chron_reader_wait_begin(chron_reader_t *r, uint64_t *token);
int chron_reader_sleep(chron_reader_t *r, uint64_t token, int64_t timeout_ns);
void chron_reader_wait_end(chron_reader_t *r);
void chron_reader_wake(chron_reader_t *r);

/* ---- utilities ----------------------------------------------------------- */

/* CRC32C (Castagnoli) of buf, continuing from crc (start with 0). */
uint32_t chron_crc32c(uint32_t crc, const void *buf, size_t len);
/* The writer's clock: CLOCK_REALTIME in ns, read as the writer reads it. */
int64_t chron_realtime_ns(void);
/* 1 if `name` is a valid reader or bus name, else 0. */
int chron_name_valid(const char *name);
/* 1 if a live publisher holds the queue at `dir` (its pid in *pid), 0 if
 * none, <0 on error. */
int chron_writer_alive(const char *dir, int64_t *pid);

/* ---- inspection (inspect.c): read-only walks for the operator tools ------ */

/* Why chron_walk stopped. */
#define CHRON_WALK_TAIL  0 /* an unpublished (zero) commit word: the live end */
#define CHRON_WALK_EOS   1 /* the end-of-segment marker */
#define CHRON_WALK_BAD   2 /* a record failing framing, seq or checksum */
#define CHRON_WALK_FULL  3 /* the end of the bytes without a marker */
#define CHRON_WALK_LIMIT 4 /* max_records reached */

/* One valid record found by chron_walk. */
typedef struct chron_rec_info {
    uint64_t seq;
    int64_t timestamp_ns;
    uint64_t offset;   /* of the record header; the payload follows 32 bytes on */
    uint32_t len;      /* payload length */
    uint32_t type_id;
} chron_rec_info_t;

typedef struct chron_walk {
    uint64_t pos;            /* offset where the walk stopped */
    uint64_t next_seq;       /* seq expected at pos */
    uint64_t count;          /* valid records passed */
    int64_t first_ts, last_ts; /* of the first and last valid record; -1 if none */
    int end;                 /* CHRON_WALK_* */
    const char *why;         /* for CHRON_WALK_BAD: what failed (static) */
} chron_walk_t;

/* Walk the valid records of the segment bytes [base, base+size) from offset
 * `pos`, expecting seq `seq`, at most max_records of them. If recs is not
 * NULL it receives one entry per record (room for max_records). Never reads
 * outside the range. Returns out->count. */
uint64_t chron_walk(const void *base, uint64_t size, uint64_t pos, uint64_t seq,
                    uint64_t max_records, chron_rec_info_t *recs, chron_walk_t *out);
/* Offset just past the last nonzero byte of [from, to), or `from` if none. */
uint64_t chron_nonzero_end(const void *base, uint64_t from, uint64_t to);
/* Sleep as a subscriber does, without a named reader: until the commit word
 * at `commit_word` (inside the caller's mapping of a segment; may be NULL) is
 * nonzero, the publisher signals the queue, or timeout_ns passes. `meta` is a
 * writable shared mapping of the queue's queue.meta. Returns 1 when something
 * may have changed (re-check), 0 on timeout, CHRON_E_INTR on a signal. */
int chron_tail_wait(void *meta, const void *commit_word, int64_t timeout_ns);

/* ---- batches (batch.c) ---------------------------------------------------- */

/* chron_append_many over payloads packed back to back from `base`:
 * message i has lens[i] bytes; the lengths must add up to `total`. */
int64_t chron_append_packed(chron_writer_t *w, int type_id, const void *base,
                            const size_t *lens, size_t n, size_t total);

/* With CHRON_READ_SKIP_OTHERS, chron_reader_read_fixed passes over
 * (consumes) messages of other types instead of stopping before them. */
#define CHRON_READ_SKIP_OTHERS 1u

/* Read up to max messages of exactly record_size payload bytes, copying
 * the payloads back to back into `records` (room for max * record_size
 * bytes) and the seqs, timestamps and type ids into the arrays that are
 * not NULL (room for max each). type_id >= 0 selects one type; -1 any.
 * Stops when no message is ready, before seq end_seq (UINT64_MAX = no
 * end), before a message of another type (unless skipped, see flags) and
 * before a selected message of another size. Returns how many were stored
 * (>= 0), or an error if nothing was: CHRON_E_INVAL when the next selected
 * message has another size, or what chron_reader_next returned (e.g.
 * CHRON_E_CORRUPT). Either way the reader stays before that message. Every
 * record is read through chron_reader_next, checksum included. */
int64_t chron_reader_read_fixed(chron_reader_t *r, int type_id, unsigned flags,
                                size_t record_size, uint64_t end_seq, void *records,
                                uint64_t *seqs, int64_t *timestamps, uint16_t *type_ids,
                                size_t max);

#ifdef __cplusplus
}
#endif
#endif /* CHRONICLE_H */
