/*
 * libFuzzer target: post-copy's source (postcopy__source) as a state
 * machine.  After the switch-over the source owns the pages the
 * destination lacks; it answers the destination's page requests, pushes
 * the rest, ends with PostcopyDone and waits for the Ack, and when a link
 * breaks it waits for migrate__resume, reconnects, and reads which pages
 * the destination has (PostcopyHave) before it goes on.  Everything the
 * destination says is the input.
 *
 * Input: byte 0: the pages owed (bit i: page i of FUZZ_PAGES, the low 8);
 * byte 1: more of them (pages 8-15, as a run pattern over the rest).  Then
 * up to FUZZ_LINKS links, each
 *   u8 flags (bit 0: the request connection closes after its bytes),
 *   u16 LE length + the bytes on the main connection (Ack, PostcopyHave...),
 *   u16 LE length + the bytes on the request connection (PageRequests...)
 * The first link is the one of the switch-over; each later one is what a
 * resume connects to.  When the source waits for a resume and no link is
 * left, the migration is cancelled.
 *
 * Stand-ins: migrate__connect (migrate_send.c) hands over the next link's
 * socket pairs; the operator's migrate-resume is the harness seeing the
 * source's "waiting" log line (a libqb custom log target), which makes it
 * deterministic: nothing here waits on a clock.  A thread reads what the
 * source sends, so that it never blocks on us.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "replication/migrate.h"
#include "replication/wire.h"
#include "tests/fuzz/fuzzsock.h"
#include "vmm/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PAGES 64
#define FUZZ_LINKS 4

struct link {
	int main[2], req[2];        /* [0]: the source's end, [1]: ours */
};

struct harness {
	struct migrate m;
	struct link links[FUZZ_LINKS];
	unsigned nr_links, next;    /* links made; the next one to hand over */
};

static struct harness *cur;

uint64_t migrate__now_ns(void)
{
	return wire__now_ns();
}

/* A resume: the next link's connections, as channel__connect would give them. */
int migrate__connect(struct migrate *m, uint8_t *buf, char *err, size_t errlen)
{
	struct link *l;
	struct chan *c = NULL, *r = NULL;

	(void)buf;
	if (cur->next >= cur->nr_links) {
		snprintf(err, errlen, "fuzz: no link left");
		return -ECONNREFUSED;
	}
	l = &cur->links[cur->next++];
	if (channel__wrap_fd(&c, l->main[0], MIGRATE_DEFAULT_TIMEOUT_MS) ||
	    channel__wrap_fd(&r, l->req[0], MIGRATE_DEFAULT_TIMEOUT_MS))
		abort();
	l->main[0] = l->req[0] = -1;    /* the channels own them */
	pthread_mutex_lock(&m->lock);
	m->main = c;
	m->pc_req = r;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* The source waits for migrate-resume: resume if a link is left, else cancel. */
static void on_log(int32_t t, struct qb_log_callsite *cs, struct timespec *ts, const char *msg)
{
	struct migrate *m;

	(void)t, (void)ts;
	if (!cur || !strstr(cs->filename, "postcopy_src.c") || !strstr(msg, "migrate-resume"))
		return;
	m = &cur->m;
	pthread_mutex_lock(&m->lock);
	if (cur->next < cur->nr_links)
		snprintf(m->resume_uri, sizeof(m->resume_uri), "tcp:fuzz:%u", cur->next);
	else
		atomic_store(&m->cancel, true);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void log_init(void)
{
	int32_t t;

	qb_log_init("fuzz_postcopy", LOG_USER, LOG_EMERG);
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_FALSE);
	qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_FALSE);
	t = qb_log_custom_open(on_log, NULL, NULL, NULL);
	if (t < 0)
		abort();
	qb_log_filter_ctl(t, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_ERR);
	qb_log_ctl(t, QB_LOG_CONF_ENABLED, QB_TRUE);
}

static int pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

/* One link's bytes from the input: *data and *size move past them. */
static bool take(const uint8_t **data, size_t *size, const uint8_t **p, size_t *len)
{
	if (*size < 2)
		return false;
	*len = (size_t)(*data)[0] | (size_t)(*data)[1] << 8;
	*data += 2;
	*size -= 2;
	*len = *len < *size ? *len : *size;
	*p = *data;
	*data += *len;
	*size -= *len;
	return true;
}

static void make_links(struct harness *h, const uint8_t *data, size_t size)
{
	while (h->nr_links < FUZZ_LINKS && size >= 1) {
		struct link *l = &h->links[h->nr_links];
		uint8_t flags = data[0];
		const uint8_t *mp = NULL, *rp = NULL;
		size_t ml = 0, rl = 0;
		int sz = 1 << 20;

		data++;
		size--;
		take(&data, &size, &mp, &ml);
		take(&data, &size, &rp, &rl);
		if (pair(l->main) || pair(l->req))
			abort();
		setsockopt(l->main[1], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
		setsockopt(l->req[1], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
		fuzz__send_all(l->main[1], mp, ml);
		fuzz__send_all(l->req[1], rp, rl);
		shutdown(l->main[1], SHUT_WR);
		if (flags & 1)
			shutdown(l->req[1], SHUT_WR);
		h->nr_links++;
	}
}

/* The source's view of the RAM through its port (vmm/vm_port.h). */
static uint64_t port_mem_size(void *vm)
{
	return ((struct vm *)vm)->mem.size;
}

static uint8_t *port_mem_host(void *vm)
{
	return ((struct vm *)vm)->mem.host;
}

static const struct vm_port_ops port_ops = {
	.mem_size = port_mem_size,
	.mem_host = port_mem_host,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct harness h;
	static struct vm vm;
	static uint8_t *ram, *buf;
	struct fuzz_fds fds;
	pthread_t drain;
	char err[256] = "";
	int ret;

	if (size < 2)
		return 0;
	if (!ram) {
		log_init();
		ram = calloc(FUZZ_PAGES, STREAM_PAGE_SIZE);
		buf = malloc(WIRE_FRAME_MAX);
		if (!ram || !buf)
			abort();
	}
	memset(&h, 0, sizeof(h));
	memset(&vm, 0, sizeof(vm));
	vm.mem.host = ram;
	vm.mem.size = FUZZ_PAGES * STREAM_PAGE_SIZE;
	h.m.port = (struct vm_port){ &port_ops, &vm };
	pthread_mutex_init(&h.m.lock, NULL);
	pthread_cond_init(&h.m.cond, NULL);
	if (dirty_bitmap__init(&h.m.bm, vm.mem.size))
		abort();
	for (unsigned pg = 0; pg < FUZZ_PAGES; pg++)
		if (pg < 8 ? data[0] >> pg & 1 : data[1] >> (pg % 8) & 1)
			h.m.bm.bits[pg / 64] |= 1ULL << (pg % 64);
	make_links(&h, data + 2, size - 2);
	if (!h.nr_links)
		goto out;
	fds.n = 0;
	for (unsigned i = 0; i < h.nr_links; i++) {
		fds.fd[fds.n++] = h.links[i].main[1];
		fds.fd[fds.n++] = h.links[i].req[1];
	}
	if (pthread_create(&drain, NULL, fuzz__drain_main, &fds))
		abort();
	cur = &h;
	if (migrate__connect(&h.m, buf, err, sizeof(err)))
		abort();
	ret = postcopy__source(&h.m, buf, err, sizeof(err));
	if (ret && !err[0])
		abort(); /* every failure says why */
	if (!ret && dirty_bitmap__count(&h.m.bm))
		abort(); /* done, yet pages are owed */
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "postcopy source: %d %s (links used %u of %u)\n", ret, err, h.next,
			h.nr_links);
	cur = NULL;
	channel__close(h.m.main);
	channel__close(h.m.pc_req);
	for (unsigned i = 0; i < h.nr_links; i++) {
		shutdown(h.links[i].main[1], SHUT_RDWR);
		shutdown(h.links[i].req[1], SHUT_RDWR);
	}
	pthread_join(drain, NULL);
out:
	for (unsigned i = 0; i < h.nr_links; i++) {
		int *ends[] = { h.links[i].main, h.links[i].req };

		for (unsigned j = 0; j < 2; j++)
			for (unsigned k = 0; k < 2; k++)
				if (ends[j][k] >= 0)
					close(ends[j][k]);
	}
	dirty_bitmap__free(&h.m.bm);
	pthread_cond_destroy(&h.m.cond);
	pthread_mutex_destroy(&h.m.lock);
	return 0;
}
