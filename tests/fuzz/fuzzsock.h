/*
 * Socket helpers of the fuzz targets that play a peer (fuzz_incoming,
 * fuzz_postcopy): everything the peer says is written before the code
 * under test reads, and what it answers is read and dropped by a thread,
 * so that neither side ever waits on the other.
 */
#ifndef TESTS_FUZZ_FUZZSOCK_H
#define TESTS_FUZZ_FUZZSOCK_H

#include <stddef.h>
#include <stdint.h>

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

/*
 * A conversation on a listening socket: connections opened in the order
 * they first appear in a list of chunks (u8 connection mod FUZZ_CONNS,
 * u16 LE length, the bytes), each sent its bytes, then its sending side
 * closed; the listening socket is then shut down, so that accepting past
 * the last connection fails at once (-EINVAL from channel__accept).
 */
#define FUZZ_CONNS 8

struct fuzz_conv {
	int lfd;
	int fd[FUZZ_CONNS];         /* our side of each connection, -1: not opened */
};

/* Listen (abstract AF_UNIX address, autobind) and play the chunks: 0, or -1. */
int fuzz__conv_play(struct fuzz_conv *cv, const uint8_t *data, size_t size);
/* Once the code under test returned: end every connection (a drain sees EOF). */
void fuzz__conv_end(struct fuzz_conv *cv);
/* Then close everything. */
void fuzz__conv_close(struct fuzz_conv *cv);

#endif
