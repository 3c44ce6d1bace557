/*
 * fuzz_segment.c — fuzz target for the segment parser and tail recovery.
 *
 * One input drives two things:
 *  1. The pure parsers (format.c, inspect.c, the position-slot chooser) on an
 *     exact-size heap copy of the input and of a few truncations of it, so
 *     AddressSanitizer reports any read past the end.
 *  2. A queue on disk: the input, cut into 64 KiB chunks (at most four, the
 *     last zero-padded), becomes segment files 0, 1, ... of a temporary queue.
 *     A reader reads what it can; a publisher opens it (recovery), appends,
 *     and a fresh reader must find exactly those appends where the publisher
 *     said they are. Each chunk's identity fields (index, size, queue id,
 *     header checksum) are rewritten, because a segment from another queue is
 *     rejected by design; everything else (magic, version, base seq, the
 *     records) is as fuzzed.
 *
 * A corrupt input may make any call fail with an error; it must never crash,
 * hang, leak, or hand out a message that differs from what was appended.
 * Built for libFuzzer (clang -fsanitize=fuzzer) or with standalone.c (gcc).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chronicle.h"
#include "position.h"

#define SEG CHRON_MIN_SEGMENT_SIZE
#define MAX_SEGMENTS 4
#define MAX_READS 20000 /* a 64 KiB segment holds at most 2046 records */
#define APPENDS 3

static char qdir[256];
static uint8_t queue_id[16];
static uint8_t *image; /* one segment being written */

#define FUZZ_CHECK(cond)                                                             \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "fuzz_segment.c:%d: invariant failed: %s (last error: %s)\n", \
                    __LINE__, #cond, chron_errmsg());                                \
            abort();                                                                 \
        }                                                                            \
    } while (0)

/* Remove the files in dir whose names end with `suffix` ("" = all). */
static void remove_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    if (!d) return;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || e->d_type == DT_DIR || n < sl || strcmp(e->d_name + n - sl, suffix))
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static void remove_queue(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/readers", qdir);
    remove_files(p, "");
    rmdir(p);
    remove_files(qdir, "");
    rmdir(qdir);
}

/* Once: a queue whose meta fixes 64 KiB segments; the inputs become its segments. */
static void setup(void) {
    const char *t = getenv("TMPDIR");
    snprintf(qdir, sizeof qdir, "%s/chron-fuzz-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(qdir)) {
        perror("mkdtemp");
        exit(1);
    }
    chron_writer_t *w = NULL;
    chron_writer_opts_t o = {.segment_size = SEG};
    if (chron_writer_open(qdir, &o, &w) != 0) {
        fprintf(stderr, "cannot create the fuzz queue: %s\n", chron_errmsg());
        exit(1);
    }
    chron_writer_close(w);
    char p[512];
    snprintf(p, sizeof p, "%s/" CHRON_META_FILE, qdir);
    int fd = open(p, O_RDONLY);
    chron_meta_t m;
    if (fd < 0 || pread(fd, &m, sizeof m, 0) != (ssize_t)sizeof m) {
        perror(p);
        exit(1);
    }
    close(fd);
    memcpy(queue_id, m.queue_id, 16);
    image = malloc(SEG);
    if (!image) exit(1);
    atexit(remove_queue);
}

/* ---- 1. pure parsers ------------------------------------------------------ */

static void parse_bytes(const uint8_t *buf, uint64_t size, uint64_t seq) {
    const char *why = NULL;
    uint32_t len = 0;
    (void)chron_seg_hdr_check(buf, size, NULL, &why);
    (void)chron_seg_hdr_check(buf, size, queue_id, &why);
    (void)chron_meta_check(buf, size, &why);

    chron_scan_t sc;
    chron_scan(buf, size, CHRON_SEG_DATA_START, seq, UINT64_MAX, UINT64_MAX, &sc);
    FUZZ_CHECK(sc.end != CHRON_SCAN_LIMIT || sc.next_seq == UINT64_MAX);
    FUZZ_CHECK(sc.next_seq == seq + sc.count);
    FUZZ_CHECK(sc.count == 0 || (sc.pos <= size && sc.pos % CHRON_REC_ALIGN == 0));
    /* the same walk through the tools' entry point, records listed */
    static chron_rec_info_t recs[64];
    chron_walk_t wk;
    chron_walk(buf, size, CHRON_SEG_DATA_START, seq, 64, recs, &wk);
    FUZZ_CHECK(wk.count == (sc.count < 64 ? sc.count : 64));
    for (uint64_t i = 0; i < wk.count; i++)
        FUZZ_CHECK(recs[i].seq == seq + i && recs[i].offset + CHRON_REC_HDR + recs[i].len <= size);
    (void)chron_nonzero_end(buf, sc.pos < size ? sc.pos : size, size);

    /* records at odd places, each expecting the seq it claims */
    for (uint64_t pos = 0; pos < 64 * 8 + 8 && pos + 16 <= size; pos += 4) {
        uint64_t s;
        memcpy(&s, buf + pos + 8, 8);
        (void)chron_rec_check(buf, size, pos, s, &len, &why);
    }
    uint64_t odd[] = {size - 32, size - 33, size - 40, size, size + 8, UINT64_MAX - 7};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        (void)chron_rec_check(buf, size, odd[i], seq, &len, &why);
        chron_scan(buf, size, odd[i], seq, 4, UINT64_MAX, &sc);
    }
    if (size >= sizeof(chron_pos_file_t)) {
        chron_pos_slot_t best;
        (void)chron_pos_best((const chron_pos_file_t *)buf, &best);
    }
}

static void parse_all(const uint8_t *data, size_t size) {
    uint64_t seq = 0;
    if (size >= sizeof(chron_seg_hdr_t)) memcpy(&seq, data + offsetof(chron_seg_hdr_t, base_seq), 8);
    /* the whole input, and truncations ending just before a record boundary */
    size_t cuts[] = {0, 1, 4, 7, 8, 31, 33};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        if (cuts[i] > size) break;
        size_t n = size - cuts[i];
        uint8_t *copy = malloc(n ? n : 1);
        if (!copy) abort();
        memcpy(copy, data, n);
        parse_bytes(copy, n, seq);
        free(copy);
    }
}

/* ---- 2. the input as a queue on disk -------------------------------------- */

/* Whether the activated segments' base seqs ascend with their index, as in
 * every real queue; set by write_segments. */
static int bases_ordered;

static size_t write_segments(const uint8_t *data, size_t size) {
    size_t n = 0;
    uint64_t prev_base = 0;
    bases_ordered = 1;
    for (size_t off = 0; n < MAX_SEGMENTS && (off < size || n == 0); off += SEG, n++) {
        size_t take = size - off < SEG ? size - off : SEG;
        memset(image, 0, SEG);
        memcpy(image, data + off, take);
        chron_seg_hdr_t *h = (chron_seg_hdr_t *)image;
        h->index = n;
        h->segment_size = SEG;
        memcpy(h->queue_id, queue_id, 16);
        h->header_crc = chron_crc32c(0, h, offsetof(chron_seg_hdr_t, header_crc));
        uint64_t base = atomic_load(&h->base_seq);
        if (base != CHRON_SEQ_UNSET) {
            bases_ordered &= base >= prev_base;
            prev_base = base;
        }
        char p[512];
        snprintf(p, sizeof p, "%s/%020zu" CHRON_SEG_SUFFIX, qdir, n);
        int fd = open(p, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0 || pwrite(fd, image, SEG, 0) != (ssize_t)SEG) {
            perror(p);
            abort();
        }
        close(fd);
    }
    return n;
}

/* Read everything readable; the count, or -1 when a read failed. */
static long drain(chron_reader_t *r) {
    chron_msg_t m;
    uint64_t expect = chron_reader_next_seq(r);
    for (long i = 0; i < MAX_READS; i++) {
        int rc = chron_reader_next(r, &m);
        if (rc <= 0) return rc < 0 ? -1 : i;
        FUZZ_CHECK(m.seq == expect); /* dense, whatever the file says */
        expect++;
        FUZZ_CHECK(m.offset >= CHRON_SEG_DATA_START + CHRON_REC_HDR && m.offset + m.len <= SEG);
    }
    FUZZ_CHECK(!"reader never reached an end");
    return -1;
}

static void run_queue(const uint8_t *data, size_t size) {
    char readers[512];
    snprintf(readers, sizeof readers, "%s/readers", qdir);
    remove_files(readers, CHRON_POS_SUFFIX);
    remove_files(qdir, CHRON_SEG_SUFFIX);
    remove_files(qdir, ".tmp");
    write_segments(data, size);

    /* a reader before any publisher: it only reads */
    chron_reader_opts_t ro = {.start = CHRON_START_EARLIEST, .spin_ns = 0};
    chron_reader_t *early = NULL;
    if (chron_reader_open(qdir, "early", &ro, &early) == 0) {
        (void)drain(early);
        (void)chron_reader_wait(early, 0);
    }

    chron_writer_t *w = NULL;
    if (chron_writer_open(qdir, NULL, &w) == 0) {
        uint64_t first = chron_writer_next_seq(w);
        uint8_t payload[3][40];
        for (int i = 0; i < APPENDS; i++) {
            memset(payload[i], 0xA0 + i, sizeof payload[i]);
            int64_t s = chron_append(w, i, payload[i], (size_t)(i * 17));
            FUZZ_CHECK(s >= 0 && (uint64_t)s == first + (uint64_t)i);
        }
        FUZZ_CHECK(chron_writer_next_seq(w) == first + APPENDS);
        /* the early reader carries on through and after recovery */
        if (early) (void)drain(early);

        /* a fresh reader finds exactly the appends where they were made
         * (or reports that an older part of the queue is corrupt, or, when
         * older segments claim later seqs, that the seq is out of range) */
        ro.start = CHRON_START_LATEST;
        chron_reader_t *r = NULL;
        int rc = chron_reader_open(qdir, "check", &ro, &r);
        if (rc == 0) rc = chron_reader_seek(r, first);
        FUZZ_CHECK(rc == 0 || rc == CHRON_E_CORRUPT || rc == CHRON_E_VERSION ||
                   (rc == CHRON_E_RANGE && !bases_ordered));
        for (int i = 0; rc == 0 && i < APPENDS; i++) {
            chron_msg_t m;
            FUZZ_CHECK(chron_reader_next(r, &m) == 1);
            FUZZ_CHECK(m.seq == first + (uint64_t)i && m.type_id == (uint32_t)i);
            FUZZ_CHECK(m.len == (uint32_t)(i * 17) && memcmp(m.payload, payload[i], m.len) == 0);
        }
        chron_msg_t m;
        FUZZ_CHECK(rc != 0 || chron_reader_next(r, &m) == 0);
        chron_reader_close(r);
        ro.start = CHRON_START_EARLIEST;

        /* and from the earliest retained seq, with a committed position */
        r = NULL;
        if (chron_reader_open(qdir, "all", &ro, &r) == 0) {
            (void)drain(r);
            (void)chron_reader_commit(r, 0);
            chron_reader_close(r);
            r = NULL;
            if (chron_reader_open(qdir, "all", &ro, &r) == 0) (void)drain(r);
            chron_reader_close(r);
        }
        chron_writer_close(w);
    }
    chron_reader_close(early);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!image) setup();
    parse_all(data, size);
    run_queue(data, size);
    return 0;
}
