/*
 * test_position.c — named readers' persisted positions: commit and resume,
 * start earliest/latest, one live reader per name, name validation, and a
 * position file damaged in one slot, or with a stale hint.
 */
#include "test_util.h"

#define SEG (64u << 10)
#define LEN 100

static uint64_t read_n(chron_reader_t *r, int n) {
    chron_msg_t m;
    for (int i = 0; i < n; i++) {
        uint64_t want = chron_reader_next_seq(r);
        CHECK_RC(chron_reader_next(r, &m), 1);
        CHECK(m.seq == want && tu_payload_ok(&m, LEN));
    }
    return chron_reader_next_seq(r);
}

static uint64_t first_seq(chron_reader_t *r) {
    chron_msg_t m;
    CHECK_RC(chron_reader_next(r, &m), 1);
    return m.seq;
}

static void test_commit_resume(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 1500; i++) tu_append(w, 1, LEN);

    chron_reader_t *r = tu_reader(dir, "strategy_1", CHRON_START_EARLIEST);
    CHECK(read_n(r, 10) == 10);
    CHECK_OK(chron_reader_commit(r, 0));
    read_n(r, 5); /* read but not committed: delivered again after reopen */
    chron_reader_close(r);
    CHECK(tu_exists(tu_path(dir, "readers/strategy_1.pos")));

    r = tu_reader(dir, "strategy_1", CHRON_START_EARLIEST);
    CHECK(chron_reader_next_seq(r) == 10);
    CHECK(first_seq(r) == 10);
    /* a commit deep in a later segment, made durable */
    read_n(r, 1000);
    CHECK_OK(chron_reader_commit(r, 1));
    chron_reader_close(r);
    /* start applies only to names without a position */
    r = tu_reader(dir, "strategy_1", CHRON_START_LATEST);
    CHECK(first_seq(r) == 1011);

    /* at the very end, then the writer continues (and rolls) */
    read_n(r, 1500 - 1012);
    CHECK_OK(chron_reader_commit(r, 0));
    chron_reader_close(r);
    for (int i = 0; i < 1000; i++) tu_append(w, 1, LEN);
    r = tu_reader(dir, "strategy_1", CHRON_START_EARLIEST);
    CHECK(chron_reader_next_seq(r) == 1500);
    CHECK(read_n(r, 1000) == 2500);
    chron_reader_close(r);

    /* other names are independent */
    r = tu_reader(dir, "other", CHRON_START_EARLIEST);
    CHECK(first_seq(r) == 0);
    chron_reader_close(r);
    chron_writer_close(w);
}

static void test_start(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 700; i++) tu_append(w, 1, LEN); /* two segments */

    chron_reader_t *late = tu_reader(dir, "late", CHRON_START_LATEST);
    CHECK(chron_reader_next_seq(late) == 700);
    chron_msg_t m;
    CHECK_RC(chron_reader_next(late, &m), 0);
    tu_append(w, 1, LEN);
    CHECK(first_seq(late) == 700);

    chron_reader_t *early = tu_reader(dir, "early", CHRON_START_EARLIEST);
    CHECK(chron_reader_next_seq(early) == 0);
    CHECK(first_seq(early) == 0);

    chron_reader_opts_t bad = {.start = 7};
    chron_reader_t *r = (chron_reader_t *)1;
    CHECK_ERR(chron_reader_open(dir, "x", &bad, &r), CHRON_E_INVAL, "start");
    CHECK(r == NULL);
    chron_reader_close(late);
    chron_reader_close(early);
    chron_writer_close(w);

    /* latest on a queue with no publisher yet: waits for the first message */
    dir = tu_tmpdir();
    late = tu_reader(dir, "late", CHRON_START_LATEST);
    CHECK_RC(chron_reader_next(late, &m), 0);
    w = tu_writer(dir, SEG);
    tu_append(w, 1, LEN);
    CHECK(first_seq(late) == 0);
    chron_reader_close(late);
    chron_writer_close(w);
}

static void test_locked_and_names(void) {
    const char *dir = tu_tmpdir();
    chron_reader_t *r = tu_reader(dir, "solo", CHRON_START_EARLIEST);
    chron_reader_t *r2 = (chron_reader_t *)1;
    CHECK_ERR(chron_reader_open(dir, "solo", NULL, &r2), CHRON_E_LOCKED, "'solo'");
    CHECK(r2 == NULL);
    CHECK(chron_errdetail() == (int64_t)getpid());
    CHECK(strstr(chron_errpath(), "solo.pos") != NULL);
    chron_reader_close(r);
    /* released on close */
    r = tu_reader(dir, "solo", CHRON_START_EARLIEST);
    chron_reader_close(r);

    const char *bad[] = {"", ".", "..", "../escape", "a/b", ".hidden", "sp ace",
                         "0123456789012345678901234567890123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = (chron_reader_t *)1;
        CHECK_ERR(chron_reader_open(dir, bad[i], NULL, &r), CHRON_E_INVAL, "invalid reader name");
        CHECK(r == NULL);
    }
    CHECK_ERR(chron_reader_open(dir, NULL, NULL, &r), CHRON_E_INVAL, "invalid reader name");
    CHECK_ERR(chron_reader_open(dir, "ok", NULL, NULL), CHRON_E_INVAL, "NULL out");
    /* nothing was created outside the readers directory */
    CHECK(!tu_exists(tu_path(dir, "escape.pos")));
    CHECK(!tu_exists(tu_path(dir, "readers/escape.pos")));
}

static chron_pos_file_t *map_pos(tu_map_t *m, const char *dir, const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "readers/%s.pos", name);
    *m = tu_map(tu_path(dir, rel));
    CHECK(m->size == sizeof(chron_pos_file_t));
    return (chron_pos_file_t *)m->p;
}

static void reseal_slot(chron_pos_slot_t *s) {
    s->crc = chron_crc32c(0, s, offsetof(chron_pos_slot_t, crc));
}

static void test_damaged_slots(void) {
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 1000; i++) tu_append(w, 1, LEN);

    chron_reader_t *r = tu_reader(dir, "dmg", CHRON_START_EARLIEST);
    read_n(r, 10);
    CHECK_OK(chron_reader_commit(r, 0));
    read_n(r, 10);
    CHECK_OK(chron_reader_commit(r, 0));
    chron_reader_close(r);

    /* a torn commit: the newer slot's checksum fails, the older one stands */
    tu_map_t m;
    chron_pos_file_t *f = map_pos(&m, dir, "dmg");
    CHECK(f->magic == CHRON_POS_MAGIC);
    int newer = f->slot[1].generation > f->slot[0].generation;
    CHECK(f->slot[newer].next_seq == 20 && f->slot[!newer].next_seq == 10);
    f->slot[newer].next_seq = 999; /* half-written: no matching checksum */
    tu_unmap(&m);
    r = tu_reader(dir, "dmg", CHRON_START_EARLIEST);
    CHECK(first_seq(r) == 10);
    /* the next commit goes into the damaged slot and wins again */
    read_n(r, 4);
    CHECK_OK(chron_reader_commit(r, 0));
    chron_reader_close(r);
    r = tu_reader(dir, "dmg", CHRON_START_LATEST);
    CHECK(first_seq(r) == 15);
    chron_reader_close(r);

    /* both slots broken: no position, so `start` applies */
    f = map_pos(&m, dir, "dmg");
    f->slot[0].crc ^= 1;
    f->slot[1].crc ^= 1;
    tu_unmap(&m);
    r = tu_reader(dir, "dmg", CHRON_START_EARLIEST);
    CHECK(first_seq(r) == 0);
    chron_reader_close(r);

    /* a valid slot whose segment/offset hint is wrong: the seq decides */
    r = tu_reader(dir, "hint", CHRON_START_EARLIEST);
    read_n(r, 600); /* into the second segment */
    CHECK_OK(chron_reader_commit(r, 0));
    chron_reader_close(r);
    uint64_t bad_hints[][2] = {{0, 64}, {1, 8}, {0, 3}, {77, 64}, {1, UINT64_MAX - 7}, {0, SEG}};
    for (size_t i = 0; i < sizeof bad_hints / sizeof bad_hints[0]; i++) {
        f = map_pos(&m, dir, "hint");
        int best = f->slot[1].generation > f->slot[0].generation;
        CHECK(f->slot[best].next_seq == 600);
        f->slot[best].segment = bad_hints[i][0];
        f->slot[best].offset = bad_hints[i][1];
        reseal_slot(&f->slot[best]);
        tu_unmap(&m);
        r = tu_reader(dir, "hint", CHRON_START_EARLIEST);
        CHECK(first_seq(r) == 600);
        chron_reader_close(r);
    }

    /* a position file from a future version is refused, naming it */
    f = map_pos(&m, dir, "hint");
    f->version = 9;
    tu_unmap(&m);
    CHECK_ERR(chron_reader_open(dir, "hint", NULL, &r), CHRON_E_VERSION, "hint.pos");
    f = map_pos(&m, dir, "hint");
    f->version = CHRON_FORMAT_VERSION;
    f->magic = 0;
    tu_unmap(&m);
    CHECK_ERR(chron_reader_open(dir, "hint", NULL, &r), CHRON_E_CORRUPT, "bad magic");
    CHECK(truncate(tu_path(dir, "readers/hint.pos"), 100) == 0);
    CHECK_ERR(chron_reader_open(dir, "hint", NULL, &r), CHRON_E_CORRUPT, "position file is 100 bytes");
    chron_writer_close(w);
}

static void test_retained_past_position(void) {
    /* the committed position was deleted by retention: start at the oldest kept */
    const char *dir = tu_tmpdir();
    chron_writer_t *w = tu_writer(dir, SEG);
    for (int i = 0; i < 2000; i++) tu_append(w, 1, LEN);
    chron_reader_t *r = tu_reader(dir, "slow", CHRON_START_EARLIEST);
    read_n(r, 5);
    CHECK_OK(chron_reader_commit(r, 0));
    chron_reader_close(r);

    chron_reader_t *probe = tu_reader(dir, "probe", CHRON_START_EARLIEST);
    uint64_t seg2 = 0;
    chron_msg_t m;
    for (int i = 0; i < 2000; i++) {
        CHECK_RC(chron_reader_next(probe, &m), 1);
        if (m.segment == 2) {
            seg2 = m.seq;
            break;
        }
    }
    chron_reader_close(probe);
    CHECK(seg2 > 0);
    CHECK(unlink(tu_seg_path(dir, 0)) == 0);
    CHECK(unlink(tu_seg_path(dir, 1)) == 0);
    r = tu_reader(dir, "slow", CHRON_START_EARLIEST);
    CHECK(first_seq(r) == seg2);
    chron_reader_close(r);
    chron_writer_close(w);
}

int main(void) {
    test_commit_resume();
    test_start();
    test_locked_and_names();
    test_damaged_slots();
    test_retained_past_position();
    return 0;
}
