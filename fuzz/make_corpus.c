/*
 * make_corpus.c — the fuzz target's seed corpus, made of real queue files:
 * a publisher appends messages of many sizes to 64 KiB segments, and the
 * segment files (sealed, active, prepared ahead), several concatenated as a
 * whole queue, and hand-torn variants are written to OUT_DIR.
 *
 *   make_corpus OUT_DIR
 *
 * Generated at build time so no binary blobs live in the repository.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chronicle.h"
#include "format.h"

#define SEG CHRON_MIN_SEGMENT_SIZE

static const char *out_dir;

static void die(const char *what) {
    fprintf(stderr, "make_corpus: %s: %s\n", what, chron_errmsg()[0] ? chron_errmsg() : strerror(errno));
    exit(1);
}

static uint8_t *read_segment(const char *qdir, uint64_t index) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%020" PRIu64 ".seg", qdir, index);
    uint8_t *b = malloc(SEG);
    int fd = open(p, O_RDONLY);
    if (!b || fd < 0 || pread(fd, b, SEG, 0) != (ssize_t)SEG) die(p);
    close(fd);
    return b;
}

/* Write n bytes; single segments lose their trailing zeros (the fuzz target
 * pads them back), so mutations land on the records. */
static void emit(const char *name, const uint8_t *b, size_t n, int trim) {
    if (trim)
        while (n > CHRON_SEG_DATA_START && b[n - 1] == 0) n--;
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", out_dir, name);
    int fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0 || write(fd, b, n) != (ssize_t)n) die(p);
    close(fd);
}

/* Offset of the end marker or the tail of a segment. */
static uint64_t tail_of(const uint8_t *b) {
    chron_scan_t sc;
    chron_scan(b, SEG, CHRON_SEG_DATA_START, atomic_load(&((const chron_seg_hdr_t *)b)->base_seq),
               UINT64_MAX, UINT64_MAX, &sc);
    return sc.pos;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st;
    (void)f;
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus OUT_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) die(out_dir);
    char qdir[1024];
    const char *t = getenv("TMPDIR");
    snprintf(qdir, sizeof qdir, "%s/chron-corpus-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(qdir)) die("mkdtemp");

    /* a queue of three and a bit segments: payload sizes from 0 to 4000 */
    chron_writer_t *w = NULL;
    chron_writer_opts_t o = {.segment_size = SEG};
    if (chron_writer_open(qdir, &o, &w) != 0) die(qdir);
    static const size_t sizes[] = {0, 1, 7, 8, 9, 31, 32, 33, 64, 100, 255, 1000, 4000};
    uint8_t payload[4000];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 131 + 7);
    /* a reader alongside says which segment each message went to */
    chron_reader_t *r = NULL;
    chron_reader_opts_t ro = {.start = CHRON_START_EARLIEST};
    if (chron_reader_open(qdir, "probe", &ro, &r) != 0) die("reader");
    uint64_t in_last = 0;
    for (uint64_t n = 0; in_last < 20 && n < 100000; n++) {
        size_t len = sizes[n % (sizeof sizes / sizeof sizes[0])];
        chron_msg_t m;
        if (chron_append(w, (int)(n % 5), payload, len) < 0) die("append");
        if (chron_reader_next(r, &m) != 1) die("read back");
        in_last += m.segment == 3;
    }
    chron_reader_close(r);
    chron_writer_close(w);

    uint8_t *s0 = read_segment(qdir, 0), *s1 = read_segment(qdir, 1), *s2 = read_segment(qdir, 2),
            *s3 = read_segment(qdir, 3);
    emit("sealed.seg", s0, SEG, 1);
    emit("active.seg", s3, SEG, 1);
    uint8_t *q = malloc(4 * SEG);
    if (!q) die("malloc");
    memcpy(q, s0, SEG);
    memcpy(q + SEG, s1, SEG);
    memcpy(q + 2 * SEG, s2, SEG);
    emit("queue-3-sealed", q, 3 * SEG, 0);
    memcpy(q + 3 * SEG, s3, SEG);
    emit("queue-4", q, 4 * SEG, 1);

    /* prepared ahead, never activated */
    uint8_t *p = malloc(SEG);
    if (!p) die("malloc");
    memcpy(p, s3, SEG);
    memset(p + CHRON_SEG_DATA_START, 0, SEG - CHRON_SEG_DATA_START);
    atomic_store(&((chron_seg_hdr_t *)p)->base_seq, CHRON_SEQ_UNSET);
    emit("prepared.seg", p, SEG, 1);
    /* activated, empty */
    atomic_store(&((chron_seg_hdr_t *)p)->base_seq, 0);
    emit("empty.seg", p, SEG, 1);

    /* torn: the last record's payload half lost, then garbage further on */
    uint64_t end = tail_of(s3);
    memcpy(p, s3, SEG);
    uint64_t pos = CHRON_SEG_DATA_START, last = pos;
    while (pos < end) {
        last = pos;
        uint32_t c;
        memcpy(&c, p + pos, 4);
        pos += chron_rec_size(c & CHRON_COMMIT_LEN_MASK);
    }
    chron_rec_hdr_t *h = (chron_rec_hdr_t *)(p + last);
    uint32_t len = atomic_load(&h->commit) & CHRON_COMMIT_LEN_MASK;
    memset(p + last + CHRON_REC_HDR + len / 2, 0, len - len / 2);
    for (uint64_t i = end + 512; i < end + 700 && i < SEG; i++) p[i] = (uint8_t)(i * 37);
    emit("torn.seg", p, SEG, 1);
    /* a record written but never committed at the tail */
    memcpy(p, s3, SEG);
    if (end + (end - last) <= SEG - CHRON_REC_HDR) {
        memcpy(p + end, p + last, end - last);
        chron_rec_hdr_t *u = (chron_rec_hdr_t *)(p + end);
        uint32_t c = atomic_load(&u->commit);
        u->seq++;
        u->crc = chron_rec_crc(u, c, c & CHRON_COMMIT_LEN_MASK);
        atomic_store(&u->commit, 0);
    }
    emit("uncommitted.seg", p, SEG, 1);
    /* sealed after its last record, with no successor */
    memcpy(p, s3, SEG);
    atomic_store(&((chron_rec_hdr_t *)(p + end))->commit, CHRON_COMMIT_EOS);
    emit("sealed-last.seg", p, SEG, 1);
    /* a short file: the header and a few records */
    emit("short.seg", s0, 1024, 0);

    /* one message of the largest size in a fresh queue, and many empty ones */
    nftw(qdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (chron_writer_open(qdir, &o, &w) != 0) die(qdir);
    uint8_t *big = malloc(chron_writer_max_payload(w));
    if (big) memset(big, 0x5A, chron_writer_max_payload(w));
    if (!big || chron_append(w, 9, big, chron_writer_max_payload(w)) < 0) die("append max");
    for (int i = 0; i < 300; i++)
        if (chron_append(w, 65535, NULL, 0) < 0) die("append empty");
    chron_writer_close(w);
    free(s0);
    s0 = read_segment(qdir, 0);
    s1 = (free(s1), read_segment(qdir, 1));
    emit("max-payload.seg", s0, SEG, 1);
    emit("empty-payloads.seg", s1, SEG, 1);

    /* the other file kinds, for the header parsers */
    char mp[1100];
    snprintf(mp, sizeof mp, "%s/" CHRON_META_FILE, qdir);
    int fd = open(mp, O_RDONLY);
    if (fd < 0 || pread(fd, p, sizeof(chron_meta_t), 0) != (ssize_t)sizeof(chron_meta_t)) die(mp);
    close(fd);
    emit("queue.meta", p, sizeof(chron_meta_t), 0);

    nftw(qdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(s0);
    free(s1);
    free(s2);
    free(s3);
    free(q);
    free(p);
    free(big);
    printf("make_corpus: wrote the seed corpus to %s\n", out_dir);
    return 0;
}
