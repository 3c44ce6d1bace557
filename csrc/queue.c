/*
 * queue.c — the queue directory: creating it, its meta file, naming, mapping
 * and preallocating segment files, and the single-publisher lock.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#if defined(__linux__)
#include <sys/random.h>
#endif

typedef struct chron_lock_rec {
    uint32_t magic;   /* CHRON_LOCK_MAGIC */
    uint16_t version;
    uint16_t size;    /* sizeof(chron_lock_rec_t) */
    int64_t pid;      /* holder's pid */
    int64_t since_ns; /* when it took the lock */
    uint64_t reserved;
} chron_lock_rec_t;
_Static_assert(sizeof(chron_lock_rec_t) == 32, "lock record is 32 bytes");

void chron_random_bytes(uint8_t *out, size_t n) {
#if defined(__linux__)
    if (getrandom(out, n, 0) == (ssize_t)n) return;
#elif defined(__APPLE__)
    arc4random_buf(out, n);
    return;
#endif
    uint64_t x = (uint64_t)chron_realtime_ns() ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        out[i] = (uint8_t)x;
    }
}

void chron_seg_name(uint64_t index, char *buf, size_t n) {
    snprintf(buf, n, "%020" PRIu64 CHRON_SEG_SUFFIX, index);
}

void chron_qdir_file(const chron_qdir_t *q, const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", q->path, name);
}

static uint32_t dir_mode(uint32_t file_mode) {
    /* a directory gets x wherever its files get r */
    return file_mode | ((file_mode & 0444) >> 2);
}

/* mkdir -p */
static int make_dirs(const char *path, uint32_t mode) {
    char buf[CHRON_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return chron_fail(CHRON_E_INVAL, path, -1, "path empty or too long");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, mode) == 0) {
            (void)chmod(buf, mode); /* exactly the mode asked for, whatever the umask */
        } else if (errno != EEXIST) {
            int e = errno;
            return chron_fail_errno(e, buf, "cannot create directory");
        }
        buf[i] = saved;
    }
    return 0;
}

int chron_qdir_openat(chron_qdir_t *q, const char *rel, int flags, char *path_out) {
    char path[CHRON_PATH_MAX];
    chron_qdir_file(q, rel, path, sizeof path);
    if (path_out) memcpy(path_out, path, strlen(path) + 1);
    int fd = openat(q->dirfd, rel, flags | O_CLOEXEC, q->file_mode);
    if (fd < 0) return chron_fail_errno(errno, path, "cannot open");
    if (flags & O_CREAT) {
        struct stat st;
        /* umask may have removed bits the caller asked for */
        if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0777) != q->file_mode)
            (void)fchmod(fd, q->file_mode);
    }
    return fd;
}

static int create_meta(chron_qdir_t *q) {
    char tmp[64];
    uint8_t rnd[8];
    chron_random_bytes(rnd, sizeof rnd);
    snprintf(tmp, sizeof tmp, CHRON_META_FILE ".%d.%02x%02x%02x%02x.tmp", (int)getpid(), rnd[0],
             rnd[1], rnd[2], rnd[3]);
    char path[CHRON_PATH_MAX];
    int fd = chron_qdir_openat(q, tmp, O_RDWR | O_CREAT | O_EXCL, path);
    if (fd < 0) return fd;
    chron_meta_t *m = calloc(1, sizeof *m);
    if (!m) {
        close(fd);
        unlinkat(q->dirfd, tmp, 0);
        return chron_fail(-ENOMEM, path, -1, "out of memory");
    }
    m->magic = CHRON_META_MAGIC;
    m->version = CHRON_FORMAT_VERSION;
    m->header_size = sizeof *m;
    chron_random_bytes(m->queue_id, sizeof m->queue_id);
    m->created_ns = chron_realtime_ns();
    m->file_mode = q->file_mode;
    m->header_crc = chron_crc32c(0, m, offsetof(chron_meta_t, header_crc));
    ssize_t w = pwrite(fd, m, sizeof *m, 0);
    int e = errno;
    free(m);
    int rc = 0;
    if (w != (ssize_t)sizeof(chron_meta_t)) rc = chron_fail_errno(w < 0 ? e : ENOSPC, path, "cannot write");
    else if (fsync(fd) != 0) rc = chron_fail_errno(errno, path, "cannot sync");
    /* link fails with EEXIST if another process won the race: theirs stands */
    else if (linkat(q->dirfd, tmp, q->dirfd, CHRON_META_FILE, 0) != 0 && errno != EEXIST)
        rc = chron_fail_errno(errno, path, "cannot publish queue.meta");
    close(fd);
    unlinkat(q->dirfd, tmp, 0);
    return rc;
}

void chron_qdir_close(chron_qdir_t *q) {
    if (q->meta) munmap(q->meta, sizeof(chron_meta_t));
    if (q->meta_fd >= 0) close(q->meta_fd);
    if (q->dirfd >= 0) close(q->dirfd);
    q->meta = NULL;
    q->meta_fd = q->dirfd = -1;
}

int chron_qdir_open(chron_qdir_t *q, const char *dir, uint32_t file_mode, int create) {
    memset(q, 0, sizeof *q);
    q->dirfd = q->meta_fd = -1;
    if (!dir || !*dir) return chron_fail(CHRON_E_INVAL, "", -1, "empty queue path");
    size_t n = strlen(dir);
    if (n + 64 >= sizeof q->path) return chron_fail(CHRON_E_INVAL, dir, -1, "queue path too long");
    memcpy(q->path, dir, n + 1);
    while (n > 1 && q->path[n - 1] == '/') q->path[--n] = '\0';
    q->file_mode = file_mode ? (file_mode & 0777) : CHRON_DEFAULT_FILE_MODE;
    int rc;
    if (create && (rc = make_dirs(q->path, dir_mode(q->file_mode))) < 0) return rc;
    q->dirfd = open(q->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (q->dirfd < 0) return chron_fail_errno(errno, q->path, "cannot open queue directory");

    char path[CHRON_PATH_MAX];
    chron_qdir_file(q, CHRON_META_FILE, path, sizeof path);
    for (int attempt = 0;; attempt++) {
        q->meta_fd = openat(q->dirfd, CHRON_META_FILE, O_RDWR | O_CLOEXEC);
        if (q->meta_fd >= 0) break;
        if (errno != ENOENT || !create || attempt > 0) {
            rc = chron_fail_errno(errno, path, errno == ENOENT ? "not a Chronicle queue" : "cannot open");
            goto fail;
        }
        if ((rc = create_meta(q)) < 0) goto fail;
    }
    struct stat st;
    if (fstat(q->meta_fd, &st) != 0) {
        rc = chron_fail_errno(errno, path, "cannot stat");
        goto fail;
    }
    if ((uint64_t)st.st_size < sizeof(chron_meta_t)) {
        rc = chron_fail(CHRON_E_CORRUPT, path, 0, "file is %lld bytes, shorter than the %zu-byte meta header",
                        (long long)st.st_size, sizeof(chron_meta_t));
        goto fail;
    }
    void *m = mmap(NULL, sizeof(chron_meta_t), PROT_READ | PROT_WRITE, MAP_SHARED, q->meta_fd, 0);
    if (m == MAP_FAILED) {
        rc = chron_fail_errno(errno, path, "cannot map");
        goto fail;
    }
    q->meta = m;
    const char *why = NULL;
    if ((rc = chron_meta_check(m, (uint64_t)st.st_size, &why)) < 0) {
        rc = chron_fail(rc, path, 0, "%s", why);
        goto fail;
    }
    if (!file_mode) q->file_mode = q->meta->file_mode & 0777;
    return 0;
fail:
    chron_qdir_close(q);
    return rc;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int chron_seg_list(chron_qdir_t *q, uint64_t **out, size_t *count) {
    *out = NULL;
    *count = 0;
    int fd = openat(q->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return chron_fail_errno(errno, q->path, "cannot list");
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return chron_fail_errno(errno, q->path, "cannot list");
    }
    size_t cap = 16, n = 0;
    uint64_t *v = malloc(cap * sizeof *v);
    struct dirent *e;
    while (v && (e = readdir(d))) {
        const char *s = e->d_name;
        size_t len = strlen(s);
        if (len != CHRON_SEG_NAME_DIGITS + strlen(CHRON_SEG_SUFFIX) ||
            strcmp(s + CHRON_SEG_NAME_DIGITS, CHRON_SEG_SUFFIX) != 0)
            continue;
        uint64_t idx = 0;
        int ok = 1;
        for (int i = 0; i < CHRON_SEG_NAME_DIGITS; i++) {
            if (s[i] < '0' || s[i] > '9' || idx > (UINT64_MAX - 9) / 10) { ok = 0; break; }
            idx = idx * 10 + (uint64_t)(s[i] - '0');
        }
        if (!ok) continue;
        if (n == cap) {
            uint64_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) { free(v); v = NULL; break; }
            v = nv;
        }
        v[n++] = idx;
    }
    closedir(d);
    if (!v) return chron_fail(-ENOMEM, q->path, -1, "out of memory listing segments");
    qsort(v, n, sizeof *v, cmp_u64);
    *out = v;
    *count = n;
    return 0;
}

void chron_seg_unmap(chron_segmap_t *s) {
    if (s->base) munmap(s->base, s->size);
    if (s->fd >= 0) close(s->fd);
    s->base = NULL;
    s->fd = -1;
    s->size = 0;
}

int chron_seg_map(chron_qdir_t *q, uint64_t index, int writable, chron_segmap_t *out) {
    char name[40], path[CHRON_PATH_MAX];
    chron_seg_name(index, name, sizeof name);
    out->base = NULL;
    out->fd = -1;
    out->index = index;
    int fd = chron_qdir_openat(q, name, writable ? O_RDWR : O_RDONLY, path);
    if (fd < 0) return fd;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return chron_fail_errno(e, path, "cannot stat");
    }
    uint64_t size = (uint64_t)st.st_size;
    /* check the real size before mapping: a short file must never SIGBUS */
    if (size < CHRON_MIN_SEGMENT_SIZE || size > CHRON_MAX_SEGMENT_SIZE || size % 4096) {
        close(fd);
        return chron_fail(CHRON_E_CORRUPT, path, 0, "segment file size %" PRIu64 " is not a valid segment size", size);
    }
    /* a copied or restored segment may be sparse: reserve its blocks before
     * writing through a mapping, so a full disk is an error here, not SIGBUS */
    int prc = writable ? chron_prealloc(fd, size) : 0;
    if (prc < 0) {
        close(fd);
        return chron_fail_errno(-prc, path, "cannot preallocate segment");
    }
    void *b = mmap(NULL, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    if (b == MAP_FAILED) {
        int e = errno;
        close(fd);
        return chron_fail_errno(e, path, "cannot map");
    }
    const char *why = NULL;
    int rc = chron_seg_hdr_check(b, size, q->meta->queue_id, &why);
    if (rc == 0 && ((const chron_seg_hdr_t *)b)->index != index) {
        rc = CHRON_E_CORRUPT;
        why = "segment index differs from its file name";
    }
    if (rc < 0) {
        munmap(b, size);
        close(fd);
        return chron_fail(rc, path, 0, "%s", why);
    }
    out->fd = fd;
    out->base = b;
    out->size = size;
    return 0;
}

static int seg_create(chron_qdir_t *q, uint64_t index, uint64_t size, chron_segmap_t *out) {
    char name[40], tmp[48], path[CHRON_PATH_MAX];
    chron_seg_name(index, name, sizeof name);
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    unlinkat(q->dirfd, tmp, 0); /* a leftover of a publisher that died mid-creation */
    int fd = chron_qdir_openat(q, tmp, O_RDWR | O_CREAT | O_EXCL, path);
    if (fd < 0) return fd;
    int rc = chron_prealloc(fd, size);
    if (rc < 0) {
        rc = chron_fail_errno(-rc, path, "cannot preallocate segment");
        goto fail;
    }
    void *b = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (b == MAP_FAILED) {
        rc = chron_fail_errno(errno, path, "cannot map");
        goto fail;
    }
    chron_seg_hdr_t *h = b;
    h->magic = CHRON_SEG_MAGIC;
    h->version = CHRON_FORMAT_VERSION;
    h->header_size = sizeof *h;
    h->index = index;
    h->segment_size = size;
    memcpy(h->queue_id, q->meta->queue_id, 16);
    h->created_ns = chron_realtime_ns();
    h->header_crc = chron_crc32c(0, h, offsetof(chron_seg_hdr_t, header_crc));
    chron_store_relaxed(&h->base_seq, CHRON_SEQ_UNSET);
    /* the header reaches the disk before the name does: after a power loss a
     * segment with its final name always has a valid header */
    if (fdatasync(fd) != 0) {
        rc = chron_fail_errno(errno, path, "cannot sync segment header");
        munmap(b, size);
        goto fail;
    }
    char final[CHRON_PATH_MAX];
    chron_qdir_file(q, name, final, sizeof final);
    if (renameat(q->dirfd, tmp, q->dirfd, name) != 0) {
        rc = chron_fail_errno(errno, final, "cannot publish segment");
        munmap(b, size);
        goto fail;
    }
    out->index = index;
    out->fd = fd;
    out->base = b;
    out->size = size;
    return 0;
fail:
    close(fd);
    unlinkat(q->dirfd, tmp, 0);
    return rc;
}

void chron_seg_prefault(chron_segmap_t *s) {
    if (chron_prefault_write(s->base, s->size) == 0) return;
    /* no MADV_POPULATE_WRITE: write a zero into each page. Safe only because
     * nothing else writes an unactivated segment, and its data area is zero. */
    for (uint64_t off = 4095; off < s->size; off += 4096) ((volatile uint8_t *)s->base)[off] = 0;
}

int chron_seg_prepare(chron_qdir_t *q, uint64_t index, uint64_t size, chron_segmap_t *out) {
    char name[40];
    chron_seg_name(index, name, sizeof name);
    if (faccessat(q->dirfd, name, F_OK, 0) == 0) {
        if (chron_seg_map(q, index, 1, out) == 0) {
            if (chron_load_acquire(&chron_seg_hdr(out)->base_seq) == CHRON_SEQ_UNSET &&
                out->size == size) {
                /* never written to, unless the file was damaged: stray bytes
                 * must not read as records once it is activated */
                chron_zero_range(out->base, CHRON_SEG_DATA_START, out->size);
                return 0;
            }
            chron_seg_unmap(out);
        }
        /* torn, foreign or stale: nothing in it was ever published, remake it */
        unlinkat(q->dirfd, name, 0);
    }
    return seg_create(q, index, size, out);
}

int chron_lock_writer(chron_qdir_t *q, int *lock_fd) {
    char path[CHRON_PATH_MAX];
    int fd = chron_qdir_openat(q, CHRON_LOCK_FILE, O_RDWR | O_CREAT, path);
    if (fd < 0) return fd;
    int locked = flock(fd, LOCK_EX | LOCK_NB) == 0;
    /* chron_writer_alive() probes with a brief shared lock: a publisher
     * opening at that instant retries for a few milliseconds */
    for (int i = 0; !locked && errno == EWOULDBLOCK && i < 20; i++) {
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
        locked = flock(fd, LOCK_EX | LOCK_NB) == 0;
    }
    if (!locked) {
        int e = errno;
        chron_lock_rec_t rec = {0};
        int64_t pid = -1;
        if (pread(fd, &rec, sizeof rec, 0) == (ssize_t)sizeof rec && rec.magic == CHRON_LOCK_MAGIC)
            pid = rec.pid;
        close(fd);
        if (e == EWOULDBLOCK)
            return chron_fail(CHRON_E_LOCKED, q->path, pid,
                              "queue already has a live publisher (pid %lld)", (long long)pid);
        return chron_fail_errno(e, path, "cannot lock");
    }
    chron_lock_rec_t rec = {CHRON_LOCK_MAGIC, CHRON_FORMAT_VERSION, sizeof rec, (int64_t)getpid(),
                            chron_realtime_ns(), 0};
    if (pwrite(fd, &rec, sizeof rec, 0) != (ssize_t)sizeof rec) {
        int e = errno;
        close(fd);
        return chron_fail_errno(e ? e : ENOSPC, path, "cannot write lock record");
    }
    *lock_fd = fd;
    return 0;
}

int chron_writer_alive(const char *dir, int64_t *pid) {
    char path[CHRON_PATH_MAX];
    if (pid) *pid = -1;
    snprintf(path, sizeof path, "%s/%s", dir, CHRON_LOCK_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : chron_fail_errno(errno, path, "cannot open");
    int alive = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);
    } else if (errno == EWOULDBLOCK) {
        alive = 1;
        chron_lock_rec_t rec = {0};
        if (pid && pread(fd, &rec, sizeof rec, 0) == (ssize_t)sizeof rec && rec.magic == CHRON_LOCK_MAGIC)
            *pid = rec.pid;
    } else {
        int e = errno;
        close(fd);
        return chron_fail_errno(e, path, "cannot test lock");
    }
    close(fd);
    return alive;
}

uint64_t chron_zero_range(uint8_t *base, uint64_t from, uint64_t to) {
    static const uint8_t zeros[4096];
    const uint64_t chunk = sizeof zeros;
    uint64_t wiped = 0;
    while (from < to) {
        uint64_t end = (from / chunk + 1) * chunk;
        if (end > to) end = to;
        if (memcmp(base + from, zeros, end - from) != 0) {
            memset(base + from, 0, end - from);
            wiped += end - from;
        }
        from = end;
    }
    return wiped;
}
