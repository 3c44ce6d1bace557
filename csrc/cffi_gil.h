/*
 * cffi_gil.h — which calls of the Python binding release the GIL.
 *
 * Included only by the cffi extension (build_ffi.py), after Python.h.
 *
 * cffi releases the GIL around every C call. For the calls on the message
 * path (an append or a read: tens of nanoseconds) handing the GIL over and
 * taking it back costs more than the call itself, so the generated wrappers
 * here keep it: the release macros they use are made empty below. Calls that
 * can block on the file system, on another process or on time (opening,
 * closing, flushing, syncing a commit, waiting, walking whole segments)
 * release it themselves through the wrappers defined here, so other Python
 * threads (an asyncio loop, a retention thread) run meanwhile.
 */
#ifndef CHRON_CFFI_GIL_H
#define CHRON_CFFI_GIL_H

#include "chronicle.h"

/* Run `call` without the GIL. Only the generated `lib.` wrappers call
 * these, and they hold the GIL; the binding takes no function pointers. */
#define CHRON_WITHOUT_GIL(call)                                                                    \
    do {                                                                                           \
        PyThreadState *chron_save_ = PyEval_SaveThread();                                          \
        call;                                                                                      \
        PyEval_RestoreThread(chron_save_);                                                         \
    } while (0)

#define CHRON_NOGIL(ret, name, params, args)                                                       \
    static ret chron_nogil_##name params {                                                         \
        ret result_;                                                                               \
        CHRON_WITHOUT_GIL(result_ = name args);                                                    \
        return result_;                                                                            \
    }

#define CHRON_NOGIL_VOID(name, params, args)                                                       \
    static void chron_nogil_##name params { CHRON_WITHOUT_GIL(name args); }

CHRON_NOGIL(int, chron_writer_open, (const char *d, const chron_writer_opts_t *o, chron_writer_t **w),
            (d, o, w))
CHRON_NOGIL(int, chron_writer_flush, (chron_writer_t * w, int a), (w, a))
CHRON_NOGIL_VOID(chron_writer_close, (chron_writer_t * w), (w))
CHRON_NOGIL(int, chron_writer_alive, (const char *d, int64_t *pid), (d, pid))
CHRON_NOGIL(int, chron_reader_open,
            (const char *d, const char *n, const chron_reader_opts_t *o, chron_reader_t **r), (d, n, o, r))
CHRON_NOGIL(int, chron_reader_wait, (chron_reader_t * r, int64_t t), (r, t))
CHRON_NOGIL(int, chron_reader_sleep, (chron_reader_t * r, uint64_t k, int64_t t), (r, k, t))
CHRON_NOGIL(int, chron_reader_commit, (chron_reader_t * r, int s), (r, s))
CHRON_NOGIL(int, chron_reader_seek, (chron_reader_t * r, uint64_t s), (r, s))
CHRON_NOGIL_VOID(chron_reader_close, (chron_reader_t * r), (r))
CHRON_NOGIL(int, chron_tail_wait, (void *m, const void *c, int64_t t), (m, c, t))
CHRON_NOGIL(uint64_t, chron_walk,
            (const void *b, uint64_t s, uint64_t p, uint64_t q, uint64_t m, chron_rec_info_t *r, chron_walk_t *o),
            (b, s, p, q, m, r, o))
CHRON_NOGIL(uint64_t, chron_nonzero_end, (const void *b, uint64_t f, uint64_t t), (b, f, t))
CHRON_NOGIL(uint32_t, chron_crc32c, (uint32_t c, const void *b, size_t n), (c, b, n))

/* the generated wrappers call these names: send them to the ones above */
#define chron_writer_open(...) chron_nogil_chron_writer_open(__VA_ARGS__)
#define chron_writer_flush(...) chron_nogil_chron_writer_flush(__VA_ARGS__)
#define chron_writer_close(...) chron_nogil_chron_writer_close(__VA_ARGS__)
#define chron_writer_alive(...) chron_nogil_chron_writer_alive(__VA_ARGS__)
#define chron_reader_open(...) chron_nogil_chron_reader_open(__VA_ARGS__)
#define chron_reader_wait(...) chron_nogil_chron_reader_wait(__VA_ARGS__)
#define chron_reader_sleep(...) chron_nogil_chron_reader_sleep(__VA_ARGS__)
#define chron_reader_commit(...) chron_nogil_chron_reader_commit(__VA_ARGS__)
#define chron_reader_seek(...) chron_nogil_chron_reader_seek(__VA_ARGS__)
#define chron_reader_close(...) chron_nogil_chron_reader_close(__VA_ARGS__)
#define chron_tail_wait(...) chron_nogil_chron_tail_wait(__VA_ARGS__)
#define chron_walk(...) chron_nogil_chron_walk(__VA_ARGS__)
#define chron_nonzero_end(...) chron_nogil_chron_nonzero_end(__VA_ARGS__)
#define chron_crc32c(...) chron_nogil_chron_crc32c(__VA_ARGS__)

/* every other call keeps the GIL */
#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS {
#define Py_END_ALLOW_THREADS }

#endif
