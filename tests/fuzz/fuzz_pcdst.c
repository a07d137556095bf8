/*
 * libFuzzer target: post-copy's destination (replication/postcopy_dst.c)
 * as a state machine.  After the switch-over the guest's missing pages are
 * holes registered with a real userfaultfd (no KVM: nothing touches them);
 * the source's pages arrive on the main connection and are placed
 * (UFFDIO_COPY) until PostcopyDone, answered by the Ack; when the link
 * breaks, the destination waits for the source to resume on its listening
 * socket: a hello of this session, the request connection (by nonce),
 * then its PostcopyHave bitmaps, and the pages again.  Everything the
 * source (and any stray) says is the input.
 *
 * Input: bytes 0-7: the pages pre-copy placed (bit i: page i; the rest of
 * the FUZZ_MEM bytes are missing at the switch); u16 LE length + the bytes of the first link's main
 * connection; then the resume connections as chunks of fuzz__conv_play
 * (tests/fuzz/fuzzsock.h), the source's own and strays alike.  The session
 * is FUZZ_SESSION.  postcopy__dst_serve runs the receiver on this thread;
 * it ends when every page is here and acknowledged, or when no connection
 * is left to take (-EINVAL).  Nothing here waits on a clock.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "replication/migrate.h"
#include "replication/postcopy.h"
#include "replication/wire.h"
#include "tests/fuzz/fuzzsock.h"
#include "vmm/mem.h"
#include "vmm/vm_port.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MEM (2u << 20)     /* mem__init's least */
#define FUZZ_SESSION 77

uint64_t migrate__now_ns(void)
{
	return wire__now_ns();
}

/* The VM port over bare guest memory: only what post-copy's destination calls. */
static uint64_t port_mem_size(void *mem)
{
	return ((struct vm_mem *)mem)->size;
}

static uint8_t *port_mem_host(void *mem)
{
	return ((struct vm_mem *)mem)->host;
}

static int port_mem_drop(void *mem, uint64_t off, uint64_t len)
{
	return mem__discard(mem, off, len);
}

static int port_uffd_register(void *mem, int *uffd)
{
	return mem__uffd_register(mem, uffd);
}

static int port_uffd_unregister(void *mem, int uffd)
{
	return mem__uffd_unregister(mem, uffd);
}

static const struct vm_port_ops port_ops = {
	.mem_size = port_mem_size,
	.mem_host = port_mem_host,
	.mem_drop = port_mem_drop,
	.mem_uffd_register = port_uffd_register,
	.mem_uffd_unregister = port_uffd_unregister,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm_mem mem;
	static bool ready;
	struct dirty_bitmap discard;    /* empty: no stale page */
	struct chan *mc = NULL, *rc = NULL;
	struct pc_dst *d = NULL;
	struct fuzz_conv cv;
	struct fuzz_fds fds;
	int mainp[2], reqp[2], sz = 1 << 20, ret;
	size_t len;
	pthread_t drain;
	char err[256] = "";

	if (size < 10)
		return 0;
	if (!ready) {
		if (mem__init(&mem, FUZZ_MEM))
			abort();
		ready = true;
	}
	/* Every page a hole but those pre-copy placed: the same start each run. */
	if (mem__discard(&mem, 0, mem.size) || dirty_bitmap__init(&discard, mem.size))
		abort();
	for (unsigned pg = 0; pg < 64; pg++)
		if (data[pg / 8] >> (pg % 8) & 1)
			memset(mem.host + (size_t)pg * STREAM_PAGE_SIZE, 0x5a, STREAM_PAGE_SIZE);
	ret = postcopy__dst_prepare(&(struct vm_port){ &port_ops, &mem }, &discard, &d, err,
				    sizeof(err));
	dirty_bitmap__free(&discard);
	if (ret == -EPERM || ret == -ENOSYS || ret == -EOPNOTSUPP) {
		/* userfaultfd needs root (or vm.unprivileged_userfaultfd): a skip for make check. */
		fprintf(stderr, "SKIP: fuzz_pcdst: %s\n", err);
		exit(77);
	}
	if (ret)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mainp) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, reqp))
		abort();
	setsockopt(mainp[1], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	len = (size_t)data[8] | (size_t)data[9] << 8;
	data += 10;
	size -= 10;
	len = len < size ? len : size;
	fuzz__send_all(mainp[1], data, len);
	shutdown(mainp[1], SHUT_WR);
	if (channel__wrap_fd(&mc, mainp[0], MIGRATE_DEFAULT_TIMEOUT_MS) ||
	    channel__wrap_fd(&rc, reqp[0], MIGRATE_DEFAULT_TIMEOUT_MS) ||
	    fuzz__conv_play(&cv, data + len, size - len))
		abort();
	fds.n = 0;
	fds.fd[fds.n++] = mainp[1];
	fds.fd[fds.n++] = reqp[1];
	for (unsigned i = 0; i < FUZZ_CONNS; i++)
		fds.fd[fds.n++] = cv.fd[i];
	if (pthread_create(&drain, NULL, fuzz__drain_main, &fds))
		abort();
	ret = postcopy__dst_serve(d, mc, rc, cv.lfd, FUZZ_SESSION);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "post-copy destination: %d\n", ret);
	fuzz__conv_end(&cv);
	shutdown(mainp[1], SHUT_RDWR);
	shutdown(reqp[1], SHUT_RDWR);
	pthread_join(drain, NULL);
	fuzz__conv_close(&cv);
	close(mainp[1]);
	close(reqp[1]);
	return 0;
}
