/*
 * Cluster events from the steps of the state machine (events.h).  A
 * transition is an event, not a state: a VM reported protected a hundred
 * times is one vm_protected.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hasvc/events.h"

static const char *const names[EVENT_KINDS] = {
	[EVENT_NODE_JOINED] = "node_joined",
	[EVENT_NODE_LOST] = "node_lost",
	[EVENT_QUORUM_LOST] = "quorum_lost",
	[EVENT_QUORUM_REGAINED] = "quorum_regained",
	[EVENT_FENCE_STARTED] = "fence_started",
	[EVENT_FENCE_SUCCEEDED] = "fence_succeeded",
	[EVENT_FENCE_FAILED] = "fence_failed",
	[EVENT_VM_PROMOTED] = "vm_promoted",
	[EVENT_VM_PROTECTED] = "vm_protected",
	[EVENT_VM_DEGRADED] = "vm_degraded",
	[EVENT_MIGRATION_STARTED] = "migration_started",
	[EVENT_MIGRATION_FINISHED] = "migration_finished",
	[EVENT_MIGRATION_FAILED] = "migration_failed",
	[EVENT_CONFIG_RELOADED] = "config_reloaded",
	[EVENT_NODE_RESTARTING] = "node_restarting",
};

const char *events__name(unsigned kind)
{
	return kind < EVENT_KINDS ? names[kind] : NULL;
}

int events__kind(const char *name)
{
	for (int k = 0; k < EVENT_KINDS; k++)
		if (!strcmp(names[k], name))
			return k;
	return -1;
}

struct diff {
	struct cluster_event *out;
	size_t n, max;
};

static void add(struct diff *df, enum event_kind kind, const char *node, const char *vm)
{
	struct cluster_event *ev;

	if (df->n >= df->max)
		return;
	ev = &df->out[df->n++];
	memset(ev, 0, sizeof(*ev));
	ev->kind = (uint8_t)kind;
	snprintf(ev->node, sizeof(ev->node), "%s", node ? node : "");
	snprintf(ev->vm, sizeof(ev->vm), "%s", vm ? vm : "");
}

static void diff_nodes(struct diff *df, const struct fsm *b, const struct fsm *a)
{
	static const enum event_kind fence_kind[] = {
		[FSM_FENCE_PENDING] = EVENT_FENCE_STARTED,
		[FSM_FENCE_FAILED] = EVENT_FENCE_FAILED,
		[FSM_FENCE_DONE] = EVENT_FENCE_SUCCEEDED,
	};

	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		const struct fsm_node *o = &b->nodes[i], *n = &a->nodes[i];
		bool same = !strcmp(o->name, n->name), was_member, was_restarting;

		if (!n->name[0] || !n->declared)
			continue;
		was_member = same && o->member;
		was_restarting = same && o->restarting;
		if (n->restarting && !was_restarting)
			add(df, EVENT_NODE_RESTARTING, n->name, NULL);
		/* A restarting node that leaves is lost only when its grace ends. */
		if (n->member && !was_member)
			add(df, EVENT_NODE_JOINED, n->name, NULL);
		else if (!n->member && !n->restarting && (was_member || was_restarting))
			add(df, EVENT_NODE_LOST, n->name, NULL);
		if (n->fence != FSM_FENCE_NONE && n->fence <= FSM_FENCE_DONE &&
		    n->fence != (same ? o->fence : FSM_FENCE_NONE))
			add(df, fence_kind[n->fence], n->name, NULL);
	}
}

/* The state the VM's primary copy reported, or -1 without a primary. */
static int primary_state(const struct fsm_vm *v)
{
	return v->primary >= 0 ? v->copies[v->primary].state : -1;
}

static const char *node_name(const struct fsm *f, int i)
{
	return i >= 0 && i < HASVC_MAX_NODES ? f->nodes[i].name : "";
}

/*
 * Did the VM lose its protection in this step?  The cluster dropped the
 * synced standby of a protected primary that stays where it is (the standby
 * or its node was lost, or its node is evacuated), or the primary's vmm
 * paused on the loss (--on-standby-loss pause, hasvcd's) and said so
 * before the cluster heard of the standby, or a vmm said "degraded".
 * Taken before the step's promotions: a paused primary is resumed in place
 * (PROMOTE) in the step that drops its standby.
 */
static bool degraded(const struct fsm *b, const struct fsm *a, int i)
{
	const struct fsm_vm *o = &b->vms[i], *n = &a->vms[i];
	bool same = o->used && !strcmp(o->name, n->name);
	int os = same ? primary_state(o) : -1, ns = primary_state(n);
	/* Synced as fsm_internal.h's copy_synced() says; a new one is not. */
	const struct fsm_copy *oc = o->standby >= 0 ? &o->copies[o->standby] : NULL;
	bool synced = oc && oc->live && (oc->state == FSM_VM_PROTECTED || oc->epoch > 0);
	bool kept = synced && n->standby == o->standby &&
		    n->copies[n->standby].generation == oc->generation;

	if (ns != os && ns == FSM_VM_DEGRADED)
		return true;
	if (!same || os != FSM_VM_PROTECTED || !synced || n->primary != o->primary)
		return false;
	if (!kept)
		return n->protect && n->migrate_to < 0 && !n->handover;
	return ns == FSM_VM_PAUSED && a->quorate;
}

static void diff_vm(struct diff *df, const struct fsm *b, const struct fsm *a, int i)
{
	const struct fsm_vm *o = &b->vms[i], *n = &a->vms[i];
	bool same = o->used && !strcmp(o->name, n->name);
	int os = same ? primary_state(o) : -1, ns = primary_state(n);
	int omig = same ? o->migrate_to : -1;
	/*
	 * A move to the synced standby's node (`hactl migrate`, an evacuation)
	 * is a handover, not a live migration, but the operator asked for a
	 * migration all the same.  `hactl failover` also runs as a handover:
	 * that one is no migration.
	 */
	bool oplan = same && o->handover && !o->failover_asked;
	bool nplan = n->handover && !n->failover_asked;

	if (ns != os && ns == FSM_VM_PROTECTED)
		add(df, EVENT_VM_PROTECTED, node_name(a, n->primary), n->name);
	if (n->migrate_to >= 0 && n->migrate_to != omig)
		add(df, EVENT_MIGRATION_STARTED, node_name(a, n->migrate_to), n->name);
	if (omig >= 0 && n->migrate_to != omig)
		add(df, n->primary == omig ? EVENT_MIGRATION_FINISHED : EVENT_MIGRATION_FAILED,
		    node_name(b, omig), n->name);
	if (nplan && !oplan)
		add(df, EVENT_MIGRATION_STARTED, node_name(a, n->standby), n->name);
	if (oplan && !nplan)
		add(df, o->standby >= 0 && n->primary == o->standby ? EVENT_MIGRATION_FINISHED :
		    EVENT_MIGRATION_FAILED, node_name(b, o->standby), n->name);
}

size_t events__diff(const struct fsm *before, const struct fsm *after,
		    const struct fsm_actions *acts, struct cluster_event *out, size_t max)
{
	struct diff df = { .out = out, .max = max };

	if (after->configured &&
	    (!before->configured || memcmp(before->digest, after->digest, sizeof(after->digest))))
		add(&df, EVENT_CONFIG_RELOADED, NULL, NULL);
	if (after->have_view && after->quorate != (before->have_view && before->quorate))
		add(&df, after->quorate ? EVENT_QUORUM_REGAINED : EVENT_QUORUM_LOST, NULL, NULL);
	diff_nodes(&df, before, after);
	for (int i = 0; i < HASVC_MAX_VMS; i++)
		if (after->vms[i].used && degraded(before, after, i))
			add(&df, EVENT_VM_DEGRADED, node_name(after, after->vms[i].primary),
			    after->vms[i].name);
	for (size_t k = 0; acts && k < acts->n; k++)
		if (acts->v[k].type == FSM_ACT_PROMOTE)
			add(&df, EVENT_VM_PROMOTED, acts->v[k].node, acts->v[k].vm);
	for (int i = 0; i < HASVC_MAX_VMS; i++)
		if (after->vms[i].used)
			diff_vm(&df, before, after, i);
	return df.n;
}

void events__init(struct events *e)
{
	memset(e, 0, sizeof(*e));
	e->next_seq = 1;
}

void events__push(struct events *e, struct cluster_event *ev)
{
	ev->seq = e->next_seq++;
	if (e->n == EVENTS_RING) {
		memmove(&e->ring[0], &e->ring[1], sizeof(e->ring[0]) * (EVENTS_RING - 1));
		e->n--;
	}
	e->ring[e->n++] = *ev;
}

const struct cluster_event *events__at(const struct events *e, size_t i)
{
	return i < e->n ? &e->ring[i] : NULL;
}
