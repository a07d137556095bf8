/*
 * hactl's commands, as they arrive through CPG.  A command that cannot be
 * carried out is answered with a REJECT addressed to the node whose hactl
 * sent it; nothing else changes then.
 */
#include "config.h"

#include <stdio.h>

#include "hasvc/fsm_internal.h"

/*
 * Live migration: the destination gets a fresh generation now, so that a
 * late report of the source (older generation) and one of the destination
 * can never be confused.  The source stays the primary until the
 * destination reports that it runs: the vmm hands over only after the
 * source has stopped, so the two never run together.
 */
void fsm__start_migration(struct step *st, int v, int target)
{
	struct fsm_action *a;
	struct fsm_vm *vm = &st->f->vms[v];
	uint64_t gen = ++vm->issued;

	/*
	 * The source stops checkpointing for the migration and its output
	 * flows unheld from then on: the standby falls behind what clients
	 * see and must never be promoted.  It is stopped; the VM gets a new
	 * standby once the migration ended, either way.
	 */
	if (vm->standby >= 0) {
		fsm__drop_copy(st, v, vm->standby);
		vm->standby = -1;
	}
	vm->migrate_to = (int8_t)target;
	vm->migrate_gen = gen;
	fsm__copy_set(&vm->copies[target], FSM_ROLE_PRIMARY, gen, true);
	fsm__emit_log(st, "vm %s: migrating from %s to %s (generation %llu)", vm->name,
		      st->f->nodes[vm->primary].name, st->f->nodes[target].name,
		      (unsigned long long)gen);
	a = fsm__emit(st, FSM_ACT_START_INCOMING, target, v, vm->primary, gen);
	if (a)
		a->peer_generation = vm->generation; /* accept only that source */
	fsm__emit(st, FSM_ACT_MIGRATE, vm->primary, v, target, gen);
}

/*
 * Handover to a synced standby: the primary pauses, sends a last checkpoint,
 * waits for its commit and stops.  Its "stopped" report then takes the
 * ordinary path of a primary that is gone, which promotes the standby: the
 * standby holds everything anyone saw, so nothing is lost.
 */
void fsm__start_handover(struct step *st, int v)
{
	struct fsm_vm *vm = &st->f->vms[v];

	vm->handover = true;
	vm->failover_asked = false;
	fsm__emit_log(st, "vm %s: handing over from %s to its standby on %s", vm->name,
		      st->f->nodes[vm->primary].name, st->f->nodes[vm->standby].name);
	fsm__emit(st, FSM_ACT_HANDOVER, vm->primary, v, vm->standby, vm->generation);
}

static bool primary_running(const struct fsm_vm *vm)
{
	return vm->primary >= 0 && vm->copies[vm->primary].live;
}

static bool standby_synced(const struct fsm *f, const struct fsm_vm *vm)
{
	return vm->standby >= 0 && copy_synced(&vm->copies[vm->standby]) &&
	       fsm__node_usable(f, vm->standby);
}

static void op_migrate(struct step *st, const struct fsm_event *ev, int v)
{
	struct fsm *f = st->f;
	struct fsm_vm *vm = &f->vms[v];
	int n = fsm__node_index(f, ev->op.node);
	const char *origin = ev->op.origin;
	char why[256];

	if (n < 0 || !f->nodes[n].declared) {
		fsm__emit_reject(st, origin, "no node %s in the configuration",
				 ev->op.node ? ev->op.node : "");
		return;
	}
	if (!fsm__node_candidate(f, n)) {
		fsm__emit_reject(st, origin, "node %s cannot take VMs now (down, "
				 "joining or evacuating)", f->nodes[n].name);
		return;
	}
	if (!primary_running(vm)) {
		fsm__emit_reject(st, origin, "vm %s is not running", vm->name);
		return;
	}
	if (vm->migrate_to >= 0 || vm->handover) {
		fsm__emit_reject(st, origin, "vm %s is already moving", vm->name);
		return;
	}
	if (n == vm->primary) {
		fsm__emit_reject(st, origin, "vm %s already runs on %s", vm->name,
				 f->nodes[n].name);
		return;
	}
	/* To its standby's node: the standby's room becomes the primary's. */
	if (n != vm->standby && !fsm__fits(f, vm, n, true, why, sizeof(why))) {
		fsm__emit_reject(st, origin, "cannot move vm %s to %s: %s", vm->name,
				 f->nodes[n].name, why);
		return;
	}
	if (vm->protect && n == vm->standby && standby_synced(f, vm))
		fsm__start_handover(st, v);
	else
		fsm__start_migration(st, v, n);
}

/* The declared node a command names, or -1 after rejecting the command. */
static int declared_node(struct step *st, const struct fsm_event *ev)
{
	int n = fsm__node_index(st->f, ev->op.node);

	if (n < 0 || !st->f->nodes[n].declared) {
		fsm__emit_reject(st, ev->op.origin, "no node %s in the configuration",
				 ev->op.node ? ev->op.node : "");
		return -1;
	}
	return n;
}

static void op_evacuate(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	int n = declared_node(st, ev);

	if (n < 0)
		return;
	if (!f->nodes[n].member) {
		fsm__emit_reject(st, ev->op.origin, "node %s is not in the cluster",
				 f->nodes[n].name);
		return;
	}
	if (f->nodes[n].evacuating) {
		fsm__emit_reject(st, ev->op.origin, "node %s is already being evacuated",
				 f->nodes[n].name);
		return;
	}
	/* Until it leaves the group, nothing new is placed there. */
	f->nodes[n].evacuating = true;
	fsm__emit_log(st, "evacuating node %s", f->nodes[n].name);
}

static void op_failover(struct step *st, const struct fsm_event *ev, int v)
{
	struct fsm_vm *vm = &st->f->vms[v];

	if (!primary_running(vm)) {
		fsm__emit_reject(st, ev->op.origin, "vm %s is not running", vm->name);
		return;
	}
	if (vm->migrate_to >= 0 || vm->handover) {
		fsm__emit_reject(st, ev->op.origin, "vm %s is moving", vm->name);
		return;
	}
	if (!vm->protect || !standby_synced(st->f, vm)) {
		fsm__emit_reject(st, ev->op.origin, "vm %s has no synced standby", vm->name);
		return;
	}
	/*
	 * Like a crash: the stop report leads to the promotion of the standby.
	 * Marked as a handover (fsm_place.c, activate()), so that the stop is not taken for the guest's
	 * own power-off (which boots afresh) and no other move starts meanwhile.
	 */
	vm->handover = vm->failover_asked = true;
	fsm__emit_log(st, "vm %s: failover requested: stopping the primary on %s", vm->name,
		      st->f->nodes[vm->primary].name);
	fsm__emit(st, FSM_ACT_STOP, vm->primary, v, -1, vm->generation);
}

/*
 * The operator says a lost node is off (stonith_admin --confirm): taken as
 * a successful fence.  Only for a node the cluster waits to see fenced; a
 * member is refused, since it may run its primaries right now.
 */
static void op_fence_ack(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	int n = declared_node(st, ev);

	if (n < 0)
		return;
	if (f->nodes[n].member) {
		fsm__emit_reject(st, ev->op.origin, "node %s is a member of the cluster: only a "
				 "lost node can be acknowledged as off", f->nodes[n].name);
		return;
	}
	if (!f->nodes[n].gone || (f->nodes[n].fence != FSM_FENCE_PENDING &&
				  f->nodes[n].fence != FSM_FENCE_FAILED)) {
		fsm__emit_reject(st, ev->op.origin, "node %s is not waiting to be fenced",
				 f->nodes[n].name);
		return;
	}
	fsm__emit_log(st, "node %s: the operator on %s confirmed it is off", f->nodes[n].name,
		      ev->op.origin);
	fsm__node_fenced(st, n);
}

/* Commands about a node, not a VM. */
static bool node_op(enum fsm_op op)
{
	return op == FSM_OP_EVACUATE || (op >= FSM_OP_FENCE_ACK && op <= FSM_OP_EVACUATE_CANCEL);
}

/*
 * Maintenance (Pacemaker's standby, Proxmox's node-maintenance): an
 * evacuation that outlives the node's leaving and rejoining, until off.
 * Cancelling an evacuation stops moving copies away; moves already under
 * way finish.
 */
static void op_maintenance(struct step *st, const struct fsm_event *ev)
{
	int i = declared_node(st, ev);
	struct fsm_node *n;

	if (i < 0)
		return;
	n = &st->f->nodes[i];
	switch (ev->op.op) {
	case FSM_OP_MAINTENANCE_ON:
		if (n->maintenance) {
			fsm__emit_reject(st, ev->op.origin, "node %s is in maintenance already",
					 n->name);
			return;
		}
		n->maintenance = true;
		n->evacuating = n->member;
		fsm__emit_log(st, "node %s: maintenance on: its VMs move away, and it stays "
			      "empty until maintenance off", n->name);
		return;
	case FSM_OP_MAINTENANCE_OFF:
		if (!n->maintenance) {
			fsm__emit_reject(st, ev->op.origin, "node %s is not in maintenance", n->name);
			return;
		}
		n->maintenance = n->evacuating = false;
		fsm__emit_log(st, "node %s: maintenance off: it takes VMs again", n->name);
		return;
	default:
		if (n->maintenance) {
			fsm__emit_reject(st, ev->op.origin, "node %s is in maintenance: end it with "
					 "hactl maintenance %s off", n->name, n->name);
			return;
		}
		if (!n->evacuating) {
			fsm__emit_reject(st, ev->op.origin, "node %s is not being evacuated",
					 n->name);
			return;
		}
		n->evacuating = false;
		fsm__emit_log(st, "node %s: evacuation cancelled", n->name);
	}
}

/* ---- the requested state: start, stop, disable, enable, clear ---- */

static bool moving(const struct fsm_vm *vm)
{
	return vm->migrate_to >= 0 || vm->handover;
}

/* The failure counts start over: the operator vouches for the VM. */
static void fresh_budget(struct fsm_vm *vm)
{
	vm->restarts = vm->relocations = 0;
}

static void op_start(struct step *st, const struct fsm_event *ev, struct fsm_vm *vm)
{
	const char *origin = ev->op.origin;

	if (vm->request == FSM_REQ_DISABLED) {
		fsm__emit_reject(st, origin, "vm %s is disabled: enable it (hactl enable %s)",
				 vm->name, vm->name);
		return;
	}
	if (vm->error) {
		fsm__emit_reject(st, origin, "vm %s is in the error state: find out why it failed, "
				 "then hactl clear %s", vm->name, vm->name);
		return;
	}
	if (vm->request == FSM_REQ_STARTED) {
		fsm__emit_reject(st, origin, "vm %s is started already", vm->name);
		return;
	}
	/* A stop not carried out yet (frozen, or shutting down): it still runs. */
	if (!primary_running(vm) && !fsm__can_take(st->f, vm, vm->home, true) &&
	    fsm__place(st->f, vm, -1, -1, true) < 0) {
		char line[FSM_TEXT_MAX];
		int k = snprintf(line, sizeof(line), "no node can run vm %s: ", vm->name);

		/* The reasons get what the text leaves, so that their count ends it. */
		fsm__explain(st->f, vm, true, line + k, sizeof(line) - (size_t)k);
		fsm__emit_reject(st, origin, "%s", line);
		return;
	}
	vm->request = FSM_REQ_STARTED;
	fresh_budget(vm);
	fsm__emit_log(st, "vm %s: start requested", vm->name);
}

/* stop and disable: the primary is shut down by reconcile (fsm_place.c). */
static void op_stop(struct step *st, const struct fsm_event *ev, struct fsm_vm *vm,
		    enum fsm_request to)
{
	const char *origin = ev->op.origin;

	if (vm->request == to) {
		fsm__emit_reject(st, origin, "vm %s is %s already", vm->name,
				 fsm__request_name(to));
		return;
	}
	if (moving(vm)) {
		fsm__emit_reject(st, origin, "vm %s is moving: try again once it is done", vm->name);
		return;
	}
	vm->request = (uint8_t)to;
	/* Down is what the operator wants: the error has served its purpose. */
	vm->error = false;
	vm->stop_timeout_s = ev->op.timeout_s ? ev->op.timeout_s : FSM_STOP_TIMEOUT_S;
	fsm__emit_log(st, "vm %s: %s requested (shutdown timeout %u s)", vm->name,
		      to == FSM_REQ_DISABLED ? "disable" : "stop", vm->stop_timeout_s);
}

static void op_enable(struct step *st, const struct fsm_event *ev, struct fsm_vm *vm)
{
	if (vm->request != FSM_REQ_DISABLED) {
		fsm__emit_reject(st, ev->op.origin, "vm %s is not disabled", vm->name);
		return;
	}
	vm->request = FSM_REQ_STARTED;
	fresh_budget(vm);
	fsm__emit_log(st, "vm %s: enabled: starting it", vm->name);
}

static void op_clear(struct step *st, const struct fsm_event *ev, struct fsm_vm *vm)
{
	if (!vm->error) {
		fsm__emit_reject(st, ev->op.origin, "vm %s is not in the error state", vm->name);
		return;
	}
	vm->error = false;
	fresh_budget(vm);
	fsm__emit_log(st, "vm %s: error cleared%s", vm->name,
		      vm->request == FSM_REQ_STARTED ? ": starting it" : "");
}

static void op_lifecycle(struct step *st, const struct fsm_event *ev, struct fsm_vm *vm)
{
	switch (ev->op.op) {
	case FSM_OP_START: op_start(st, ev, vm); break;
	case FSM_OP_STOP: op_stop(st, ev, vm, FSM_REQ_STOPPED); break;
	case FSM_OP_DISABLE: op_stop(st, ev, vm, FSM_REQ_DISABLED); break;
	case FSM_OP_ENABLE: op_enable(st, ev, vm); break;
	default: op_clear(st, ev, vm); break;
	}
}

/* A VM that is down on purpose cannot be moved or failed over. */
static bool refuse_down(struct step *st, const struct fsm_event *ev, const struct fsm_vm *vm)
{
	if (ev->op.op != FSM_OP_MIGRATE && ev->op.op != FSM_OP_FAILOVER)
		return false;
	if (vm->error) {
		fsm__emit_reject(st, ev->op.origin, "vm %s is in the error state (hactl clear %s)",
				 vm->name, vm->name);
		return true;
	}
	if (vm->request != FSM_REQ_STARTED) {
		fsm__emit_reject(st, ev->op.origin, "vm %s is %s (hactl %s %s)", vm->name,
				 fsm__request_name(vm->request),
				 vm->request == FSM_REQ_DISABLED ? "enable" : "start", vm->name);
		return true;
	}
	return false;
}

/*
 * Migrate and failover act at once on copies that a restarting node's
 * vmm processes hold unwatched, so they wait for the node.  The others
 * only change what the operator wants (requested state, protection):
 * reconcile carries that out once the freeze ends, as an operator who
 * stops a VM during a hasvcd restart expects.
 */
static bool acts_now(enum fsm_op op)
{
	return op == FSM_OP_MIGRATE || op == FSM_OP_FAILOVER;
}

void fsm__on_operator(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	int v = -1, frozen;

	if (!f->quorate) {
		fsm__emit_reject(st, ev->op.origin, "the cluster is not quorate");
		return;
	}
	if (!node_op(ev->op.op)) {
		v = fsm__vm_index(f, ev->op.vm);
		if (v < 0) {
			fsm__emit_reject(st, ev->op.origin, "no vm %s in the configuration",
					 ev->op.vm ? ev->op.vm : "");
			return;
		}
		if (refuse_down(st, ev, &f->vms[v]))
			return;
		frozen = fsm__frozen_by(f, &f->vms[v]);
		if (frozen >= 0 && acts_now(ev->op.op)) {
			fsm__emit_reject(st, ev->op.origin, "vm %s is frozen while %s restarts its "
					 "hasvcd", f->vms[v].name, f->nodes[frozen].name);
			return;
		}
	}
	switch (ev->op.op) {
	case FSM_OP_MIGRATE:
		op_migrate(st, ev, v);
		break;
	case FSM_OP_EVACUATE:
		op_evacuate(st, ev);
		break;
	case FSM_OP_FAILOVER:
		op_failover(st, ev, v);
		break;
	case FSM_OP_PROTECT:
		if (f->vms[v].protect) {
			fsm__emit_reject(st, ev->op.origin, "vm %s is protected already",
					 f->vms[v].name);
			return;
		}
		f->vms[v].protect = true;
		break;
	case FSM_OP_UNPROTECT:
		if (!f->vms[v].protect) {
			fsm__emit_reject(st, ev->op.origin, "vm %s is not protected",
					 f->vms[v].name);
			return;
		}
		f->vms[v].protect = false;
		break;
	case FSM_OP_FENCE_ACK:
		op_fence_ack(st, ev);
		break;
	case FSM_OP_MAINTENANCE_ON:
	case FSM_OP_MAINTENANCE_OFF:
	case FSM_OP_EVACUATE_CANCEL:
		op_maintenance(st, ev);
		break;
	case FSM_OP_START:
	case FSM_OP_STOP:
	case FSM_OP_DISABLE:
	case FSM_OP_ENABLE:
	case FSM_OP_CLEAR:
		op_lifecycle(st, ev, &f->vms[v]);
		break;
	default:
		fsm__emit_reject(st, ev->op.origin, "unknown command %d", (int)ev->op.op);
	}
}
