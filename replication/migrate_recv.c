/*
 * The destination of a migration (migrate__incoming).  The VM is created
 * but not started: pre-copy pages are written straight into its RAM, which
 * nothing runs on.  The final state stream (devices, vCPUs, the last pages)
 * is staged whole, verified end to end (SHA-256 end frame) and checked
 * against the VM before anything of it is applied; only then is the source
 * told, and the VM started by the caller.  Any failure leaves a VM that
 * must not run.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>
#include <qb/qblog.h>

#include "replication/migrate.h"
#include "replication/postcopy.h"
#include "replication/wire.h"
#include "vmm/logtext.h"
#include "vmm/stream.h"
#include "vmm/vm_hold.h"
#include "vmm/vm_state.h"

/* Idle time allowed on a connection: a whole round may pass on the others. */
#define RECV_TIMEOUT_MS 60000
#define ACCEPT_DATA_MS 10000

/* Post-copy's part of an incoming migration. */
struct pc_in {
	bool allowed;               /* the hello said the source may switch */
	bool postcopy;              /* it did: Switchover.postcopy */
	struct dirty_bitmap discard;
	struct chan *req;           /* the page-request connection */
	uint64_t session;
};

struct receiver {
	const struct vm_port *port;
	struct chan *c;
	uint8_t *buf, *out;
	ZSTD_DCtx *dctx;
	pthread_t tid;
	bool started;
	int ret;
	char err[256];
	uint64_t pages, zero;
	uint64_t disk_size;         /* the hello's copy_disk: our image's size; else 0 */
	uint64_t disk_bytes;
	uint32_t rounds;            /* the last Round message seen */
	bool hello;                 /* main: its first frame was a hello */
	bool fenced;                /* main: that hello was refused by the fence */
};

/* One incoming migration or standby start: what every step of it needs. */
struct incoming {
	struct vm_port port;        /* the VM, as the engine sees it */
	int lfd;                    /* listening: the source and its data connections */
	struct ssl_ctx_st *ctx;     /* NULL: plaintext */
	const struct mig_incoming *how;
	struct receiver m;          /* the main connection */
	struct receiver rx[MIGRATE_MAX_CONNECTIONS];
	unsigned nr_data;           /* the hello's, once accepted */
	struct pc_in pc;
	uint8_t nonce[WIRE_NONCE_LEN];
	char *err;
	size_t errlen;
};

static int rx_init(struct receiver *r, const struct vm_port *port, struct chan *c)
{
	memset(r, 0, sizeof(*r));
	r->port = port;
	r->c = c;
	r->buf = malloc(WIRE_FRAME_MAX);
	r->out = malloc(STREAM_BATCH_PAGES * STREAM_PAGE_SIZE);
	r->dctx = ZSTD_createDCtx();
	return r->buf && r->out && r->dctx ? 0 : -ENOMEM;
}

static void rx_free(struct receiver *r)
{
	free(r->buf);
	free(r->out);
	ZSTD_freeDCtx(r->dctx);
	channel__close(r->c);
}

/* One frame from r->c, decoded (pure) into f. */
static int rx_frame(struct receiver *r, struct wire_frame *f)
{
	const char *why = "";
	uint32_t type, len;
	int ret = wire__read_frame(&r->c->s, r->buf, &type, &len, &why);

	if (!ret && type == STREAM_FRAME_DISK_BATCH)
		ret = wire__decode_disk(r->buf + STREAM_FRAME_HDR_LEN, len, r->disk_size, f, &why);
	else if (!ret)
		ret = wire__decode(type, r->buf + STREAM_FRAME_HDR_LEN, len, vm_port__mem_size(r->port),
				   r->dctx, r->out, f, &why);
	if (ret)
		snprintf(r->err, sizeof(r->err), "%s%s%s", why, ret == -EBADMSG ? "" : ": ",
			 ret == -EBADMSG ? "" : channel__strerror(ret));
	return ret;
}

/*
 * Pages and zero lists go straight into RAM, disk blocks into the image
 * (scratch until the final state is applied); true if f was one of them.
 * A write error on the image ends the migration (r->ret).
 */
static bool apply_data(struct receiver *r, const struct wire_frame *f)
{
	if (f->type == STREAM_FRAME_DISK_BATCH) {
		const struct vm_disk_ops *ops;
		void *disk = vm_port__disk(r->port, &ops);

		/* Only with the hello's copy_disk, which check_disk held to a disk of ours. */
		r->ret = disk ? ops->write(disk, f->offset, f->pages, f->disk_len) : -ENODEV;
		if (r->ret)
			snprintf(r->err, sizeof(r->err), "cannot write the disk image: %s",
				 strerror(-r->ret));
		r->disk_bytes += f->disk_len;
		return true;
	}
	if (f->type == STREAM_FRAME_BATCH) {
		memcpy(vm_port__mem_host(r->port) + f->offset, f->pages, (size_t)f->npages * STREAM_PAGE_SIZE);
		r->pages += f->npages;
		return true;
	}
	if (f->type == STREAM_FRAME_MSG && f->msg->msg_case == REPLICATION__MESSAGE__MSG_ZERO) {
		for (size_t i = 0; i < f->msg->zero->n_offsets; i++)
			memset(vm_port__mem_host(r->port) + f->msg->zero->offsets[i], 0,
			       STREAM_PAGE_SIZE);
		r->zero += f->msg->zero->n_offsets;
		return true;
	}
	return false;
}

/* A data connection: pages until its Drain. */
static void *data_main(void *arg)
{
	struct receiver *r = arg;
	struct wire_frame f;

	for (;;) {
		r->ret = rx_frame(r, &f);
		if (r->ret)
			return NULL;
		if (!apply_data(r, &f)) {
			bool drain = f.type == STREAM_FRAME_MSG &&
				     f.msg->msg_case == REPLICATION__MESSAGE__MSG_DRAIN;

			wire__frame_free(&f);
			if (!drain) {
				r->ret = -EPROTO;
				snprintf(r->err, sizeof(r->err), "unexpected frame on a data connection");
			}
			return NULL;
		}
		wire__frame_free(&f);
	}
}

/*
 * VMM_TEST_NO_CATCH_UP=1 makes this destination answer catch_up=false in
 * its HelloReply, as one older than the catch-up does
 * (tests/migration/catchup.sh: the source must keep the old sequence).
 * Only in builds configured with --enable-fault-injection.
 */
#ifdef HASVC_FAULT_INJECTION
static bool offer_catch_up(void)
{
	const char *v = getenv("VMM_TEST_NO_CATCH_UP");

	if (v && !strcmp(v, "1")) {
		qb_log(LOG_WARNING, "test build: not offering the catch-up, as an older destination");
		return false;
	}
	return true;
}
#else
static bool offer_catch_up(void)
{
	return true;
}
#endif

static int send_reply(struct chan *c, bool ok, const char *error, bool ack, uint64_t gen)
{
	Replication__Message m = REPLICATION__MESSAGE__INIT;
	Replication__HelloReply hr = REPLICATION__HELLO_REPLY__INIT;
	Replication__Ack a = REPLICATION__ACK__INIT;
	int ret;

	if (ack) {
		a.ok = ok;
		a.error = (char *)error;
		a.generation = gen;
		m.msg_case = REPLICATION__MESSAGE__MSG_ACK;
		m.ack = &a;
	} else {
		hr.ok = ok;
		hr.error = (char *)error;
		hr.generation = gen;
		hr.catch_up = offer_catch_up();
		m.msg_case = REPLICATION__MESSAGE__MSG_HELLO_REPLY;
		m.hello_reply = &hr;
	}
	ret = wire__write_msg(&c->s, &m);
	return ret ? ret : channel__flush(c);
}

/*
 * The fencing tokens (mig_fence): -EPERM with both numbers when refused.
 * Nothing of the stream has touched the VM yet, so the caller may wait
 * for another source.
 */
static int check_fence(const struct incoming *in, const Replication__Hello *h)
{
	const struct mig_fence *fe = in->how->fence;
	bool standby = in->how->standby;
	const char *we = standby ? "standby" : "destination";
	char *err = in->err;
	size_t errlen = in->errlen;

	if (fe->check_peer && h->generation != fe->peer_generation)
		snprintf(err, errlen, "the source has generation %llu, this %s expects "
			 "generation %llu", (unsigned long long)h->generation, we,
			 (unsigned long long)fe->peer_generation);
	else if (!fe->check_peer && standby && h->generation < fe->generation)
		snprintf(err, errlen, "stale generation %llu: this standby is at generation %llu",
			 (unsigned long long)h->generation, (unsigned long long)fe->generation);
	else if (h->check_peer_generation && h->peer_generation != fe->generation)
		snprintf(err, errlen, "%s has generation %llu, expected %llu", we,
			 (unsigned long long)fe->generation, (unsigned long long)h->peer_generation);
	else
		return 0;
	return -EPERM;
}

/* A copied disk needs an image of ours, writable, of the same size. */
static int check_disk(const struct vm_port *port, const Replication__Hello *h, char *err,
		      size_t errlen)
{
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(port, &ops);

	if (!h->copy_disk)
		return 0;
	if (!disk)
		snprintf(err, errlen, "the source copies its disk image, but this destination "
			 "has no disk (give --disk PATH of an image of %llu bytes)",
			 (unsigned long long)h->disk_size);
	else if (ops->readonly(disk))
		snprintf(err, errlen, "the source copies its disk image, but this destination's "
			 "disk is read-only");
	else if (ops->size(disk) != h->disk_size)
		snprintf(err, errlen, "disk image size differs: the source's is %llu bytes, this "
			 "destination's %llu bytes (it must be the same size)",
			 (unsigned long long)h->disk_size,
			 (unsigned long long)ops->size(disk));
	else
		return 0;
	return -EINVAL;
}

static int check_hello(const struct incoming *in, const Replication__Hello *h)
{
	const struct vm_port *port = &in->port;
	uint64_t mem_size = vm_port__mem_size(port);
	unsigned nr_vcpus = port->ops->nr_vcpus(port->vm);
	bool standby = in->how->standby;
	char *err = in->err;
	size_t errlen = in->errlen;

	if (!standby && h->checkpoint)
		snprintf(err, errlen, "this destination takes a migration, not a checkpoint "
			 "stream (start it with --standby)");
	else if (standby && !h->checkpoint)
		snprintf(err, errlen, "this is a standby: it takes a checkpoint stream "
			 "(vmm ctl NAME protect), not a migration");
	else if (check_fence(in, h))
		return -EPERM;
	else if (h->protocol != MIGRATION_PROTOCOL)
		snprintf(err, errlen, "migration protocol %u is not ours (%u)", h->protocol,
			 MIGRATION_PROTOCOL);
	else if (h->mem_size != mem_size)
		snprintf(err, errlen, "memory size differs: the source has %llu MiB, this "
			 "destination %llu MiB", (unsigned long long)(h->mem_size >> 20),
			 (unsigned long long)(mem_size >> 20));
	else if (h->nr_vcpus != nr_vcpus)
		snprintf(err, errlen, "vCPU count differs: the source has %u, this destination %u",
			 h->nr_vcpus, nr_vcpus);
	else if (h->n_devices != port->ops->nr_devices(port->vm) ||
		 (h->n_devices && strcmp(h->devices[0], "serial")))
		snprintf(err, errlen, "device lists differ (source: %zu devices%s%s)",
			 h->n_devices, h->n_devices ? ", first " : "",
			 h->n_devices ? h->devices[0] : "");
	else if (h->nr_data > MIGRATE_MAX_CONNECTIONS)
		snprintf(err, errlen, "too many data connections (%u)", h->nr_data);
	else if (h->ack_timeout_ms > MIGRATE_MAX_ACK_TIMEOUT_MS)
		snprintf(err, errlen, "the source's ack timeout, %u ms, is above %u ms",
			 h->ack_timeout_ms, MIGRATE_MAX_ACK_TIMEOUT_MS);
	else if (h->nonce.len != WIRE_NONCE_LEN)
		snprintf(err, errlen, "the hello carries no session nonce of %u bytes (a source "
			 "of an older version?)", WIRE_NONCE_LEN);
	else
		return check_disk(port, h, err, errlen);
	return -EINVAL;
}

/*
 * The data connections, and post-copy's request connection (pc->allowed),
 * each known by the hello's nonce: a stray among them is dropped
 * (wire__accept_data).  One of ours in a slot taken already, or out of
 * range, is a broken source: refused.
 */
static int accept_data(struct incoming *in)
{
	struct pc_in *pc = &in->pc;
	struct receiver *rx = in->rx;
	unsigned n = in->nr_data;
	char *err = in->err;
	size_t errlen = in->errlen;
	struct wire_accept a = { .lfd = in->lfd, .ctx = in->ctx, .timeout_ms = RECV_TIMEOUT_MS,
				 .end_ns = wire__now_ns() +
					   (uint64_t)ACCEPT_DATA_MS * 1000000 * (n + pc->allowed),
				 .nonce = in->nonce, .buf = in->m.buf, .what = "incoming migration" };

	for (unsigned got = 0; got < n + pc->allowed; got++) {
		struct wire_data_hello dh;
		struct chan *c;
		int ret = wire__accept_data(&a, &c, &dh, err, errlen);

		if (ret) {
			char why[200];

			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "data connection: %s", why);
			return ret;
		}
		if (dh.requests ? !pc->allowed || pc->req : dh.index >= n || rx[dh.index].c) {
			channel__close(c);
			snprintf(err, errlen, "refused: the source opened data connection %u%s twice "
				 "or out of range", dh.index, dh.requests ? " (requests)" : "");
			return -EPROTO;
		}
		if (dh.requests) {
			/* Only written to, after the switch-over. */
			pc->req = c;
		} else if ((ret = rx_init(&rx[dh.index], &in->port, c))) {
			snprintf(err, errlen, "out of memory for a data connection");
			return ret;
		}
	}
	return 0;
}

/*
 * Stage the vm_state stream, verify it, check it, apply it over the RAM.
 * The SHA-256 runs over the bytes as they arrive and the end frame is
 * compared on arrival (stream__read_frame): the switch-over spends no
 * second pass over the staged state.  Nothing of it is applied before then.
 */
static int load_final(const struct vm_port *port, struct chan *c, char *err, size_t errlen)
{
	size_t limit = port->ops->staging_limit(port->vm), len, next = 0;
	struct vm_state_parsed p;
	struct stream *s = &c->s;
	const char *why = NULL;
	char room[200];
	uint8_t md[STREAM_DIGEST_LEN];
	bool hashed;
	uint32_t type;
	size_t total;
	uint8_t *buf;
	int ret;

	memset(&p, 0, sizeof(p));
	buf = mmap(NULL, limit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (buf == MAP_FAILED) {
		snprintf(err, errlen, "cannot reserve memory to stage the final state");
		return -ENOMEM;
	}
	ret = stream__digest_begin(s);
	hashed = !ret && s->md;
	if (!ret)
		ret = stream__read(s, buf, STREAM_PRELUDE_LEN);
	if (!ret && (ret = vm_state__check_prelude(buf, STREAM_PRELUDE_LEN, &why)))
		goto out;
	len = STREAM_PRELUDE_LEN;
	while (!ret) {
		/* What the host can give, as the standby checks (vm_state__stage_room). */
		if (len >= next && (ret = vm_state__stage_room(len, &next, room, sizeof(room)))) {
			why = room;
			goto out;
		}
		ret = stream__read_frame(s, buf + len, limit - len, &type, &total);
		if (ret)
			break;
		len += total;
		if (type == STREAM_FRAME_END)
			break;
	}
	if (ret) {
		why = ret == -EILSEQ ? "the final state stream is corrupt (SHA-256 mismatch)" :
		      "the final state stream was cut short or is malformed";
		goto out;
	}
	/* A stream that could not be hashed on the way (seal_later) is, now. */
	ret = hashed ? vm_state__parse_verified(buf, len, &p, &why) :
	      vm_state__parse(buf, len, &p, &why);
	if (!ret)
		ret = vm_state__check_config(&p, vm_port__mem_size(port),
					     port->ops->nr_vcpus(port->vm), &why);
	if (!ret)
		ret = port->ops->apply(port->vm, &p, &why);
out:
	if (ret)
		snprintf(err, errlen, "final state refused: %s", why ? why : channel__strerror(ret));
	/* Cut short before its end frame: the acks that follow are not hashed. */
	stream__digest_end(s, md);
	vm_state__free_parsed(&p);
	munmap(buf, limit);
	return ret;
}

/* The decoder checked the range (wire.c). */
static void memcpy_or(uint8_t *dst, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] |= src[i];
}

/* The prelude and the hello on the main connection, answered. */
static int take_hello(struct incoming *in)
{
	struct receiver *m = &in->m;
	const Replication__Hello *h;
	struct wire_frame f;
	const char *why;
	int ret = wire__read_prelude(&m->c->s, &why);

	if (ret) {
		snprintf(in->err, in->errlen, "%s", why);
		return ret;
	}
	if ((ret = rx_frame(m, &f))) {
		snprintf(in->err, in->errlen, "%s", m->err);
		return ret;
	}
	if (f.type != STREAM_FRAME_MSG || f.msg->msg_case != REPLICATION__MESSAGE__MSG_HELLO) {
		wire__frame_free(&f);
		snprintf(in->err, in->errlen, "refused: the stream does not start with a hello");
		return -EPROTO;
	}
	h = f.msg->hello;
	m->hello = true;
	ret = check_hello(in, h);
	if (ret == -EPERM)
		m->fenced = true;
	if (!ret && h->postcopy && in->how->standby) {
		snprintf(in->err, in->errlen, "a standby takes no post-copy");
		ret = -EINVAL;
	}
	if (!ret && h->resume) {
		snprintf(in->err, in->errlen, "this destination has no post-copy to resume");
		ret = -EINVAL;
	}
	in->pc.session = h->session;
	m->disk_size = !ret && h->copy_disk ? h->disk_size : 0;
	in->pc.allowed = !ret && h->postcopy;
	if (in->pc.allowed && (ret = dirty_bitmap__init(&in->pc.discard, vm_port__mem_size(&in->port))))
		snprintf(in->err, in->errlen, "no memory for post-copy's bitmap");
	send_reply(m->c, !ret, ret ? in->err : "", false, in->how->fence->generation);
	if (!ret) {
		/*
		 * The source is known: it has the time limit of a running
		 * migration, or a primary's ack wait when that is longer (a
		 * standby gives up on it no sooner than it gives up on us).
		 */
		channel__set_timeout(m->c, h->ack_timeout_ms > RECV_TIMEOUT_MS ?
				     (int)h->ack_timeout_ms : RECV_TIMEOUT_MS);
		memcpy(in->nonce, h->nonce.data, WIRE_NONCE_LEN);
		in->nr_data = h->nr_data;
	}
	wire__frame_free(&f);
	return ret;
}

/* The source's Drain on main (HelloReply.catch_up): we have caught up. */
static int answer_drain(struct chan *c, uint32_t round, char *err, size_t errlen)
{
	Replication__Message m = REPLICATION__MESSAGE__INIT;
	Replication__Drain d = REPLICATION__DRAIN__INIT;
	int ret;

	d.round = round;
	m.msg_case = REPLICATION__MESSAGE__MSG_DRAIN;
	m.drain = &d;
	ret = wire__write_msg(&c->s, &m);
	if (!ret)
		ret = channel__flush(c);
	if (ret)
		snprintf(err, errlen, "the source went away: %s", channel__strerror(ret));
	else
		qb_log(LOG_INFO, "incoming migration: answered the source's drain of round %u "
		       "(caught up)", round);
	return ret;
}

/* A control message of the rounds: 1 at the switch-over, 0 to go on. */
static int round_msg(struct incoming *in, const Replication__Message *msg)
{
	struct pc_in *pc = &in->pc;

	if (msg && msg->msg_case == REPLICATION__MESSAGE__MSG_ROUND) {
		qb_log(LOG_INFO, "incoming migration: round %u", msg->round->round);
		in->m.rounds = msg->round->round;
	} else if (msg && msg->msg_case == REPLICATION__MESSAGE__MSG_DRAIN && !in->nr_data) {
		/* Every page before it is applied: the frames are read in order. */
		return answer_drain(in->m.c, msg->drain->round, in->err, in->errlen);
	} else if (msg && msg->msg_case == REPLICATION__MESSAGE__MSG_DISCARD && pc->allowed) {
		memcpy_or((uint8_t *)pc->discard.bits + msg->discard->first_page / 8,
			  msg->discard->bitmap.data, msg->discard->bitmap.len);
	} else if (msg && msg->msg_case == REPLICATION__MESSAGE__MSG_SWITCHOVER &&
		   (pc->allowed || !msg->switchover->postcopy)) {
		/* Paused on the source by its operator: so it stays here. */
		if (msg->switchover->paused)
			vm_port__hold(&in->port, VM_HOLD_OPERATOR);
		pc->postcopy = msg->switchover->postcopy;
		return 1;
	} else if (msg && msg->msg_case == REPLICATION__MESSAGE__MSG_ABORT) {
		char peer[LOGTEXT_PEER_MAX];

		snprintf(in->err, in->errlen, "the source gave up: %s",
			 logtext__clean(peer, sizeof(peer), msg->abort->error, SIZE_MAX));
		return -ECONNABORTED;
	} else {
		snprintf(in->err, in->errlen, "refused: unexpected frame in the migration stream");
		return -EPROTO;
	}
	return 0;
}

/* The main connection: hello, then rounds until the switch-over. */
static int run_main(struct incoming *in)
{
	struct receiver *m = &in->m;
	struct wire_frame f;
	int ret = take_hello(in);

	if (!ret)
		ret = accept_data(in);
	for (unsigned i = 0; !ret && i < in->nr_data; i++)
		in->rx[i].started = !pthread_create(&in->rx[i].tid, NULL, data_main, &in->rx[i]);
	while (!ret) {
		if ((ret = rx_frame(m, &f))) {
			snprintf(in->err, in->errlen, "%s", m->err);
			break;
		}
		if (apply_data(m, &f)) {
			ret = m->ret;
			if (ret)
				snprintf(in->err, in->errlen, "%s", m->err);
		} else {
			ret = round_msg(in, f.msg);
		}
		wire__frame_free(&f);
		if (ret == 1)
			return 0;
	}
	return ret;
}

/*
 * Accept connections until one gets past the hello.  Until its hello a
 * connection that fails (a TLS handshake refused, a close, a stall,
 * garbage, a first frame that is no hello) is logged and dropped, and so
 * is a hello the fence refuses (the source is told why): nothing of its
 * stream touched the VM, and neither a port scanner nor a stale peer can
 * keep the right source out.  A hello refused for another reason (memory
 * size, devices...) is a source that can never fit: that ends the wait,
 * as does any failure after an accepted hello.
 */
static int accept_source(struct incoming *in)
{
	const char *what = in->how->standby ? "incoming checkpoint stream" : "incoming migration";
	struct receiver *m = &in->m;

	for (;;) {
		struct chan *c = NULL;
		int ret = channel__accept(&c, in->lfd, in->ctx, -1, WIRE_PREAUTH_MS, in->err,
				       in->errlen);

		if (ret == -ECONNABORTED) {
			qb_log(LOG_WARNING, "%s: a connection dropped, from %s; waiting for the source",
			       what, in->err);
			continue;
		}
		if (ret)
			return ret;
		ret = rx_init(m, &in->port, c);
		if (!ret)
			ret = run_main(in);
		if (!ret || (m->hello && !m->fenced) || ret == -ENOMEM)
			return ret;
		qb_log(m->fenced ? LOG_ERR : LOG_WARNING, "%s: a connection dropped, from %s: %s; "
		       "waiting for the source", what, c->peer, in->err);
		rx_free(m);
		memset(m, 0, sizeof(*m));
		channel__close(in->pc.req);
		dirty_bitmap__free(&in->pc.discard);
		memset(&in->pc, 0, sizeof(in->pc));
		in->nr_data = 0;
	}
}

/* Wait for the data connections (cut after a failure, ret); their error else. */
static int join_data(struct incoming *in, int ret)
{
	for (unsigned i = 0; i < in->nr_data; i++) {
		struct receiver *r = &in->rx[i];

		if (ret)
			channel__shutdown(r->c);
		if (r->started)
			pthread_join(r->tid, NULL);
		if (!ret && r->ret) {
			snprintf(in->err, in->errlen, "data connection %u: %s", i, r->err);
			ret = r->ret;
		}
		in->m.pages += r->pages;
		in->m.zero += r->zero;
	}
	return ret;
}

/* After the switch-over: the final state, staged, verified and applied. */
static int final_state(struct incoming *in, struct pc_dst **pcd)
{
	int ret = wire__read_state_start(&in->m.c->s);

	if (ret) {
		snprintf(in->err, in->errlen, "refused: no final state after the switch-over");
		return ret;
	}
	/*
	 * The final state goes in before post-copy registers the memory: loading
	 * it can touch guest pages (KVM maps a Linux guest's kvmclock, steal-time
	 * and PV EOI pages when their MSRs are set), and a missing page would
	 * wait for a source that is itself waiting for our ack.  The stale pages
	 * dropped next are mapped again, through their faults, once post-copy
	 * serves them.
	 */
	ret = load_final(&in->port, in->m.c, in->err, in->errlen);
	/* Every data connection is drained: no stale copy can land after this. */
	if (!ret && in->pc.postcopy)
		ret = postcopy__dst_prepare(&in->port, &in->pc.discard, pcd, in->err, in->errlen);
	return ret;
}

/* Post-copy's threads take the connections over, or the migration is done. */
static int start(struct incoming *in, struct pc_dst *pcd)
{
	const struct receiver *m = &in->m;
	int ret;

	if (!pcd) {
		qb_log(LOG_NOTICE, "incoming migration verified and applied (%llu pages, %llu "
		       "zero pages, %llu disk bytes in %u rounds before the switch-over); %s",
		       (unsigned long long)m->pages, (unsigned long long)m->zero,
		       (unsigned long long)m->disk_bytes, m->rounds,
		       in->how->standby ? "standby: the guest stays paused until activated" :
		       vm_port__holders(&in->port) ? "the guest stays paused, as it was on the source" :
		       "resuming the guest");
		return 0;
	}
	qb_log(LOG_NOTICE, "incoming migration switched to post-copy (%llu pages before "
	       "the switch-over); resuming the guest, the missing pages follow",
	       (unsigned long long)m->pages);
	ret = postcopy__dst_run(pcd, m->c, in->pc.req, in->how->uri, in->how->tls,
				in->pc.session);
	in->pc.req = NULL;
	in->m.c = NULL;     /* the post-copy threads own it now */
	if (ret)
		snprintf(in->err, in->errlen, "cannot start post-copy's threads: %s",
			 strerror(-ret));
	return ret;
}

static void incoming_free(struct incoming *in, int ret, struct chan **keep)
{
	channel__close(in->pc.req);
	dirty_bitmap__free(&in->pc.discard);
	for (unsigned i = 0; i < in->nr_data; i++)
		if (in->rx[i].c)
			rx_free(&in->rx[i]);
	if (in->m.c && !ret && keep) {
		*keep = in->m.c;
		in->m.c = NULL;
		rx_free(&in->m);
	} else if (in->m.buf) {
		rx_free(&in->m);
	}
	free(in);
}

int migrate__incoming_fd(const struct vm_port *port, int lfd,
			 struct ssl_ctx_st *ctx, const struct mig_incoming *how, struct chan **keep,
			 char *err, size_t errlen)
{
	struct incoming *in = calloc(1, sizeof(*in));
	struct pc_dst *pcd = NULL;
	int ret;

	if (!in) {
		snprintf(err, errlen, "out of memory for an incoming migration");
		return -ENOMEM;
	}
	*in = (struct incoming){ .port = *port, .lfd = lfd, .ctx = ctx, .how = how, .err = err,
				 .errlen = errlen };
	ret = join_data(in, accept_source(in));
	if (!ret)
		ret = final_state(in, &pcd);
	if (in->m.c) {
		/* Tell the source, which then stops (ok) or resumes its guest. */
		int sret = send_reply(in->m.c, !ret, ret ? err : "", true, how->fence->generation);

		if (!ret && sret) {
			snprintf(err, errlen, "the source went away before our ack: %s",
				 channel__strerror(sret));
			ret = sret;
		}
	}
	if (!ret) {
		ret = start(in, pcd);
		pcd = NULL;
	}
	postcopy__dst_abort(pcd);
	incoming_free(in, ret, keep);
	return ret;
}


/*
 * A checkpointing standby (standby): the hello must ask for checkpointing,
 * and on success the main channel is handed over in *keep instead of closed.
 */
static int incoming(const struct vm_port *port, struct mig_incoming *how,
		    struct chan **keep, char *err, size_t errlen)
{
	const struct mig_tls *tls = how->tls;
	struct ssl_ctx_st *ctx = NULL;
	struct mig_uri u;
	char where[sizeof(u.host) + sizeof(u.port) + 8];
	const char *why;
	int lfd = -1, ret;

	if (mig_uri__parse(how->uri, &u, &why) || mig_tls__check(tls, &why)) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	if (!tls->none && (ret = tls__ctx_new(&ctx, tls, true, err, errlen)))
		return ret;
	/* Best effort: load_final begins it again, and fails there if it must. */
	stream__digest_warm();
	/*
	 * Round 1 skips zero pages, so RAM must start all zero: creating the VM
	 * may have written boot data into it.
	 */
	ret = port->ops->mem_discard(port->vm);
	if (ret) {
		snprintf(err, errlen, "cannot clear guest memory: %s", strerror(-ret));
		goto out;
	}
	ret = channel__listen(&u, &lfd, err, errlen);
	if (ret)
		goto out;
	/* With port 0 the log names the port taken (the tests read it there). */
	snprintf(where, sizeof(where), "tcp:%s:%s", u.host, u.port);
	qb_log(LOG_NOTICE, "waiting for an incoming migration on %s (%s)", where,
	       tls->none ? "plaintext" : "TLS");
	/* Post-copy listens there again: the port the kernel gave, if 0 was asked. */
	how->uri = where;
	ret = migrate__incoming_fd(port, lfd, ctx, how, keep, err, errlen);
out:
	if (lfd >= 0)
		close(lfd);
	tls__ctx_free(ctx);
	return ret;
}

int migrate__incoming(const struct vm_port *port, const char *uri,
		      const struct mig_tls *tls, const struct mig_fence *fence, char *err,
		      size_t errlen)
{
	struct mig_incoming how = { .uri = uri, .tls = tls, .fence = fence };

	return incoming(port, &how, NULL, err, errlen);
}

int migrate__incoming_standby(const struct vm_port *port, const char *uri,
			      const struct mig_tls *tls, const struct mig_fence *fence,
			      struct chan **main, char *err, size_t errlen)
{
	struct mig_incoming how = { .uri = uri, .tls = tls, .standby = true, .fence = fence };

	*main = NULL;
	return incoming(port, &how, main, err, errlen);
}
