/*
 * Post-copy, the destination's side (docs/migration.md).  The guest runs
 * here while part of its memory is still on the source.  Those pages are
 * holes in the memfd (never received, or discarded as stale), and the
 * whole mapping is registered with userfaultfd for missing pages: a vCPU
 * (through KVM) or a vmm thread touching one blocks until it is placed.
 *
 *   fault thread:    reads the faults, asks the source for each page once
 *                    (PageRequest on the request connection)
 *   receiver thread: places the pages the source sends on the main
 *                    connection (UFFDIO_COPY, which wakes the waiters),
 *                    answered or pushed alike, until PostcopyDone; then
 *                    unregisters (the rest of RAM is holes that read as
 *                    zero, as on the source) and acknowledges with the
 *                    fault statistics.
 *
 * If the link breaks, the vCPUs that touch a missing page wait, and the
 * receiver listens on the incoming URI again for the same source to resume
 * (Hello.resume with this session): it tells the source which pages it has
 * (PostcopyHave) and asks again for those the guest waits on.  If the
 * source died, the guest's memory cannot be made whole: the VM is lost.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/userfaultfd.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "replication/migrate.h"
#include "replication/postcopy.h"
#include "replication/wire.h"

#define PENDING_MAX 256

struct pc_pending {
	uint64_t pg, t_ns;
};

struct pc_dst {
	struct vm_port port;
	uint8_t *host;             /* the port's RAM, mem_size bytes */
	uint64_t mem_size;
	struct chan *main, *req;
	pthread_mutex_t req_lock;  /* req: the fault thread writes, the receiver swaps */
	char uri[512], ca[1024], cert[1024], key[1024], peer[256], crl[1024];
	struct mig_tls tls;
	uint64_t session;
	int uffd, stop_fd;
	uint64_t *have;            /* pages placed (atomic words) */
	uint8_t *asked;            /* fault thread: pages requested */
	uint64_t nr_pages;
	pthread_mutex_t lock;      /* pending, lat */
	struct pc_pending pending[PENDING_MAX];
	unsigned nr_pending;
	uint32_t *lat_us;
	size_t nr_lat, cap_lat;
	uint8_t *buf;
	pthread_t fault_tid;
	bool fault_started;
	uint64_t placed;
};

static bool have(const struct pc_dst *d, uint64_t pg)
{
	return __atomic_load_n(&d->have[pg / 64], __ATOMIC_ACQUIRE) >> (pg % 64) & 1;
}

/* One fault: ask for its page unless asked already (others wait on it too). */
static void note_fault(struct pc_dst *d, uint64_t addr, uint64_t *req, size_t *n)
{
	uint64_t pg = (addr - (uintptr_t)d->host) / STREAM_PAGE_SIZE;

	if (pg >= d->nr_pages || d->asked[pg])
		return;
	/*
	 * Under the lock, against placed(): either the page is there already,
	 * or placed() finds this entry and times it from a later clock reading.
	 */
	pthread_mutex_lock(&d->lock);
	if (!have(d, pg)) {
		d->asked[pg] = 1;
		req[(*n)++] = pg * STREAM_PAGE_SIZE;
		if (d->nr_pending < PENDING_MAX)
			d->pending[d->nr_pending++] = (struct pc_pending){ pg, migrate__now_ns() };
	}
	pthread_mutex_unlock(&d->lock);
}

static int send_requests(struct pc_dst *d, uint64_t *req, size_t n)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT;
	Replication__PageRequest pr = REPLICATION__PAGE_REQUEST__INIT;
	int ret;

	pr.offsets = req;
	pr.n_offsets = n;
	msg.msg_case = REPLICATION__MESSAGE__MSG_PAGE_REQUEST;
	msg.page_request = &pr;
	ret = wire__write_msg(&d->req->s, &msg);
	return ret ? ret : channel__flush(d->req);
}

static void *fault_main(void *arg)
{
	struct pc_dst *d = arg;
	struct pollfd pfd[2] = { { d->uffd, POLLIN, 0 }, { d->stop_fd, POLLIN, 0 } };
	struct uffd_msg msgs[32];
	uint64_t req[WIRE_REQUEST_MAX];

	for (;;) {
		size_t n = 0;
		ssize_t got;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		got = read(d->uffd, msgs, sizeof(msgs));
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0)
			break;
		for (size_t i = 0; i < (size_t)got / sizeof(msgs[0]); i++)
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				note_fault(d, msgs[i].arg.pagefault.address, req, &n);
		/* A broken link: they stay pending, asked again on resume. */
		pthread_mutex_lock(&d->req_lock);
		if (n && d->req)
			send_requests(d, req, n);
		pthread_mutex_unlock(&d->req_lock);
	}
	return NULL;
}

/* A page (or run) is in place: the faults waiting on it are over. */
static void placed(struct pc_dst *d, uint64_t pg, uint32_t n)
{
	uint64_t now;

	for (uint64_t p = pg; p < pg + n; p++)
		__atomic_fetch_or(&d->have[p / 64], 1ULL << (p % 64), __ATOMIC_RELEASE);
	pthread_mutex_lock(&d->lock);
	now = migrate__now_ns();
	for (unsigned i = 0; i < d->nr_pending;) {
		struct pc_pending *q = &d->pending[i];

		if (q->pg < pg || q->pg >= pg + n) {
			i++;
			continue;
		}
		if (d->nr_lat == d->cap_lat) {
			size_t cap = d->cap_lat ? d->cap_lat * 2 : 1024;
			uint32_t *l = realloc(d->lat_us, cap * sizeof(*l));

			if (l) {
				d->lat_us = l;
				d->cap_lat = cap;
			}
		}
		if (d->nr_lat < d->cap_lat)
			d->lat_us[d->nr_lat++] = (uint32_t)((now - q->t_ns) / 1000);
		*q = d->pending[--d->nr_pending];
	}
	pthread_mutex_unlock(&d->lock);
	d->placed += n;
}

/* UFFDIO_COPY; pages placed already (-EEXIST) are skipped one by one. */
static int place(struct pc_dst *d, uint64_t off, const uint8_t *data, uint32_t n)
{
	uint32_t i = 0;

	while (i < n) {
		struct uffdio_copy c = {
			.dst = (uintptr_t)d->host + off + (uint64_t)i * STREAM_PAGE_SIZE,
			.src = (uintptr_t)data + (uint64_t)i * STREAM_PAGE_SIZE,
			.len = (uint64_t)(n - i) * STREAM_PAGE_SIZE,
		};

		if (!ioctl(d->uffd, UFFDIO_COPY, &c)) {
			placed(d, off / STREAM_PAGE_SIZE + i, n - i);
			return 0;
		}
		if (c.copy > 0) {
			uint32_t done = (uint32_t)(c.copy / STREAM_PAGE_SIZE);

			placed(d, off / STREAM_PAGE_SIZE + i, done);
			i += done;
		} else if (errno == EEXIST) {
			placed(d, off / STREAM_PAGE_SIZE + i, 1);
			i++;
		} else if (errno != EAGAIN) {
			return -errno;
		}
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int send_done_ack(struct pc_dst *d)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT;
	Replication__Ack a = REPLICATION__ACK__INIT;
	uint64_t sum = 0;
	int ret;

	pthread_mutex_lock(&d->lock);
	/* No fault waited: lat_us is NULL, which qsort must not be given. */
	if (d->nr_lat)
		qsort(d->lat_us, d->nr_lat, sizeof(*d->lat_us), cmp_u32);
	for (size_t i = 0; i < d->nr_lat; i++)
		sum += d->lat_us[i];
	a.ok = true;
	a.faults = d->nr_lat;
	if (d->nr_lat) {
		a.fault_mean_us = sum / d->nr_lat;
		a.fault_p99_us = d->lat_us[(d->nr_lat - 1) * 99 / 100];
		a.fault_max_us = d->lat_us[d->nr_lat - 1];
	}
	pthread_mutex_unlock(&d->lock);
	msg.msg_case = REPLICATION__MESSAGE__MSG_ACK;
	msg.ack = &a;
	ret = wire__write_msg(&d->main->s, &msg);
	if (!ret)
		ret = channel__flush(d->main);
	qb_log(LOG_NOTICE, "post-copy: every page is here (%llu placed); %llu faults waited "
	       "mean %llu us, p99 %llu us, max %llu us", (unsigned long long)d->placed,
	       (unsigned long long)a.faults, (unsigned long long)a.fault_mean_us,
	       (unsigned long long)a.fault_p99_us, (unsigned long long)a.fault_max_us);
	return ret;
}

/* Pages until PostcopyDone (0), or the error that broke the stream. */
static int receive(struct pc_dst *d, const char **why)
{
	for (;;) {
		struct wire_frame f;
		int ret = wire__next_frame(&d->main->s, d->buf, d->mem_size, &f, why);

		if (ret)
			return ret;
		if (f.type == STREAM_FRAME_BATCH) {
			ret = place(d, f.offset, f.pages, f.npages);
			if (ret)
				*why = "placing a page failed (UFFDIO_COPY)";
		} else if (f.msg && f.msg->msg_case == REPLICATION__MESSAGE__MSG_POSTCOPY_DONE) {
			wire__frame_free(&f);
			return 0;
		} else {
			*why = "refused: unexpected frame in the post-copy stream";
			ret = -EPROTO;
		}
		wire__frame_free(&f);
		if (ret)
			return ret;
	}
}

static void pc_free(struct pc_dst *d)
{
	if (d->fault_started) {
		uint64_t one = 1;

		if (write(d->stop_fd, &one, sizeof(one)) < 0)
			qb_log(LOG_WARNING, "post-copy: cannot stop the fault thread");
		pthread_join(d->fault_tid, NULL);
	}
	if (d->uffd >= 0)
		close(d->uffd);
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	channel__close(d->main);
	channel__close(d->req);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->req_lock);
	free(d->have);
	free(d->asked);
	free(d->lat_us);
	free(d->buf);
	free(d);
}

/* --- recovery: the same source reconnects after the link broke ---------- */

#define RESUME_TIMEOUT_MS 60000

static int reply_hello(struct chan *c, const char *error)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT;
	Replication__HelloReply hr = REPLICATION__HELLO_REPLY__INIT;
	int ret;

	hr.ok = !error;
	hr.error = (char *)(error ? error : "");
	msg.msg_case = REPLICATION__MESSAGE__MSG_HELLO_REPLY;
	msg.hello_reply = &hr;
	ret = wire__write_msg(&c->s, &msg);
	return ret ? ret : channel__flush(c);
}

/* One MSG frame of the wanted kind from c (decoded into f), or why not. */
static int read_msg(struct pc_dst *d, struct chan *c, Replication__Message__MsgCase want,
		    struct wire_frame *f, const char **why)
{
	int ret = wire__read_prelude(&c->s, why);

	memset(f, 0, sizeof(*f));
	if (!ret)
		ret = wire__next_frame(&c->s, d->buf, d->mem_size, f, why);
	if (!ret && (!f->msg || f->msg->msg_case != want)) {
		wire__frame_free(f);
		*why = "refused: not what a post-copy resume starts with";
		ret = -EPROTO;
	}
	return ret;
}

/* The pages placed so far, in PostcopyHave bitmaps. */
static int send_have(struct pc_dst *d, struct chan *c)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT;
	Replication__PostcopyHave h = REPLICATION__POSTCOPY_HAVE__INIT;
	uint64_t words = (d->nr_pages + 63) / 64, per = WIRE_DISCARD_BYTES / 8;
	uint64_t chunk[WIRE_DISCARD_BYTES / 8];
	int ret = 0;

	msg.msg_case = REPLICATION__MESSAGE__MSG_POSTCOPY_HAVE;
	msg.postcopy_have = &h;
	for (uint64_t w = 0; w < words && !ret; w += per) {
		uint64_t n = words - w < per ? words - w : per, limit = (d->nr_pages + 7) / 8 - w * 8;

		for (uint64_t i = 0; i < n; i++)
			chunk[i] = __atomic_load_n(&d->have[w + i], __ATOMIC_ACQUIRE);
		h.first_page = w * 64;
		h.bitmap.data = (uint8_t *)chunk;
		h.bitmap.len = n * 8 < limit ? n * 8 : limit;
		h.last = w + n >= words;
		ret = wire__write_msg(&c->s, &msg);
	}
	return ret ? ret : channel__flush(c);
}

/* The faults still waiting: their requests went down with the old link. */
static void ask_again(struct pc_dst *d)
{
	uint64_t req[PENDING_MAX];
	size_t n = 0;

	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < d->nr_pending; i++)
		req[n++] = d->pending[i].pg * STREAM_PAGE_SIZE;
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_lock(&d->req_lock);
	if (n && d->req)
		send_requests(d, req, n);
	pthread_mutex_unlock(&d->req_lock);
}

/*
 * One source's attempt on c (accepted; ours from here): hello (this
 * session), request connection (known by the hello's nonce: strays before
 * it are dropped), our pages.
 */
static int accept_resume(struct pc_dst *d, struct chan *c, int lfd, struct ssl_ctx_st *ctx,
			 char *err, size_t errlen)
{
	struct chan *r = NULL;
	struct wire_frame f = { 0 };
	struct wire_data_hello dh;
	uint8_t nonce[WIRE_NONCE_LEN];
	const char *why = "";
	int ret = read_msg(d, c, REPLICATION__MESSAGE__MSG_HELLO, &f, &why);

	if (!ret && (!f.msg->hello->resume || f.msg->hello->session != d->session ||
		     f.msg->hello->mem_size != d->mem_size ||
		     f.msg->hello->nonce.len != WIRE_NONCE_LEN)) {
		why = "refused: not the source of this post-copy migration";
		reply_hello(c, why);
		ret = -EPERM;
	}
	if (!ret)
		memcpy(nonce, f.msg->hello->nonce.data, WIRE_NONCE_LEN);
	wire__frame_free(&f);
	if (!ret)
		ret = reply_hello(c, NULL);
	if (!ret) {
		channel__set_timeout(c, RESUME_TIMEOUT_MS);
		struct wire_accept a = { .lfd = lfd, .ctx = ctx, .timeout_ms = RESUME_TIMEOUT_MS,
					 .end_ns = wire__now_ns() + 10000000000ULL, .nonce = nonce,
					 .buf = d->buf, .what = "post-copy resume" };

		ret = wire__accept_data(&a, &r, &dh, err, errlen);
	}
	if (!ret && !dh.requests) {
		why = "refused: not this migration's request connection";
		ret = -EPROTO;
	}
	if (!ret)
		ret = send_have(d, c);
	if (ret) {
		if (why[0])
			snprintf(err, errlen, "%s", why);
		channel__close(c);
		channel__close(r);
		return ret;
	}
	d->main = c;
	pthread_mutex_lock(&d->req_lock);
	d->req = r;
	pthread_mutex_unlock(&d->req_lock);
	ask_again(d);
	return 0;
}

/*
 * Until the source is back on lfd (0), or lfd stops listening (-EINVAL).
 * A stray, or a source that is not this migration's, is logged and dropped.
 */
static int wait_source(struct pc_dst *d, int lfd, struct ssl_ctx_st *ctx)
{
	char err[256];
	int ret;

	for (;;) {
		struct chan *c;
		bool peer;

		ret = channel__accept(&c, lfd, ctx, -1, WIRE_PREAUTH_MS, err, sizeof(err));
		peer = !ret || ret == -ECONNABORTED;
		if (!ret && !(ret = accept_resume(d, c, lfd, ctx, err, sizeof(err))))
			break;
		qb_log(LOG_ERR, "post-copy: a resume attempt failed: %s", err);
		if (ret == -EINVAL)
			return ret;
		/* The listening socket's own failure (no file descriptor left...): pause. */
		if (!peer)
			poll(NULL, 0, 1000);
	}
	qb_log(LOG_NOTICE, "post-copy: the source is back; %llu pages to go",
	       (unsigned long long)(d->nr_pages - d->placed));
	return 0;
}

static void drop_link(struct pc_dst *d)
{
	channel__close(d->main);
	d->main = NULL;
	pthread_mutex_lock(&d->req_lock);
	channel__close(d->req);
	d->req = NULL;
	pthread_mutex_unlock(&d->req_lock);
}

/* Listen on the incoming URI until the source is back. */
static int reconnect(struct pc_dst *d)
{
	struct ssl_ctx_st *ctx = NULL;
	struct mig_uri u;
	const char *why;
	char err[256];
	int lfd = -1, ret;

	if (mig_uri__parse(d->uri, &u, &why) ||
	    (!d->tls.none && tls__ctx_new(&ctx, &d->tls, true, err, sizeof(err)))) {
		qb_log(LOG_ERR, "post-copy: cannot listen again on %s: the VM is lost", d->uri);
		return -EINVAL;
	}
	/* The port may still be held for a moment: waiting for it, not for an event. */
	while ((ret = channel__listen(&u, &lfd, err, sizeof(err))))
		poll(NULL, 0, 1000);
	qb_log(LOG_NOTICE, "post-copy: waiting for the source on %s", d->uri);
	ret = wait_source(d, lfd, ctx);
	close(lfd);
	tls__ctx_free(ctx);
	return ret;
}

/*
 * Pages until every one is here, then the Ack (0).  A broken link waits
 * for the source to resume: on lfd, or (-1) on the incoming URI again.
 */
static int serve(struct pc_dst *d, int lfd)
{
	const char *why = "";
	int ret;

	while ((ret = receive(d, &why))) {
		/*
		 * The userfaultfd stays open: closing it would let the missing pages
		 * read as zero, and the guest run on with wrong memory.
		 */
		qb_log(LOG_ERR, "post-copy: the link to the source broke: %s (%s); the guest's "
		       "vCPUs wait when they touch a missing page; waiting on %s for the "
		       "source to resume", why, channel__strerror(ret), d->uri);
		drop_link(d);
		ret = lfd < 0 ? reconnect(d) : wait_source(d, lfd, NULL);
		if (ret)
			return ret;
	}
	ret = d->port.ops->mem_uffd_unregister(d->port.vm, d->uffd);
	if (ret)
		qb_log(LOG_ERR, "post-copy: cannot unregister guest memory from userfaultfd: %s",
		       strerror(-ret));
	else if ((ret = send_done_ack(d)))
		qb_log(LOG_ERR, "post-copy: the last ack did not reach the source: %s",
		       channel__strerror(ret));
	return ret;
}

static void *receiver_main(void *arg)
{
	struct pc_dst *d = arg;

	/* Not freed when the VM is lost: its vCPUs may still wait on the userfaultfd. */
	if (serve(d, -1) != -EINVAL)
		pc_free(d);
	return NULL;
}

int postcopy__dst_prepare(const struct vm_port *port, const struct dirty_bitmap *discard,
			  struct pc_dst **out, char *err, size_t errlen)
{
	const struct vm_port_ops *ops = port->ops;
	struct pc_dst *d = NULL;
	uint64_t pages = vm_port__mem_size(port) / STREAM_PAGE_SIZE, t0 = migrate__now_ns();
	uint64_t dropped = 0;
	int ret = -EOPNOTSUPP;

	*out = NULL;
	if (!ops->mem_drop || !ops->mem_uffd_register || !ops->mem_uffd_unregister)
		goto fail;
	ret = -ENOMEM;
	if (!(d = calloc(1, sizeof(*d))))
		goto fail;
	d->port = *port;
	d->host = vm_port__mem_host(port);
	d->mem_size = vm_port__mem_size(port);
	d->uffd = d->stop_fd = -1;
	d->nr_pages = pages;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->req_lock, NULL);
	d->have = calloc((pages + 63) / 64, 8);
	d->asked = calloc(pages, 1);
	d->buf = malloc(WIRE_FRAME_MAX);
	d->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (!d->have || !d->asked || !d->buf || d->stop_fd < 0)
		goto fail;
	/* Stale copies go: their pages become missing, fetched on first touch. */
	for (uint64_t pg = 0; pg < pages; pg++) {
		uint64_t n = 0;

		while (pg + n < pages && dirty_bitmap__test(discard, pg + n))
			n++;
		if (n && (ret = ops->mem_drop(port->vm, pg * STREAM_PAGE_SIZE, n * STREAM_PAGE_SIZE)))
			goto fail;
		pg += n;
		dropped += n;
	}
	ret = ops->mem_uffd_register(port->vm, &d->uffd);
	qb_log(LOG_NOTICE, "post-copy: %llu stale pages dropped, memory registered in %llu ms",
	       (unsigned long long)dropped, (unsigned long long)((migrate__now_ns() - t0) / 1000000));
	if (ret) {
		snprintf(err, errlen, "post-copy: userfaultfd on guest memory failed: %s",
			 strerror(-ret));
		pc_free(d);
		return ret;
	}
	*out = d;
	return 0;
fail:
	snprintf(err, errlen, "post-copy: cannot prepare guest memory: %s", strerror(-ret));
	if (d)
		pc_free(d);
	return ret;
}

int postcopy__dst_run(struct pc_dst *d, struct chan *main, struct chan *req, const char *uri,
		      const struct mig_tls *tls, uint64_t session)
{
	pthread_t tid;
	int ret;

	d->main = main;
	d->req = req;
	d->session = session;
	snprintf(d->uri, sizeof(d->uri), "%s", uri);
	snprintf(d->ca, sizeof(d->ca), "%s", tls->ca ? tls->ca : "");
	snprintf(d->cert, sizeof(d->cert), "%s", tls->cert ? tls->cert : "");
	snprintf(d->key, sizeof(d->key), "%s", tls->key ? tls->key : "");
	snprintf(d->peer, sizeof(d->peer), "%s", tls->peer ? tls->peer : "");
	snprintf(d->crl, sizeof(d->crl), "%s", tls->crl ? tls->crl : "");
	/* The recovery connection is held to the same peer and CRL. */
	d->tls = (struct mig_tls){ .ca = d->ca[0] ? d->ca : NULL,
				   .cert = d->cert[0] ? d->cert : NULL,
				   .key = d->key[0] ? d->key : NULL, .none = tls->none,
				   .peer = d->peer[0] ? d->peer : NULL,
				   .crl = d->crl[0] ? d->crl : NULL };
	ret = -pthread_create(&d->fault_tid, NULL, fault_main, d);
	d->fault_started = !ret;
	if (!ret)
		ret = -pthread_create(&tid, NULL, receiver_main, d);
	if (ret) {
		pc_free(d);
		return ret;
	}
	pthread_detach(tid);
	return 0;
}

int postcopy__dst_serve(struct pc_dst *d, struct chan *main, struct chan *req, int lfd,
			uint64_t session)
{
	int ret;

	d->main = main;
	d->req = req;
	d->session = session;
	d->tls.none = true;
	snprintf(d->uri, sizeof(d->uri), "(the caller's socket)");
	ret = -pthread_create(&d->fault_tid, NULL, fault_main, d);
	d->fault_started = !ret;
	if (!ret)
		ret = serve(d, lfd);
	pc_free(d);
	return ret;
}

void postcopy__dst_abort(struct pc_dst *d)
{
	if (d)
		pc_free(d);
}
