/*
 * error.c — the last failure of each thread: code, message, path, detail.
 * Set through chron_fail(), which also records the failing function.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chronicle.h"
#include "internal.h"

static _Thread_local int err_code;
static _Thread_local char err_msg[512];
static _Thread_local char err_path[CHRON_PATH_MAX];
static _Thread_local int64_t err_detail = -1;
static _Thread_local char err_func[64]; /* where it failed, for debugging */

int chron_fail_at(const char *func, int code, const char *path, int64_t detail,
                  const char *fmt, ...) {
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    err_code = code;
    err_detail = detail;
    snprintf(err_path, sizeof err_path, "%s", path ? path : "");
    snprintf(err_func, sizeof err_func, "%s", func);
    if (path && *path)
        snprintf(err_msg, sizeof err_msg, "%s: %s", path, what);
    else
        snprintf(err_msg, sizeof err_msg, "%s", what);
    return code;
}

int chron_fail_errno_at(const char *func, int err, const char *path, const char *what) {
    return chron_fail_at(func, -err, path, -1, "%s: %s", what, strerror(err));
}

const char *chron_errmsg(void) { return err_msg; }
int chron_errcode(void) { return err_code; }
const char *chron_errpath(void) { return err_path; }
const char *chron_errfunc(void) { return err_func; }
int64_t chron_errdetail(void) { return err_detail; }

const char *chron_strerror(int code) {
    switch (code) {
    case 0: return "success";
    case CHRON_E_INVAL: return "invalid argument";
    case CHRON_E_TOOBIG: return "message too large for a segment";
    case CHRON_E_LOCKED: return "locked by another process";
    case CHRON_E_CORRUPT: return "corrupt queue file";
    case CHRON_E_VERSION: return "unknown format version";
    case CHRON_E_RANGE: return "sequence number out of range";
    case CHRON_E_INTR: return "interrupted";
    case CHRON_E_RETIRED: return "segment retired";
    default: return code < 0 && code > -4096 ? strerror(-code) : "unknown error";
    }
}
