/*
 * The primary side of checkpointing (checkpoint.h): initial sync, then one
 * epoch per interval, or sooner when the guest's output is held (output-
 * triggered epochs, bounded by min_interval and max_rate), each
 * acknowledged before the next begins (so the
 * standby never holds more than one checkpoint in flight and the output of
 * an epoch waits at most one round trip after its capture).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "replication/checkpoint.h"
#include "replication/wire.h"
#include "vmm/logtext.h"
#include "vmm/stream.h"
#include "vmm/virtio_blk.h"
#include "vmm/vm_hold.h"
#include "vmm/vm_state.h"

static void set_error(struct checkpoint *ck, const char *error)
{
	pthread_mutex_lock(&ck->lock);
	snprintf(ck->error, sizeof(ck->error), "%s", error);
	pthread_mutex_unlock(&ck->lock);
}

static void set_state(struct checkpoint *ck, enum checkpoint_state s, const char *error)
{
	pthread_mutex_lock(&ck->lock);
	ck->state = s;
	if (error)
		snprintf(ck->error, sizeof(ck->error), "%s", error);
	pthread_mutex_unlock(&ck->lock);
}

/*
 * Main thread, the guest held: the disk keeps the epochs' written blocks
 * from now on (tracking off frees the log).  Without it (no memory),
 * every epoch reads its blocks back from the image, as it always may.
 */
static void start_disk_log(struct checkpoint *ck)
{
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&ck->port, &ops);
	uint64_t mib = ck->p.disk_log_mib ? ck->p.disk_log_mib : CHECKPOINT_DEFAULT_DISK_LOG_MIB;
	int ret;

	if (!ck->m.disk_tracking || !disk || !ops->capture)
		return;
	ret = ops->capture(disk, mib * (1024 * 1024 / VIRTIO_BLK_BLOCK), &ck->ob.notify);
	if (ret)
		qb_log(LOG_WARNING, "protect: no %llu MiB disk log (%s): epochs read their disk "
		       "blocks back from the image", (unsigned long long)mib, strerror(-ret));
}

#ifdef HASVC_FAULT_INJECTION
/* tests/checkpoint/cow.sh: the epochs copy their pages in the pause. */
static bool test_capture_copy(void)
{
	return getenv("VMM_TEST_CAPTURE_COPY") != NULL;
}
#else
static bool test_capture_copy(void)
{
	return false;
}
#endif

/*
 * Main thread, the guest held: copy-on-write capture from now on when the
 * VM and the kernel have it; else each pause copies its pages.
 */
static void start_cow(struct checkpoint *ck)
{
	int ret = !ck->port.ops->cow_start ? -EOPNOTSUPP :
		  test_capture_copy() ? -ECANCELED : ck->port.ops->cow_start(ck->port.vm);

	ck->cow = !ret;
	pthread_mutex_lock(&ck->lock);
	ck->st.capture = ck->cow ? "cow" : "copy";
	pthread_mutex_unlock(&ck->lock);
	if (ret)
		qb_log(LOG_NOTICE, "protect: the pauses copy the dirty pages (capture: copy): "
		       "no copy-on-write capture (%s)", ret == -EOPNOTSUPP ?
		       "no userfaultfd write protection of shared memory" : strerror(-ret));
}

/* Replication thread: copy-on-write capture ends with the epochs. */
static void stop_cow(struct checkpoint *ck)
{
	if (ck->cow)
		ck->port.ops->cow_stop(ck->port.vm);
	ck->cow = false;
}

/*
 * Main thread: the sync is acknowledged.  Hold output from here on (output
 * the policy held stays held until the first acknowledged checkpoint) and
 * release the switch-over's and the policy's holds (the operator's stays).
 */
static int mt_protect_start(void *arg)
{
	struct checkpoint *ck = arg;

	outbuf__start(&ck->ob, &ck->port);
	start_disk_log(ck);
	start_cow(ck);
	pthread_mutex_lock(&ck->lock);
	checkpoint__record_commit(ck, migrate__now_ns());
	pthread_mutex_unlock(&ck->lock);
	return vm_port__release(&ck->port, ck->m.holder | VM_HOLD_POLICY);
}

/* Set (on) or clear the bits of the log's blocks in bm. */
static void set_logged(struct dirty_bitmap *bm, const struct vm_disk_log *log, bool on)
{
	for (uint64_t i = 0; i < log->n; i++) {
		uint64_t bit = 1ULL << (log->blk[i] % 64);

		bm->bits[log->blk[i] / 64] = on ? bm->bits[log->blk[i] / 64] | bit :
					     bm->bits[log->blk[i] / 64] & ~bit;
	}
}

static void free_rest(struct checkpoint *ck)
{
	free(ck->cap_rest);
	free(ck->cap_rest_blk);
	ck->cap_rest = NULL;
	ck->cap_rest_blk = NULL;
}

/*
 * Main thread, with the VM held: the blocks of a full log's epoch that it
 * lacks (harvested, not logged) are read from the image now; the log keeps
 * the rest.  False when that cannot be done (the caller reads them all).
 */
static bool read_rest(struct checkpoint *ck, const struct vm_disk_log *log)
{
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&ck->port, &ops);
	uint64_t rest = ck->cap_disk_blocks - log->n, size = ops->size(disk), k = 0;
	uint64_t nr = ck->m.dbm.nr_pages;

	for (uint64_t i = 0; i < log->n; i++)
		if (!dirty_bitmap__test(&ck->m.dbm, log->blk[i]))
			return false;   /* logged, not harvested: no exact set */
	set_logged(&ck->m.dbm, log, false);
	ck->cap_rest_blk = malloc((rest ? rest : 1) * sizeof(uint64_t));
	ck->cap_rest = malloc((rest ? rest : 1) * VIRTIO_BLK_BLOCK);
	for (uint64_t blk = 0; ck->cap_rest && ck->cap_rest_blk && blk < nr && k < rest; blk++) {
		uint64_t off = blk * VIRTIO_BLK_BLOCK, len;
		uint8_t *dst = ck->cap_rest + k * VIRTIO_BLK_BLOCK;

		if (!dirty_bitmap__test(&ck->m.dbm, blk))
			continue;
		len = size - off < VIRTIO_BLK_BLOCK ? size - off : VIRTIO_BLK_BLOCK;
		memset(dst + len, 0, VIRTIO_BLK_BLOCK - len);
		if (ops->read(disk, off, dst, len))
			break;
		ck->cap_rest_blk[k++] = blk;
	}
	if (k == rest)
		return true;
	free_rest(ck);
	set_logged(&ck->m.dbm, log, true);   /* the caller reads them all */
	return false;
}

/*
 * Main thread, with the VM held: the epoch's disk blocks.  The log the
 * disk kept as it wrote them is taken (nothing is read); a full log's
 * missing blocks are read back here (read_rest); when the log does not
 * hold exactly harvested blocks, all of them are (*blocks set).
 */
static void capture_disk(struct checkpoint *ck, const struct dirty_bitmap **blocks)
{
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&ck->port, &ops);
	const struct vm_disk_log *log = disk && ops->capture_take ? ops->capture_take(disk) : NULL;

	dirty_bitmap__clear(&ck->m.dbm);
	migrate__disk_harvest(&ck->m);
	ck->cap_disk_blocks = dirty_bitmap__count(&ck->m.dbm);
	ck->cap_log = NULL;
	ck->cap_read_blocks = 0;
	/* Every logged block is marked: equal counts are equal sets. */
	if (log && !atomic_load(&log->overflow) && log->n == ck->cap_disk_blocks)
		ck->cap_log = log;
	else if (log && atomic_load(&log->overflow) && log->n <= ck->cap_disk_blocks &&
		 read_rest(ck, log))
		ck->cap_log = log;
	ck->cap_read_blocks = ck->cap_log ? ck->cap_disk_blocks - ck->cap_log->n :
			      ck->cap_disk_blocks;
	*blocks = ck->cap_log ? NULL : &ck->m.dbm;
}

/*
 * At most this many dirty pages are copied in the pause even with cow:
 * write-protecting them and lifting it again after the copy costs two
 * userfaultfd ioctls a run of pages, more than copying 128 KiB (the net
 * guest's 9-page epochs: docs/performance.md, "virtio-net").
 */
#define CAPTURE_COPY_PAGES_MAX 32

/*
 * Main thread, in the pause: the machine's state, then its dirty pages -
 * write-protected, copied after the resume (cow), or copied now.
 */
static int save_capture(struct checkpoint *ck, const struct dirty_bitmap *blocks)
{
	const struct vm_port_ops *ops = ck->port.ops;
	int ret;

	ck->cap_cow = false;
	ck->cap_small = ck->cow && ck->cap_pages <= CAPTURE_COPY_PAGES_MAX;
	if (!ck->cow || ck->cap_small)
		return ops->save_pages(ck->port.vm, &ck->cap_s, &ck->m.bm, blocks);
	ret = ops->save_head(ck->port.vm, &ck->cap_s, blocks);
	if (ret)
		return ret;
	if (!ops->cow_protect(ck->port.vm, &ck->m.bm)) {
		ck->cap_cow = true;
		return 0;
	}
	/* Nothing stays protected after a failed protect: this pause copies. */
	qb_log(LOG_WARNING, "protect: cannot write-protect the dirty pages; this epoch "
	       "copies them in the pause");
	return ops->save_tail(ck->port.vm, &ck->cap_s, &ck->m.bm);
}

/* Main thread: the end of an epoch. */
static int mt_capture(void *arg)
{
	struct checkpoint *ck = arg;
	uint64_t t0 = migrate__now_ns();
	const struct dirty_bitmap *blocks = NULL;
	int ret;

	/* A stopped VM cannot be held (nor run): the final checkpoint reads it. */
	ret = vm_port__hold(&ck->port, VM_HOLD_EPOCH);
	if (ret && vm_port__run_state(&ck->port) != VM_PORT_STOPPED)
		return ret;
	/*
	 * Stopped: only the final checkpoint captures it (a guest's own stop;
	 * the main loop asks for it), once every vCPU thread is out of KVM_RUN.
	 */
	if (vm_port__run_state(&ck->port) == VM_PORT_STOPPED) {
		if (!ck->cap_last) {
			vm_port__release(&ck->port, VM_HOLD_EPOCH);
			return -EAGAIN;
		}
		ck->port.ops->quiesce(ck->port.vm);
	}
	dirty_bitmap__clear(&ck->m.bm);
	ret = ck->port.ops->dirty_harvest(ck->port.vm, &ck->m.bm);
	/* No request is in flight: the image holds exactly the epoch's writes. */
	if (!ret && ck->m.disk_tracking) {
		capture_disk(ck, &blocks);
		if (ck->p.verify_disk)
			ret = ck->port.ops->disk_digest(ck->port.vm, ck->cap_digest);
	}
	if (!ret) {
		ck->cap_pages = dirty_bitmap__count(&ck->m.bm);
		ck->cap_mark = outbuf__mark(&ck->ob);
		/* Last epoch's buffer, faulted in already: the pause rarely grows it. */
		stream__init_mem_buf(&ck->cap_s, ck->cap_spare, ck->cap_spare_len);
		ck->cap_spare = NULL;
		ck->cap_s.seal_later = true; /* hashed after the guest runs again */
		ret = save_capture(ck, blocks);
		if (ret)
			stream__close(&ck->cap_s);
	}
	if (ret) {
		free_rest(ck);
		ck->cap_log = NULL;
	}
	vm_port__release(&ck->port, VM_HOLD_EPOCH);
	ck->cap_pause_ns = migrate__now_ns() - t0;
	return ret;
}

struct disk_piece {
	uint64_t blk;
	const uint8_t *data;
};

static int cmp_piece(const void *a, const void *b)
{
	uint64_t x = ((const struct disk_piece *)a)->blk, y = ((const struct disk_piece *)b)->blk;

	return x < y ? -1 : x > y;
}

/* Pieces [from, to), consecutive blocks, as one disk frame. */
static int write_disk_run(struct stream *s, const struct disk_piece *p, uint64_t from,
			  uint64_t to, uint64_t size, uint8_t *buf)
{
	uint64_t off = p[from].blk * VIRTIO_BLK_BLOCK, end = (p[to - 1].blk + 1) * VIRTIO_BLK_BLOCK;
	uint32_t len = (uint32_t)((end > size ? size : end) - off);

	for (uint64_t i = from; i < to; i++)
		memcpy(buf + (i - from) * VIRTIO_BLK_BLOCK, p[i].data, VIRTIO_BLK_BLOCK);
	return stream__write_disk(s, off, vm_state__all_zero(buf, len) ? NULL : buf, len);
}

/*
 * Replication thread, the guest running again: the logged blocks (and
 * those a full log lacked, read in the pause) into the stream, in the
 * image's order and runs (the parser wants them sorted).
 */
static int write_disk_log(struct checkpoint *ck)
{
	const struct vm_disk_log *log = ck->cap_log;
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&ck->port, &ops);
	uint64_t n = log->n + (ck->cap_rest ? ck->cap_read_blocks : 0), from = 0, i;
	struct disk_piece *p = malloc((n ? n : 1) * sizeof(*p));
	uint8_t *buf = malloc(STREAM_DISK_MAX);
	uint64_t size = disk ? ops->size(disk) : 0;
	int ret = !disk ? -ENODEV : p && buf ? 0 : -ENOMEM;

	for (i = 0; !ret && i < log->n; i++)
		p[i] = (struct disk_piece){ log->blk[i], log->data + i * VIRTIO_BLK_BLOCK };
	for (uint64_t k = 0; !ret && ck->cap_rest && k < ck->cap_read_blocks; k++)
		p[i + k] = (struct disk_piece){ ck->cap_rest_blk[k],
						ck->cap_rest + k * VIRTIO_BLK_BLOCK };
	if (!ret)
		qsort(p, n, sizeof(*p), cmp_piece);
	for (i = 1; !ret && i <= n; i++) {
		if (i < n && p[i].blk == p[i - 1].blk + 1 &&
		    (i - from) < STREAM_DISK_MAX / VIRTIO_BLK_BLOCK)
			continue;
		ret = write_disk_run(&ck->cap_s, p, from, i, size, buf);
		from = i;
	}
	free(p);
	free(buf);
	free_rest(ck);
	return ret;
}

/* Replication thread: the captured stream, whole, hashed, in cap_buf. */
static int finish_capture(struct checkpoint *ck)
{
	int ret = ck->cap_cow ? ck->port.ops->cow_save(ck->port.vm, &ck->cap_s, &ck->m.bm) : 0;

	ck->cap_cow = false;
	if (ck->cap_log && !ret)
		ret = write_disk_log(ck);   /* frees the rest */
	else
		free_rest(ck);

	if (!ret)
		ret = stream__write_end(&ck->cap_s);
	if (!ret)
		ck->cap_buf = stream__mem_take(&ck->cap_s, &ck->cap_len);
	stream__close(&ck->cap_s);
	return ret ? ret : stream__seal_mem(&ck->cap_buf, &ck->cap_len);
}

/*
 * Main thread: the standby is gone; apply the policy.  Dirty tracking
 * stops either way: a later protect starts a new sync.
 */
static int mt_lost(void *arg)
{
	struct checkpoint *ck = arg;

	if (ck->p.pause_on_loss) {
		/* Output stays held: nothing uncommitted may leave. */
		vm_port__hold(&ck->port, VM_HOLD_POLICY);
		migrate__mt_recover(&ck->m);
		set_state(ck, CKPT_PAUSED, NULL);
		return 0;
	}
	migrate__mt_recover(&ck->m);
	outbuf__open(&ck->ob);
	set_state(ck, CKPT_DEGRADED, NULL);
	return 0;
}

/*
 * Main thread: the initial sync failed.  A guest the policy had paused
 * stays paused with its output held (still state paused); otherwise the
 * guest runs on unprotected, as before the protect (state failed).
 */
static int mt_sync_failed(void *arg)
{
	struct checkpoint *ck = arg;

	set_state(ck, checkpoint__policy_paused(ck) ? CKPT_PAUSED : CKPT_FAILED, NULL);
	return checkpoint__policy_paused(ck);
}

/*
 * The epoch a failure is injected into, from the environment variable name
 * (0: none): VMM_TEST_CORRUPT_CHECKPOINT flips a byte of checkpoint N
 * (tests/checkpoint/corrupt.sh), VMM_TEST_FAIL_DISK_SYNC fails its
 * fdatasync (tests/checkpoint/disk_log.sh).  Only in builds configured with
 * --enable-fault-injection: a production vmm has no hook that damages what
 * it sends.
 */
#ifdef HASVC_FAULT_INJECTION
static uint64_t test_epoch(const char *name)
{
	const char *v = getenv(name);

	return v ? strtoull(v, NULL, 10) : 0;
}
#else
static uint64_t test_epoch(const char *name)
{
	(void)name;
	return 0;
}
#endif

/* last: the final checkpoint, which tells the standby how the guest stopped. */
static int send_checkpoint(struct checkpoint *ck, uint64_t epoch, bool last)
{
	Replication__Message msg = REPLICATION__MESSAGE__INIT;
	Replication__Checkpoint cp = REPLICATION__CHECKPOINT__INIT;
	Replication__GuestStopped gs = REPLICATION__GUEST_STOPPED__INIT;
	struct vm_port_stop stop;
	int ret;

	cp.epoch = epoch;
	cp.generation = ck->generation;
	if (last) {
		ck->port.ops->stop_info(ck->port.vm, &stop);
		gs.reason = stop.reason;
		gs.status = stop.status;
		gs.message = (char *)stop.message;
		cp.stopped = &gs;
	}
	if (ck->p.verify_disk && ck->m.disk_tracking) {
		cp.disk_sha256.data = ck->cap_digest;
		cp.disk_sha256.len = sizeof(ck->cap_digest);
	}
	msg.msg_case = REPLICATION__MESSAGE__MSG_CHECKPOINT;
	msg.checkpoint = &cp;
	ret = wire__write_msg(&ck->m.main->s, &msg);
	if (!ret)
		ret = wire__write_state_start(&ck->m.main->s);
	if (!ret)
		ret = channel__write(ck->m.main, ck->cap_buf, ck->cap_len);
	return ret ? ret : channel__flush(ck->m.main);
}

static int read_ack(struct checkpoint *ck, uint8_t *buf, uint64_t epoch, char *err,
		    size_t errlen)
{
	struct wire_frame f;
	const char *why = "";
	char peer[LOGTEXT_PEER_MAX];
	uint32_t type, len;
	int ret = wire__read_frame(&ck->m.main->s, buf, &type, &len, &why);

	if (ret) {
		snprintf(err, errlen, "standby lost: no ack for checkpoint %llu: %s%s%s",
			 (unsigned long long)epoch, why, why[0] ? ": " : "", channel__strerror(ret));
		return ret;
	}
	ret = wire__decode(type, buf + STREAM_FRAME_HDR_LEN, len, vm_port__mem_size(&ck->port), NULL,
			   NULL, &f, &why);
	if (ret || type != STREAM_FRAME_MSG || f.msg->msg_case != REPLICATION__MESSAGE__MSG_ACK) {
		snprintf(err, errlen, "the standby sent a bad message: %s", why);
		if (!ret)
			wire__frame_free(&f);
		return -EPROTO;
	}
	ret = -EPROTO;
	if (!f.msg->ack->ok)
		snprintf(err, errlen, "the standby refused checkpoint %llu: %s",
			 (unsigned long long)epoch,
			 logtext__clean(peer, sizeof(peer), f.msg->ack->error, SIZE_MAX));
	else if (f.msg->ack->epoch != epoch)
		snprintf(err, errlen, "the standby acked checkpoint %llu, not %llu",
			 (unsigned long long)f.msg->ack->epoch, (unsigned long long)epoch);
	else if (ck->p.check_peer_generation && f.msg->ack->generation != ck->p.peer_generation)
		snprintf(err, errlen, "standby has generation %llu, expected %llu",
			 (unsigned long long)f.msg->ack->generation,
			 (unsigned long long)ck->p.peer_generation);
	else
		ret = 0;
	wire__frame_free(&f);
	return ret;
}

/* When the current epoch ends at the latest, and at the earliest for output. */
struct epoch_clock {
	uint64_t interval, min_gap;   /* ns; min_gap 0: output does not end epochs */
	uint64_t started;             /* the current epoch's capture time */
};

static void clock_init(struct epoch_clock *c, const struct checkpoint_params *p)
{
	uint64_t min = checkpoint__min_interval_us(p) * 1000ULL;
	uint64_t gap = 1000000000ULL / (p->max_rate ? p->max_rate : CHECKPOINT_DEFAULT_MAX_RATE);

	c->interval = (uint64_t)(p->interval_ms ? p->interval_ms :
				 CHECKPOINT_DEFAULT_INTERVAL_MS) * 1000000ULL;
	/* One epoch in flight: captures min_gap apart are at most max_rate a second. */
	c->min_gap = p->no_output_epochs ? 0 : min > gap ? min : gap;
	c->started = migrate__now_ns();
}

/* Sleep on the eventfd until deadline (ns, CLOCK_MONOTONIC) or an event. */
static void wait_event(int fd, uint64_t deadline)
{
	uint64_t now = migrate__now_ns(), left = deadline > now ? deadline - now : 0, v;
	struct timespec ts = { (time_t)(left / 1000000000ULL), (long)(left % 1000000000ULL) };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (ppoll(&pfd, 1, &ts, NULL) > 0 && read(fd, &v, sizeof(v)) < 0) {
		/* Nothing to read: another wake took it. */
	}
}

static bool disk_log_full(struct checkpoint *ck)
{
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&ck->port, &ops);

	return disk && ops->capture_full && ops->capture_full(disk);
}

/*
 * Wait for the end of the epoch: the interval, or held output once the
 * epoch is min_gap old.  Unprotect (stop) or the guest's stop (final) end
 * it at once.  True: it ended for output.
 */
static bool wait_epoch_end(struct checkpoint *ck, struct epoch_clock *c)
{
	uint64_t by_time = c->started + c->interval, by_output = c->started + c->min_gap;
	bool output = false, held;

	for (;;) {
		uint64_t now = migrate__now_ns(), deadline = by_time;

		if (atomic_load(&ck->stop) || atomic_load(&ck->final) || now >= by_time)
			break;
		/* Armed before looking: output held after the look writes the fd. */
		held = outbuf__arm(&ck->ob);
		/* The disk log is full: the epoch ends now (its blocks are read back). */
		if (disk_log_full(ck))
			break;
		if (c->min_gap && held) {
			output = now >= by_output;
			if (output)
				break;
			/* Held already: only the clock matters until by_output. */
			outbuf__disarm(&ck->ob);
			deadline = by_output;
		}
		wait_event(outbuf__events(&ck->ob), deadline);
	}
	outbuf__disarm(&ck->ob);
	c->started = migrate__now_ns();
	return output;
}

static void record_epoch(struct checkpoint *ck, uint64_t epoch, uint64_t t_send,
			 bool by_output)
{
	uint64_t now = migrate__now_ns();

	pthread_mutex_lock(&ck->lock);
	ck->st.epochs = epoch;
	ck->st.committed_epoch = epoch;
	if (by_output)
		ck->st.epochs_output++;
	else
		ck->st.epochs_time++;
	checkpoint__record_commit(ck, now);
	now -= t_send;
	ck->st.pages_last = ck->cap_pages;
	ck->st.bytes_last = ck->cap_len;
	ck->st.pages_sum += ck->cap_pages;
	ck->st.bytes_sum += ck->cap_len;
	ck->st.disk_blocks_last = ck->cap_disk_blocks;
	ck->st.disk_bytes_sum += ck->cap_disk_blocks * VIRTIO_BLK_BLOCK;
	ck->st.disk_read_blocks += ck->cap_read_blocks;
	ck->st.epochs_copied += ck->cap_small;
	ck->st.disk_digest_valid = ck->p.verify_disk && ck->m.disk_tracking;
	memcpy(ck->st.disk_digest, ck->cap_digest, sizeof(ck->st.disk_digest));
	ck->st.ack_ns_sum += now;
	if (now > ck->st.ack_ns_max)
		ck->st.ack_ns_max = now;
	checkpoint__record_pause(ck, ck->cap_pause_ns);
	pthread_mutex_unlock(&ck->lock);
}

/*
 * Replication thread, while the standby applies the checkpoint just sent:
 * the epoch's disk writes durable here too before its output leaves (the
 * pause left that to us: virtio_blk__save), so that a VM started again
 * from this node's image, after both copies were lost, has every write an
 * output that left followed.
 */
static int sync_disk(struct checkpoint *ck)
{
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&ck->port, &ops);

	return disk && ck->m.disk_tracking && ops->sync ? ops->sync(disk) : 0;
}

/* 0 once the final checkpoint is acknowledged; else why the epochs ended. */
static int epochs(struct checkpoint *ck, uint8_t *buf, char *err, size_t errlen)
{
	struct epoch_clock clock;
	uint64_t corrupt = test_epoch("VMM_TEST_CORRUPT_CHECKPOINT");
	uint64_t fail_sync = test_epoch("VMM_TEST_FAIL_DISK_SYNC");
	int ret;

	clock_init(&clock, &ck->p);
	/* From the first epoch on: the sync had the migration's limits. */
	if (ck->p.mp.ack_timeout_ms)
		channel__set_timeout(ck->m.main, (int)ck->p.mp.ack_timeout_ms);
	for (uint64_t epoch = 1; !atomic_load(&ck->stop); epoch++) {
		uint64_t t_send;
		bool last, by_output = wait_epoch_end(ck, &clock);

		if (atomic_load(&ck->stop))
			break;
		/* Set only once the VM has stopped: this capture is its end. */
		last = atomic_load(&ck->final);
		ck->cap_last = last;
		ret = mainthread__call(&ck->m.mt, mt_capture, ck);
		if (ret == -EAGAIN) {
			epoch--;   /* stopped: wait for the final capture, or the end */
			continue;
		}
		if (!ret)
			ret = finish_capture(ck);
		if (ret) {
			snprintf(err, errlen, "cannot capture checkpoint %llu: %s",
				 (unsigned long long)epoch, strerror(-ret));
			return ret;
		}
		if (epoch == corrupt && ck->cap_len > 64)
			ck->cap_buf[ck->cap_len / 2] ^= 0x5a;
		t_send = migrate__now_ns();
		ret = send_checkpoint(ck, epoch, last);
		ck->cap_spare = ck->cap_buf;   /* sealed: exactly cap_len bytes */
		ck->cap_spare_len = ck->cap_len;
		ck->cap_buf = NULL;
		if (ret) {
			snprintf(err, errlen, "standby lost: sending checkpoint %llu failed: %s",
				 (unsigned long long)epoch, channel__strerror(ret));
			return ret;
		}
		ret = epoch == fail_sync ? -EIO : sync_disk(ck);
		if (ret) {
			snprintf(err, errlen, "cannot make checkpoint %llu's disk writes durable "
				 "here: fdatasync: %s", (unsigned long long)epoch, strerror(-ret));
			return ret;
		}
		ret = read_ack(ck, buf, epoch, err, errlen);
		if (ret)
			return ret;
		outbuf__commit(&ck->ob, ck->cap_mark);
		record_epoch(ck, epoch, t_send, by_output);
		if (last)
			return 0;
	}
	return -ECANCELED;
}

static void sync_failed(struct checkpoint *ck, int ret, const char *err)
{
	if (atomic_load(&ck->stop)) {
		qb_log(LOG_NOTICE, "protect: stopped during the initial sync");
		return;
	}
	if (mainthread__call(&ck->m.mt, mt_sync_failed, ck) > 0)
		qb_log(LOG_ERR, "protect: the initial sync failed: %s; the guest stays paused, "
		       "its output held (policy pause)", err[0] ? err : strerror(-ret));
	else
		qb_log(LOG_ERR, "protect: the initial sync failed: %s; the guest runs "
		       "unprotected", err[0] ? err : strerror(-ret));
}

/* After the sync: epochs until the standby is lost or protection stops. */
static void protected(struct checkpoint *ck, uint8_t *buf)
{
	char err[256] = "";
	struct vm_port_stop stop;
	int ret = mainthread__call(&ck->m.mt, mt_protect_start, ck);

	if (!ret) {
		set_state(ck, CKPT_PROTECTED, "");
		qb_log(LOG_NOTICE, "protect: initial sync to %s done; checkpointing every %u ms "
		       "(generation %llu)%s", ck->p.mp.uri, ck->p.interval_ms ? ck->p.interval_ms :
		       CHECKPOINT_DEFAULT_INTERVAL_MS, (unsigned long long)ck->generation,
		       ck->p.no_output_epochs ? "" : ", sooner when output is held");
		ret = epochs(ck, buf, err, sizeof(err));
	}
	stop_cow(ck);
	free(ck->cap_buf);
	free(ck->cap_spare);
	ck->cap_buf = ck->cap_spare = NULL;
	pthread_mutex_lock(&ck->m.lock);
	channel__close(ck->m.main);
	ck->m.main = NULL;
	pthread_mutex_unlock(&ck->m.lock);
	if (!ret) {
		ck->port.ops->stop_info(ck->port.vm, &stop);
		set_state(ck, CKPT_ENDED, "");
		qb_log(LOG_NOTICE, "protect: the guest stopped (%s); final checkpoint %llu "
		       "acknowledged, its output released; the standby ends with it",
		       stop.message, (unsigned long long)ck->st.committed_epoch);
		return;
	}
	if (atomic_load(&ck->stop))
		return;   /* unprotect or exit: the main thread takes it from here */
	qb_log(LOG_ERR, "protect: %s; %s", err[0] ? err : strerror(-ret),
	       ck->p.pause_on_loss ? "pausing the guest (policy pause)" :
	       "running unprotected (degraded), held output released");
	set_error(ck, err[0] ? err : strerror(-ret));
	mainthread__call(&ck->m.mt, mt_lost, ck);
}

/* sync: the initial sync first; else the peer holds the VM's state already. */
static void *primary_run(struct checkpoint *ck, bool sync)
{
	uint8_t *buf = malloc(WIRE_FRAME_MAX);
	char err[256] = "";
	int ret = buf ? 0 : -ENOMEM;

	if (!ret && sync)
		ret = migrate__checkpoint_sync(&ck->m, err, sizeof(err));
	if (ret) {
		set_error(ck, err[0] ? err : strerror(-ret));
		sync_failed(ck, ret, err);
	} else {
		protected(ck, buf);
	}
	free(buf);
	atomic_store(&ck->thread_done, true);
	mainthread__wake(&ck->m.mt);
	return NULL;
}

void *checkpoint__primary_main(void *arg)
{
	return primary_run(arg, true);
}

void *checkpoint__synced_main(void *arg)
{
	return primary_run(arg, false);
}
