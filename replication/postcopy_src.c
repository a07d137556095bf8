/*
 * Post-copy, the source's side after the switch-over (docs/migration.md).
 * The destination runs the guest; this side, paused for good, owns the
 * only copy of the pages in m->bm (dirtied since last sent, or never sent).
 *
 * A reader thread takes the destination's PageRequests from the request
 * connection into a queue; the job thread answers them first, one page
 * each, and between answers pushes the rest in runs, moving its cursor to
 * just after the last page asked for: a guest that touched a page is
 * likely to touch its neighbours next.  When every page went, PostcopyDone;
 * the destination's Ack brings its fault statistics.
 *
 * If the link breaks, the job waits (MIGRATE_PC_PAUSED) for migrate__resume:
 * then it reconnects, the destination says which pages it has, and every
 * page owed and not among them is sent again.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <qb/qblog.h>

#include "replication/migrate.h"
#include "replication/wire.h"
#include "vmm/vm_hold.h"

#define QUEUE_LEN 4096      /* requests waiting; more are served by the push */
#define PUSH_RUN 64         /* pages per background frame */
/*
 * Unsent bytes allowed in the socket before the next background run: an
 * answer queues behind them, so this bounds a fault's wait on a fast link.
 */
#define PUSH_LOWAT (128 * 1024)

struct pc_src {
	struct migrate *m;
	pthread_mutex_t lock;
	uint64_t queue[QUEUE_LEN];
	unsigned head, len;
	bool reader_done;
	int reader_ret;
	char reader_err[160];
	uint8_t *rbuf;
	struct dirty_bitmap owed;   /* m->bm at the switch: what the destination lacked */
	uint64_t push_bytes, push_start;  /* --bandwidth pacing of the push */
};

static void *reader_main(void *arg)
{
	struct pc_src *s = arg;
	struct migrate *m = s->m;
	const char *why = "";
	int ret;

	for (;;) {
		struct wire_frame f;

		ret = wire__next_frame(&m->pc_req->s, s->rbuf, vm_port__mem_size(&m->port), &f, &why);
		if (!ret && (!f.msg || f.msg->msg_case != REPLICATION__MESSAGE__MSG_PAGE_REQUEST)) {
			why = "refused: not a page request on the request connection";
			ret = -EPROTO;
		}
		if (ret) {
			wire__frame_free(&f);
			break;
		}
		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < f.msg->page_request->n_offsets && s->len < QUEUE_LEN; i++)
			s->queue[(s->head + s->len++) % QUEUE_LEN] = f.msg->page_request->offsets[i];
		pthread_mutex_unlock(&s->lock);
		wire__frame_free(&f);
	}
	pthread_mutex_lock(&s->lock);
	s->reader_done = true;
	s->reader_ret = ret;
	snprintf(s->reader_err, sizeof(s->reader_err), "%s%s%s", why, ret == -EBADMSG ? "" : ": ",
		 ret == -EBADMSG ? "" : channel__strerror(ret));
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static bool need_test_clear(struct dirty_bitmap *bm, uint64_t pg)
{
	uint64_t bit = 1ULL << (pg % 64);

	if (pg >= bm->nr_pages || !(bm->bits[pg / 64] & bit))
		return false;
	bm->bits[pg / 64] &= ~bit;
	return true;
}

static int send_pages(struct migrate *m, uint64_t pg, uint32_t n)
{
	uint64_t bytes = 0, off = pg * STREAM_PAGE_SIZE;
	int ret = wire__write_pages(&m->main->s, off, vm_port__mem_host(&m->port) + off, n, NULL,
				    NULL, 0, &bytes);

	atomic_fetch_add(&m->a_bytes, bytes);
	atomic_fetch_add(&m->a_pages, n);
	return ret;
}

/* Answer the queued requests; *cursor moves after the last one. */
static int serve_requests(struct pc_src *s, uint64_t *left, uint64_t *cursor)
{
	struct migrate *m = s->m;
	uint64_t batch[64];
	unsigned n = 0;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	while (s->len && n < 64) {
		batch[n++] = s->queue[s->head];
		s->head = (s->head + 1) % QUEUE_LEN;
		s->len--;
	}
	if (s->reader_done && !ret)
		ret = s->reader_ret ? s->reader_ret : -ENODATA;
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < n && !ret; i++) {
		uint64_t pg = batch[i] / STREAM_PAGE_SIZE;

		/* Already pushed: it is on its way, or there. */
		if (!need_test_clear(&m->bm, pg))
			continue;
		ret = send_pages(m, pg, 1);
		atomic_fetch_add(&m->a_pulled, 1);
		(*left)--;
		*cursor = pg + 1;
	}
	if (!ret && n)
		ret = channel__flush(m->main);
	return ret;
}

/* The next run of needed pages from *cursor on (wrapping), sent. */
static int push_run(struct migrate *m, uint64_t *left, uint64_t *cursor)
{
	struct dirty_bitmap *bm = &m->bm;
	uint64_t pg = *cursor < bm->nr_pages ? *cursor : 0, n = 0;
	int ret;

	for (uint64_t scanned = 0; !dirty_bitmap__test(bm, pg); scanned++) {
		/* Skip empty words whole. */
		if (pg % 64 == 0 && !bm->bits[pg / 64])
			pg += 63, scanned += 63;
		pg = pg + 1 < bm->nr_pages ? pg + 1 : 0;
		if (scanned > bm->nr_pages + 64)
			return -EIO; /* *left says there is one: a bookkeeping bug */
	}
	while (n < PUSH_RUN && pg + n < bm->nr_pages && need_test_clear(bm, pg + n))
		n++;
	ret = send_pages(m, pg, (uint32_t)n);
	atomic_fetch_add(&m->a_pushed, n);
	*left -= n;
	*cursor = pg + n;
	if (!ret)
		ret = channel__flush(m->main);
	return ret;
}

static int finish(struct migrate *m, uint8_t *buf, uint64_t sent, char *err, size_t errlen)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT;
	Replication__PostcopyDone d = REPLICATION__POSTCOPY_DONE__INIT;
	struct wire_frame f = { 0 };
	const char *why = "";
	int ret;

	d.pages = sent;
	msg.msg_case = REPLICATION__MESSAGE__MSG_POSTCOPY_DONE;
	msg.postcopy_done = &d;
	ret = wire__write_msg(&m->main->s, &msg);
	if (!ret)
		ret = channel__flush(m->main);
	if (!ret)
		ret = wire__next_frame(&m->main->s, buf, vm_port__mem_size(&m->port), &f, &why);
	if (!ret && (!f.msg || f.msg->msg_case != REPLICATION__MESSAGE__MSG_ACK ||
		     !f.msg->ack->ok)) {
		why = "the destination did not acknowledge the last pages";
		ret = -EPROTO;
	}
	if (ret) {
		snprintf(err, errlen, "post-copy: %s", why);
	} else {
		pthread_mutex_lock(&m->lock);
		m->info.faults = f.msg->ack->faults;
		m->info.fault_mean_us = f.msg->ack->fault_mean_us;
		m->info.fault_p99_us = f.msg->ack->fault_p99_us;
		m->info.fault_max_us = f.msg->ack->fault_max_us;
		pthread_mutex_unlock(&m->lock);
	}
	wire__frame_free(&f);
	return ret;
}

/* The background push keeps to --bandwidth; answers to faults do not. */
static bool over_budget(struct pc_src *s)
{
	uint64_t bw = (uint64_t)s->m->p.bandwidth_mibs << 20;

	return bw && s->push_bytes * 1000000000ULL / bw >
		     migrate__now_ns() - s->push_start;
}

static int push_all(struct pc_src *s, uint64_t *sent)
{
	struct migrate *m = s->m;
	uint64_t left = dirty_bitmap__count(&m->bm), cursor = 0, moved = migrate__now_ns();
	int ret = 0;

	*sent = left;
	while (left && !ret) {
		struct pollfd pfd = { m->main->fd, POLLOUT, 0 };

		if (atomic_load(&m->cancel))
			return -ECANCELED;
		ret = serve_requests(s, &left, &cursor);
		/* Push only when the socket has drained to PUSH_LOWAT (else poll again). */
		if (!ret && left && !over_budget(s) && poll(&pfd, 1, 1) > 0) {
			uint64_t before = left;

			ret = push_run(m, &left, &cursor);
			s->push_bytes += (before - left) * STREAM_PAGE_SIZE;
			moved = migrate__now_ns();
		} else if (!ret && left && over_budget(s)) {
			poll(NULL, 0, 1);
			moved = migrate__now_ns();
		} else if (!ret && left &&
			   migrate__now_ns() - moved > MIGRATE_DEFAULT_TIMEOUT_MS * 1000000ULL) {
			/* Nothing drained from the socket for that long: a dead link. */
			ret = -ETIMEDOUT;
		}
		atomic_store(&m->a_remaining, left * STREAM_PAGE_SIZE);
	}
	return ret;
}

/* One link's worth: push (and answer) until done, or the link breaks. */
static int run_link(struct pc_src *s, uint8_t *buf, uint64_t *sent, char *err, size_t errlen)
{
	struct timeval forever = { 0, 0 };
	struct migrate *m = s->m;
	pthread_t tid;
	int ret;

	s->head = s->len = 0;
	s->reader_done = false;
	s->reader_err[0] = 0;
	setsockopt(m->main->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &(int){ PUSH_LOWAT }, sizeof(int));
	/* The guest may touch no missing page for a long time: no read limit. */
	setsockopt(m->pc_req->fd, SOL_SOCKET, SO_RCVTIMEO, &forever, sizeof(forever));
	ret = -pthread_create(&tid, NULL, reader_main, s);
	if (ret) {
		snprintf(err, errlen, "post-copy: cannot start the request reader");
		return ret;
	}
	ret = push_all(s, sent);
	if (ret)
		snprintf(err, errlen, "post-copy: %s", ret == -ECANCELED ? "cancelled" :
			 s->reader_done && s->reader_err[0] ? s->reader_err : channel__strerror(ret));
	else
		ret = finish(m, buf, *sent, err, errlen);
	channel__shutdown(m->pc_req);
	pthread_join(tid, NULL);
	return ret;
}

static void close_link(struct migrate *m)
{
	pthread_mutex_lock(&m->lock);
	channel__close(m->main);
	channel__close(m->pc_req);
	m->main = m->pc_req = NULL;
	pthread_mutex_unlock(&m->lock);
}

/* MIGRATE_PC_PAUSED until migrate__resume gives a URI (0) or a cancel. */
static int wait_resume(struct migrate *m, const char *why)
{
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	m->info.state = MIGRATE_PC_PAUSED;
	snprintf(m->info.error, sizeof(m->info.error), "%s", why);
	m->resume_uri[0] = 0;
	pthread_mutex_unlock(&m->lock);
	qb_log(LOG_ERR, "%s; the guest waits at the destination for its missing pages: "
	       "`vmm ctl NAME migrate-resume URI` reconnects", why);
	pthread_mutex_lock(&m->lock);
	while (!m->resume_uri[0] && !atomic_load(&m->cancel))
		pthread_cond_wait(&m->cond, &m->lock);
	if (atomic_load(&m->cancel))
		ret = -ECANCELED;
	else
		snprintf(m->p.uri, sizeof(m->p.uri), "%s", m->resume_uri);
	m->info.state = MIGRATE_ACTIVE;
	m->info.error[0] = 0;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* After a resume's hello: owed pages the destination does not have. */
static int read_have(struct pc_src *s, uint8_t *buf, char *err, size_t errlen)
{
	struct migrate *m = s->m;
	uint64_t words = (m->bm.nr_pages + 63) / 64;

	memcpy(m->bm.bits, s->owed.bits, words * 8);
	for (;;) {
		struct wire_frame f;
		const char *why = "";
		bool last;
		int ret = wire__next_frame(&m->main->s, buf, vm_port__mem_size(&m->port), &f, &why);

		if (!ret && (!f.msg || f.msg->msg_case != REPLICATION__MESSAGE__MSG_POSTCOPY_HAVE)) {
			why = "the destination did not say which pages it has";
			ret = -EPROTO;
		}
		if (ret) {
			wire__frame_free(&f);
			snprintf(err, errlen, "post-copy resume: %s", why);
			return ret;
		}
		/* Bit i of byte j is page first_page + 8j + i, as m->bm's words. */
		for (size_t j = 0; j < f.msg->postcopy_have->bitmap.len; j++)
			((uint8_t *)m->bm.bits)[f.msg->postcopy_have->first_page / 8 + j] &=
				(uint8_t)~f.msg->postcopy_have->bitmap.data[j];
		last = f.msg->postcopy_have->last;
		wire__frame_free(&f);
		if (last)
			return 0;
	}
}

int postcopy__source(struct migrate *m, uint8_t *buf, char *err, size_t errlen)
{
	struct pc_src *s = calloc(1, sizeof(*s));
	uint64_t t0 = migrate__now_ns(), sent = 0;
	int ret = -ENOMEM;

	if (!s || !(s->rbuf = malloc(WIRE_FRAME_MAX)) ||
	    dirty_bitmap__init(&s->owed, vm_port__mem_size(&m->port))) {
		snprintf(err, errlen, "post-copy: out of memory");
		goto out;
	}
	s->m = m;
	s->push_start = migrate__now_ns();
	memcpy(s->owed.bits, m->bm.bits, (m->bm.nr_pages + 63) / 64 * 8);
	pthread_mutex_init(&s->lock, NULL);
	for (;;) {
		ret = run_link(s, buf, &sent, err, errlen);
		while (ret && ret != -ECANCELED) {
			close_link(m);
			ret = wait_resume(m, err);
			if (ret) {
				snprintf(err, errlen, "post-copy: cancelled while the link was down");
				break;
			}
			ret = migrate__connect(m, buf, err, errlen);
			if (!ret)
				ret = read_have(s, buf, err, errlen);
			if (!ret) {
				qb_log(LOG_NOTICE, "post-copy resumed to %s: %llu pages still owed",
				       m->p.uri, (unsigned long long)dirty_bitmap__count(&m->bm));
				ret = -EAGAIN; /* run the link again */
				break;
			}
		}
		if (ret != -EAGAIN)
			break;
	}
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_lock(&m->lock);
	m->info.residence_ms = (migrate__now_ns() - t0) / 1000000;
	pthread_mutex_unlock(&m->lock);
	if (!ret)
		qb_log(LOG_NOTICE, "post-copy: every page is at the destination after %llu ms "
		       "(%llu pulled on demand, %llu pushed)",
		       (unsigned long long)m->info.residence_ms,
		       (unsigned long long)atomic_load(&m->a_pulled),
		       (unsigned long long)atomic_load(&m->a_pushed));
out:
	if (s) {
		dirty_bitmap__free(&s->owed);
		free(s->rbuf);
	}
	free(s);
	return ret;
}
