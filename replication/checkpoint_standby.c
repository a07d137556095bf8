/*
 * The standby side of checkpointing (checkpoint.h).  A checkpoint is
 * applied only once all of it has arrived and verified: it is staged in
 * memory first, parsed (framing, every record, SHA-256), checked against
 * the VM, and then applied (and acknowledged) on the main thread, where
 * activation also runs, so a checkpoint is never half applied when the
 * guest resumes.  A stream
 * that breaks mid-checkpoint leaves the last committed state untouched.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/mman.h>
#include <qb/qblog.h>

#include "replication/checkpoint.h"
#include "replication/wire.h"
#include "vmm/logtext.h"
#include "vmm/stream.h"
#include "vmm/virtio_blk.h"
#include "vmm/vm_state.h"

/* How the guest stopped on the primary (the final checkpoint's GuestStopped). */
struct guest_stop {
	bool set;
	uint32_t reason;
	int32_t status;
	char message[200];
	uint64_t epoch;
};

struct apply_req {
	struct checkpoint *ck;
	struct vm_state_parsed *p;
	const struct guest_stop *stop;
	const char *why;
	uint64_t epoch;
	bool whole;          /* the VM holds a whole state: this one's or the last's */
	bool ack;            /* applied: record it and ack at once, on the main thread */
	bool acked;          /* it did: ack_ret is the ack's write */
	int ack_ret;
	uint64_t npages, dbytes, slen;
};

static int send_ack(struct chan *c, bool ok, const char *error, uint64_t epoch, uint64_t gen);

/* The checkpoint is this standby's committed state from now on. */
static void record_applied(struct checkpoint *ck, const struct apply_req *a)
{
	pthread_mutex_lock(&ck->lock);
	ck->st.disk_blocks_last = (a->dbytes + VIRTIO_BLK_BLOCK - 1) / VIRTIO_BLK_BLOCK;
	ck->st.disk_bytes_sum += a->dbytes;
	ck->st.epochs++;
	ck->st.committed_epoch = a->epoch;
	checkpoint__record_commit(ck, migrate__now_ns());
	ck->st.pages_last = a->npages;
	ck->st.bytes_last = a->slen;
	ck->st.pages_sum += a->npages;
	ck->st.bytes_sum += a->slen;
	pthread_mutex_unlock(&ck->lock);
}

/*
 * Main thread: apply a verified checkpoint, unless the guest was activated.
 * All of it or nothing (vm_state__apply_over_undoable); when a failure
 * could not be undone either, the standby is marked unsafe, which refuses
 * every later activation.  The final one ends the standby: from here it
 * can no longer be activated.
 */
static int mt_apply(void *arg)
{
	struct apply_req *a = arg;
	struct checkpoint *ck = a->ck;
	int ret;

	a->whole = true;
	if (ck->activated) {
		a->why = "the standby was activated";
		return -ECANCELED;
	}
	ret = ck->port.ops->apply_undoable(ck->port.vm, a->p, ck->undo, &a->whole, &a->why);
	if (ret && !a->whole)
		snprintf(ck->unsafe, sizeof(ck->unsafe), "checkpoint %llu failed halfway (%s: "
			 "%s) and could not be undone: this standby holds neither it nor "
			 "checkpoint %llu whole", (unsigned long long)a->epoch, a->why,
			 strerror(-ret), (unsigned long long)ck->st.committed_epoch);
	if (!ret && a->stop->set) {
		pthread_mutex_lock(&a->ck->lock);
		a->ck->state = CKPT_ENDED;
		pthread_mutex_unlock(&a->ck->lock);
	}
	/*
	 * The ack leaves from here, not after a hand-back to the standby
	 * thread: that wakeup cost a mean of 140-170 us per epoch on a loaded
	 * 2-CPU host (docs/performance.md, "virtio-net").  The standby thread
	 * waits in mainthread__call meanwhile: the channel has one user.
	 */
	if (!ret && a->ack) {
		record_applied(ck, a);
		a->ack_ret = send_ack(ck->sc, true, "", a->epoch, ck->fence.generation);
		a->acked = true;
	}
	return ret;
}

struct unsafe_req {
	struct checkpoint *ck;
	const char *why;
};

/* Main thread: this standby must never run (ck->unsafe). */
static int mt_unsafe(void *arg)
{
	const struct unsafe_req *r = arg;

	snprintf(r->ck->unsafe, sizeof(r->ck->unsafe), "%s", r->why);
	return 0;
}

/* Main thread: after the final checkpoint's ack, stop as the guest did. */
static int mt_end(void *arg)
{
	const struct apply_req *a = arg;
	char msg[sizeof(a->stop->message) + 40];

	qb_log(LOG_NOTICE, "standby: the guest stopped on the primary (%s); final checkpoint "
	       "%llu applied: this standby ends with it", a->stop->message,
	       (unsigned long long)a->stop->epoch);
	snprintf(msg, sizeof(msg), "the guest stopped on the primary: %s", a->stop->message);
	a->ck->port.ops->request_stop(a->ck->port.vm, a->stop->reason, a->stop->status, msg);
	return 0;
}

static void read_stop(struct guest_stop *gs, const Replication__Checkpoint *cp)
{
	const Replication__GuestStopped *m = cp->stopped;

	gs->set = m != NULL;
	if (!m)
		return;
	gs->reason = m->reason;
	gs->status = m->status;
	gs->epoch = cp->epoch;
	/* Shown in logs and status: the peer's text made printable and bounded. */
	logtext__clean(gs->message, sizeof(gs->message), m->message, SIZE_MAX);
}

static int mt_activate(void *arg)
{
	char err[128];
	int ret = checkpoint__activate(arg, false, 0, err, sizeof(err));

	if (ret)
		qb_log(LOG_ERR, "standby: activation on stream loss failed: %s", err);
	return ret;
}

/* The checkpoint's generation against the fence: 0, or -EPERM and why. */
static int check_generation(struct checkpoint *ck, uint64_t gen, char *err, size_t errlen)
{
	const struct mig_fence *fe = &ck->fence;

	if (fe->check_peer && gen != fe->peer_generation)
		snprintf(err, errlen, "refused: the checkpoint has generation %llu, this standby "
			 "expects generation %llu", (unsigned long long)gen,
			 (unsigned long long)fe->peer_generation);
	else if (!fe->check_peer && gen < fe->generation)
		snprintf(err, errlen, "refused: stale generation %llu (this standby is at %llu)",
			 (unsigned long long)gen, (unsigned long long)fe->generation);
	else
		return 0;
	return -EPERM;
}

static int send_ack(struct chan *c, bool ok, const char *error, uint64_t epoch, uint64_t gen)
{
	Replication__Message m = REPLICATION__MESSAGE__INIT;
	Replication__Ack a = REPLICATION__ACK__INIT;
	int ret;

	a.ok = ok;
	a.error = (char *)error;
	a.epoch = epoch;
	a.generation = gen;
	m.msg_case = REPLICATION__MESSAGE__MSG_ACK;
	m.ack = &a;
	ret = wire__write_msg(&c->s, &m);
	return ret ? ret : channel__flush(c);
}

/*
 * Staging memory: the area is reserved for the largest checkpoint this VM
 * can send (RAM + disk, vm_state__staging_limit) but backed only as it
 * fills.  Up to STAGE_KEEP stays backed between checkpoints; the rest goes
 * back to the host after each, so one large checkpoint does not hold its
 * memory for ever.  Past STAGE_KEEP, staging checks that the host can
 * give more (vm_state__stage_room).
 */
#define STAGE_KEEP (8u << 20)
#define MIB(x) ((unsigned long long)(x) >> 20)

/* Read one whole state stream into ck->stage; *len its size, why on -ENOMEM. */
static int stage(struct checkpoint *ck, size_t *len, char *why, size_t whylen)
{
	struct stream *s = &ck->sc->s;
	size_t total, next = STAGE_KEEP;
	const char *bad;
	uint32_t type;
	int ret;

	ret = stream__read(s, ck->stage, STREAM_PRELUDE_LEN);
	if (!ret)
		ret = vm_state__check_prelude(ck->stage, STREAM_PRELUDE_LEN, &bad);
	*len = STREAM_PRELUDE_LEN;
	while (!ret) {
		if (*len >= next && (ret = vm_state__stage_room(*len, &next, why, whylen)))
			break;
		ret = stream__read_frame(s, ck->stage + *len, ck->stage_limit - *len, &type, &total);
		if (ret) {
			/* A frame cut short wrote up to its length: the largest one's. */
			ck->stage_used = MIN(ck->stage_limit, *len + STREAM_FRAME_HDR_LEN +
					     STREAM_RECORD_MAX);
			break;
		}
		*len += total;
		ck->stage_used = MAX(ck->stage_used, *len);
		if (type == STREAM_FRAME_END)
			break;
	}
	if (ret == -EFBIG) {
		snprintf(why, whylen, "it is larger than any checkpoint of this VM can be (RAM "
			 "and disk: at most %llu MiB)", MIB(ck->stage_limit));
		ret = -ENOMEM;
	}
	return ret;
}

/* Staging memory past STAGE_KEEP back to the host (see above). */
static void release_stage(struct checkpoint *ck)
{
	size_t end = (ck->stage_used + STREAM_PAGE_SIZE - 1) & ~(size_t)(STREAM_PAGE_SIZE - 1);

	if (end > STAGE_KEEP && madvise(ck->stage + STAGE_KEEP, end - STAGE_KEEP, MADV_DONTNEED))
		qb_log(LOG_WARNING, "standby: cannot release staging memory: %s", strerror(errno));
	ck->stage_used = 0;
}

struct disk_check {
	size_t len;          /* 0: the primary asked for no check */
	uint8_t sha[32];
};

/*
 * --verify-disk: the image, with the checkpoint applied, must hash as the
 * primary's did at the capture.  A mismatch refuses the checkpoint (the
 * primary then treats this standby as lost); a match is the new digest.
 */
static int verify_disk(struct checkpoint *ck, uint64_t epoch, const struct disk_check *d,
		       char *err, size_t errlen)
{
	uint8_t sha[32];
	int ret = ck->port.ops->disk_digest(ck->port.vm, sha);

	if (ret == -ENODEV && (ret = -EBADMSG))
		snprintf(err, errlen, "checkpoint %llu refused: it carries a disk digest but this "
			 "standby has no disk", (unsigned long long)epoch);
	else if (d->len != sizeof(sha) && (ret = -EBADMSG))
		snprintf(err, errlen, "checkpoint %llu refused: its disk digest is malformed",
			 (unsigned long long)epoch);
	else if (ret)
		snprintf(err, errlen, "checkpoint %llu: cannot hash the disk image: %s",
			 (unsigned long long)epoch, strerror(-ret));
	else if (memcmp(sha, d->sha, sizeof(sha)) && (ret = -EBADMSG))
		snprintf(err, errlen, "checkpoint %llu refused: the disk image differs from the "
			 "primary's after applying it (SHA-256 mismatch)", (unsigned long long)epoch);
	pthread_mutex_lock(&ck->lock);
	if (ret) {
		ck->st.refused++;
	} else {
		ck->st.disk_digest_valid = true;
		memcpy(ck->st.disk_digest, sha, sizeof(sha));
	}
	pthread_mutex_unlock(&ck->lock);
	if (ret)
		qb_log(LOG_ERR, "standby: %s", err);
	return ret;
}

/* What one checkpoint came to (one()); the reason, when not applied, in its err. */
enum standby_outcome {
	STANDBY_APPLIED,  /* applied and acknowledged */
	STANDBY_REFUSED,  /* refused and so acknowledged: the stream is intact */
	STANDBY_ENDED,    /* the final one applied and acknowledged: the guest stopped */
	STANDBY_LOST,     /* the stream is lost (broken, cut, or ended on purpose) */
};

/* A refusal was sent back (ack_ret 0): the stream goes on; else it is lost. */
static enum standby_outcome refused(int ack_ret)
{
	return ack_ret ? STANDBY_LOST : STANDBY_REFUSED;
}

/*
 * A verified checkpoint failed to apply.  Undone (the VM is as at the last
 * commit): refused like a malformed one, the stream goes on.  Not undone:
 * the stream ends and the standby refuses activation (ck->unsafe).
 */
static enum standby_outcome not_applied(struct checkpoint *ck, const struct apply_req *a,
				       int ret, char *err, size_t errlen)
{
	if (!a->whole || ret == -ECANCELED) {
		if (a->whole)
			snprintf(err, errlen, "checkpoint %llu not applied: %s",
				 (unsigned long long)a->epoch, a->why ? a->why : strerror(-ret));
		else
			snprintf(err, errlen, "not activatable: %.200s", ck->unsafe);
		return STANDBY_LOST;
	}
	snprintf(err, errlen, "checkpoint %llu not applied (%s: %s); undone, keeping checkpoint "
		 "%llu", (unsigned long long)a->epoch, a->why ? a->why : "error", strerror(-ret),
		 (unsigned long long)ck->st.committed_epoch);
	pthread_mutex_lock(&ck->lock);
	ck->st.refused++;
	pthread_mutex_unlock(&ck->lock);
	qb_log(LOG_ERR, "standby: %s", err);
	return refused(send_ack(ck->sc, false, err, a->epoch, ck->fence.generation));
}

/* One checkpoint, read, checked, applied and acknowledged (or refused). */
static enum standby_outcome one(struct checkpoint *ck, uint8_t *buf, char *err, size_t errlen)
{
	struct vm_state_parsed p;
	struct guest_stop gs;
	struct apply_req a = { .ck = ck, .p = &p, .stop = &gs, .whole = true };
	struct wire_frame f;
	const char *why = "";
	uint64_t epoch, gen;
	struct disk_check digest;
	char big[160] = "";
	size_t slen;
	int ret = wire__next_frame(&ck->sc->s, buf, vm_port__mem_size(&ck->port), &f, &why);

	if (ret) {
		snprintf(err, errlen, "the checkpoint stream broke: %s%s%s", why,
			 why[0] ? ": " : "", channel__strerror(ret));
		return STANDBY_LOST;
	}
	if (f.type != STREAM_FRAME_MSG || f.msg->msg_case != REPLICATION__MESSAGE__MSG_CHECKPOINT) {
		snprintf(err, errlen, "unexpected frame in the checkpoint stream");
		wire__frame_free(&f);
		return STANDBY_LOST;
	}
	epoch = f.msg->checkpoint->epoch;
	gen = f.msg->checkpoint->generation;
	read_stop(&gs, f.msg->checkpoint);
	digest.len = f.msg->checkpoint->disk_sha256.len;
	if (digest.len == sizeof(digest.sha))
		memcpy(digest.sha, f.msg->checkpoint->disk_sha256.data, sizeof(digest.sha));
	wire__frame_free(&f);
	if (check_generation(ck, gen, err, errlen)) {
		qb_log(LOG_ERR, "standby: checkpoint %llu %s", (unsigned long long)epoch, err);
		send_ack(ck->sc, false, err, epoch, ck->fence.generation);
		return STANDBY_LOST;
	}
	ret = wire__read_state_start(&ck->sc->s);
	if (!ret)
		ret = stage(ck, &slen, big, sizeof(big));
	if (ret == -ENOMEM) {
		snprintf(err, errlen, "checkpoint %llu refused (ENOMEM): %s",
			 (unsigned long long)epoch, big);
		/*
		 * The rest of it is not read: the primary is told why and the
		 * stream ends at once (not when its sender's time limit runs out).
		 */
		send_ack(ck->sc, false, err, epoch, ck->fence.generation);
		channel__shutdown(ck->sc);
		return STANDBY_LOST;
	}
	if (ret) {
		snprintf(err, errlen, "checkpoint %llu arrived partly (%s): thrown away",
			 (unsigned long long)epoch, channel__strerror(ret));
		return STANDBY_LOST;
	}
	memset(&p, 0, sizeof(p));
	ret = vm_state__parse(ck->stage, slen, &p, &why);
	if (!ret)
		ret = vm_state__check_config(&p, vm_port__mem_size(&ck->port),
					     ck->port.ops->nr_vcpus(ck->port.vm), &why);
	if (!ret && gs.set && !ck->port.ops->is_guest_stop(ck->port.vm, gs.reason)) {
		why = "it ends the guest for a reason that is not the guest's own";
		ret = -EINVAL;
	}
	if (ret) {
		vm_state__free_parsed(&p);
		snprintf(err, errlen, "checkpoint %llu refused: %s; keeping checkpoint %llu",
			 (unsigned long long)epoch, why ? why : "malformed",
			 (unsigned long long)ck->st.committed_epoch);
		pthread_mutex_lock(&ck->lock);
		ck->st.refused++;
		pthread_mutex_unlock(&ck->lock);
		qb_log(LOG_ERR, "standby: %s", err);
		return refused(send_ack(ck->sc, false, err, epoch, ck->fence.generation));
	}
	a.epoch = epoch;
	a.npages = p.nr_pages;
	a.dbytes = p.disk_bytes;
	a.slen = slen;
	/* With a disk digest to check, the ack waits for that check (below). */
	a.ack = !digest.len;
	ret = mainthread__call(&ck->m.mt, mt_apply, &a);
	vm_state__free_parsed(&p);
	if (ret)
		return not_applied(ck, &a, ret, err, errlen);
	if (digest.len && (ret = verify_disk(ck, epoch, &digest, err, errlen))) {
		/* Applied, but its disk is not the primary's: nothing to run. */
		mainthread__call(&ck->m.mt, mt_unsafe, &(struct unsafe_req){ ck, err });
		return refused(send_ack(ck->sc, false, err, epoch, ck->fence.generation));
	}
	if (a.acked) {
		ret = a.ack_ret;
	} else {
		record_applied(ck, &a);
		ret = send_ack(ck->sc, true, "", epoch, ck->fence.generation);
	}
	if (ret)
		snprintf(err, errlen, "the primary went away before the ack of checkpoint %llu: %s",
			 (unsigned long long)epoch, channel__strerror(ret));
	/* Ended either way: the state is the guest's last, never to be run. */
	if (gs.set) {
		mainthread__call(&ck->m.mt, mt_end, &a);
		snprintf(err, errlen, "the guest stopped on the primary");
		return STANDBY_ENDED;
	}
	return ret ? STANDBY_LOST : STANDBY_APPLIED;
}

void *checkpoint__standby_main(void *arg)
{
	struct checkpoint *ck = arg;
	uint8_t *buf = malloc(WIRE_FRAME_MAX);
	char err[256] = "";
	enum standby_outcome o = buf ? STANDBY_APPLIED : STANDBY_LOST;

	if (!buf)
		snprintf(err, sizeof(err), "no memory for the checkpoint stream's buffer");
	while (o == STANDBY_APPLIED || o == STANDBY_REFUSED) {
		o = one(ck, buf, err, sizeof(err));
		release_stage(ck);
	}
	free(buf);
	if (o == STANDBY_ENDED)
		goto out;   /* the guest stopped: nothing was lost, nothing to activate */
	pthread_mutex_lock(&ck->lock);
	if (ck->state == CKPT_STANDBY) {
		ck->state = CKPT_LOST;
		/* What status must say first: that this standby cannot be run. */
		if (ck->unsafe[0])
			snprintf(ck->error, sizeof(ck->error), "not activatable: %.200s", ck->unsafe);
		else
			snprintf(ck->error, sizeof(ck->error), "%s", err);
	}
	pthread_mutex_unlock(&ck->lock);
	if (!atomic_load(&ck->stop) && !ck->activated) {
		if (ck->unsafe[0])
			qb_log(LOG_ERR, "standby: %s; this standby is not activatable: %s", err,
			       ck->unsafe);
		else
			qb_log(LOG_ERR, "standby: %s; the last committed checkpoint (%llu) is kept",
			       err, (unsigned long long)ck->st.committed_epoch);
		if (ck->activate_on_loss) {
			qb_log(LOG_NOTICE, "standby: activating on stream loss");
			mainthread__call(&ck->m.mt, mt_activate, ck);
		}
	}
out:
	atomic_store(&ck->thread_done, true);
	mainthread__wake(&ck->m.mt);
	return NULL;
}

int checkpoint__standby_start(struct checkpoint *ck, struct chan *c,
			      const struct mig_fence *fence, bool activate_on_loss)
{
	int ret;

	ck->sc = c;
	ck->fence = *fence;
	ck->activate_on_loss = activate_on_loss;
	ret = vm_state__undo_new(&ck->undo);
	if (ret)
		return ret;
	ck->stage_limit = ck->port.ops->staging_limit(ck->port.vm);
	ck->stage = mmap(NULL, ck->stage_limit, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ck->stage == MAP_FAILED) {
		ck->stage = NULL;
		return -ENOMEM;
	}
	/*
	 * The standby's UART emits nothing until activation; what the sync
	 * left in it is the primary's, dropped as at activation.
	 */
	ck->port.ops->drop_output(ck->port.vm, OUTBUF_SERIAL);
	outbuf__hold_sinks(&ck->port, true);
	ck->state = CKPT_STANDBY;
	/* The initial sync was checkpoint 0. */
	checkpoint__record_commit(ck, migrate__now_ns());
	atomic_store(&ck->thread_done, false);
	ret = pthread_create(&ck->thread, NULL, checkpoint__standby_main, ck);
	if (ret)
		return -ret;
	ck->thread_running = true;
	return 0;
}
