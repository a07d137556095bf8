/*
 * The checkpoint object's life (checkpoint.h): protect, unprotect,
 * activate, and the operator's pause.  Everything here runs on the main
 * thread; the replication thread it starts is stopped by setting ck->stop
 * and joined while its calls to the main thread are still served, so a
 * thread halfway through an epoch finishes the epoch's main-thread part.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "replication/checkpoint.h"
#include "vmm/vm_hold.h"
#include "vmm/vm_state.h"

int checkpoint__init(struct checkpoint *ck, const struct vm_port *port, qb_loop_t *loop,
		     uint64_t generation)
{
	int ret;

	memset(ck, 0, sizeof(*ck));
	ck->port = *port;
	ck->loop = loop;
	ck->generation = generation;
	pthread_mutex_init(&ck->lock, NULL);
	/* The epoch's wait: held output, stop and final all write its eventfd. */
	ret = outbuf__init(&ck->ob);
	if (ret)
		return ret;
	atomic_init(&ck->stop, false);
	atomic_init(&ck->final, false);
	atomic_init(&ck->thread_done, true);
	ret = migrate__init(&ck->m, port, loop);
	ck->m.holder = VM_HOLD_SYNC;
	ck->m_ready = !ret;
	return ret;
}

/* End an epoch's wait (the thread then looks at stop and final). */
static void wake_epoch_wait(struct checkpoint *ck)
{
	uint64_t one = 1;

	if (write(outbuf__events(&ck->ob), &one, sizeof(one)) < 0) {
		/* Full: the thread is woken already. */
	}
}

/* Main thread: wait for the thread to end, serving its main-thread calls. */
static void join_thread(struct checkpoint *ck)
{
	mainthread__serve_until(&ck->m.mt, &ck->thread_done);
	pthread_join(ck->thread, NULL);
	ck->thread_running = false;
}

static void wake_thread(struct checkpoint *ck)
{
	atomic_store(&ck->stop, true);
	atomic_store(&ck->m.cancel, true);
	wake_epoch_wait(ck);
	pthread_mutex_lock(&ck->m.lock);
	channel__shutdown(ck->m.main);
	for (unsigned i = 0; i < ck->m.nr_data; i++)
		channel__shutdown(ck->m.data[i]);
	pthread_mutex_unlock(&ck->m.lock);
	channel__shutdown(ck->sc);
}

void checkpoint__finish(struct checkpoint *ck)
{
	bool protected;

	pthread_mutex_lock(&ck->lock);
	protected = ck->state == CKPT_PROTECTED;
	pthread_mutex_unlock(&ck->lock);
	if (!protected || !ck->thread_running || !ck->port.ops->stopped_by_guest(ck->port.vm))
		return;
	atomic_store(&ck->final, true);
	wake_epoch_wait(ck);
	/* The thread's capture runs here; a lost standby ends it as any epoch. */
	join_thread(ck);
}

void checkpoint__exit(struct checkpoint *ck)
{
	wake_thread(ck);
	/* Pending main-thread calls fail from now on; the thread ends. */
	mainthread__close(&ck->m.mt);
	if (ck->thread_running)
		pthread_join(ck->thread, NULL);
	ck->thread_running = false;
	if (ck->m_ready)
		migrate__exit(&ck->m);
	channel__close(ck->sc);
	ck->sc = NULL;
	if (ck->stage)
		munmap(ck->stage, ck->stage_limit);
	ck->stage = NULL;
	vm_state__undo_free(ck->undo);
	ck->undo = NULL;
	outbuf__exit(&ck->ob);
}

void checkpoint__stop_thread(struct checkpoint *ck)
{
	if (!ck->thread_running)
		return;
	wake_thread(ck);
	join_thread(ck);
}

uint64_t checkpoint__generation(struct checkpoint *ck)
{
	return ck->generation;
}

static bool is_standby(enum checkpoint_state s)
{
	return s == CKPT_STANDBY || s == CKPT_LOST;
}

bool checkpoint__is_standby(const struct checkpoint *ck)
{
	return is_standby(ck->state);
}

/* The sync's engine set up for one protect. */
static void setup_sync(struct checkpoint *ck, const struct checkpoint_params *p)
{
	ck->p = *p;
	ck->m.p = p->mp;
	ck->m.p.checkpoint = true;
	ck->m.p.copy_disk = true;          /* a protected VM's disk is always replicated */
	ck->m.p.generation = ck->generation;
	ck->m.p.check_peer_generation = p->check_peer_generation;
	ck->m.p.peer_generation = p->peer_generation;
	ck->m.p.force_on_timeout = true;   /* the sync always ends; epochs follow */
	ck->m.p.max_rounds = 10;
	atomic_store(&ck->m.cancel, false);
	atomic_store(&ck->m.downtime_ms, 50);
}

static int check_protect(struct checkpoint *ck, const struct checkpoint_params *p, char *err,
			 size_t errlen)
{
	struct mig_tls tls;
	struct mig_uri u;
	const char *why;

	migrate__tls(&p->mp, &tls);
	if (mig_uri__parse(p->mp.uri, &u, &why) || mig_tls__check(&tls, &why)) {
		snprintf(err, errlen, "%s", why);
		return -EINVAL;
	}
	if (is_standby(ck->state)) {
		snprintf(err, errlen, "this vmm is a standby (state %s): activate it first",
			 checkpoint__state_name(ck->state));
		return -EINVAL;
	}
	if (ck->state == CKPT_SYNCING || ck->state == CKPT_PROTECTED) {
		snprintf(err, errlen, "already %s (unprotect first)",
			 checkpoint__state_name(ck->state));
		return -EBUSY;
	}
	if (vm_port__run_state(&ck->port) != VM_PORT_RUNNING &&
	    vm_port__run_state(&ck->port) != VM_PORT_PAUSED) {
		snprintf(err, errlen, "the VM is %s", ck->port.ops->run_state_name(ck->port.vm));
		return -EINVAL;
	}
	return 0;
}

/* The replication thread, running main (the sync first, or epochs at once). */
static int start_primary(struct checkpoint *ck, const struct checkpoint_params *p,
			 void *(*main)(void *), char *err, size_t errlen)
{
	int ret;

	/* A thread that ended (sync failed, standby lost, activated) is joined. */
	checkpoint__stop_thread(ck);
	if (!ck->m.bm.bits &&
	    (ret = dirty_bitmap__init(&ck->m.bm, vm_port__mem_size(&ck->port)))) {
		snprintf(err, errlen, "no memory for the dirty bitmap");
		return ret;
	}
	dirty_bitmap__clear(&ck->m.bm);
	setup_sync(ck, p);
	pthread_mutex_lock(&ck->lock);
	memset(&ck->st, 0, sizeof(ck->st));
	ck->state = CKPT_SYNCING;
	ck->error[0] = '\0';
	pthread_mutex_unlock(&ck->lock);
	atomic_store(&ck->stop, false);
	atomic_store(&ck->thread_done, false);
	ret = pthread_create(&ck->thread, NULL, main, ck);
	if (ret) {
		ck->state = checkpoint__policy_paused(ck) ? CKPT_PAUSED : CKPT_FAILED;
		snprintf(err, errlen, "cannot start the replication thread: %s", strerror(ret));
		return -ret;
	}
	ck->thread_running = true;
	if (checkpoint__policy_paused(ck))
		qb_log(LOG_NOTICE, "protect: syncing to %s with the guest paused (policy pause); "
		       "its held output waits for the first acknowledged checkpoint", p->mp.uri);
	return 0;
}

int checkpoint__protect(struct checkpoint *ck, const struct checkpoint_params *p, char *err,
			size_t errlen)
{
	int ret = check_protect(ck, p, err, errlen);

	return ret ? ret : start_primary(ck, p, checkpoint__primary_main, err, errlen);
}

int checkpoint__protect_synced(struct checkpoint *ck, const struct checkpoint_params *p,
			       struct chan *c, char *err, size_t errlen)
{
	int ret = check_protect(ck, p, err, errlen);

	if (ret)
		return ret;
	pthread_mutex_lock(&ck->m.lock);
	ck->m.main = c;
	pthread_mutex_unlock(&ck->m.lock);
	return start_primary(ck, p, checkpoint__synced_main, err, errlen);
}

/* Release held output and the policy's hold (the operator's, if any, stays). */
static int release_and_run(struct checkpoint *ck)
{
	uint64_t held = outbuf__held(&ck->ob, OUTBUF_SERIAL);
	uint64_t frames = outbuf__held(&ck->ob, OUTBUF_NET);

	outbuf__open(&ck->ob);
	if (held || frames)
		qb_log(LOG_NOTICE, "protect: held output released: %llu serial bytes, %llu frames",
		       (unsigned long long)held, (unsigned long long)frames);
	return vm_port__release(&ck->port, VM_HOLD_POLICY);
}

int checkpoint__unprotect(struct checkpoint *ck, char *err, size_t errlen)
{
	enum checkpoint_state was = ck->state;
	int ret;

	if (is_standby(was)) {
		snprintf(err, errlen, "this vmm is a standby (state %s): unprotect is for a "
			 "primary; activate or quit a standby", checkpoint__state_name(was));
		return -EINVAL;
	}
	checkpoint__stop_thread(ck);
	if (was == CKPT_NONE || was == CKPT_ACTIVATED || was == CKPT_ENDED)
		return 0;   /* nothing to stop */
	/* Tracking off (a sync that was stopped did it already). */
	migrate__mt_recover(&ck->m);
	ret = release_and_run(ck);
	pthread_mutex_lock(&ck->lock);
	ck->state = CKPT_NONE;
	ck->error[0] = '\0';
	pthread_mutex_unlock(&ck->lock);
	qb_log(LOG_NOTICE, "protect: stopped (unprotect, was %s); the guest runs unprotected%s",
	       checkpoint__state_name(was),
	       vm_port__holders(&ck->port) & VM_HOLD_OPERATOR ? " once resumed" : "");
	if (ret)
		snprintf(err, errlen, "cannot resume the guest: %s", strerror(-ret));
	return ret;
}

static int set_generation(struct checkpoint *ck, enum checkpoint_state s, uint64_t gen)
{
	pthread_mutex_lock(&ck->lock);
	ck->generation = gen;
	ck->state = s;
	pthread_mutex_unlock(&ck->lock);
	/* A resume by activation is the operator's decision too. */
	return vm_port__release(&ck->port, VM_HOLD_OPERATOR);
}

int checkpoint__settle(struct checkpoint *ck, char *err, size_t errlen)
{
	const char *why = "";
	int ret;

	if (!is_standby(ck->state) || !ck->undo || !ck->port.ops->settle)
		return 0;
	ret = ck->port.ops->settle(ck->port.vm, ck->undo, &why);
	if (ret)
		snprintf(err, errlen, "checkpoint %llu's machine state cannot be loaded (%s: %s)",
			 (unsigned long long)ck->st.committed_epoch, why, strerror(-ret));
	return ret;
}

static int activate_standby(struct checkpoint *ck, uint64_t gen, char *err, size_t errlen)
{
	/* The last checkpoint's vCPUs and devices, kept aside until now. */
	int ret = checkpoint__settle(ck, err, errlen);

	if (ret) {
		snprintf(ck->unsafe, sizeof(ck->unsafe), "%s", err);
		qb_log(LOG_ERR, "standby: activation refused: %s", err);
		return ret;
	}
	ck->activated = true;
	channel__shutdown(ck->sc);
	/*
	 * Output still in the UART buffer belongs to the last epoch: the old
	 * primary may or may not have released it, so it is dropped rather
	 * than sent twice (a client asks again, as TCP would retransmit).
	 */
	for (unsigned k = 0; k < OUTBUF_NR_KINDS; k++)
		ck->port.ops->drop_output(ck->port.vm, k);
	outbuf__hold_sinks(&ck->port, false);
	set_generation(ck, CKPT_ACTIVATED, gen);
	qb_log(LOG_NOTICE, "standby activated from checkpoint %llu; generation %llu",
	       (unsigned long long)ck->st.committed_epoch, (unsigned long long)gen);
	/* The guest's MAC is now behind this host's port. */
	ck->port.ops->announce(ck->port.vm, "the activation");
	ret = vm_port__release(&ck->port, VM_HOLD_STANDBY);
	if (ret)
		snprintf(err, errlen, "cannot resume the guest: %s", strerror(-ret));
	return ret;
}

/*
 * A primary the policy paused: the cluster decided this copy, the newest
 * state, continues; the output of the epochs never acknowledged leaves.
 */
static int activate_paused_primary(struct checkpoint *ck, uint64_t gen)
{
	checkpoint__stop_thread(ck);
	set_generation(ck, CKPT_ACTIVATED, gen);
	qb_log(LOG_NOTICE, "protect: the primary paused by the standby-loss policy is "
	       "activated; generation %llu; it runs unprotected", (unsigned long long)gen);
	return release_and_run(ck);
}

static int activate_paused(struct checkpoint *ck, uint64_t gen, char *err, size_t errlen)
{
	if (vm_port__run_state(&ck->port) != VM_PORT_PAUSED) {
		snprintf(err, errlen, "the guest is %s, not paused: nothing to activate "
			 "(generation %llu)", ck->port.ops->run_state_name(ck->port.vm),
			 (unsigned long long)ck->generation);
		return -EINVAL;
	}
	qb_log(LOG_NOTICE, "activated: generation %llu; the guest resumes",
	       (unsigned long long)gen);
	return set_generation(ck, ck->state, gen);
}

int checkpoint__activate(struct checkpoint *ck, bool set_gen, uint64_t gen, char *err,
			 size_t errlen)
{
	struct vm_port_stop stop;
	int ret;

	if (set_gen && gen <= ck->generation) {
		snprintf(err, errlen, "generation %llu is not above the current generation %llu",
			 (unsigned long long)gen, (unsigned long long)ck->generation);
		return -EINVAL;
	}
	if (!set_gen && ck->generation == UINT64_MAX) {
		snprintf(err, errlen, "the generation cannot be raised further");
		return -EOVERFLOW;
	}
	if (!set_gen)
		gen = ck->generation + 1;
	ck->port.ops->stop_info(ck->port.vm, &stop);
	if (ck->state == CKPT_ENDED || vm_port__run_state(&ck->port) == VM_PORT_STOPPED) {
		snprintf(err, errlen, "the guest has stopped (%s): there is nothing to activate",
			 stop.message[0] ? stop.message : "ended on the primary");
		return -EINVAL;
	}
	if (ck->state == CKPT_SYNCING || ck->state == CKPT_PROTECTED) {
		snprintf(err, errlen, "%s to a standby: unprotect first",
			 ck->state == CKPT_SYNCING ? "syncing" : "protected");
		return -EBUSY;
	}
	if (is_standby(ck->state) && ck->unsafe[0]) {
		snprintf(err, errlen, "refused: this standby holds no whole state to run: %s",
			 ck->unsafe);
		qb_log(LOG_ERR, "standby: activation %s", err);
		return -EIO;
	}
	if (is_standby(ck->state))
		return activate_standby(ck, gen, err, errlen);
	if (ck->state == CKPT_PAUSED)
		ret = activate_paused_primary(ck, gen);
	else
		return activate_paused(ck, gen, err, errlen);
	if (ret)
		snprintf(err, errlen, "cannot resume the guest: %s", strerror(-ret));
	return ret;
}

bool checkpoint__policy_paused(const struct checkpoint *ck)
{
	return vm_port__holders(&ck->port) & VM_HOLD_POLICY;
}

uint32_t checkpoint__min_interval_us(const struct checkpoint_params *p)
{
	return p->min_interval_us ? p->min_interval_us : CHECKPOINT_DEFAULT_MIN_INTERVAL_MS * 1000;
}

int checkpoint__may_resume(struct checkpoint *ck, char *err, size_t errlen)
{
	if (is_standby(ck->state))
		snprintf(err, errlen, "this vmm is a standby: its guest runs only when activated "
			 "(vmm ctl NAME activate)");
	else if (checkpoint__policy_paused(ck))
		snprintf(err, errlen, "the guest was paused by --on-standby-loss pause and its "
			 "output is held: activate, protect or unprotect decide what runs");
	else
		return 0;
	return -EPERM;
}
