/*
 * Socket helpers of the fuzz targets that play a peer (fuzz_incoming,
 * fuzz_postcopy): everything the peer says is written before the code
 * under test reads, and what it answers is read and dropped by a thread,
 * so that neither side ever waits on the other.
 */
#ifndef TESTS_FUZZ_FUZZSOCK_H
#define TESTS_FUZZ_FUZZSOCK_H

#include <stddef.h>

#define FUZZ_MAX_FDS 16

/* Send what fits in the socket now (no waiting): the rest is dropped. */
void fuzz__send_all(int fd, const void *buf, size_t len);

/* The fds a drain thread reads; a negative one is skipped. */
struct fuzz_fds {
	int fd[FUZZ_MAX_FDS];
	unsigned n;
};

/* Thread main (arg: struct fuzz_fds): read and drop until each fd ends. */
void *fuzz__drain_main(void *arg);

#endif
