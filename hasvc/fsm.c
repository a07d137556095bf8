/*
 * The state machine's entry point, its action list and the helpers that
 * emit actions.  The rules live in fsm_events.c (what each event records),
 * fsm_operator.c (hactl's commands) and fsm_place.c (what the cluster
 * should do about it), which runs after every event while quorate.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/fsm_internal.h"

struct fsm *fsm__new(void)
{
	struct fsm *f = malloc(sizeof(*f));

	if (f)
		fsm__init(f);
	return f;
}

void fsm__free(struct fsm *fsm)
{
	free(fsm);
}

void fsm__init(struct fsm *fsm)
{
	/* Zeroed padding too: replicas are compared with memcmp in tests. */
	memset(fsm, 0, sizeof(*fsm));
}

int fsm__step(struct fsm *fsm, const struct fsm_event *ev, struct fsm_actions *out)
{
	struct step st = { .f = fsm, .out = out };

	switch (ev->type) {
	case FSM_EV_CONFIG: fsm__on_config(&st, ev); break;
	case FSM_EV_MEMBERSHIP: fsm__on_membership(&st, ev); break;
	case FSM_EV_QUORUM: fsm__on_quorum(&st, ev); break;
	case FSM_EV_VM_REPORT: fsm__on_report(&st, ev); break;
	case FSM_EV_INVENTORY_DONE: fsm__on_inventory(&st, ev); break;
	case FSM_EV_OPERATOR: fsm__on_operator(&st, ev); break;
	case FSM_EV_FENCE_RESULT: fsm__on_fence(&st, ev); break;
	case FSM_EV_NODE_LEAVING: fsm__on_leaving(&st, ev); break;
	case FSM_EV_RESTART_EXPIRED: fsm__on_expired(&st, ev); break;
	default:
		fsm__emit_log(&st, "unknown event type %d ignored", (int)ev->type);
	}
	/* Only a quorate view may decide anything beyond pausing. */
	if (fsm->quorate) {
		fsm->quorate_events++;
		fsm__record_losses(&st);
		fsm__reconcile(&st);
	}
	return st.err;
}

/* ---- actions ---- */

void fsm__actions_init(struct fsm_actions *a)
{
	memset(a, 0, sizeof(*a));
}

void fsm__actions_clear(struct fsm_actions *a)
{
	a->n = 0;
}

void fsm__actions_free(struct fsm_actions *a)
{
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static struct fsm_action *push(struct step *st, enum fsm_action_type type)
{
	struct fsm_actions *a = st->out;
	struct fsm_action *act;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct fsm_action *grown = realloc(a->v, cap * sizeof(*grown));

		if (!grown) {
			st->err = -ENOMEM;
			return NULL;
		}
		a->v = grown;
		a->cap = cap;
	}
	act = &a->v[a->n++];
	memset(act, 0, sizeof(*act));
	act->type = type;
	return act;
}

static void copy_name(char *dst, const char *src)
{
	snprintf(dst, HASVC_NAME_MAX, "%s", src);
}

struct fsm_action *fsm__emit(struct step *st, enum fsm_action_type type, int node, int vm,
			     int peer, uint64_t generation)
{
	struct fsm_action *a = push(st, type);

	if (!a)
		return NULL;
	if (node >= 0)
		copy_name(a->node, st->f->nodes[node].name);
	if (vm >= 0)
		copy_name(a->vm, st->f->vms[vm].name);
	if (peer >= 0)
		copy_name(a->peer, st->f->nodes[peer].name);
	a->generation = generation;
	return a;
}

/* For copies of VMs the configuration no longer has. */
void fsm__emit_stop_named(struct step *st, int node, const char *vm, uint64_t generation)
{
	struct fsm_action *a = push(st, FSM_ACT_STOP);

	if (!a)
		return;
	copy_name(a->node, st->f->nodes[node].name);
	copy_name(a->vm, vm);
	a->generation = generation;
}

void fsm__emit_log(struct step *st, const char *fmt, ...)
{
	struct fsm_action *a = push(st, FSM_ACT_LOG);
	va_list ap;

	if (!a)
		return;
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
}

void fsm__emit_reject(struct step *st, const char *origin, const char *fmt, ...)
{
	struct fsm_action *a = push(st, FSM_ACT_REJECT);
	va_list ap;

	if (!a)
		return;
	copy_name(a->node, origin ? origin : "");
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
}

void fsm__wait_for(struct step *st, struct fsm_vm *vm, enum fsm_wait why, const char *fmt, ...)
{
	struct fsm_action *a;
	va_list ap;

	if (vm->waiting == why)
		return;
	vm->waiting = (uint8_t)why;
	if (!(a = push(st, FSM_ACT_LOG)))
		return;
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
}

void fsm__copy_set(struct fsm_copy *c, enum fsm_role role, uint64_t generation, bool incoming)
{
	memset(c, 0, sizeof(*c));
	c->role = (uint8_t)role;
	c->state = FSM_VM_STARTING;
	c->live = true;
	c->incoming = incoming;
	/* Ordered by this machine: no report owed for the join that preceded. */
	c->reported = true;
	c->generation = generation;
}

void fsm__copy_clear(struct fsm_copy *c)
{
	memset(c, 0, sizeof(*c));
}

/* ---- names ---- */

const char *fsm__action_name(enum fsm_action_type type)
{
	static const char *const names[] = {
		[FSM_ACT_START_PRIMARY] = "START_PRIMARY",
		[FSM_ACT_START_STANDBY] = "START_STANDBY",
		[FSM_ACT_PROTECT] = "PROTECT",
		[FSM_ACT_PROMOTE] = "PROMOTE",
		[FSM_ACT_STOP] = "STOP",
		[FSM_ACT_PAUSE_ALL_PRIMARIES] = "PAUSE_ALL_PRIMARIES",
		[FSM_ACT_FENCE] = "FENCE",
		[FSM_ACT_START_INCOMING] = "START_INCOMING",
		[FSM_ACT_MIGRATE] = "MIGRATE",
		[FSM_ACT_HANDOVER] = "HANDOVER",
		[FSM_ACT_LOG] = "LOG",
		[FSM_ACT_REJECT] = "REJECT",
		[FSM_ACT_SHUTDOWN] = "SHUTDOWN",
	};

	if ((unsigned)type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "?";
}

const char *fsm__state_name(enum fsm_vm_state state)
{
	static const char *const names[] = {
		[FSM_VM_STARTING] = "starting", [FSM_VM_RUNNING] = "running",
		[FSM_VM_SYNCING] = "syncing",   [FSM_VM_PROTECTED] = "protected",
		[FSM_VM_DEGRADED] = "degraded", [FSM_VM_PAUSED] = "paused",
		[FSM_VM_STOPPED] = "stopped",   [FSM_VM_FAILED] = "failed",
	};

	if ((unsigned)state < sizeof(names) / sizeof(names[0]))
		return names[state];
	return "?";
}

const char *fsm__request_name(enum fsm_request request)
{
	switch (request) {
	case FSM_REQ_STARTED: return "started";
	case FSM_REQ_STOPPED: return "stopped";
	case FSM_REQ_DISABLED: return "disabled";
	default: return "?";
	}
}

void fsm__format_action(const struct fsm_action *a, char *buf, size_t len)
{
	if (a->type == FSM_ACT_LOG || a->type == FSM_ACT_REJECT) {
		snprintf(buf, len, "%s node=%s %s", fsm__action_name(a->type), a->node, a->text);
		return;
	}
	snprintf(buf, len, "%s node=%s vm=%s peer=%s gen=%llu peer_gen=%llu",
		 fsm__action_name(a->type), a->node, a->vm, a->peer,
		 (unsigned long long)a->generation, (unsigned long long)a->peer_generation);
}

int fsm__node_index(const struct fsm *fsm, const char *name)
{
	if (!name || !*name)
		return -1;
	for (int i = 0; i < HASVC_MAX_NODES; i++)
		if (fsm->nodes[i].name[0] && !strcmp(fsm->nodes[i].name, name))
			return i;
	return -1;
}

int fsm__vm_index(const struct fsm *fsm, const char *name)
{
	if (!name || !*name)
		return -1;
	for (int i = 0; i < HASVC_MAX_VMS; i++)
		if (fsm->vms[i].used && !strcmp(fsm->vms[i].name, name))
			return i;
	return -1;
}
