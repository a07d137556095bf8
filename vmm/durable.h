/*
 * Making a rename durable (durable.c): the vmm's snapshots and hasvcd's
 * replaced files are written to a temporary name, synced and renamed over;
 * the rename itself lasts only once the folder that holds the name is synced.
 */
#ifndef VMM_DURABLE_H
#define VMM_DURABLE_H

/* fsync the folder that holds path ("." for a bare name): 0 or -errno. */
int durable__sync_parent_dir(const char *path);

#endif
