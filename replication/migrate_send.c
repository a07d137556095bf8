/*
 * The pre-copy sender: one migration thread per job (migrate.h).
 *
 *   connect, hello (config check by the destination)
 *   dirty tracking on; round 1: every non-zero page
 *   repeat: harvest; if the dirty pages fit the downtime limit at the
 *           measured bandwidth (or the round/time limit says force): stop;
 *           else send them as the next round
 *   switch-over (main thread): pause, harvest, capture devices + vCPUs
 *           (the head of the state stream, hashed as it is captured)
 *   send the head, then the last pages straight from RAM, hashed as they
 *           are sent, and the digest; wait for the destination's ack (it
 *           hashed them as they arrived); then quit (or stay paused)
 *
 * Every failure before the ack ends in recover(): tracking off, the guest
 * resumed if it was running.  After the ack the destination owns the guest.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <qb/qblog.h>

#include "replication/migrate.h"
#include "replication/wire.h"
#include "vmm/logtext.h"
#include "vmm/stream.h"
#include "vmm/vm_hold.h"
#include "vmm/vm_state.h"

#define DEFAULT_MAX_ROUNDS 30
/* The longest cause quoted after the fixed text of a post-copy failure. */
#define JOB_CAUSE_MAX 128

struct job_err {
	char msg[256];
};

static int fail(struct job_err *e, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct job_err *e, int ret, const char *fmt, ...)
{
	va_list ap;

	if (!e->msg[0]) {
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* --- auto-converge: pause the guest for throttle_pct of every 100 ms --- */

#define THROTTLE_PERIOD_MS 100

static void throttle_tick(void *data)
{
	struct migrate *m = data;
	unsigned pct = atomic_load(&m->throttle_pct);
	uint64_t next;

	if (!pct)
		return;
	/* Only the throttle's own hold ends: a guest another holds stays paused. */
	if (vm_port__holders(&m->port) & VM_HOLD_THROTTLE) {
		vm_port__release(&m->port, VM_HOLD_THROTTLE);
		next = THROTTLE_PERIOD_MS * (100 - pct) / 100;
	} else {
		vm_port__hold(&m->port, VM_HOLD_THROTTLE);
		next = THROTTLE_PERIOD_MS * pct / 100;
	}
	qb_loop_timer_add(m->loop, QB_LOOP_HIGH, (next ? next : 1) * 1000000ULL, m,
			  throttle_tick, &m->throttle_timer);
}

static int mt_throttle_start(void *arg)
{
	struct migrate *m = arg;

	if (qb_loop_timer_is_running(m->loop, m->throttle_timer))
		return 0;
	return qb_loop_timer_add(m->loop, QB_LOOP_HIGH, 1000000ULL, m, throttle_tick,
				 &m->throttle_timer);
}

static void throttle_stop(struct migrate *m)
{
	qb_loop_timer_del(m->loop, m->throttle_timer);
	m->throttle_timer = 0;
	vm_port__release(&m->port, VM_HOLD_THROTTLE);
}

/* --- main-thread steps --------------------------------------------------- */

static int mt_start(void *arg)
{
	struct migrate *m = arg;
	int ret;

	ret = m->port.ops->dirty_start(m->port.vm);
	m->tracking = !ret;
	return ret ? ret : migrate__disk_start(m);
}

static int mt_switchover(void *arg)
{
	struct migrate *m = arg;
	struct stream *s;
	int ret;

	throttle_stop(m);
	/* A guest that stopped itself is not moved: the destination would run it on. */
	if (vm_port__run_state(&m->port) == VM_PORT_STOPPED)
		return -ESHUTDOWN;
	/* Held by another (the operator): the destination keeps it paused. */
	m->was_running = !vm_port__holders(&m->port);
	ret = vm_port__hold(&m->port, m->holder);
	if (ret)
		return ret;
	m->pause_ns = migrate__now_ns();
	ret = m->port.ops->dirty_harvest(m->port.vm, &m->bm);
	if (ret)
		return ret;
	migrate__disk_harvest(m);
	/*
	 * Only the head here (machine, disk blocks): the pages follow from RAM
	 * on the channel, hashed as they are sent (switchover), with the guest
	 * still held.  No copy of them, no second pass.
	 */
	s = &m->final_s;
	stream__init_mem(s);
	ret = m->port.ops->save_head(m->port.vm, s, m->disk_tracking ? &m->dbm : NULL);
	if (!ret)
		m->final_buf = stream__mem_take(s, &m->final_len);
	return ret;
}

static int mt_recover(void *arg)
{
	struct migrate *m = arg;

	throttle_stop(m);
	if (m->tracking)
		m->port.ops->dirty_stop(m->port.vm);
	m->tracking = false;
	migrate__disk_stop(m);
	vm_port__release(&m->port, m->holder);
	return 0;
}

static int mt_stop_tracking(void *arg)
{
	struct migrate *m = arg;

	if (m->tracking)
		m->port.ops->dirty_stop(m->port.vm);
	m->tracking = false;
	migrate__disk_stop(m);
	return 0;
}

static void quit_now(void *data)
{
	struct migrate *m = data;
	char msg[sizeof(m->p.uri) + 80];

	snprintf(msg, sizeof(msg), "migrated to %s; the destination verified the state and runs "
		 "the guest", m->p.uri);
	m->port.ops->quit(m->port.vm, msg);
}

/*
 * The source quits a moment after success, not at once, so that a client
 * following the job (vmm ctl migrate --wait) reads "completed" from it.
 */
#define QUIT_LINGER_MS 500

static int mt_finish(void *arg)
{
	struct migrate *m = arg;

	if (m->tracking)
		m->port.ops->dirty_stop(m->port.vm);
	m->tracking = false;
	migrate__disk_stop(m);
	/* Left paused as asked: the operator's to resume, as after save --paused. */
	if (m->p.then_pause && !vm_port__hold(&m->port, VM_HOLD_OPERATOR))
		vm_port__release(&m->port, m->holder);
	if (!m->p.then_pause &&
	    qb_loop_timer_add(m->loop, QB_LOOP_HIGH, QUIT_LINGER_MS * 1000000ULL, m, quit_now,
			      &m->quit_timer))
		quit_now(m);
	return 0;
}

/* --- the job ------------------------------------------------------------- */

static int send_msg(struct migrate *m, Replication__Message *msg)
{
	int ret = wire__write_msg(&m->main->s, msg);

	return ret ? ret : channel__flush(m->main);
}

/* Tell the destination why we give up (best effort: we close anyway). */
static void send_abort(struct migrate *m, const char *why)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT;
	Replication__Abort ab = REPLICATION__ABORT__INIT;

	ab.error = (char *)why;
	msg.msg_case = REPLICATION__MESSAGE__MSG_ABORT;
	msg.abort = &ab;
	send_msg(m, &msg);
}

static int read_msg(struct migrate *m, uint8_t *buf, Replication__Message__MsgCase want,
		    Replication__Message **out, struct job_err *e)
{
	struct wire_frame f;
	const char *why = "";
	uint32_t type, len;
	int ret = wire__read_frame(&m->main->s, buf, &type, &len, &why);

	if (ret)
		return fail(e, ret, "no answer from the destination: %s (%s)", why,
			    channel__strerror(ret));
	ret = wire__decode(type, buf + STREAM_FRAME_HDR_LEN, len, vm_port__mem_size(&m->port), NULL,
			   NULL, &f, &why);
	if (ret || type != STREAM_FRAME_MSG)
		return fail(e, ret ? ret : -EPROTO, "the destination sent a bad message: %s", why);
	if (f.msg->msg_case == REPLICATION__MESSAGE__MSG_ABORT) {
		char peer[LOGTEXT_PEER_MAX];

		ret = fail(e, -ECONNABORTED, "the destination gave up: %s",
			   logtext__clean(peer, sizeof(peer), f.msg->abort->error, SIZE_MAX));
		wire__frame_free(&f);
		return ret;
	}
	if (f.msg->msg_case != want) {
		wire__frame_free(&f);
		return fail(e, -EPROTO, "the destination sent an unexpected message");
	}
	*out = f.msg;
	return 0;
}

static int connect_all(struct migrate *m, uint8_t *buf, struct job_err *e)
{
	struct mig_tls tls;
	Replication__Message msg = REPLICATION__MESSAGE__INIT, *reply = NULL;
	Replication__Hello hello = REPLICATION__HELLO__INIT;
	char *devices[] = { "serial" };
	struct ssl_ctx_st *ctx = NULL;
	struct chan *c = NULL;
	const struct vm_disk_ops *dops;
	void *disk;
	struct mig_uri u;
	const char *why;
	uint64_t session = m->pc_committed ? m->session :
			   migrate__now_ns() ^ ((uint64_t)getpid() << 32);
	uint8_t nonce[WIRE_NONCE_LEN];
	int ret;

	m->session = session;
	migrate__tls(&m->p, &tls);
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return fail(e, -EIO, "no random bytes for the session nonce");
	if (mig_uri__parse(m->p.uri, &u, &why) || mig_tls__check(&tls, &why))
		return fail(e, -EINVAL, "%s", why);
	if (!tls.none && (ret = tls__ctx_new(&ctx, &tls, false, e->msg, sizeof(e->msg))))
		return ret;
	ret = channel__connect(&c, &u, ctx, MIGRATE_DEFAULT_TIMEOUT_MS, e->msg, sizeof(e->msg));
	if (ret)
		goto out;
	pthread_mutex_lock(&m->lock);
	m->main = c;
	pthread_mutex_unlock(&m->lock);
	hello.protocol = MIGRATION_PROTOCOL;
	hello.mem_size = vm_port__mem_size(&m->port);
	hello.nr_vcpus = m->port.ops->nr_vcpus(m->port.vm);
	hello.devices = devices;
	hello.n_devices = m->port.ops->nr_devices(m->port.vm);
	/* A resume carries post-copy's pages on the main connection. */
	hello.nr_data = m->p.parallel > 1 && !m->pc_committed ? m->p.parallel : 0;
	hello.resume = m->pc_committed;
	hello.session = session;
	hello.nonce.data = nonce;
	hello.nonce.len = sizeof(nonce);
	hello.compress = m->p.compress;
	hello.checkpoint = m->p.checkpoint;
	hello.generation = m->p.generation;
	hello.check_peer_generation = m->p.check_peer_generation;
	hello.peer_generation = m->p.peer_generation;
	hello.postcopy = m->p.postcopy;
	hello.ack_timeout_ms = m->p.ack_timeout_ms;
	disk = vm_port__disk(&m->port, &dops);
	hello.copy_disk = m->p.copy_disk && disk;
	hello.disk_size = hello.copy_disk ? dops->size(disk) : 0;
	msg.msg_case = REPLICATION__MESSAGE__MSG_HELLO;
	msg.hello = &hello;
	ret = wire__write_prelude(&c->s);
	if (!ret)
		ret = send_msg(m, &msg);
	if (ret) {
		fail(e, ret, "cannot send to the destination: %s", channel__strerror(ret));
		goto out;
	}
	ret = read_msg(m, buf, REPLICATION__MESSAGE__MSG_HELLO_REPLY, &reply, e);
	if (ret)
		goto out;
	if (!reply->hello_reply->ok) {
		char peer[LOGTEXT_PEER_MAX];

		ret = fail(e, -EINVAL, "the destination refused: %s",
			   logtext__clean(peer, sizeof(peer), reply->hello_reply->error, SIZE_MAX));
		goto out;
	}
	/* A destination that ignored the hello's peer_generation (older code). */
	if (m->p.check_peer_generation && reply->hello_reply->generation != m->p.peer_generation) {
		ret = fail(e, -EPERM, "%s has generation %llu, expected %llu",
			   m->p.checkpoint ? "standby" : "destination",
			   (unsigned long long)reply->hello_reply->generation,
			   (unsigned long long)m->p.peer_generation);
		send_abort(m, e->msg);
		goto out;
	}
	m->peer_catch_up = reply->hello_reply->catch_up;
	/* The data connections, then post-copy's request connection. */
	for (unsigned i = 0; i < hello.nr_data + hello.postcopy; i++) {
		Replication__DataHello dh = REPLICATION__DATA_HELLO__INIT;

		ret = channel__connect(&c, &u, ctx, MIGRATE_DEFAULT_TIMEOUT_MS, e->msg, sizeof(e->msg));
		if (ret)
			goto out;
		pthread_mutex_lock(&m->lock);
		if (i < hello.nr_data)
			m->data[m->nr_data++] = c;
		else
			m->pc_req = c;
		pthread_mutex_unlock(&m->lock);
		dh.session = session;
		dh.nonce.data = nonce;
		dh.nonce.len = sizeof(nonce);
		dh.index = i < hello.nr_data ? i : 0;
		dh.requests = i >= hello.nr_data;
		msg.msg_case = REPLICATION__MESSAGE__MSG_DATA_HELLO;
		msg.data_hello = &dh;
		ret = wire__write_prelude(&c->s);
		if (!ret)
			ret = wire__write_msg(&c->s, &msg);
		if (!ret)
			ret = channel__flush(c);
		if (ret) {
			fail(e, ret, "data connection %u: %s", i, channel__strerror(ret));
			goto out;
		}
	}
out:
	if (reply)
		replication__message__free_unpacked(reply, NULL);
	tls__ctx_free(ctx);
	return ret;
}

int migrate__connect(struct migrate *m, uint8_t *buf, char *err, size_t errlen)
{
	struct job_err e = { "" };
	int ret = connect_all(m, buf, &e);

	if (ret)
		snprintf(err, errlen, "%s", e.msg[0] ? e.msg : strerror(-ret));
	return ret;
}

/* Round 1's set: every page the memfd holds (holes were never written). */
static void mark_allocated(struct migrate *m)
{
	uint64_t size = vm_port__mem_size(&m->port), data = 0, hole;

	for (;;) {
		m->port.ops->mem_extent(m->port.vm, data, &data, &hole);
		if (data >= size)
			return;
		for (uint64_t pg = data / STREAM_PAGE_SIZE;
		     pg < (hole + STREAM_PAGE_SIZE - 1) / STREAM_PAGE_SIZE; pg++)
			m->bm.bits[pg / 64] |= 1ULL << (pg % 64);
		if (hole >= size)
			return;
		data = hole;
	}
}


static void publish(struct migrate *m, uint32_t round, uint64_t remaining_pages,
		    uint64_t expected_ms, uint64_t pps, uint64_t dirty_pps, uint64_t bw)
{
	pthread_mutex_lock(&m->lock);
	m->info.round = round;
	m->info.bytes_remaining = remaining_pages * STREAM_PAGE_SIZE;
	m->info.expected_downtime_ms = expected_ms;
	m->info.pages_per_s = pps;
	m->info.dirty_pages_per_s = dirty_pps;
	m->info.bandwidth_bps = bw;
	pthread_mutex_unlock(&m->lock);
	atomic_store(&m->a_remaining, remaining_pages * STREAM_PAGE_SIZE);
}

static int send_round(struct migrate *m, uint32_t round, bool first, uint64_t *bytes,
		      uint64_t *ns, struct job_err *e)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT;
	Replication__Round r = REPLICATION__ROUND__INIT;
	uint64_t t0 = migrate__now_ns(), pages, zero, dbytes = 0;
	int ret;

	r.round = round;
	msg.msg_case = REPLICATION__MESSAGE__MSG_ROUND;
	msg.round = &r;
	ret = send_msg(m, &msg);
	if (!ret)
		ret = migrate__send_round(m, &m->bm, first, &pages, &zero, bytes);
	if (!ret) {
		ret = migrate__send_disk(m, first, &dbytes);
		*bytes += dbytes;
	}
	*ns = migrate__now_ns() - t0;
	if (ret == -ECANCELED || atomic_load(&m->cancel))
		return fail(e, -ECANCELED, "cancelled");
	if (ret == -EINTR)
		return ret;
	if (ret)
		return fail(e, ret, "sending round %u failed: %s", round, channel__strerror(ret));
	qb_log(LOG_INFO, "migration round %u: %llu pages, %llu zero, %llu bytes in %llu ms",
	       round, (unsigned long long)pages, (unsigned long long)zero,
	       (unsigned long long)*bytes, (unsigned long long)(*ns / 1000000));
	return 0;
}

/* Asked to (migrate__postcopy), or --postcopy-after expired. */
static bool want_postcopy(struct migrate *m, uint64_t start)
{
	if (m->p.postcopy_after_s &&
	    migrate__now_ns() - start >= (uint64_t)m->p.postcopy_after_s * 1000000000ULL &&
	    !atomic_exchange(&m->pc_request, true))
		qb_log(LOG_NOTICE, "migration: pre-copy ran %u s: switching to post-copy",
		       m->p.postcopy_after_s);
	return m->p.postcopy && atomic_load(&m->pc_request);
}

static int switch_to_postcopy(struct migrate *m, uint32_t round)
{
	qb_log(LOG_NOTICE, "migration: switching to post-copy after %u round(s)%s", round,
	       m->round1_done ? "" : " (round 1 was not complete)");
	m->pc_switch = true;
	return 0;
}

/*
 * Before the pause, with the pages on the main connection: wait until the
 * destination has applied every page sent (it answers this Drain with its
 * own).  After a long round 1 it is still reading and copying its backlog
 * when the last round ends; a pause taken then waits for that too, and so
 * does the guest (5-15 ms of an idle switch-over, measured).  Pages the
 * guest dirties meanwhile are harvested again and checked (precopy).
 */
static int catch_up(struct migrate *m, uint8_t *buf, struct job_err *e)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT, *reply = NULL;
	Replication__Drain dr = REPLICATION__DRAIN__INIT;
	int ret;

	dr.round = m->info.round;
	msg.msg_case = REPLICATION__MESSAGE__MSG_DRAIN;
	msg.drain = &dr;
	ret = send_msg(m, &msg);
	if (ret)
		return fail(e, ret, "cannot send to the destination: %s", channel__strerror(ret));
	ret = read_msg(m, buf, REPLICATION__MESSAGE__MSG_DRAIN, &reply, e);
	if (ret)
		return ret;
	if (reply->drain->round != dr.round)
		ret = fail(e, -EPROTO, "the destination caught up with round %u, not %u",
			   reply->drain->round, dr.round);
	else
		qb_log(LOG_INFO, "migration: the destination caught up with round %u before the pause",
		       dr.round);
	replication__message__free_unpacked(reply, NULL);
	return ret;
}

/* The final pages' cost against a round's, per byte (measured: 2-4x). */
#define FINAL_COST 2
/*
 * Few enough dirty pages to take in the pause at no cost worth another
 * round (1 MiB: about a millisecond over loopback).
 */
#define FINAL_FEW_PAGES 256
/*
 * The same when the destination catches up before the pause (catch_up):
 * a short round then costs nothing in the pause, while each final page is
 * hashed on both sides with the guest stopped (256 of them: 2-7 ms of the
 * switch-over here, measured).
 */
#define FINAL_FEW_PAGES_CAUGHT_UP 16

/* Pre-copy rounds until the rest fits the downtime limit (or must be forced). */
static int precopy(struct migrate *m, uint8_t *buf, struct job_err *e)
{
	uint64_t start = migrate__now_ns(), last_harvest, bytes, ns, bw = 0, prev_dirty = UINT64_MAX;
	uint32_t round = 1, max_rounds = m->p.max_rounds ? m->p.max_rounds : DEFAULT_MAX_ROUNDS;
	uint64_t few = m->peer_catch_up && !m->nr_data ? FINAL_FEW_PAGES_CAUGHT_UP : FINAL_FEW_PAGES;
	int ret;

	mark_allocated(m);
	atomic_store(&m->a_remaining, dirty_bitmap__count(&m->bm) * STREAM_PAGE_SIZE);
	last_harvest = migrate__now_ns();
	ret = send_round(m, round, true, &bytes, &ns, e);
	/* Round 1 cut short by a switch to post-copy: m->bm keeps all it had. */
	if (ret == -EINTR || (!ret && want_postcopy(m, start)))
		return switch_to_postcopy(m, round);
	if (ret)
		return ret;
	m->round1_done = true;
	for (;;) {
		uint64_t now, dirty, dirty_pps, expected, limit;

		if (ns > 1000000)
			bw = bytes * 1000000000ULL / ns;
		dirty_bitmap__clear(&m->bm);
		ret = m->port.ops->dirty_harvest(m->port.vm, &m->bm);
		if (ret)
			return fail(e, ret, "harvesting the dirty log failed: %s", strerror(-ret));
		migrate__disk_harvest(m);
		now = migrate__now_ns();
		/* Disk blocks are pages' size: the rest counts both. */
		dirty = dirty_bitmap__count(&m->bm) + migrate__disk_dirty(m);
		dirty_pps = dirty * 1000000000ULL / (now - last_harvest + 1);
		last_harvest = now;
		/*
		 * Unknown bandwidth (a tiny round): assume loopback-like 1 GB/s.  The
		 * last pages cost more than a round's: they are hashed on both sides,
		 * staged and applied before the guest runs again.
		 */
		expected = FINAL_COST * dirty * STREAM_PAGE_SIZE * 1000 / (bw ? bw : 1000000000ULL);
		limit = atomic_load(&m->downtime_ms);
		publish(m, round, dirty, expected, ns ? bytes / STREAM_PAGE_SIZE * 1000000000ULL / ns : 0,
			dirty_pps, bw);
		/*
		 * Fitting the limit is not enough: while a round still shrinks the
		 * dirty set by a quarter, one more round buys a shorter pause.  A
		 * tiny fraction of the limit stops at once, if it is also few pages:
		 * an idle guest's pages after a long round 1 cost milliseconds in
		 * the pause, after one more short round next to none.
		 */
		if (expected <= limit && ((expected <= limit / 8 && dirty <= few) ||
					  dirty * 4 > prev_dirty * 3)) {
			if (!m->peer_catch_up || m->nr_data)
				return 0;
			if ((ret = catch_up(m, buf, e)))
				return ret;
			/*
			 * What the guest dirtied while we waited joins the rest (a
			 * harvest ORs): still within the limit, pause; else one more
			 * round with all of it, and another catch-up after it.
			 */
			ret = m->port.ops->dirty_harvest(m->port.vm, &m->bm);
			if (ret)
				return fail(e, ret, "harvesting the dirty log failed: %s",
					    strerror(-ret));
			migrate__disk_harvest(m);
			dirty = dirty_bitmap__count(&m->bm) + migrate__disk_dirty(m);
			expected = FINAL_COST * dirty * STREAM_PAGE_SIZE * 1000 /
				   (bw ? bw : 1000000000ULL);
			if (expected <= limit)
				return 0;
		}
		if (want_postcopy(m, start))
			return switch_to_postcopy(m, round);
		prev_dirty = dirty;
		if (atomic_load(&m->cancel))
			return fail(e, -ECANCELED, "cancelled");
		if (round >= max_rounds ||
		    (m->p.timeout_s && now - start >= (uint64_t)m->p.timeout_s * 1000000000ULL)) {
			if (m->p.force_on_timeout) {
				qb_log(LOG_NOTICE, "migration: limit reached after %u rounds; forcing "
				       "the switch-over (expected downtime %llu ms)", round,
				       (unsigned long long)expected);
				return 0;
			}
			return fail(e, -ETIME, "did not converge: after %u rounds %llu pages are "
				    "still dirty (expected downtime %llu ms, limit %llu ms)", round,
				    (unsigned long long)dirty, (unsigned long long)expected,
				    (unsigned long long)limit);
		}
		if (m->p.auto_converge && round >= 2 && dirty * STREAM_PAGE_SIZE > bytes / 2) {
			unsigned pct = atomic_load(&m->throttle_pct);

			pct = pct ? pct + 10 : 20;
			atomic_store(&m->throttle_pct, pct > 90 ? 90 : pct);
			pthread_mutex_lock(&m->lock);
			m->info.throttle_pct = atomic_load(&m->throttle_pct);
			pthread_mutex_unlock(&m->lock);
			mainthread__call(&m->mt, mt_throttle_start, m);
		}
		ret = send_round(m, ++round, false, &bytes, &ns, e);
		/* A round cut short: its pages stay in m->bm, all sent again later. */
		if (ret == -EINTR)
			return switch_to_postcopy(m, round);
		if (ret)
			return ret;
	}
}

/*
 * Post-copy: the pages whose copy at the destination is stale or missing
 * (m->bm: dirtied since last sent, or never sent), as Discard bitmaps.
 */
static int send_discards(struct migrate *m)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT;
	Replication__Discard d = REPLICATION__DISCARD__INIT;
	uint64_t words = (m->bm.nr_pages + 63) / 64, per = WIRE_DISCARD_BYTES / 8;
	int ret = 0;

	msg.msg_case = REPLICATION__MESSAGE__MSG_DISCARD;
	msg.discard = &d;
	for (uint64_t w = 0; w < words && !ret; w += per) {
		uint64_t n = words - w < per ? words - w : per, bytes = n * 8;
		uint64_t limit = (m->bm.nr_pages + 7) / 8 - w * 8;

		/* The bitmap's bytes, little-endian words: bit i of byte j is page 8j + i. */
		d.first_page = w * 64;
		d.bitmap.data = (uint8_t *)(m->bm.bits + w);
		d.bitmap.len = bytes < limit ? bytes : limit;
		ret = wire__write_msg(&m->main->s, &msg);
	}
	return ret;
}

/* The destination resumed the guest: from now on there is no way back. */
static void postcopy_committed(struct migrate *m)
{
	m->pc_committed = true;
	pthread_mutex_lock(&m->lock);
	m->info.postcopy = true;
	m->info.downtime_ms = (migrate__now_ns() - m->pause_ns) / 1000000;
	pthread_mutex_unlock(&m->lock);
	qb_log(LOG_NOTICE, "post-copy: the destination runs the guest (downtime %llu ms); "
	       "%llu pages to send", (unsigned long long)m->info.downtime_ms,
	       (unsigned long long)dirty_bitmap__count(&m->bm));
}

/*
 * VMM_TEST_CORRUPT_MIGRATION=1 flips the last byte of the final state's
 * head after it was hashed (tests/migration/corrupt.sh): damage in flight.
 * The framing stays valid, only the digest can tell.  Only in builds
 * configured with --enable-fault-injection.
 */
#ifdef HASVC_FAULT_INJECTION
static void corrupt_final(struct migrate *m)
{
	const char *v = getenv("VMM_TEST_CORRUPT_MIGRATION");

	if (v && !strcmp(v, "1") && m->final_len) {
		m->final_buf[m->final_len - 1] ^= 0x01;
		qb_log(LOG_WARNING, "test build: corrupting a byte of the final state");
	}
}
#else
static void corrupt_final(struct migrate *m)
{
	(void)m;
}
#endif

static int switchover(struct migrate *m, uint8_t *buf, struct job_err *e)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT, *ack = NULL;
	Replication__Switchover sw = REPLICATION__SWITCHOVER__INIT;
	Replication__Drain dr = REPLICATION__DRAIN__INIT;
	uint64_t bytes;
	int ret;

	/* m->bm still holds the pages of the last harvest: the final one adds to them. */
	ret = mainthread__call(&m->mt, mt_switchover, m);
	if (ret)
		return fail(e, ret, "cannot capture the final state: %s", strerror(-ret));
	corrupt_final(m);
	dr.round = m->info.round + 1;
	msg.msg_case = REPLICATION__MESSAGE__MSG_DRAIN;
	msg.drain = &dr;
	for (unsigned i = 0; i < m->nr_data && !ret; i++) {
		ret = wire__write_msg(&m->data[i]->s, &msg);
		if (!ret)
			ret = channel__flush(m->data[i]);
	}
	/* After the drains: no older copy of a discarded page is still on its way. */
	if (!ret && m->pc_switch)
		ret = send_discards(m);
	sw.round = dr.round;
	sw.paused = !m->was_running; /* offline migration: it stays paused there */
	sw.postcopy = m->pc_switch;
	msg.msg_case = REPLICATION__MESSAGE__MSG_SWITCHOVER;
	msg.switchover = &sw;
	if (!ret)
		ret = wire__write_msg(&m->main->s, &msg);
	if (!ret)
		ret = wire__write_state_start(&m->main->s);
	/* The head was hashed as it was captured: its digest goes on with the pages. */
	if (!ret)
		ret = channel__write(m->main, m->final_buf, m->final_len);
	bytes = m->main->s.bytes;
	if (!ret) {
		stream__digest_move(&m->main->s, &m->final_s);
		/* Post-copy: no pages in the state, the destination fetches them. */
		ret = m->port.ops->save_tail(m->port.vm, &m->main->s, m->pc_switch ? NULL : &m->bm);
	}
	if (!ret)
		ret = channel__flush(m->main);
	atomic_fetch_add(&m->a_bytes, m->final_len + m->main->s.bytes - bytes);
	if (ret)
		return fail(e, ret, "sending the final state failed: %s", channel__strerror(ret));
	ret = read_msg(m, buf, REPLICATION__MESSAGE__MSG_ACK, &ack, e);
	if (ret)
		return ret;
	if (!ack->ack->ok)
		ret = fail(e, -EPROTO, "the destination refused the final state: %s",
			   ack->ack->error);
	else if (m->pc_switch)
		postcopy_committed(m);
	/*
	 * A standby at another generation: checked for checkpointing only, as a
	 * migration destination that acked already runs the guest.
	 */
	else if (m->p.checkpoint && m->p.check_peer_generation &&
		 ack->ack->generation != m->p.peer_generation)
		ret = fail(e, -EPERM, "standby has generation %llu, expected %llu",
			   (unsigned long long)ack->ack->generation,
			   (unsigned long long)m->p.peer_generation);
	replication__message__free_unpacked(ack, NULL);
	return ret;
}

static void close_chans(struct migrate *m)
{
	pthread_mutex_lock(&m->lock);
	channel__close(m->main);
	m->main = NULL;
	channel__close(m->pc_req);
	m->pc_req = NULL;
	for (unsigned i = 0; i < m->nr_data; i++)
		channel__close(m->data[i]);
	m->nr_data = 0;
	pthread_mutex_unlock(&m->lock);
}

/* Connect, track, pre-copy and switch over: migration and protection alike. */
static int sync_to_peer(struct migrate *m, uint8_t *buf, struct job_err *e)
{
	int ret = connect_all(m, buf, e);

	if (!ret && (ret = mainthread__call(&m->mt, mt_start, m)))
		fail(e, ret, "cannot start dirty-page tracking: %s", strerror(-ret));
	if (!ret)
		ret = precopy(m, buf, e);
	if (!ret)
		ret = switchover(m, buf, e);
	if (!ret && m->pc_committed) {
		mainthread__call(&m->mt, mt_stop_tracking, m);
		ret = postcopy__source(m, buf, e->msg, sizeof(e->msg));
	}
	return ret;
}

void *migrate__job_main(void *arg)
{
	struct migrate *m = arg;
	struct job_err e = { "" };
	uint8_t *buf = malloc(WIRE_FRAME_MAX);
	int ret = buf ? 0 : -ENOMEM;

	if (!ret)
		ret = sync_to_peer(m, buf, &e);
	uint64_t end = migrate__now_ns();

	close_chans(m);
	/*
	 * Recover first: a "failed" status means the guest runs again - except
	 * after post-copy's switch-over, when the destination ran the guest and
	 * holds part of its memory: resuming here would fork it.
	 */
	if (ret && !m->pc_committed)
		mainthread__call(&m->mt, mt_recover, m);
	pthread_mutex_lock(&m->lock);
	m->info.end_ns = end;
	m->info.bytes_sent = atomic_load(&m->a_bytes);
	m->info.pages_sent = atomic_load(&m->a_pages);
	m->info.zero_pages = atomic_load(&m->a_zero);
	m->info.disk_bytes_sent = atomic_load(&m->a_disk);
	m->info.pages_pulled = atomic_load(&m->a_pulled);
	m->info.pages_pushed = atomic_load(&m->a_pushed);
	if (ret && m->pc_committed) {
		m->info.state = MIGRATE_FAILED;
		/*
		 * What the operator must know comes first; the cause is cut to
		 * what is left of the field (JOB_CAUSE_MAX) rather than the end.
		 */
		snprintf(m->info.error, sizeof(m->info.error), "post-copy broke after the "
			 "switch-over: the guest's memory is split between the hosts; the source "
			 "stays paused (%.*s)", JOB_CAUSE_MAX, e.msg[0] ? e.msg : strerror(-ret));
	} else if (!ret) {
		m->info.state = MIGRATE_COMPLETED;
		if (!m->pc_committed)
			m->info.downtime_ms = (end - m->pause_ns) / 1000000;
		m->info.bytes_remaining = 0;
	} else {
		m->info.state = atomic_load(&m->cancel) ? MIGRATE_CANCELLED : MIGRATE_FAILED;
		snprintf(m->info.error, sizeof(m->info.error), "%s",
			 atomic_load(&m->cancel) ? "cancelled" : e.msg[0] ? e.msg : strerror(-ret));
	}
	pthread_mutex_unlock(&m->lock);
	if (!ret)
		mainthread__call(&m->mt, mt_finish, m);
	if (!ret)
		qb_log(LOG_NOTICE, "migration to %s completed: %llu bytes, downtime %llu ms",
		       m->p.uri, (unsigned long long)m->info.bytes_sent,
		       (unsigned long long)m->info.downtime_ms);
	else if (m->pc_committed)
		qb_log(LOG_ERR, "migration to %s failed: %s", m->p.uri, m->info.error);
	else
		qb_log(LOG_ERR, "migration to %s failed: %s; the guest carries on here",
		       m->p.uri, m->info.error);
	free(m->final_buf);
	m->final_buf = NULL;
	stream__close(&m->final_s);
	free(buf);
	return NULL;
}

/* --- checkpointing's initial sync (migrate.h) ---------------------------- */

int migrate__mt_recover(void *arg)
{
	return mt_recover(arg);
}

int migrate__checkpoint_sync(struct migrate *m, char *err, size_t errlen)
{
	struct job_err e = { "" };
	uint8_t *buf = malloc(WIRE_FRAME_MAX);
	int ret = buf ? 0 : -ENOMEM;

	if (!ret)
		ret = sync_to_peer(m, buf, &e);
	free(m->final_buf);
	m->final_buf = NULL;
	stream__close(&m->final_s);
	free(buf);
	if (ret) {
		close_chans(m);
		mainthread__call(&m->mt, mt_recover, m);
		snprintf(err, errlen, "%s", e.msg[0] ? e.msg : strerror(-ret));
	}
	return ret;
}
