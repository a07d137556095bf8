/*
 * Placement and recovery: after every event handled while quorate, each VM
 * is brought one step closer to "a live primary, and a synced standby on
 * another node if protected".  Level-triggered on purpose: whatever the
 * order in which losses, reports and commands arrived, the same state leads
 * to the same decision.
 *
 * Nothing is activated while some member has not yet reported what it holds
 * (it joined moments ago): a copy it still runs might otherwise be started
 * a second time elsewhere.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "hasvc/fsm_internal.h"

bool fsm__node_usable(const struct fsm *f, int i)
{
	const struct fsm_node *n = &f->nodes[i];

	return i >= 0 && n->declared && n->member && n->ready && !n->gone;
}

bool fsm__node_candidate(const struct fsm *f, int i)
{
	return fsm__node_usable(f, i) && !f->nodes[i].evacuating && !f->nodes[i].restarting;
}

int fsm__frozen_by(const struct fsm *f, const struct fsm_vm *vm)
{
	const int8_t held[] = { vm->primary, vm->standby, vm->migrate_to };

	for (size_t k = 0; k < sizeof(held); k++)
		if (held[k] >= 0 && f->nodes[held[k]].restarting)
			return held[k];
	return -1;
}

static int load(const struct fsm *f, int i)
{
	int n = 0;

	for (int v = 0; v < HASVC_MAX_VMS; v++) {
		const struct fsm_vm *vm = &f->vms[v];

		if (vm->used)
			n += (vm->primary == i) + (vm->standby == i) + (vm->migrate_to == i);
	}
	return n;
}

/*
 * The first preferred node that can take a copy, else the least loaded one;
 * ties go to the smaller name so that every replica picks the same node.
 */
int fsm__place(const struct fsm *f, const struct fsm_vm *vm, int exclude1, int exclude2,
	       bool primary)
{
	int best = -1, best_load = 0;

	for (int k = 0; k < vm->n_preferred; k++) {
		int i = vm->preferred[k];

		if (i != exclude1 && i != exclude2 && fsm__can_take(f, vm, i, primary))
			return i;
	}
	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		int l;

		if (i == exclude1 || i == exclude2 || !fsm__can_take(f, vm, i, primary))
			continue;
		l = load(f, i);
		if (best < 0 || l < best_load ||
		    (l == best_load && strcmp(f->nodes[i].name, f->nodes[best].name) < 0)) {
			best = i;
			best_load = l;
		}
	}
	return best;
}

static int place_standby(const struct fsm *f, const struct fsm_vm *vm)
{
	int s = -1;

	/* Not again on the node whose standby just failed, if there is a choice. */
	if (vm->avoid >= 0 && vm->avoid != vm->primary)
		s = fsm__place(f, vm, vm->primary, vm->avoid, false);
	return s >= 0 ? s : fsm__place(f, vm, vm->primary, -1, false);
}

/* Forget a copy, stopping it if its node can still hear us. */
void fsm__drop_copy(struct step *st, int v, int node)
{
	struct fsm_vm *vm = &st->f->vms[v];
	struct fsm_copy *c = &vm->copies[node];

	if (c->role != FSM_ROLE_NONE && st->f->nodes[node].member)
		fsm__emit(st, FSM_ACT_STOP, node, v, -1, c->generation);
	fsm__copy_clear(c);
}

/*
 * Each standby gets a token of its own: a node's standby may be stopped and
 * restarted at once, and the late "stopped" report of the old one must not
 * be mistaken for the new one.  Each side is told the other's token.
 */
static uint64_t new_standby(struct step *st, int v, int s)
{
	struct fsm_vm *vm = &st->f->vms[v];
	uint64_t token = ++vm->issued;
	struct fsm_action *a;

	vm->standby = (int8_t)s;
	fsm__copy_set(&vm->copies[s], FSM_ROLE_STANDBY, token, false);
	if ((a = fsm__emit(st, FSM_ACT_START_STANDBY, s, v, vm->primary, token)))
		a->peer_generation = vm->generation;
	return token;
}

static void start_standby(struct step *st, int v, int s)
{
	struct fsm_vm *vm = &st->f->vms[v];
	uint64_t token = new_standby(st, v, s);
	struct fsm_action *a = fsm__emit(st, FSM_ACT_PROTECT, vm->primary, v, s, vm->generation);

	if (a)
		a->peer_generation = token;
}

static void manage_standby(struct step *st, int v)
{
	struct fsm *f = st->f;
	struct fsm_vm *vm = &f->vms[v];
	int s = vm->standby;

	if (s >= 0 && (!vm->protect || !vm->copies[s].live || !fsm__node_usable(f, s) ||
		       f->nodes[s].evacuating || s == vm->primary)) {
		if (vm->protect)
			fsm__emit_log(st, "vm %s: standby on %s lost; the primary on %s runs "
				      "unprotected until a new standby is synced", vm->name,
				      f->nodes[s].name, f->nodes[vm->primary].name);
		if (s != vm->primary)
			fsm__drop_copy(st, v, s);
		vm->standby = -1;
		vm->handover = vm->failover_asked = false;
	}
	if (!vm->protect || vm->standby >= 0)
		return;
	s = place_standby(f, vm);
	if (s < 0) {
		fsm__wait_for(st, vm, FSM_WAIT_NO_STANDBY_NODE,
			      "vm %s: no node for a standby; running unprotected", vm->name);
		return;
	}
	vm->waiting = FSM_WAIT_NONE;
	start_standby(st, v, s);
}

/*
 * A new activation under a new generation: the standby must be restarted
 * under the new token (it refuses a stream of another generation); on the
 * same node when that is still fine, which only resends what changed.
 */
static void reprotect(struct step *st, int v)
{
	struct fsm_vm *vm = &st->f->vms[v];
	int s = vm->standby;

	if (s >= 0 && vm->protect && vm->copies[s].live && fsm__node_candidate(st->f, s) &&
	    s != vm->primary) {
		start_standby(st, v, s);
		return;
	}
	manage_standby(st, v);
}

/*
 * The VM failed past its limits: it stays down, with its copies stopped,
 * until an operator clears it (or stops or disables it).
 */
static void enter_error(struct step *st, int v)
{
	struct fsm_vm *vm = &st->f->vms[v];

	fsm__emit_log(st, "vm %s: failed again after %u restarts and %u relocations: error "
		      "state; find out why, then hactl clear %s", vm->name, vm->restarts,
		      vm->relocations, vm->name);
	if (vm->primary >= 0)
		fsm__drop_copy(st, v, vm->primary);
	if (vm->standby >= 0)
		fsm__drop_copy(st, v, vm->standby);
	vm->primary = vm->standby = -1;
	vm->error = true;
	vm->handover = vm->failover_asked = false;
	vm->waiting = FSM_WAIT_NONE;
}

/* The primary on old reported that its vmm failed (not a loss, not a stop). */
static bool primary_failed(const struct fsm *f, const struct fsm_vm *vm, int old)
{
	const struct fsm_copy *c = old >= 0 ? &vm->copies[old] : NULL;

	return c && c->role == FSM_ROLE_PRIMARY && c->state == FSM_VM_FAILED && c->reported &&
	       !f->nodes[old].gone;
}

/*
 * The primary's guest powered off (its vmm ended cleanly): a protected one
 * sent its last epoch as a final checkpoint and its standby ended with it
 * (docs/checkpointing.md, "When the guest stops"), so there is nothing to
 * promote: the VM boots afresh, as a reboot would.
 */
static bool primary_powered_off(const struct fsm *f, const struct fsm_vm *vm, int old)
{
	const struct fsm_copy *c = old >= 0 ? &vm->copies[old] : NULL;

	return c && c->role == FSM_ROLE_PRIMARY && c->state == FSM_VM_STOPPED && c->reported &&
	       !f->nodes[old].gone;
}

/*
 * Where a VM boots afresh: after a failure, the same node while restarts
 * are left (max_restart), then another node (max_relocate); -2: no budget
 * left.  Otherwise the node it was stopped on (its disk is the newest
 * there), else the usual placement.
 */
static int fresh_target(struct step *st, struct fsm_vm *vm, int old, bool failed)
{
	const struct fsm *f = st->f;
	int t;

	if (!failed) {
		if (fsm__can_take(f, vm, vm->home, true))
			return vm->home;
		t = fsm__place(f, vm, -1, -1, true);
		if (vm->home >= 0 && t >= 0)
			fsm__emit_log(st, "vm %s: %s, where it was stopped, cannot take it: its "
				      "disk there may be newer than on %s", vm->name,
				      f->nodes[vm->home].name, f->nodes[t].name);
		return t;
	}
	if (vm->restarts < vm->max_restart && fsm__can_take(f, vm, old, true)) {
		vm->restarts++;
		return old;
	}
	if (vm->relocations >= vm->max_relocate)
		return -2;
	t = fsm__place(f, vm, old, -1, true);
	if (t >= 0) {
		vm->relocations++;
		vm->restarts = 0;
	}
	return t;
}

/*
 * No node can take the VM's primary.  While none can take VMs at all (the
 * cluster forms) that is said once; when some could but have no room, why
 * each refused is logged once more (docs/hasvc-config.md, "Placement").
 */
static void no_room(struct step *st, struct fsm_vm *vm)
{
	char line[FSM_TEXT_MAX];
	bool up = false;
	int k;

	for (int i = 0; i < HASVC_MAX_NODES && !up; i++)
		up = st->f->nodes[i].declared && fsm__node_candidate(st->f, i);
	if (!up) {
		fsm__wait_for(st, vm, FSM_WAIT_NO_NODE, "vm %s: no node can run it", vm->name);
		return;
	}
	vm->waiting = FSM_WAIT_NO_NODE;
	if (vm->wait_room)
		return;
	vm->wait_room = true;
	/* The reasons get what the line leaves, so that their count ends it. */
	k = snprintf(line, sizeof(line), "vm %s: no node can run it: ", vm->name);
	fsm__explain(st->f, vm, true, line + k, sizeof(line) - (size_t)k);
	fsm__emit_log(st, "%s", line);
}

/* The primary is gone: resume it, promote the standby, or boot afresh. */
static void activate(struct step *st, int v)
{
	struct fsm *f = st->f;
	struct fsm_vm *vm = &f->vms[v];
	int old = vm->primary, s = vm->standby, t;
	bool failed = primary_failed(f, vm, old);
	/* A handover's primary stops after its final commit: promote then. */
	bool powered_off = !vm->handover && primary_powered_off(f, vm, old);
	struct fsm_action *a;
	uint64_t gen;

	vm->handover = vm->failover_asked = false;
	/* A primary paused by a quorum loss holds the newest state: resume it. */
	if (old >= 0 && vm->copies[old].state == FSM_VM_PAUSED &&
	    vm->copies[old].reported && fsm__node_candidate(f, old)) {
		gen = ++vm->issued;
		vm->generation = gen;
		fsm__copy_set(&vm->copies[old], FSM_ROLE_PRIMARY, gen, false);
		fsm__emit_log(st, "vm %s: resuming the paused primary on %s (generation %llu)",
			      vm->name, f->nodes[old].name, (unsigned long long)gen);
		fsm__emit(st, FSM_ACT_PROMOTE, old, v, -1, gen);
		vm->waiting = FSM_WAIT_NONE;
		reprotect(st, v);
		return;
	}
	if (s >= 0 && !powered_off && copy_synced(&vm->copies[s]) && fsm__node_usable(f, s)) {
		/* A promotion after a failure moves the VM: it counts as a relocation. */
		if (failed && vm->relocations >= vm->max_relocate) {
			enter_error(st, v);
			return;
		}
		if (failed)
			vm->relocations++;
		gen = ++vm->issued;
		if (old >= 0)
			fsm__drop_copy(st, v, old);
		vm->generation = gen;
		vm->primary = (int8_t)s;
		vm->standby = -1;
		fsm__copy_set(&vm->copies[s], FSM_ROLE_PRIMARY, gen, false);
		fsm__emit_log(st, "vm %s: promoting the standby on %s (generation %llu)", vm->name,
			      f->nodes[s].name, (unsigned long long)gen);
		fsm__emit(st, FSM_ACT_PROMOTE, s, v, -1, gen);
		vm->waiting = FSM_WAIT_NONE;
		manage_standby(st, v);
		return;
	}
	t = fresh_target(st, vm, old, failed);
	if (t == -2) {
		enter_error(st, v);
		return;
	}
	if (t < 0) {
		no_room(st, vm);
		return;
	}
	vm->wait_room = false;
	if (old >= 0)
		fsm__drop_copy(st, v, old);
	if (s >= 0)
		fsm__drop_copy(st, v, s);
	if (old < 0 && vm->generation > 0)
		fsm__emit_log(st, "vm %s: starting on %s", vm->name, f->nodes[t].name);
	else if (powered_off)
		fsm__emit_log(st, "vm %s: its guest powered off: booting it afresh on %s",
			      vm->name, f->nodes[t].name);
	else if (failed)
		fsm__emit_log(st, "vm %s: failed: booting it afresh on %s (restart %u of %u, "
			      "relocation %u of %u)", vm->name, f->nodes[t].name, vm->restarts,
			      vm->max_restart, vm->relocations, vm->max_relocate);
	else if (vm->generation > 0)
		fsm__emit_log(st, "vm %s: no synced standby: booting it afresh on %s; its "
			      "memory state is lost", vm->name, f->nodes[t].name);
	gen = ++vm->issued;
	vm->generation = gen;
	vm->primary = (int8_t)t;
	vm->standby = -1;
	vm->home = -1;
	vm->waiting = FSM_WAIT_NONE;
	fsm__copy_set(&vm->copies[t], FSM_ROLE_PRIMARY, gen, false);
	s = vm->protect ? place_standby(f, vm) : -1;
	/* The standby target travels with the start: no PROTECT needed. */
	a = fsm__emit(st, FSM_ACT_START_PRIMARY, t, v, s, gen);
	if (s >= 0) {
		uint64_t token = new_standby(st, v, s);

		if (a)
			a->peer_generation = token;
	}
}

/* Returns true when the migration is over and the VM can be looked at. */
static bool check_migration(struct step *st, int v)
{
	struct fsm *f = st->f;
	struct fsm_vm *vm = &f->vms[v];
	int t = vm->migrate_to, p = vm->primary;
	struct fsm_copy *ct = &vm->copies[t];

	if (ct->live && copy_running_state(ct->state) && fsm__node_usable(f, t)) {
		/* The destination only resumes once the source has stopped. */
		fsm__drop_copy(st, v, p);
		vm->generation = vm->migrate_gen;
		vm->primary = (int8_t)t;
		vm->migrate_to = -1;
		ct->incoming = false;
		fsm__emit_log(st, "vm %s: now runs on %s (generation %llu)", vm->name,
			      f->nodes[t].name, (unsigned long long)vm->generation);
		reprotect(st, v);
		return true;
	}
	if (!ct->live) {
		fsm__emit_log(st, "vm %s: migration to %s failed; it stays on %s", vm->name,
			      f->nodes[t].name, f->nodes[p].name);
		fsm__drop_copy(st, v, t);
		vm->migrate_to = -1;
		return true;
	}
	/* Source gone, destination undecided: its report says who runs. */
	return false;
}

/* Move a VM off a node being evacuated. */
static void evacuate_primary(struct step *st, int v)
{
	struct fsm *f = st->f;
	struct fsm_vm *vm = &f->vms[v];
	int s = vm->standby, t;

	if (vm->protect && s >= 0 && copy_synced(&vm->copies[s]) && fsm__node_candidate(f, s)) {
		fsm__start_handover(st, v);
		return;
	}
	t = fsm__place(f, vm, vm->primary, s, true);
	if (t < 0)
		t = fsm__place(f, vm, vm->primary, -1, true);
	if (t < 0) {
		fsm__wait_for(st, vm, FSM_WAIT_NO_EVACUATION_NODE,
			      "vm %s: no node to evacuate it to", vm->name);
		return;
	}
	vm->waiting = FSM_WAIT_NONE;
	fsm__start_migration(st, v, t);
}

/*
 * A VM requested stopped or disabled, or in the error state: a live
 * primary is shut down (power button, then quit after the timeout) once
 * per activation, and its standby kept until it is down (a protected
 * guest's last checkpoint goes there); then both are forgotten, and the
 * node it ran on is where it starts again.
 */
/*
 * Where a VM that goes down starts again: the primary's node, whose disk
 * took every write.  Unless that node was lost (fenced before the stop was
 * carried out, e.g. a stop taken while it restarted its hasvcd): then the
 * synced standby's disk holds everything clients saw acknowledged, and any
 * other node's copy is older or blank.
 */
static int stop_home(const struct fsm *f, const struct fsm_vm *vm, int p)
{
	if (f->nodes[p].gone && vm->standby >= 0 && copy_synced(&vm->copies[vm->standby]))
		return vm->standby;
	return p;
}

static void reconcile_down(struct step *st, int v)
{
	struct fsm *f = st->f;
	struct fsm_vm *vm = &f->vms[v];
	int p = vm->primary;
	struct fsm_action *a;

	if (vm->migrate_to >= 0) {
		fsm__drop_copy(st, v, vm->migrate_to);
		vm->migrate_to = -1;
	}
	vm->handover = vm->failover_asked = false;
	if (p >= 0 && vm->copies[p].live) {
		if (f->nodes[p].gone) {
			fsm__wait_for(st, vm, FSM_WAIT_FENCE, "vm %s: waiting for %s to be "
				      "fenced", vm->name, f->nodes[p].name);
			return;
		}
		if (vm->shutdown_gen == vm->generation)
			return;
		vm->shutdown_gen = vm->generation;
		fsm__emit_log(st, "vm %s: shutting down its primary on %s (power button, then "
			      "quit after %u s)", vm->name, f->nodes[p].name, vm->stop_timeout_s);
		if ((a = fsm__emit(st, FSM_ACT_SHUTDOWN, p, v, -1, vm->generation)))
			a->timeout_s = vm->stop_timeout_s;
		return;
	}
	if (p >= 0) {
		if (!vm->error)
			vm->home = (int8_t)stop_home(f, vm, p);
		fsm__drop_copy(st, v, p);
		fsm__emit_log(st, "vm %s: %s", vm->name, vm->error ? "down (error)" :
			      fsm__request_name(vm->request));
	}
	if (vm->standby >= 0)
		fsm__drop_copy(st, v, vm->standby);
	vm->primary = vm->standby = -1;
	vm->waiting = FSM_WAIT_NONE;
	vm->wait_room = false;
}

static void reconcile_vm(struct step *st, int v)
{
	struct fsm *f = st->f;
	struct fsm_vm *vm = &f->vms[v];
	int p = fsm__frozen_by(f, vm);

	/* Its copies there run on unwatched: nothing may start a second one. */
	if (p >= 0) {
		fsm__wait_for(st, vm, FSM_WAIT_FROZEN, "vm %s: frozen while %s restarts its "
			      "hasvcd", vm->name, f->nodes[p].name);
		return;
	}
	if (vm->waiting == FSM_WAIT_FROZEN)
		vm->waiting = FSM_WAIT_NONE;
	if (vm->request != FSM_REQ_STARTED || vm->error) {
		reconcile_down(st, v);
		return;
	}
	if (vm->migrate_to >= 0 && !check_migration(st, v))
		return;
	p = vm->primary;
	if (p >= 0 && vm->copies[p].live) {
		if (f->nodes[p].gone) {
			fsm__wait_for(st, vm, FSM_WAIT_FENCE, "vm %s: waiting for %s to be "
				      "fenced before promoting", vm->name, f->nodes[p].name);
			return;
		}
		if (vm->handover && vm->standby >= 0 && copy_synced(&vm->copies[vm->standby]))
			return; /* the primary stops by itself after its last commit */
		vm->handover = vm->failover_asked = false;
		if (f->nodes[p].evacuating) {
			evacuate_primary(st, v);
			return;
		}
		manage_standby(st, v);
		return;
	}
	activate(st, v);
}

void fsm__reconcile(struct step *st)
{
	struct fsm *f = st->f;
	int order[HASVC_MAX_VMS], n = 0;

	for (int i = 0; i < HASVC_MAX_NODES; i++)
		if (f->nodes[i].member && f->nodes[i].declared && !f->nodes[i].ready)
			return;
	/* Higher priority first, then by name: the same order on every replica. */
	for (int v = 0; v < HASVC_MAX_VMS; v++) {
		int k = n++;

		if (!f->vms[v].used) {
			n--;
			continue;
		}
		while (k > 0) {
			const struct fsm_vm *a = &f->vms[order[k - 1]], *b = &f->vms[v];

			if (a->priority > b->priority ||
			    (a->priority == b->priority && strcmp(a->name, b->name) < 0))
				break;
			order[k] = order[k - 1];
			k--;
		}
		order[k] = v;
	}
	for (int k = 0; k < n; k++)
		reconcile_vm(st, order[k]);
}
