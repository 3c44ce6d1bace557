/*
 * format.h — the on-disk format, byte by byte (docs/FORMAT.md says the same
 * in prose). All integers are little-endian; the structs below are the files.
 */
#ifndef CHRON_FORMAT_H
#define CHRON_FORMAT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "atomics.h"
#include "chronicle.h"
#include "crc32c.h"

#define CHRON_FORMAT_VERSION 1

#define CHRON_META_MAGIC 0x4d514843u /* "CHQM" */
#define CHRON_SEG_MAGIC  0x53514843u /* "CHQS" */
#define CHRON_POS_MAGIC  0x50514843u /* "CHQP" */
#define CHRON_LOCK_MAGIC 0x4c514843u /* "CHQL" */

#define CHRON_META_FILE   "queue.meta"
#define CHRON_LOCK_FILE   "writer.lock"
#define CHRON_READERS_DIR "readers"
#define CHRON_SEG_SUFFIX  ".seg"
#define CHRON_POS_SUFFIX  ".pos"
#define CHRON_SEG_NAME_DIGITS 20 /* "%020llu.seg" */

#define CHRON_CACHE_LINE 64

/* ---- queue.meta: 4096 bytes, mapped shared by the writer and readers ---- */
typedef struct chron_meta {
    /* immutable header, written once at creation */
    uint32_t magic;         /* 0   CHRON_META_MAGIC */
    uint16_t version;       /* 4   CHRON_FORMAT_VERSION */
    uint16_t header_size;   /* 6   sizeof(chron_meta_t) */
    uint8_t queue_id[16];   /* 8   random identity of this queue */
    int64_t created_ns;     /* 24  CLOCK_REALTIME at creation */
    uint32_t file_mode;     /* 32  mode of files created in the queue */
    uint32_t reserved0[6];  /* 36  zero */
    uint32_t header_crc;    /* 60  CRC32C of bytes 0..59 */
    /* shared state, each on its own cache line */
    _Atomic uint64_t segment_size;   /* 64  fixed by the first publisher (0 = not yet) */
    uint8_t pad1[CHRON_CACHE_LINE - 8];
    _Atomic uint64_t seg_epoch;      /* 128 bumped whenever a segment is activated */
    uint8_t pad2[CHRON_CACHE_LINE - 8];
    _Atomic uint32_t notify;         /* 192 futex word: bumped to wake sleepers */
    uint8_t pad3[CHRON_CACHE_LINE - 4];
    _Atomic uint32_t waiters;        /* 256 readers asleep or about to sleep (a hint) */
    _Atomic uint32_t wake_pending;   /* 260 1: a sleeper announced itself since the last wake */
    uint8_t pad4[CHRON_CACHE_LINE - 8];
    _Atomic int64_t writer_pid;      /* 320 pid of the last publisher (informational) */
    _Atomic uint64_t writer_epoch;   /* 328 count of publisher opens */
    uint8_t pad5[4096 - 336];
} chron_meta_t;

/* ---- NNNNNNNNNNNNNNNNNNNN.seg: segment_size bytes, preallocated ---- */
#define CHRON_SEQ_UNSET UINT64_MAX
/* Largest base seq a segment may carry: seqs stay far below INT64_MAX, so
 * chron_append's int64 result is never mistaken for an error code. */
#define CHRON_MAX_BASE_SEQ (1ull << 62)
typedef struct chron_seg_hdr {
    uint32_t magic;          /* 0  CHRON_SEG_MAGIC */
    uint16_t version;        /* 4  CHRON_FORMAT_VERSION */
    uint16_t header_size;    /* 6  sizeof(chron_seg_hdr_t) = 64 */
    uint64_t index;          /* 8  segment number (also in the file name) */
    uint64_t segment_size;   /* 16 size of this file in bytes */
    uint8_t queue_id[16];    /* 24 identity of the queue it belongs to */
    int64_t created_ns;      /* 40 CLOCK_REALTIME at creation */
    uint32_t reserved;       /* 48 zero */
    uint32_t header_crc;     /* 52 CRC32C of bytes 0..51 */
    _Atomic uint64_t base_seq; /* 56 seq of its first record once the writer
                                  activated it; CHRON_SEQ_UNSET before */
} chron_seg_hdr_t;

/* ---- record: 32-byte header + payload, padded to 8 bytes ---- */
#define CHRON_COMMIT_MSG  0x80000000u  /* commit = MSG | payload length */
#define CHRON_COMMIT_EOS  0xFFFFFFFFu  /* end of segment: continue in the next */
#define CHRON_COMMIT_LEN_MASK 0x7FFFFFFFu
#define CHRON_MAX_PAYLOAD 0x7FFFFFF0u
#define CHRON_REC_ALIGN 8

typedef struct chron_rec_hdr {
    _Atomic uint32_t commit; /* 0  0 = not published; written last, release */
    uint32_t crc;            /* 4  CRC32C of commit value, bytes 8..31, payload */
    uint64_t seq;            /* 8  */
    int64_t timestamp_ns;    /* 16 */
    uint16_t type_id;        /* 24 */
    uint16_t reserved16;     /* 26 zero */
    uint32_t reserved32;     /* 28 zero */
} chron_rec_hdr_t;

/* ---- readers/<name>.pos: two alternating checksummed slots ---- */
typedef struct chron_pos_slot {
    uint64_t generation;     /* higher = newer; 0 = never written */
    uint64_t next_seq;       /* seq of the next message to deliver */
    uint64_t segment;        /* hint: segment holding next_seq */
    uint64_t offset;         /* hint: byte offset of next_seq's record */
    int64_t committed_ns;    /* CLOCK_REALTIME of the commit */
    uint32_t reserved;
    uint32_t crc;            /* CRC32C of the 44 bytes above */
    uint8_t pad[CHRON_CACHE_LINE - 48];
} chron_pos_slot_t;

typedef struct chron_pos_file {
    uint32_t magic;          /* 0  CHRON_POS_MAGIC */
    uint16_t version;        /* 4 */
    uint16_t header_size;    /* 6  sizeof(chron_pos_file_t) */
    int64_t created_ns;      /* 8 */
    int64_t pid;             /* 16 pid of the last process that opened it */
    uint8_t pad[CHRON_CACHE_LINE - 24];
    chron_pos_slot_t slot[2]; /* 64, 128 */
} chron_pos_file_t;

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the format is little-endian");
_Static_assert(sizeof(chron_meta_t) == 4096, "meta is one page");
_Static_assert(offsetof(chron_meta_t, segment_size) == 64, "meta layout");
_Static_assert(offsetof(chron_meta_t, seg_epoch) == 128, "meta layout");
_Static_assert(offsetof(chron_meta_t, notify) == 192, "meta layout");
_Static_assert(offsetof(chron_meta_t, waiters) == 256, "meta layout");
_Static_assert(offsetof(chron_meta_t, wake_pending) == 260, "meta layout");
_Static_assert(offsetof(chron_meta_t, writer_pid) == 320, "meta layout");
_Static_assert(sizeof(chron_seg_hdr_t) == 64, "segment header is 64 bytes");
_Static_assert(offsetof(chron_seg_hdr_t, base_seq) == 56, "segment layout");
_Static_assert(sizeof(chron_rec_hdr_t) == 32, "record header is 32 bytes");
_Static_assert(offsetof(chron_rec_hdr_t, type_id) == 24, "record layout");
_Static_assert(sizeof(chron_pos_slot_t) == 64, "position slot is a cache line");
_Static_assert(sizeof(chron_pos_file_t) == 192, "position file is 192 bytes");
_Static_assert(sizeof(_Atomic uint32_t) == 4 && sizeof(_Atomic uint64_t) == 8,
               "atomics have the size of their plain types");

#define CHRON_SEG_DATA_START ((uint64_t)sizeof(chron_seg_hdr_t))
#define CHRON_REC_HDR ((uint64_t)sizeof(chron_rec_hdr_t))

static inline uint64_t chron_rec_size(uint64_t len) {
    return CHRON_REC_HDR + ((len + (CHRON_REC_ALIGN - 1)) & ~(uint64_t)(CHRON_REC_ALIGN - 1));
}

/* Largest payload a segment of `segment_size` bytes can hold: the segment
 * header, the record, and room for the end-of-segment marker. */
static inline uint64_t chron_max_payload_for(uint64_t segment_size) {
    uint64_t room = segment_size - CHRON_SEG_DATA_START - 2 * CHRON_REC_HDR;
    room &= ~(uint64_t)(CHRON_REC_ALIGN - 1);
    return room < CHRON_MAX_PAYLOAD ? room : CHRON_MAX_PAYLOAD;
}

/* ---- parsing (format.c): pure functions over memory, fuzzed ---- */

/* Why a scan stopped. */
typedef enum {
    CHRON_SCAN_EMPTY = 0,   /* an unpublished (zero) commit word: the live tail */
    CHRON_SCAN_EOS = 1,     /* an end-of-segment marker */
    CHRON_SCAN_BAD = 2,     /* a record that fails framing, seq or checksum */
    CHRON_SCAN_FULL = 3,    /* reached the end of the segment without a marker */
    CHRON_SCAN_LIMIT = 4,   /* stopped at the caller's record limit or seq */
} chron_scan_end_t;

typedef struct chron_scan {
    uint64_t pos;          /* offset where the scan stopped */
    uint64_t next_seq;     /* seq expected at pos */
    uint64_t count;        /* valid records passed */
    int64_t first_ts, last_ts;
    chron_scan_end_t end;
    const char *why;       /* for CHRON_SCAN_BAD: what failed */
} chron_scan_t;

/* Validate a segment header against the mapped size (and the queue id, if
 * non-NULL). Returns 0 or CHRON_E_CORRUPT / CHRON_E_VERSION with *why set. */
int chron_seg_hdr_check(const void *base, uint64_t size, const uint8_t *queue_id,
                        const char **why);
/* Validate the meta header. */
int chron_meta_check(const void *base, uint64_t size, const char **why);

/* Check one record at `pos` expecting `seq`. Returns 1 valid message (sets
 * *len), 2 end-of-segment marker, 0 unpublished, -1 bad (sets *why). */
int chron_rec_check(const uint8_t *base, uint64_t size, uint64_t pos, uint64_t seq,
                    uint32_t *len, const char **why);

/* Walk valid records from `pos` expecting `seq`, at most max_records (or up to
 * seq `stop_seq`), filling *out. Never reads outside [base, base+size). */
void chron_scan_records(const uint8_t *base, uint64_t size, uint64_t pos, uint64_t seq,
                        uint64_t max_records, uint64_t stop_seq, chron_rec_info_t *recs,
                        chron_scan_t *out);
/* The same without per-record output. */
void chron_scan(const uint8_t *base, uint64_t size, uint64_t pos, uint64_t seq,
                uint64_t max_records, uint64_t stop_seq, chron_scan_t *out);

/* Checksum of a record: CRC32C over the payload, then header bytes 8..31
 * (seq, timestamp, type id and the zero reserved bytes), then the 4-byte
 * commit value. Payload first, so the writer can checksum it while the
 * timestamp is still being read. */
static inline uint32_t chron_rec_crc_parts(const void *payload, uint32_t len, uint64_t seq,
                                           int64_t ts, uint16_t type_id, uint32_t commit) {
    uint32_t c = chron_crc_inline(~0u, payload, len);
    c = chron_crc_u64(c, seq);
    c = chron_crc_u64(c, (uint64_t)ts);
    c = chron_crc_u64(c, type_id); /* bytes 24..31: type id, then 6 zero bytes */
    return ~chron_crc_u32(c, commit);
}

/* The same checksum, of a record in place (reserved bytes included as read). */
static inline uint32_t chron_rec_crc(const chron_rec_hdr_t *h, uint32_t commit, uint32_t len) {
    uint32_t c = chron_crc_inline(~0u, h + 1, len);
    c = chron_crc_inline(c, (const uint8_t *)h + 8, CHRON_REC_HDR - 8);
    return ~chron_crc_u32(c, commit);
}

#endif
