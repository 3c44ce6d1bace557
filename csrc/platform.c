/*
 * platform.c — everything that differs between operating systems: waiting
 * on and waking an address shared between processes, the cross-process
 * memory barrier, disk preallocation, the monotonic clock.
 *
 * Each branch of the ladder defines the same functions. Linux: shared (not
 * _PRIVATE) futexes and membarrier(2). macOS: __ulock_wait/__ulock_wake with
 * UL_COMPARE_AND_WAIT_SHARED. Elsewhere: a bounded sleep-poll.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int64_t chron_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#if defined(__linux__)
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>

int chron_futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tp = &ts;
    }
    long rc = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, expected, tp, NULL, 0);
    if (rc == -1 && errno == EINTR) return CHRON_E_INTR;
    return 0; /* woken, value changed (EAGAIN) or timed out: caller re-checks */
}

int chron_futex_wake_all(_Atomic uint32_t *addr) {
    long n = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
    return n < 0 ? -1 : (int)n;
}

int chron_membarrier_register(void) {
    long mask = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (mask < 0 || !(mask & MEMBARRIER_CMD_GLOBAL_EXPEDITED)) return -1;
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0 ? 0 : -1;
}

int chron_membarrier(void) {
    return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0 ? 0 : -1;
}

int chron_prefault_write(void *base, uint64_t len) {
#ifdef MADV_POPULATE_WRITE
    return madvise(base, len, MADV_POPULATE_WRITE) == 0 ? 0 : -1;
#else
    (void)base;
    (void)len;
    return -1;
#endif
}

int chron_prealloc(int fd, uint64_t size) {
    if (fallocate(fd, 0, 0, (off_t)size) == 0) return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS) return -errno;
    int rc = posix_fallocate(fd, 0, (off_t)size);
    return rc ? -rc : 0;
}

#elif defined(__APPLE__)
#include <sys/types.h>

#define UL_COMPARE_AND_WAIT_SHARED 3
#define ULF_WAKE_ALL 0x00000100
extern int __ulock_wait(uint32_t operation, void *addr, uint64_t value, uint32_t timeout_us);
extern int __ulock_wake(uint32_t operation, void *addr, uint64_t wake_value);

int chron_futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns) {
    uint32_t us = 0; /* 0 = no limit */
    if (timeout_ns >= 0) {
        int64_t t = timeout_ns / 1000;
        us = t < 1 ? 1 : (t > UINT32_MAX ? UINT32_MAX : (uint32_t)t);
    }
    int rc = __ulock_wait(UL_COMPARE_AND_WAIT_SHARED, (void *)addr, expected, us);
    if (rc < 0 && errno == EINTR) return CHRON_E_INTR;
    return 0;
}

int chron_futex_wake_all(_Atomic uint32_t *addr) {
    int rc = __ulock_wake(UL_COMPARE_AND_WAIT_SHARED | ULF_WAKE_ALL, (void *)addr, 0);
    if (rc == 0) return 1; /* at least one */
    return errno == ENOENT ? 0 : -1;
}

int chron_membarrier_register(void) { return -1; }
int chron_membarrier(void) { return -1; }
int chron_prefault_write(void *base, uint64_t len) { (void)base; (void)len; return -1; }

int chron_prealloc(int fd, uint64_t size) {
    fstore_t fs = {F_ALLOCATECONTIG | F_ALLOCATEALL, F_PEOFPOSMODE, 0, (off_t)size, 0};
    if (fcntl(fd, F_PREALLOCATE, &fs) == -1) {
        fs.fst_flags = F_ALLOCATEALL;
        if (fcntl(fd, F_PREALLOCATE, &fs) == -1) return -errno;
    }
    return ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
}

#else /* portable fallback: poll in short sleeps */

int chron_futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns) {
    int64_t step = 100000; /* 100 us */
    if (timeout_ns >= 0 && timeout_ns < step) step = timeout_ns;
    if (chron_load_acquire(addr) != expected) return 0;
    struct timespec ts = {0, (long)step};
    if (nanosleep(&ts, NULL) == -1 && errno == EINTR) return CHRON_E_INTR;
    return 0;
}

int chron_futex_wake_all(_Atomic uint32_t *addr) {
    (void)addr;
    return -1; /* pollers need no wake; how many poll is unknown */
}
int chron_membarrier_register(void) { return -1; }
int chron_membarrier(void) { return -1; }
int chron_prefault_write(void *base, uint64_t len) { (void)base; (void)len; return -1; }

int chron_prealloc(int fd, uint64_t size) {
    int rc = posix_fallocate(fd, 0, (off_t)size);
    return rc ? -rc : 0;
}
#endif
