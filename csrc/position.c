/*
 * position.c — a named reader's persisted position: readers/<name>.pos.
 *
 * Two slots, each with a generation and a checksum; a commit overwrites the
 * older slot. A crash in the middle of a commit leaves a slot whose checksum
 * fails, and the other slot still holds the previous position, so the file
 * is valid at every instant. Commits are stores into a shared mapping: no
 * system call, and they survive the death of the process at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "position.h"

static uint32_t slot_crc(const chron_pos_slot_t *s) {
    return chron_crc32c(0, s, offsetof(chron_pos_slot_t, crc));
}

int chron_pos_best(const chron_pos_file_t *f, chron_pos_slot_t *out) {
    int best = -1;
    for (int i = 0; i < 2; i++) {
        const chron_pos_slot_t *s = &f->slot[i];
        if (s->generation == 0 || slot_crc(s) != s->crc) continue;
        if (best < 0 || s->generation > f->slot[best].generation) best = i;
    }
    if (best < 0) return 0;
    *out = f->slot[best];
    return 1;
}

int chron_pos_open(chron_qdir_t *q, const char *name, chron_posfile_t *p) {
    memset(p, 0, sizeof *p);
    p->fd = -1;
    uint32_t dmode = q->file_mode | ((q->file_mode & 0444) >> 2);
    if (mkdirat(q->dirfd, CHRON_READERS_DIR, dmode) == 0) {
        (void)fchmodat(q->dirfd, CHRON_READERS_DIR, dmode, 0); /* whatever the umask */
    } else if (errno != EEXIST) {
        char dpath[CHRON_PATH_MAX];
        chron_qdir_file(q, CHRON_READERS_DIR, dpath, sizeof dpath);
        return chron_fail_errno(errno, dpath, "cannot create readers directory");
    }
    char rel[CHRON_MAX_NAME_LEN + 32];
    snprintf(rel, sizeof rel, "%s/%s%s", CHRON_READERS_DIR, name, CHRON_POS_SUFFIX);
    int fd = chron_qdir_openat(q, rel, O_RDWR | O_CREAT, p->path);
    if (fd < 0) return fd;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        chron_pos_file_t f;
        int64_t pid = -1;
        if (pread(fd, &f, sizeof f, 0) == (ssize_t)sizeof f && f.magic == CHRON_POS_MAGIC) pid = f.pid;
        close(fd);
        if (e == EWOULDBLOCK)
            return chron_fail(CHRON_E_LOCKED, p->path, pid, "reader '%s' is open in another process (pid %lld)",
                              name, (long long)pid);
        return chron_fail_errno(e, p->path, "cannot lock");
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return chron_fail_errno(e, p->path, "cannot stat");
    }
    int fresh = st.st_size == 0;
    if (fresh) {
        chron_pos_file_t f;
        memset(&f, 0, sizeof f);
        f.magic = CHRON_POS_MAGIC;
        f.version = CHRON_FORMAT_VERSION;
        f.header_size = sizeof f;
        f.created_ns = chron_realtime_ns();
        if (pwrite(fd, &f, sizeof f, 0) != (ssize_t)sizeof f) {
            int e = errno ? errno : ENOSPC;
            close(fd);
            return chron_fail_errno(e, p->path, "cannot write");
        }
    } else if ((uint64_t)st.st_size < sizeof(chron_pos_file_t)) {
        close(fd);
        return chron_fail(CHRON_E_CORRUPT, p->path, 0, "position file is %lld bytes, expected %zu",
                          (long long)st.st_size, sizeof(chron_pos_file_t));
    }
    void *m = mmap(NULL, sizeof(chron_pos_file_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        close(fd);
        return chron_fail_errno(e, p->path, "cannot map");
    }
    chron_pos_file_t *f = m;
    int rc = 0;
    if (f->magic != CHRON_POS_MAGIC) rc = chron_fail(CHRON_E_CORRUPT, p->path, 0, "bad magic (not a Chronicle position file)");
    else if (f->version != CHRON_FORMAT_VERSION) rc = chron_fail(CHRON_E_VERSION, p->path, 4, "unknown format version %u", f->version);
    else if (f->header_size != sizeof *f) rc = chron_fail(CHRON_E_CORRUPT, p->path, 6, "bad header size");
    if (rc < 0) {
        munmap(m, sizeof(chron_pos_file_t));
        close(fd);
        return rc;
    }
    f->pid = (int64_t)getpid();
    p->fd = fd;
    p->file = f;
    chron_pos_slot_t best;
    if (chron_pos_best(f, &best)) {
        p->have = 1;
        p->slot = best;
    }
    return 0;
}

void chron_pos_commit(chron_posfile_t *p, uint64_t next_seq, uint64_t segment, uint64_t offset) {
    uint64_t gen = p->slot.generation + 1;
    chron_pos_slot_t *s = &p->file->slot[gen & 1]; /* the older slot */
    s->generation = gen;
    s->next_seq = next_seq;
    s->segment = segment;
    s->offset = offset;
    s->committed_ns = chron_realtime_ns();
    s->reserved = 0;
    s->crc = slot_crc(s);
    p->slot = *s;
    p->have = 1;
}

int chron_pos_sync(chron_posfile_t *p) {
    if (msync(p->file, sizeof *p->file, MS_SYNC) != 0) return chron_fail_errno(errno, p->path, "cannot msync");
    return 0;
}

void chron_pos_close(chron_posfile_t *p) {
    if (p->file) munmap(p->file, sizeof *p->file);
    if (p->fd >= 0) close(p->fd);
    p->file = NULL;
    p->fd = -1;
}
