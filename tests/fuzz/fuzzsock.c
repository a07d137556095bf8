/* Socket helpers of the fuzz targets that play a peer (fuzzsock.h). */
#include "config.h"

#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/fuzz/fuzzsock.h"

/* Everything is written before the code under test reads: room for all of it. */
#define FUZZ_SNDBUF (4 << 20)

void fuzz__send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

void *fuzz__drain_main(void *arg)
{
	const struct fuzz_fds *f = arg;
	struct pollfd pfd[FUZZ_MAX_FDS];
	uint8_t buf[16384];
	unsigned open = 0;

	for (unsigned i = 0; i < f->n; i++) {
		pfd[i] = (struct pollfd){ f->fd[i], POLLIN, 0 };
		open += f->fd[i] >= 0;
	}
	while (open && poll(pfd, f->n, -1) > 0) {
		for (unsigned i = 0; i < f->n; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if (read(pfd[i].fd, buf, sizeof(buf)) <= 0) {
				pfd[i].fd = -1;
				open--;
			}
		}
	}
	return NULL;
}

/* A listening socket with an address the kernel picks (abstract, autobind). */
static int listen_local(struct sockaddr_un *sa, socklen_t *len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	*len = sizeof(*sa);
	if (bind(fd, (struct sockaddr *)sa, sizeof(sa_family_t)) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)sa, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int open_conn(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), sz = FUZZ_SNDBUF;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (connect(fd, (const struct sockaddr *)sa, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

int fuzz__conv_play(struct fuzz_conv *cv, const uint8_t *data, size_t size)
{
	struct sockaddr_un sa;
	socklen_t salen;

	for (unsigned i = 0; i < FUZZ_CONNS; i++)
		cv->fd[i] = -1;
	cv->lfd = listen_local(&sa, &salen);
	if (cv->lfd < 0)
		return -1;
	while (size >= 3) {
		unsigned id = data[0] % FUZZ_CONNS;
		size_t len = (size_t)data[1] | (size_t)data[2] << 8;

		data += 3;
		size -= 3;
		len = len < size ? len : size;
		if (cv->fd[id] < 0)
			cv->fd[id] = open_conn(&sa, salen);
		if (cv->fd[id] >= 0)
			fuzz__send_all(cv->fd[id], data, len);
		data += len;
		size -= len;
	}
	for (unsigned i = 0; i < FUZZ_CONNS; i++)
		if (cv->fd[i] >= 0)
			shutdown(cv->fd[i], SHUT_WR);
	shutdown(cv->lfd, SHUT_RDWR);
	return 0;
}

void fuzz__conv_end(struct fuzz_conv *cv)
{
	for (unsigned i = 0; i < FUZZ_CONNS; i++)
		if (cv->fd[i] >= 0)
			shutdown(cv->fd[i], SHUT_RDWR);
}

void fuzz__conv_close(struct fuzz_conv *cv)
{
	for (unsigned i = 0; i < FUZZ_CONNS; i++)
		if (cv->fd[i] >= 0)
			close(cv->fd[i]);
	close(cv->lfd);
}
