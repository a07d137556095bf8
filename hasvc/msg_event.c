/* Cluster messages as state machine events (msg_event.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hasvc/msg_event.h"

static bool name_ok(const char *s, bool may_be_empty)
{
	size_t n = s ? strnlen(s, HASVC_NAME_MAX) : 0;

	return n < HASVC_NAME_MAX && (may_be_empty || n > 0);
}

static int bad(char *why, size_t len, const char *what)
{
	snprintf(why, len, "%s", what);
	return -EINVAL;
}

static int report(const Hasvc__Cluster__Report *r, struct fsm_event *ev, char *why, size_t len)
{
	if (!name_ok(r->vm, false))
		return bad(why, len, "report: bad VM name");
	if (r->role > FSM_ROLE_STANDBY || r->state > FSM_VM_FAILED)
		return bad(why, len, "report: role or state out of range");
	ev->type = FSM_EV_VM_REPORT;
	ev->report.vm = r->vm;
	ev->report.role = (enum fsm_role)r->role;
	ev->report.state = (enum fsm_vm_state)r->state;
	ev->report.generation = r->generation;
	ev->report.epoch = r->epoch;
	ev->report.stable = r->stable;
	return 0;
}

static int op(const Hasvc__Cluster__Operator *o, struct fsm_event *ev, char *why, size_t len)
{
	if (o->op > FSM_OP_UNPROTECT && (o->op < FSM_OP_START || o->op > FSM_OP_CLEAR) &&
	    (o->op < FSM_OP_FENCE_ACK || o->op > FSM_OP_EVACUATE_CANCEL))
		return bad(why, len, "operator: unknown command");
	if (!name_ok(o->vm, true) || !name_ok(o->node, true))
		return bad(why, len, "operator: name too long");
	ev->type = FSM_EV_OPERATOR;
	ev->op.op = (enum fsm_op)o->op;
	ev->op.vm = o->vm;
	ev->op.node = o->node;
	ev->op.timeout_s = o->timeout_s;
	return 0;
}

int msg_event__convert(const Hasvc__Cluster__Msg *m, struct fsm_event *ev, char *why,
		       size_t len)
{
	memset(ev, 0, sizeof(*ev));
	if (!name_ok(m->sender, false))
		return bad(why, len, "bad sender name");
	switch (m->body_case) {
	case HASVC__CLUSTER__MSG__BODY_REPORT:
		ev->report.node = m->sender;
		return report(m->report, ev, why, len);
	case HASVC__CLUSTER__MSG__BODY_INVENTORY_DONE:
		if (m->inventory_done->cpus > UINT16_MAX)
			return bad(why, len, "inventory: cpus out of range");
		ev->type = FSM_EV_INVENTORY_DONE;
		ev->inventory.node = m->sender;
		ev->inventory.mem_mib = m->inventory_done->mem_mib;
		ev->inventory.cpus = (uint16_t)m->inventory_done->cpus;
		return 0;
	case HASVC__CLUSTER__MSG__BODY_OP:
		ev->op.origin = m->sender;
		return op(m->op, ev, why, len);
	case HASVC__CLUSTER__MSG__BODY_FENCE:
		if (!name_ok(m->fence->node, false))
			return bad(why, len, "fence result: bad node name");
		ev->type = FSM_EV_FENCE_RESULT;
		ev->fence.node = m->fence->node;
		ev->fence.ok = m->fence->ok;
		return 0;
	case HASVC__CLUSTER__MSG__BODY_LEAVING:
		/* grace.c takes a deadline of 0 for none: it would never end. */
		if (m->leaving->deadline_ms <= 0)
			return bad(why, len, "leaving: no deadline");
		ev->type = FSM_EV_NODE_LEAVING;
		ev->leaving.node = m->sender;
		ev->leaving.deadline_ms = m->leaving->deadline_ms;
		return 0;
	case HASVC__CLUSTER__MSG__BODY_RESTART_EXPIRED:
		if (!name_ok(m->restart_expired->node, false))
			return bad(why, len, "restart expired: bad node name");
		ev->type = FSM_EV_RESTART_EXPIRED;
		ev->expired.node = m->restart_expired->node;
		return 0;
	default:
		return bad(why, len, "not an event message");
	}
}
