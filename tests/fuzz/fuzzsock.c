/* Socket helpers of the fuzz targets that play a peer (fuzzsock.h). */
#include "config.h"

#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/fuzz/fuzzsock.h"

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
