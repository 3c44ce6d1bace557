/* position.h — reader position files (position.c). */
#ifndef CHRON_POSITION_H
#define CHRON_POSITION_H

#include "internal.h"

typedef struct chron_posfile {
    int fd;
    chron_pos_file_t *file; /* shared mapping */
    int have;               /* a committed position exists */
    chron_pos_slot_t slot;  /* the newest valid slot */
    char path[CHRON_PATH_MAX];
} chron_posfile_t;

/* Open (creating) and lock readers/<name>.pos; name must be valid. */
int chron_pos_open(chron_qdir_t *q, const char *name, chron_posfile_t *p);
/* Write the older slot with the new position. */
void chron_pos_commit(chron_posfile_t *p, uint64_t next_seq, uint64_t segment, uint64_t offset);
int chron_pos_sync(chron_posfile_t *p);
void chron_pos_close(chron_posfile_t *p);
/* The newest valid slot of a position file: 1 found, 0 none. */
int chron_pos_best(const chron_pos_file_t *f, chron_pos_slot_t *out);

#endif
