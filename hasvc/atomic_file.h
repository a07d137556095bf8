/*
 * Replace a file atomically (atomic_file.c): hasvcd writes the cluster's
 * configuration text to its own file with it, and its saved replica.
 */
#ifndef HASVC_ATOMIC_FILE_H
#define HASVC_ATOMIC_FILE_H

#include <stddef.h>

/*
 * Replace path with text: a temporary file in the same folder (the old
 * file's owner and mode, 0640 when there is none), fsync, rename over,
 * fsync of the folder.  A symbolic link is followed: its target is
 * replaced, the link stays.  0, or -errno with "cannot write PATH: why" in
 * err; on failure path is untouched and the temporary file removed.
 */
int atomic_file__write(const char *path, const char *text, char *err, size_t errlen);
/* The same with len bytes of buf (the saved replica, persist.c). */
int atomic_file__write_bytes(const char *path, const void *buf, size_t len, char *err,
			     size_t errlen);

#endif
