/*
 * What each event records.  Handlers here change the machine's knowledge
 * (configuration, membership, what each node holds); apart from pausing on
 * quorum loss, decisions are left to fsm__reconcile(), which runs afterwards
 * only while the view is quorate.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "hasvc/fsm_internal.h"

/* ---- CONFIG ---- */

static int node_slot(struct fsm *f, const char *name)
{
	int i = fsm__node_index(f, name);

	if (i >= 0)
		return i;
	for (i = 0; i < HASVC_MAX_NODES; i++)
		if (!f->nodes[i].name[0])
			return i;
	/* Reuse the slot of a node removed earlier that holds nothing. */
	for (i = 0; i < HASVC_MAX_NODES; i++) {
		bool holds = false;

		if (f->nodes[i].declared || f->nodes[i].member)
			continue;
		for (int v = 0; v < HASVC_MAX_VMS && !holds; v++)
			holds = f->vms[v].used && f->vms[v].copies[i].role != FSM_ROLE_NONE;
		if (!holds)
			return i;
	}
	return -1;
}

static void config_nodes(struct step *st, const struct config *c)
{
	struct fsm *f = st->f;

	for (int i = 0; i < HASVC_MAX_NODES; i++)
		f->nodes[i].declared = false;
	for (size_t k = 0; k < c->n_nodes; k++) {
		int i = node_slot(f, c->nodes[k].name);
		struct fsm_node *n;

		if (i < 0) {
			fsm__emit_log(st, "node %s: no room (at most %d nodes)", c->nodes[k].name,
				      HASVC_MAX_NODES);
			continue;
		}
		n = &f->nodes[i];
		if (strcmp(n->name, c->nodes[k].name)) {
			memset(n, 0, sizeof(*n));
			snprintf(n->name, sizeof(n->name), "%s", c->nodes[k].name);
		}
		n->declared = true;
		n->has_fence = c->nodes[k].fencing != CONFIG_FENCING_NONE;
	}
}

static void remove_vm(struct step *st, int v)
{
	struct fsm_vm *vm = &st->f->vms[v];

	fsm__emit_log(st, "vm %s: removed from the configuration", vm->name);
	for (int i = 0; i < HASVC_MAX_NODES; i++)
		if (vm->copies[i].role != FSM_ROLE_NONE && st->f->nodes[i].member &&
		    st->f->quorate)
			fsm__emit(st, FSM_ACT_STOP, i, v, -1, vm->copies[i].generation);
	memset(vm, 0, sizeof(*vm));
}

static int vm_slot(struct fsm *f, const char *name, bool *fresh)
{
	int v = fsm__vm_index(f, name);

	*fresh = v < 0;
	if (v >= 0)
		return v;
	for (v = 0; v < HASVC_MAX_VMS; v++)
		if (!f->vms[v].used)
			return v;
	return -1;
}

static void config_vm(struct step *st, const struct config_vm *cv)
{
	struct fsm *f = st->f;
	bool fresh;
	int v = vm_slot(f, cv->name, &fresh);
	struct fsm_vm *vm;

	if (v < 0) {
		fsm__emit_log(st, "vm %s: no room (at most %d VMs)", cv->name, HASVC_MAX_VMS);
		return;
	}
	vm = &f->vms[v];
	if (fresh) {
		memset(vm, 0, sizeof(*vm));
		vm->used = true;
		snprintf(vm->name, sizeof(vm->name), "%s", cv->name);
		vm->primary = vm->standby = vm->migrate_to = vm->avoid = vm->home = -1;
		vm->protect = vm->conf_protect = cv->protect;
	} else if (vm->conf_protect != cv->protect) {
		/* A changed key wins over an earlier hactl protect/unprotect. */
		vm->protect = vm->conf_protect = cv->protect;
	}
	vm->priority = cv->priority;
	vm->max_restart = (uint8_t)cv->max_restart;
	vm->max_relocate = (uint8_t)cv->max_relocate;
	vm->n_preferred = 0;
	for (size_t k = 0; k < cv->n_preferred; k++) {
		int i = fsm__node_index(f, cv->preferred_nodes[k]);

		if (i >= 0 && f->nodes[i].declared)
			vm->preferred[vm->n_preferred++] = (int8_t)i;
	}
}

void fsm__on_config(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	const struct config *c = ev->config.config;

	memcpy(f->digest, ev->config.digest, sizeof(f->digest));
	f->configured = true;
	config_nodes(st, c);
	for (int v = 0; v < HASVC_MAX_VMS; v++)
		if (f->vms[v].used && !cluster_config__vm(c, f->vms[v].name))
			remove_vm(st, v);
	for (size_t k = 0; k < c->n_vms; k++)
		config_vm(st, &c->vms[k]);
	fsm__config_placement(f, c);
}

/* ---- MEMBERSHIP and QUORUM ---- */

static void pause_members(struct step *st, const bool *only)
{
	for (int i = 0; i < HASVC_MAX_NODES; i++)
		if (st->f->nodes[i].member && (!only || only[i]))
			fsm__emit(st, FSM_ACT_PAUSE_ALL_PRIMARIES, i, -1, -1, 0);
}

void fsm__on_membership(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	bool in[HASVC_MAX_NODES] = { false }, joined[HASVC_MAX_NODES] = { false };
	bool was = f->quorate;

	for (size_t k = 0; k < ev->membership.n_nodes; k++) {
		int i = fsm__node_index(f, ev->membership.nodes[k]);

		if (i < 0 || !f->nodes[i].declared)
			fsm__emit_log(st, "node %s is in the group but not in the configuration",
				      ev->membership.nodes[k]);
		else
			in[i] = true;
	}
	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		struct fsm_node *n = &f->nodes[i];

		if (in[i] && !n->member) {
			joined[i] = true;
			n->member = true;
			n->ready = n->gone = false;
			n->evacuating = n->maintenance; /* kept empty until off */
			n->fence = FSM_FENCE_NONE;
			/* Its copies are unknown until it reports them again. */
			for (int v = 0; v < HASVC_MAX_VMS; v++)
				f->vms[v].copies[i].reported = false;
		} else if (!in[i] && n->member) {
			n->member = n->ready = n->evacuating = false;
		}
	}
	f->have_view = true;
	f->quorate = ev->membership.quorate;
	st->view_changed = true;
	if (was && !f->quorate) {
		fsm__emit_log(st, "quorum lost: pausing every primary in this partition");
		pause_members(st, NULL);
	} else if (!f->quorate) {
		pause_members(st, joined);
	}
}

void fsm__on_quorum(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	bool was = f->quorate;

	f->quorate = ev->quorum.quorate && f->have_view;
	if (was && !f->quorate) {
		fsm__emit_log(st, "quorum lost: pausing every primary in this partition");
		pause_members(st, NULL);
	} else if (!was && f->quorate) {
		fsm__emit_log(st, "quorum regained");
		/* The fencer chosen before may have left while we could not act. */
		st->view_changed = true;
	}
}

/*
 * Record, while quorate, the nodes that are no longer members.  A primary
 * there may still be running until fencing says otherwise; a standby never
 * releases output, so it is written off at once.
 */
void fsm__record_losses(struct step *st)
{
	struct fsm *f = st->f;
	int fencer = -1;

	for (int i = 0; i < HASVC_MAX_NODES; i++)
		if (f->nodes[i].member &&
		    (fencer < 0 || strcmp(f->nodes[i].name, f->nodes[fencer].name) < 0))
			fencer = i;

	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		struct fsm_node *n = &f->nodes[i];
		bool needs_fence = false;

		/* Restarting: frozen until it returns or its grace ends. */
		if (!n->name[0] || n->member || n->restarting)
			continue;
		if (n->gone) {
			/* The node that was running the fence command may have left. */
			if (st->view_changed && n->fence != FSM_FENCE_NONE &&
			    n->fence != FSM_FENCE_DONE) {
				n->fence = FSM_FENCE_PENDING;
				fsm__emit(st, FSM_ACT_FENCE, fencer, -1, i, 0);
			}
			continue;
		}
		n->gone = true;
		n->ready = n->evacuating = false;
		for (int v = 0; v < HASVC_MAX_VMS; v++) {
			struct fsm_copy *c = &f->vms[v].copies[i];

			if (!f->vms[v].used || c->role == FSM_ROLE_NONE || !c->live)
				continue;
			if (c->role == FSM_ROLE_PRIMARY && n->has_fence)
				needs_fence = true;
			else
				c->live = false;
		}
		if (needs_fence) {
			n->fence = FSM_FENCE_PENDING;
			fsm__emit_log(st, "node %s lost: fencing it before its VMs move", n->name);
			fsm__emit(st, FSM_ACT_FENCE, fencer, -1, i, 0);
		} else if (n->declared) {
			fsm__emit_log(st, "node %s is not in the cluster", n->name);
		}
	}
}

/* ---- VM_REPORT and INVENTORY_DONE ---- */

/*
 * A running primary newer than the current activation, while the machine
 * knows of no live primary: this replica lost history (every hasvcd was
 * restarted while vmm processes ran on), and that copy is the one to keep.
 */
static bool adoptable(const struct fsm_vm *vm, const struct fsm_event *ev)
{
	/* "starting" could be an incoming migration that never got the guest. */
	return ev->report.role == FSM_ROLE_PRIMARY && copy_running_state(ev->report.state) &&
	       ev->report.generation > vm->generation && vm->migrate_to < 0 &&
	       (vm->primary < 0 || !vm->copies[vm->primary].live);
}

static void forget(struct step *st, int v, int node)
{
	struct fsm_copy *c = &st->f->vms[v].copies[node];

	if (c->role != FSM_ROLE_NONE && st->f->nodes[node].member && st->f->quorate)
		fsm__emit(st, FSM_ACT_STOP, node, v, -1, c->generation);
	fsm__copy_clear(c);
}

static void adopt(struct step *st, int v, int n, const struct fsm_event *ev)
{
	struct fsm_vm *vm = &st->f->vms[v];
	uint64_t gen = ev->report.generation;

	fsm__emit_log(st, "vm %s: adopting the running primary of generation %llu on %s",
		      vm->name, (unsigned long long)gen, st->f->nodes[n].name);
	if (vm->primary >= 0 && vm->primary != n)
		forget(st, v, vm->primary);
	/* A standby follows one activation; a new one is chosen for this one. */
	if (vm->standby >= 0 && vm->standby != n)
		forget(st, v, vm->standby);
	vm->standby = -1;
	vm->handover = vm->failover_asked = false;
	vm->primary = (int8_t)n;
	vm->generation = gen;
	if (gen > vm->issued)
		vm->issued = gen;
	fsm__copy_set(&vm->copies[n], FSM_ROLE_PRIMARY, gen, false);
	vm->copies[n].state = (uint8_t)ev->report.state;
	vm->copies[n].epoch = ev->report.epoch;
}

static void update(struct fsm_copy *c, const struct fsm_event *ev)
{
	c->state = (uint8_t)ev->report.state;
	c->epoch = ev->report.epoch;
	c->reported = true;
	/* A current-generation copy that says it runs does run. */
	c->live = !copy_dead_state(ev->report.state);
}

void fsm__on_report(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	int n = fsm__node_index(f, ev->report.node);
	int v = fsm__vm_index(f, ev->report.vm);
	uint64_t gen = ev->report.generation;
	enum fsm_role role = ev->report.role;
	/* Paused is not running, but the process is there: it too is stopped. */
	bool exists = ev->report.state != FSM_VM_STOPPED && ev->report.state != FSM_VM_FAILED;
	struct fsm_vm *vm;
	struct fsm_copy *c;

	if (n < 0 || !f->nodes[n].member) {
		fsm__emit_log(st, "report from %s, not a member: ignored", ev->report.node);
		return;
	}
	if (v < 0) {
		if (f->quorate && exists)
			fsm__emit_stop_named(st, n, ev->report.vm, gen);
		return;
	}
	vm = &f->vms[v];
	c = &vm->copies[n];
	if (adoptable(vm, ev)) {
		adopt(st, v, n, ev);
		return;
	}
	if (gen > vm->issued)
		vm->issued = gen; /* never hand that token out again */
	/* Tokens are never reused, so this names exactly the copy we know. */
	if (c->role != FSM_ROLE_NONE && c->role == role && c->generation == gen) {
		if (role == FSM_ROLE_STANDBY && ev->report.state == FSM_VM_FAILED)
			vm->avoid = (int8_t)n;
		update(c, ev);
		/* Ran long enough: its failures before no longer count. */
		if (role == FSM_ROLE_PRIMARY && ev->report.stable && gen == vm->generation &&
		    copy_running_state(ev->report.state))
			vm->restarts = vm->relocations = 0;
		return;
	}
	/* Sent before the node was given its newer copy: nothing to do. */
	if (c->role != FSM_ROLE_NONE && c->generation >= gen)
		return;
	if (f->quorate && exists) {
		fsm__emit_log(st, "vm %s: stale copy on %s (generation %llu, current %llu): "
			      "stopping it", vm->name, f->nodes[n].name, (unsigned long long)gen,
			      (unsigned long long)vm->generation);
		fsm__emit(st, FSM_ACT_STOP, n, v, -1, gen);
	}
}

/* The freeze of a restarting node ends: it is back, or its grace is over. */
static void end_restart(struct fsm_node *n)
{
	n->restarting = false;
	n->restart_deadline_ms = 0;
}

void fsm__on_inventory(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	int n = fsm__node_index(f, ev->inventory.node);

	if (n < 0 || !f->nodes[n].member)
		return;
	/* What it did not report, it no longer has (a restart, a reboot). */
	for (int v = 0; v < HASVC_MAX_VMS; v++) {
		struct fsm_copy *c = &f->vms[v].copies[n];

		if (f->vms[v].used && c->role != FSM_ROLE_NONE && !c->reported) {
			c->live = false;
			c->state = FSM_VM_STOPPED;
		}
	}
	f->nodes[n].ready = true;
	/* Part of the replica: every member places against the same figure. */
	f->nodes[n].rep_mem_mib = ev->inventory.mem_mib;
	f->nodes[n].rep_cpus = ev->inventory.cpus;
	if (f->nodes[n].restarting) {
		end_restart(&f->nodes[n]);
		fsm__emit_log(st, "node %s is back: its VMs are no longer frozen", f->nodes[n].name);
	}
}

/* ---- NODE_LEAVING and RESTART_EXPIRED ---- */

/*
 * A hasvcd that stops cleanly says so before it leaves the group (in
 * agreed order, so every member has it before the membership without it):
 * its vmm processes run on, so its VMs are frozen rather than failed over.
 */
void fsm__on_leaving(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	int n = fsm__node_index(f, ev->leaving.node);

	if (n < 0 || !f->nodes[n].member || !f->nodes[n].declared) {
		fsm__emit_log(st, "restart notice from %s, not a member: ignored", ev->leaving.node);
		return;
	}
	f->nodes[n].restarting = true;
	f->nodes[n].restart_deadline_ms = ev->leaving.deadline_ms;
	fsm__emit_log(st, "node %s: its hasvcd restarts: its VMs are frozen (not failed over) "
		      "until it returns or its restart grace ends", f->nodes[n].name);
}

/* The grace is over: a node still away is lost, as if it had died then. */
void fsm__on_expired(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	int n = fsm__node_index(f, ev->expired.node);

	/* A member again: its inventory ends the freeze, not the clock. */
	if (n < 0 || !f->nodes[n].restarting || f->nodes[n].member)
		return;
	end_restart(&f->nodes[n]);
	fsm__emit_log(st, "node %s: its restart grace ended before it returned: it is lost",
		      f->nodes[n].name);
}

/* ---- FENCE_RESULT ---- */

void fsm__on_fence(struct step *st, const struct fsm_event *ev)
{
	struct fsm *f = st->f;
	int n = fsm__node_index(f, ev->fence.node);
	struct fsm_node *node;

	if (n < 0 || !f->nodes[n].gone ||
	    (f->nodes[n].fence != FSM_FENCE_PENDING && f->nodes[n].fence != FSM_FENCE_FAILED)) {
		fsm__emit_log(st, "fence result for %s not awaited: ignored", ev->fence.node);
		return;
	}
	node = &f->nodes[n];
	if (!ev->fence.ok) {
		node->fence = FSM_FENCE_FAILED;
		fsm__emit_log(st, "fencing %s failed: its VMs stay where they are until "
			      "fencing succeeds or it rejoins", node->name);
		return;
	}
	fsm__emit_log(st, "node %s fenced", node->name);
	fsm__node_fenced(st, n);
}

/* The node is off: nothing it held runs any more. */
void fsm__node_fenced(struct step *st, int n)
{
	struct fsm *f = st->f;

	f->nodes[n].fence = FSM_FENCE_DONE;
	for (int v = 0; v < HASVC_MAX_VMS; v++)
		if (f->vms[v].used)
			f->vms[v].copies[n].live = false;
}
