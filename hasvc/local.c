/*
 * This node's copies of VMs: the actions the state machine addresses to
 * this node, carried out on vmm processes, and the reports that tell the
 * cluster what each copy is doing.
 *
 * Actions are turned into intents (protect this standby, migrate there,
 * hand over) that a poll every POLL_MS carries out and retries until the
 * vmm shows the result, or until the replicated state says the intent is
 * no longer wanted (the standby or the destination was replaced).  Every
 * poll also derives each copy's state from its vmm and reports changes.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <qb/qblog.h>

#include "hasvc/local.h"
#include "hasvc/metrics.h"
#include "vmm/ctl.h"

#define POLL_MS 200
#define RETRY_MS 300
#define STOP_GRACE_MS 3000
#define EPOCH_REPORT_MS 1000
/* A primary that ran this long since it started is stable: its failures
 * before no longer count against max_restart/max_relocate. */
#define STABLE_MS 60000
#define LOCAL_PRUNE_GONE_MS 60000  /* how often to look for logs of VMs gone */

static void poll_all(void *data);
static bool reap(struct hasvcd *d, struct copy *c, uint64_t now);
static void note_migration(struct hasvcd *d, struct copy *c);

static void arm(struct local *l)
{
	qb_loop_timer_add(l->d->loop, QB_LOOP_MED, POLL_MS * 1000000ULL, l, poll_all, &l->timer);
}

int local__new(struct hasvcd *d)
{
	struct local *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->d = d;
	d->loc = l;
	local_vmm__adopt_records(l);
	arm(l);
	return 0;
}

void local__free(struct hasvcd *d)
{
	if (!d->loc)
		return;
	qb_loop_timer_del(d->loop, d->loc->timer);
	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++)
		local_vmm__close(&d->loc->c[i]);
	free(d->loc);
	d->loc = NULL;
}

static struct copy *find(struct local *l, const char *vm, uint64_t gen)
{
	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++)
		if (l->c[i].used && l->c[i].gen == gen && !strcmp(l->c[i].vm, vm))
			return &l->c[i];
	return NULL;
}

/* The newest live copy of vm with that role here. */
static struct copy *find_role(struct local *l, const char *vm, uint8_t role, bool incoming)
{
	struct copy *best = NULL;

	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++) {
		struct copy *c = &l->c[i];

		if (c->used && !c->exited && !c->stopping && !c->pending && c->role == role &&
		    c->incoming == incoming && !strcmp(c->vm, vm) && (!best || c->gen > best->gen))
			best = c;
	}
	return best;
}

/* vm's start held back by the back-off here, if any (at most one). */
static struct copy *find_pending(struct local *l, const char *vm)
{
	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++)
		if (l->c[i].used && l->c[i].pending && !strcmp(l->c[i].vm, vm))
			return &l->c[i];
	return NULL;
}

static bool stable(const struct copy *c)
{
	return c->role == FSM_ROLE_PRIMARY && !c->incoming &&
	       hasvcd__now_ms() - c->started_ms >= STABLE_MS;
}

static void send_report(struct hasvcd *d, const struct copy *c)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__Report r = HASVC__CLUSTER__REPORT__INIT;

	r.vm = (char *)c->vm;
	r.role = c->role;
	r.state = c->state;
	r.generation = c->gen;
	r.epoch = c->view.committed_epoch;
	r.checkpoint_age_ms = c->view.age_ms;
	r.epochs_per_s = c->view.eps;
	r.stable = stable(c);
	m.body_case = HASVC__CLUSTER__MSG__BODY_REPORT;
	m.report = &r;
	cluster__send(d, &m);
}

/*
 * RUN/VM.serial points at the serial socket of the VM's primary on this
 * node, so clients on the node need not know its generation.
 */
static void link_serial(struct hasvcd *d, const struct copy *c, bool running)
{
	char link[PATH_MAX], target[PATH_MAX], now[PATH_MAX];
	ssize_t len;

	snprintf(link, sizeof(link), "%s/%s.serial", d->run_dir, c->vm);
	snprintf(target, sizeof(target), "%s.serial", c->control);
	len = readlink(link, now, sizeof(now) - 1);
	now[len > 0 ? len : 0] = 0;
	if (running && strcmp(now, target)) {
		unlink(link);
		if (symlink(target, link))
			qb_log(LOG_WARNING, "cannot link %s: %s", link, strerror(errno));
	} else if (!running && !strcmp(now, target)) {
		unlink(link);
	}
}

static void report(struct hasvcd *d, struct copy *c, bool force)
{
	uint64_t now = hasvcd__now_ms();
	bool changed = !c->reported || c->rep_state != c->state || c->rep_role != c->role ||
		       c->rep_gen != c->gen || c->rep_stable != stable(c);

	if (!force && !changed &&
	    (c->rep_epoch == c->view.committed_epoch || now - c->rep_ms < EPOCH_REPORT_MS))
		return;
	if (changed)
		link_serial(d, c, c->role == FSM_ROLE_PRIMARY &&
			    (c->state == FSM_VM_RUNNING || c->state == FSM_VM_SYNCING ||
			     c->state == FSM_VM_PROTECTED || c->state == FSM_VM_DEGRADED));
	if (changed)
		qb_log(LOG_INFO, "%s: %s %s generation %llu", c->vm,
		       c->role == FSM_ROLE_STANDBY ? "standby" : "primary", fsm__state_name(c->state),
		       (unsigned long long)c->gen);
	send_report(d, c);
	c->reported = true;
	c->rep_state = c->state;
	c->rep_role = c->role;
	c->rep_gen = c->gen;
	c->rep_stable = stable(c);
	c->rep_epoch = c->view.committed_epoch;
	c->rep_ms = now;
}

void local__inventory(struct hasvcd *d)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__InventoryDone inv = HASVC__CLUSTER__INVENTORY_DONE__INIT;

	d->loc->prune_due_ms = 0;  /* the replica may have lost VMs: look again */
	local_host__capacity(d, &inv);
	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++)
		if (d->loc->c[i].used)
			report(d, &d->loc->c[i], true);
	m.body_case = HASVC__CLUSTER__MSG__BODY_INVENTORY_DONE;
	m.inventory_done = &inv;
	cluster__send(d, &m);
}

static int ctl(struct copy *c, Vmm__Control__Request__CommandCase cmd)
{
	char err[256];
	int ret = local_vmm__ctl(c, cmd, err, sizeof(err));

	if (ret)
		qb_log(LOG_WARNING, "%s: %s: %s", c->control, ctl__command_name(cmd), err);
	return ret;
}

/* A copy the back-off still holds back: forget it, it has no vmm (pid 0). */
static void drop_pending(struct hasvcd *d, struct copy *c, const char *why)
{
	qb_log(LOG_NOTICE, "%s: %s: not started", c->control, why);
	c->state = FSM_VM_STOPPED;
	report(d, c, true);
	c->used = false;
}

static void stop_copy(struct hasvcd *d, struct copy *c)
{
	if (c->pending) {
		drop_pending(d, c, "stopped by the cluster before its delayed start");
		return;
	}
	if (c->stopping)
		return;
	note_migration(d, c);
	c->stopping = true;
	c->want_protect = c->want_migrate = c->handover = false;
	c->stop_deadline_ms = hasvcd__now_ms() + STOP_GRACE_MS;
	if (ctl(c, VMM__CONTROL__REQUEST__COMMAND_QUIT))
		kill(c->pid, SIGTERM);
}

/*
 * A clean shutdown: the power button, and the vmm itself quits after
 * timeout_s; the reap kills it STOP_GRACE_MS later if it still runs.
 */
static void shutdown_copy(struct hasvcd *d, struct copy *c, uint32_t timeout_s)
{
	char err[256];

	if (c->pending) {
		drop_pending(d, c, "stopped by the operator before its delayed start");
		return;
	}
	if (c->stopping)
		return;
	if (local_vmm__shutdown(c, timeout_s, err, sizeof(err))) {
		qb_log(LOG_WARNING, "%s: shutdown: %s: quitting it", c->control, err);
		stop_copy(d, c);
		return;
	}
	qb_log(LOG_NOTICE, "%s: power button pressed: quitting in %u s unless the guest powers "
	       "off first", c->control, timeout_s);
	c->stopping = true;
	c->want_protect = c->want_migrate = c->handover = false;
	c->stop_deadline_ms = hasvcd__now_ms() + timeout_s * 1000ULL + STOP_GRACE_MS;
}

/* ---- starting copies ---- */

/*
 * Spawn c's vmm (local_launch.c).  If it cannot start, c is reported
 * failed and freed.
 */
static void launch(struct hasvcd *d, struct copy *c, uint64_t peer_gen)
{
	c->started_ms = hasvcd__now_ms();
	if (!local_launch__run(d, c, peer_gen))
		return;
	qb_log(LOG_ERR, "%s: cannot start its vmm", c->control);
	c->state = FSM_VM_FAILED;
	local_backoff__ended(d->loc, c, hasvcd__now_ms());
	report(d, c, true);
	c->used = false;
}

/*
 * A fresh boot of a VM whose last ones failed soon after they started
 * waits, 1 s after the first failure, doubling up to 60 s: a guest that
 * cannot boot would otherwise be started (and leave a log) every few
 * milliseconds.  The copy waits in its slot as starting, with no vmm.
 */
static bool hold_back(struct hasvcd *d, struct copy *c)
{
	unsigned fails;
	uint64_t due = local_backoff__due_ms(d->loc, c->vm, &fails), now = hasvcd__now_ms();

	if (due <= now)
		return false;
	c->pending = true;
	c->due_ms = due;
	qb_log(LOG_NOTICE, "%s: failed %u times in a row within 60 s of starting: "
	       "starting again in %.1f s", c->control, fails, (double)(due - now) / 1000);
	return true;
}

static void start_copy(struct hasvcd *d, const struct fsm_action *a, uint8_t role, bool incoming)
{
	struct copy *c = NULL, *old;

	if (!cluster_config__vm(d->conf, a->vm) || find(d->loc, a->vm, a->generation))
		return;
	/* A start still held back is for an older generation: it is replaced. */
	if ((old = find_pending(d->loc, a->vm)))
		drop_pending(d, old, "replaced by a newer generation");
	/* The port of a standby or destination is the VM's: free it. */
	while ((old = role == FSM_ROLE_STANDBY || incoming ?
		      find_role(d->loc, a->vm, role, incoming) : NULL)) {
		qb_log(LOG_NOTICE, "%s: replaced by generation %llu: killed", old->control,
		       (unsigned long long)a->generation);
		kill(old->pid, SIGKILL);
		old->stopping = true;
	}
	for (size_t i = 0; i < LOCAL_MAX_COPIES && !c; i++)
		if (!d->loc->c[i].used)
			c = &d->loc->c[i];
	if (!c) {
		qb_log(LOG_ERR, "%s: too many local copies", a->vm);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->used = true;
	snprintf(c->vm, sizeof(c->vm), "%s", a->vm);
	c->gen = a->generation;
	c->role = role;
	c->incoming = incoming;
	/* The other end: a receiver's source, which TLS holds it to; a primary's standby. */
	snprintf(c->peer, sizeof(c->peer), "%s", a->peer);
	c->state = FSM_VM_STARTING;
	snprintf(c->control, sizeof(c->control), "hasvc.%s.%llu", a->vm,
		 (unsigned long long)a->generation);
	c->fresh = role == FSM_ROLE_PRIMARY && !incoming;
	if (c->fresh && hold_back(d, c))
		return;
	launch(d, c, a->peer_generation);
}

/* ---- actions ---- */

static void want_protect(struct copy *c, const struct fsm_action *a)
{
	c->want_protect = true;
	snprintf(c->peer, sizeof(c->peer), "%s", a->peer);
	c->peer_gen = a->peer_generation;
	c->retry_ms = 0;
	c->protect_sent = false;
}

/*
 * Run c, a standby or a paused primary, as the primary under gen: 0, or
 * -errno when the vmm did not do it (keep_promote tries again).  A vmm
 * already under gen carried out an earlier request that timed out here.
 */
static int promote_copy(struct hasvcd *d, struct copy *c, uint64_t gen)
{
	char err[256];

	local_vmm__view(c);
	if (c->role == FSM_ROLE_PRIMARY && c->view.generation != gen &&
	    (!strcmp(c->view.ck_state, "protected") || !strcmp(c->view.ck_state, "syncing"))) {
		/*
		 * Paused by quorum loss, it may still checkpoint to the standby of
		 * the old token: stop that, keeping it paused (an operator pause
		 * outlives unprotect), so activate finds it paused.  Paused by the
		 * standby-loss policy, activate resumes it directly.
		 */
		ctl(c, VMM__CONTROL__REQUEST__COMMAND_PAUSE);
		ctl(c, VMM__CONTROL__REQUEST__COMMAND_UNPROTECT);
	}
	if (!c->view.up || c->view.generation != gen) {
		int ret = local_vmm__activate(c, gen, err, sizeof(err));

		if (ret) {
			qb_log(LOG_WARNING, "%s: activate: %s", c->control, err);
			return ret;
		}
	}
	qb_log(LOG_NOTICE, "%s: promoted to primary, generation %llu", c->control,
	       (unsigned long long)gen);
	c->role = FSM_ROLE_PRIMARY;
	c->gen = gen;
	c->started_ms = hasvcd__now_ms();  /* stable counts from the promotion */
	c->fenced = false;
	c->want_protect = false;
	local_vmm__record(d, c);
	/* Tell the cluster now rather than at the next poll. */
	c->state = FSM_VM_RUNNING;
	report(d, c, false);
	return 0;
}

static void promote(struct hasvcd *d, const struct fsm_action *a)
{
	struct copy *c = find_role(d->loc, a->vm, FSM_ROLE_STANDBY, false);

	if (!c)
		c = find_role(d->loc, a->vm, FSM_ROLE_PRIMARY, false);
	if (!c) {
		qb_log(LOG_ERR, "%s: asked to promote a copy this node does not hold", a->vm);
		return;
	}
	if (promote_copy(d, c, a->generation))
		c->promote_ms = hasvcd__now_ms() + RETRY_MS;
}

static void migrate(struct hasvcd *d, const struct fsm_action *a)
{
	struct copy *c = find_role(d->loc, a->vm, FSM_ROLE_PRIMARY, false);

	/* One held back by the back-off migrates once it has started. */
	if (!c && !(c = find_pending(d->loc, a->vm)))
		return;
	/* Checkpointing and a migration cannot share the guest. */
	c->want_protect = false;
	if (!c->pending && strcmp(c->view.ck_state, "none"))
		ctl(c, VMM__CONTROL__REQUEST__COMMAND_UNPROTECT);
	c->want_migrate = true;
	snprintf(c->peer, sizeof(c->peer), "%s", a->peer);
	c->peer_gen = a->generation;
	c->retry_ms = 0;
}

static void begin_handover(struct copy *c, const char *peer)
{
	if (ctl(c, VMM__CONTROL__REQUEST__COMMAND_PAUSE))
		return;
	/*
	 * The epoch after next was captured after the pause: it has it all.
	 * Counted from what the vmm says now, not from the last poll.
	 */
	local_vmm__view(c);
	c->handover = true;
	c->handover_epoch = c->view.committed_epoch;
	qb_log(LOG_NOTICE, "%s: handing over to %s after checkpoint %llu", c->control, peer,
	       (unsigned long long)c->handover_epoch + 2);
}

static void handover(struct hasvcd *d, const struct fsm_action *a)
{
	struct copy *c = find_role(d->loc, a->vm, FSM_ROLE_PRIMARY, false);

	if (c)
		begin_handover(c, a->peer);
}

void local__act(struct hasvcd *d, const struct fsm_action *a)
{
	struct copy *c;

	switch (a->type) {
	case FSM_ACT_START_PRIMARY:
		start_copy(d, a, FSM_ROLE_PRIMARY, false);
		if (a->peer[0] && (c = find(d->loc, a->vm, a->generation)))
			want_protect(c, a);
		break;
	case FSM_ACT_START_STANDBY:
		start_copy(d, a, FSM_ROLE_STANDBY, false);
		break;
	case FSM_ACT_START_INCOMING:
		start_copy(d, a, FSM_ROLE_PRIMARY, true);
		break;
	case FSM_ACT_PROTECT:
		if ((c = find(d->loc, a->vm, a->generation)))
			want_protect(c, a);
		break;
	case FSM_ACT_PROMOTE:
		promote(d, a);
		break;
	case FSM_ACT_STOP:
		if ((c = find(d->loc, a->vm, a->generation)))
			stop_copy(d, c);
		break;
	case FSM_ACT_SHUTDOWN:
		if ((c = find(d->loc, a->vm, a->generation)))
			shutdown_copy(d, c, a->timeout_s);
		break;
	case FSM_ACT_PAUSE_ALL_PRIMARIES:
		local__self_fence(d);
		break;
	case FSM_ACT_MIGRATE:
		migrate(d, a);
		break;
	case FSM_ACT_HANDOVER:
		handover(d, a);
		break;
	default:
		break;
	}
}

void local__self_fence(struct hasvcd *d)
{
	for (size_t i = 0; d->loc && i < LOCAL_MAX_COPIES; i++) {
		struct copy *c = &d->loc->c[i];

		/* A delayed start waits for quorum in the poll. */
		if (!c->used || c->exited || c->stopping || c->pending ||
		    c->role != FSM_ROLE_PRIMARY || c->fenced)
			continue;
		if (c->incoming && strcmp(c->view.vm_state, "running")) {
			/* Its source is in some partition: it must not start the guest. */
			kill(c->pid, SIGKILL);
			c->stopping = true;
			continue;
		}
		if (c->want_migrate)
			ctl(c, VMM__CONTROL__REQUEST__COMMAND_MIGRATE_CANCEL);
		c->want_migrate = c->handover = false;
		if (!ctl(c, VMM__CONTROL__REQUEST__COMMAND_PAUSE)) {
			c->fenced = true;
			qb_log(LOG_WARNING, "%s: paused, quorum lost", c->control);
		}
	}
}

bool local__child_exited(struct hasvcd *d, pid_t pid, int status)
{
	for (size_t i = 0; d->loc && i < LOCAL_MAX_COPIES; i++) {
		struct copy *c = &d->loc->c[i];

		if (c->used && c->child && c->pid == pid && !c->exited) {
			c->exited = true;
			c->status = status;
			/* Report at once: a handover or a failover waits for it. */
			reap(d, c, hasvcd__now_ms());
			return true;
		}
	}
	return false;
}

/* ---- the poll ---- */

static uint8_t derive_state(struct copy *c)
{
	const struct vmm_view *v = &c->view;

	if (!v->up)
		return c->up ? c->state : FSM_VM_STARTING;
	c->up = true;
	if (c->role == FSM_ROLE_STANDBY) {
		if (!strcmp(v->ck_state, "lost") && !v->committed_epoch)
			return FSM_VM_FAILED;
		return v->committed_epoch ? FSM_VM_PROTECTED : FSM_VM_SYNCING;
	}
	/*
	 * Paused means "gone, resume me under a new token" to the cluster: only
	 * for the standby-loss policy's pause and our own on quorum loss.  The
	 * short pauses of a checkpoint, a sync or a handover are not reported.
	 */
	if (!strcmp(v->vm_state, "paused") && !c->fenced && strcmp(v->ck_state, "paused"))
		return c->up && c->reported ? c->rep_state : FSM_VM_RUNNING;
	if (!strcmp(v->vm_state, "paused"))
		return FSM_VM_PAUSED;
	if (!strcmp(v->vm_state, "stopped"))
		return FSM_VM_STOPPED;
	if (!strcmp(v->ck_state, "syncing"))
		return FSM_VM_SYNCING;
	if (!strcmp(v->ck_state, "protected"))
		return FSM_VM_PROTECTED;
	if (!strcmp(v->ck_state, "degraded"))
		return FSM_VM_DEGRADED;
	if (!strcmp(v->ck_state, "paused"))
		return FSM_VM_PAUSED;
	return FSM_VM_RUNNING;
}

/* Is the intent still what the replicated state wants? */
static bool still_wanted(struct hasvcd *d, const struct copy *c)
{
	int v = fsm__vm_index(d->fsm, c->vm), p = fsm__node_index(d->fsm, c->peer);
	const struct fsm_vm *vm;

	if (v < 0 || p < 0)
		return false;
	vm = &d->fsm->vms[v];
	if (c->want_migrate)
		return vm->migrate_to == p && vm->copies[p].generation == c->peer_gen;
	return vm->standby == p && vm->copies[p].generation == c->peer_gen;
}

static void do_protect(struct hasvcd *d, struct copy *c, uint64_t now)
{
	const struct config_vm *cv = cluster_config__vm(d->conf, c->vm);
	char uri[300], err[256];
	bool busy = !strcmp(c->view.ck_state, "protected") || !strcmp(c->view.ck_state, "syncing");

	if (!still_wanted(d, c)) {
		c->want_protect = false;
		return;
	}
	if (c->protect_sent) {
		/* Sent: done once protected; a sync that failed is sent again. */
		if (!strcmp(c->view.ck_state, "protected"))
			c->want_protect = false;
		if (busy)
			return;
	} else if (busy) {
		/* Still checkpointing to the standby this one replaces. */
		ctl(c, VMM__CONTROL__REQUEST__COMMAND_UNPROTECT);
	}
	if (now < c->retry_ms || !cv ||
	    local_vmm__peer_uri(d, c->peer, c->vm, false, uri, sizeof(uri)))
		return;
	if (local_vmm__protect(d, c, uri, cv, err, sizeof(err))) {
		qb_log(LOG_DEBUG, "%s: protect %s: %s (will retry)", c->control, uri, err);
		c->retry_ms = now + RETRY_MS;
		return;
	}
	qb_log(LOG_NOTICE, "%s: protecting to %s (%s, generation %llu)", c->control, c->peer, uri,
	       (unsigned long long)c->peer_gen);
	c->protect_sent = true;
	c->retry_ms = now + RETRY_MS;
}

/* A primary's checkpointing still runs (unprotect has something to stop). */
static bool checkpointing(const struct vmm_view *v)
{
	return strcmp(v->ck_state, "none") && strcmp(v->ck_state, "activated") &&
	       strcmp(v->ck_state, "ended");
}

static void do_migrate(struct hasvcd *d, struct copy *c, uint64_t now)
{
	char state[32], err[256];
	uint64_t downtime_ms;

	if (!still_wanted(d, c)) {
		c->want_migrate = false;
		ctl(c, VMM__CONTROL__REQUEST__COMMAND_MIGRATE_CANCEL);
		return;
	}
	if (local_vmm__migration_state(c, state, sizeof(state), &downtime_ms, err, sizeof(err)) ||
	    !strcmp(state, "active") || !strcmp(state, "completed") || now < c->retry_ms)
		return;
	/*
	 * migrate() asked for this once; a guest still checkpointing (the
	 * request failed) would be paused by its standby's stop and reach the
	 * destination paused, where nothing resumes it.
	 */
	if (checkpointing(&c->view)) {
		ctl(c, VMM__CONTROL__REQUEST__COMMAND_UNPROTECT);
		c->retry_ms = now + RETRY_MS;
		return;
	}
	if (local_vmm__migrate(d, c, err, sizeof(err))) {
		qb_log(LOG_DEBUG, "%s: migrate to %s: %s (will retry)", c->control, c->peer, err);
		c->retry_ms = now + RETRY_MS;
		return;
	}
	qb_log(LOG_NOTICE, "%s: live-migrating to %s", c->control, c->peer);
	c->retry_ms = now + RETRY_MS;
	c->migrating = true;
}

/*
 * A migration job of c ended: its downtime goes to the metrics.  Asked by
 * the poll and once more before the copy is stopped, because the vmm quits
 * half a second after completing, and the cluster may stop it (the
 * destination runs) before the next poll.
 */
static void note_migration(struct hasvcd *d, struct copy *c)
{
	char state[32], err[256];
	uint64_t downtime_ms;

	if (!c->migrating ||
	    local_vmm__migration_state(c, state, sizeof(state), &downtime_ms, err, sizeof(err)))
		return;
	if (!strcmp(state, "completed"))
		metrics__migrated(d, c->vm, downtime_ms);
	if (strcmp(state, "active"))
		c->migrating = false;
}

static void do_handover(struct hasvcd *d, struct copy *c)
{
	if (c->view.committed_epoch >= c->handover_epoch + 2) {
		qb_log(LOG_NOTICE, "%s: checkpoint %llu committed with the guest paused: stopping",
		       c->control, (unsigned long long)c->view.committed_epoch);
		stop_copy(d, c);
	} else if (strcmp(c->view.ck_state, "protected")) {
		qb_log(LOG_ERR, "%s: the standby was lost during the handover: resuming",
		       c->control);
		c->handover = false;
		ctl(c, VMM__CONTROL__REQUEST__COMMAND_RESUME);
	}
}

static bool reap(struct hasvcd *d, struct copy *c, uint64_t now)
{
	char last[256];

	if (!c->exited && !c->child && kill(c->pid, 0) && errno == ESRCH) {
		c->exited = true;
		c->status = c->stopping ? 0 : 1 << 8;
	}
	if (c->stopping && !c->exited && now > c->stop_deadline_ms) {
		kill(c->pid, SIGKILL);
		c->stop_deadline_ms = now + STOP_GRACE_MS;
	}
	if (!c->exited)
		return false;
	c->state = c->stopping || (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0) ?
		   FSM_VM_STOPPED : FSM_VM_FAILED;
	local_vmm__last_words(d, c, last, sizeof(last));
	qb_log(c->state == FSM_VM_STOPPED ? LOG_NOTICE : LOG_ERR, "%s: vmm %s %d (%s)%s%s",
	       c->control, WIFSIGNALED(c->status) ? "killed by signal" : "exited with status",
	       WIFSIGNALED(c->status) ? WTERMSIG(c->status) : WEXITSTATUS(c->status),
	       c->state == FSM_VM_STOPPED ? "stopped" : "failed", last[0] ? ": " : "", last);
	local_backoff__ended(d->loc, c, now);
	report(d, c, true);
	local_vmm__unrecord(d, c);
	local_vmm__close(c);
	c->used = false;
	local_vmm__prune_logs(d->loc, c->vm);
	return true;
}

/* Before the first view and quorum report, nothing is known yet. */
static bool no_quorum(const struct hasvcd *d)
{
	return d->fsm->have_view && (!d->fsm->quorate || (d->votequorum_known &&
							  !d->votequorum_quorate));
}

/*
 * What must hold whatever the actions were: without quorum no primary
 * runs (a pause that failed when quorum went is tried again); the current
 * primary of a protected VM checkpoints to the standby the cluster chose
 * (after a migration that failed, after the vmm lost its standby...).
 */
static void keep_up(struct hasvcd *d, struct copy *c)
{
	int v = fsm__vm_index(d->fsm, c->vm), me = fsm__node_index(d->fsm, d->node);
	const struct fsm_vm *vm;
	struct fsm_action a;

	if (c->role != FSM_ROLE_PRIMARY || c->incoming)
		return;
	if (no_quorum(d)) {
		if (!strcmp(c->view.vm_state, "running") && !ctl(c, VMM__CONTROL__REQUEST__COMMAND_PAUSE)) {
			c->fenced = true;
			qb_log(LOG_WARNING, "%s: paused, no quorum", c->control);
		}
		return;
	}
	if (v < 0 || me < 0)
		return;
	vm = &d->fsm->vms[v];
	if (vm->primary != me || vm->generation != c->gen || vm->standby < 0 ||
	    vm->migrate_to >= 0 || c->want_protect || c->want_migrate || c->handover ||
	    !strcmp(c->view.ck_state, "protected") || !strcmp(c->view.ck_state, "syncing") ||
	    !strcmp(c->view.vm_state, "paused"))
		return;
	memset(&a, 0, sizeof(a));
	snprintf(a.peer, sizeof(a.peer), "%s", d->fsm->nodes[vm->standby].name);
	a.peer_generation = vm->copies[vm->standby].generation;
	qb_log(LOG_NOTICE, "%s: not checkpointing to its standby on %s: protecting again",
	       c->control, a.peer);
	want_protect(c, &a);
}

/*
 * The replicated state still waits for this primary's handover, which
 * nothing here is carrying out: its pause failed (a vmm slow to answer),
 * or it was given up when the checkpoint stream broke.  The cluster waits
 * for the primary's stop however long that takes, so the handover starts
 * again once the standby is protected again.  (A hactl failover, also
 * marked a handover, stops the primary instead.)
 */
static void keep_handover(struct hasvcd *d, struct copy *c)
{
	int v = fsm__vm_index(d->fsm, c->vm), me = fsm__node_index(d->fsm, d->node);
	const struct fsm_vm *vm;

	if (c->handover || c->fenced || c->incoming || c->role != FSM_ROLE_PRIMARY ||
	    v < 0 || me < 0 || no_quorum(d))
		return;
	vm = &d->fsm->vms[v];
	if (!vm->handover || vm->failover_asked || vm->primary != me ||
	    vm->generation != c->gen || vm->standby < 0 ||
	    strcmp(c->view.ck_state, "protected") || !strcmp(c->view.vm_state, "stopped"))
		return;
	qb_log(LOG_NOTICE, "%s: the cluster still waits for its handover: starting it again",
	       c->control);
	begin_handover(c, d->fsm->nodes[vm->standby].name);
}

/*
 * A promotion the replicated state records and that this node did not
 * carry out: the state has this node's copy of the VM as the primary under
 * a token no copy here holds, still starting (no report under that token),
 * while c (a standby, or a primary paused under an older token) is still
 * here; the activate request failed or timed out.  The cluster waits for that copy's report for ever,
 * so the poll tries again every RETRY_MS (promote_copy takes on a vmm that
 * carried out the late request).
 */
static void keep_promote(struct hasvcd *d, struct copy *c, uint64_t now)
{
	int v = fsm__vm_index(d->fsm, c->vm), me = fsm__node_index(d->fsm, d->node);
	const struct fsm_vm *vm;
	const struct fsm_copy *fc;

	if (c->incoming || v < 0 || me < 0 || now < c->promote_ms || no_quorum(d))
		return;
	vm = &d->fsm->vms[v];
	fc = &vm->copies[me];
	if (vm->primary != me || vm->generation <= c->gen || !fc->live ||
	    fc->state != FSM_VM_STARTING ||
	    fc->incoming || fc->role != FSM_ROLE_PRIMARY || fc->generation != vm->generation ||
	    find(d->loc, c->vm, vm->generation))
		return;
	qb_log(LOG_NOTICE, "%s: the cluster waits for its promotion to generation %llu: "
	       "trying again", c->control, (unsigned long long)vm->generation);
	if (promote_copy(d, c, vm->generation))
		c->promote_ms = now + RETRY_MS;
}

/*
 * A start the back-off delayed: spawned when due, if the replicated state
 * still has it as the VM's primary here (else the cluster moved on) and
 * there is quorum.  Until then it is reported starting.
 */
static void poll_pending(struct hasvcd *d, struct copy *c, uint64_t now)
{
	int v = fsm__vm_index(d->fsm, c->vm), me = fsm__node_index(d->fsm, d->node);

	if (v < 0 || me < 0 || d->fsm->vms[v].primary != me ||
	    d->fsm->vms[v].generation != c->gen) {
		drop_pending(d, c, "no longer this node's to start");
		return;
	}
	if (now >= c->due_ms && !no_quorum(d)) {
		c->pending = false;
		launch(d, c, 0);
		return;
	}
	report(d, c, false);
}

static void poll_copy(struct hasvcd *d, struct copy *c, uint64_t now)
{
	if (c->pending) {
		poll_pending(d, c, now);
		return;
	}
	if (reap(d, c, now))
		return;
	local_vmm__bound_log(d, c);
	if (c->stopping)
		return;
	local_vmm__view(c);
	c->state = derive_state(c);
	if (c->incoming && c->view.up && !strcmp(c->view.vm_state, "running")) {
		/* The migration is over: this is the primary now. */
		c->incoming = false;
		local_vmm__record(d, c);
	}
	if (c->view.up)
		keep_up(d, c);
	if (c->migrating && c->view.up)
		note_migration(d, c);
	if (c->want_protect && c->view.up)
		do_protect(d, c, now);
	if (c->want_migrate && c->view.up)
		do_migrate(d, c, now);
	if (c->handover && c->view.up)
		do_handover(d, c);
	else if (c->view.up)
		keep_handover(d, c);
	if (c->view.up)
		keep_promote(d, c, now);
	report(d, c, false);
}

static void poll_all(void *data)
{
	struct local *l = data;
	uint64_t now = hasvcd__now_ms();

	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++)
		if (l->c[i].used)
			poll_copy(l->d, &l->c[i], now);
	/*
	 * A VM removed while none of its copies ended here (or while this
	 * hasvcd was down) leaves logs that no reap prunes: look once a
	 * minute, and after each state exchange.
	 */
	if (now >= l->prune_due_ms && l->d->fsm->configured) {
		local_vmm__prune_gone(l);
		l->prune_due_ms = now + LOCAL_PRUNE_GONE_MS;
	}
	arm(l);
}

bool local__runs_primary(struct hasvcd *d)
{
	for (int i = 0; i < LOCAL_MAX_COPIES; i++) {
		const struct copy *c = &d->loc->c[i];

		if (c->used && c->role == FSM_ROLE_PRIMARY && !c->exited && (c->pid > 0 || c->pending))
			return true;
	}
	return false;
}
