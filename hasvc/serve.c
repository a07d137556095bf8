/*
 * hactl's requests (hasvc/ipc.h serves the socket): status is answered
 * from this replica of the state machine; operator commands and reloads go
 * through the group, and are answered when this node's own copy comes back
 * in agreed order (apply.c calls serve__done), so hactl learns whether the
 * cluster accepted the command or why not.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "hasvc/daemon.h"
#include "hasvc/fsm_codec.h"
#include "hasvc/history.h"
#include "hasvc/ipc.h"

#define MAX_PENDING 64

struct pending {
	uint64_t id;
	struct hasvc_ipc_req *req;
};

struct serve {
	uint64_t next_id;
	struct pending p[MAX_PENDING];
};

static struct serve *serve_of(struct hasvcd *d)
{
	return (struct serve *)d->serve;
}

static const char *fence_name(uint8_t f)
{
	switch (f) {
	case FSM_FENCE_PENDING: return "pending";
	case FSM_FENCE_FAILED: return "failed";
	case FSM_FENCE_DONE: return "done";
	default: return "";
	}
}

static const char *wait_text(uint8_t w)
{
	switch (w) {
	case FSM_WAIT_FENCE: return "fencing of its node";
	case FSM_WAIT_NO_NODE: return "no node can take it";
	case FSM_WAIT_NO_STANDBY_NODE: return "no node for a standby";
	case FSM_WAIT_NO_EVACUATION_NODE: return "no node to evacuate to";
	case FSM_WAIT_FROZEN: return "a node of it restarts its hasvcd";
	default: return "";
	}
}

const char *serve__vm_state(const struct fsm_vm *vm)
{
	const struct fsm_copy *c;

	if (vm->error && vm->primary < 0)
		return "error";
	if (vm->request != FSM_REQ_STARTED && vm->primary < 0)
		return vm->request == FSM_REQ_DISABLED ? "disabled" : "stopped";
	if (vm->request != FSM_REQ_STARTED && vm->copies[vm->primary].live)
		return "stopping";
	if (vm->migrate_to >= 0)
		return "migrating";
	if (vm->primary < 0)
		return vm->generation ? "stopped" : "not started";
	c = &vm->copies[vm->primary];
	if (!c->live)
		return c->state == FSM_VM_PAUSED ? "paused" : "down";
	if (c->state == FSM_VM_RUNNING && !vm->protect)
		return "unprotected";
	return fsm__state_name(c->state);
}

static char *capacity_source(uint32_t capacity, bool declared)
{
	return (char *)(!capacity ? "" : declared ? "declared" : "reported");
}

static void fill_capacity(const struct fsm *f, int i, Hasvc__Ctl__Node *n)
{
	struct fsm_capacity cap;

	fsm__capacity(f, i, &cap);
	n->mem_mib = cap.mem_mib;
	n->mem_source = capacity_source(cap.mem_mib, cap.mem_declared);
	n->cpus = cap.cpus;
	n->cpus_source = capacity_source(cap.cpus, cap.cpus_declared);
	n->used_mem_mib = cap.used_mem_mib;
	n->used_cpus = cap.used_cpus;
}

/* Strings in the message point into d's state or into texts, freed after the reply. */
static void fill_nodes(struct hasvcd *d, Hasvc__Ctl__Status *st, Hasvc__Ctl__Node *nodes,
		       Hasvc__Ctl__Node **np, char (*digest)[2][2 * HASVC_DIGEST_LEN + 1])
{
	const struct fsm *f = d->fsm;

	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		Hasvc__Ctl__Node *n = &nodes[st->n_nodes];

		if (!f->nodes[i].name[0])
			continue;
		hasvc__ctl__node__init(n);
		n->name = (char *)f->nodes[i].name;
		n->member = f->nodes[i].member;
		n->ready = f->nodes[i].ready;
		n->evacuating = f->nodes[i].evacuating;
		n->maintenance = f->nodes[i].maintenance;
		n->restarting = f->nodes[i].restarting;
		if (n->restarting && !f->nodes[i].member)
			n->restart_left_ms = grace__left_ms(&f->nodes[i]);
		n->declared = f->nodes[i].declared;
		n->fence = (char *)fence_name(f->nodes[i].fence);
		n->local = !strcmp(f->nodes[i].name, d->node);
		config_dist__digests(d, n->name, digest[i][0], digest[i][1], sizeof(digest[i][0]));
		n->config_digest = digest[i][0];
		n->config_running = digest[i][1];
		fill_capacity(f, i, n);
		for (int v = 0; v < HASVC_MAX_VMS; v++) {
			const struct fsm_copy *c = &f->vms[v].copies[i];

			if (!f->vms[v].used || !c->live)
				continue;
			n->primaries += c->role == FSM_ROLE_PRIMARY;
			n->standbys += c->role == FSM_ROLE_STANDBY;
		}
		np[st->n_nodes++] = n;
	}
	st->nodes = np;
}

static void fill_vms(struct hasvcd *d, Hasvc__Ctl__Status *st, Hasvc__Ctl__Vm *vms,
		     Hasvc__Ctl__Vm **vp)
{
	const struct fsm *f = d->fsm;
	uint64_t now = hasvcd__now_ms();

	for (int v = 0; v < HASVC_MAX_VMS; v++) {
		const struct fsm_vm *vm = &f->vms[v];
		Hasvc__Ctl__Vm *m = &vms[st->n_vms];
		int frozen;

		if (!vm->used)
			continue;
		hasvc__ctl__vm__init(m);
		m->name = (char *)vm->name;
		m->priority = vm->priority;
		m->primary = vm->primary >= 0 ? (char *)f->nodes[vm->primary].name : (char *)"";
		m->standby = vm->standby >= 0 ? (char *)f->nodes[vm->standby].name : (char *)"";
		m->migrating_to = vm->migrate_to >= 0 ? (char *)f->nodes[vm->migrate_to].name :
			(char *)"";
		m->state = (char *)serve__vm_state(vm);
		m->protect = vm->protect;
		m->generation = vm->generation;
		m->epoch = vm->primary >= 0 ? vm->copies[vm->primary].epoch : 0;
		m->checkpoint_age_ms = -1;
		if (d->figs[v].at_ms && d->figs[v].checkpoint_age_ms >= 0)
			m->checkpoint_age_ms = d->figs[v].checkpoint_age_ms +
					       (int64_t)(now - d->figs[v].at_ms);
		m->epochs_per_s = d->figs[v].epochs_per_s;
		m->waiting = (char *)wait_text(vm->waiting);
		m->requested = (char *)fsm__request_name(vm->request);
		m->restarts = vm->restarts;
		m->relocations = vm->relocations;
		m->max_restart = vm->max_restart;
		m->max_relocate = vm->max_relocate;
		frozen = fsm__frozen_by(f, vm);
		if (frozen >= 0)
			m->frozen_by = (char *)f->nodes[frozen].name;
		vp[st->n_vms++] = m;
	}
	st->vms = vp;
}

/*
 * Replicas that applied the same messages have the same encoding: the
 * digest is over it, not over struct fsm (docs/hasvc-daemon.md, "Versions").
 * "" when out of memory.
 */
static void replica_digest(const struct hasvcd *d, char *out, size_t len)
{
	uint8_t sd[HASVC_DIGEST_LEN], *buf;
	size_t n;

	out[0] = 0;
	if (fsm_codec__pack(d->fsm, &buf, &n))
		return;
	hasvcd__digest(buf, n, sd);
	free(buf);
	hasvcd__hex(sd, sizeof(sd), out, len);
}

static void reply_status(struct hasvcd *d, struct hasvc_ipc_req *req)
{
	Hasvc__Ctl__Response r = HASVC__CTL__RESPONSE__INIT;
	Hasvc__Ctl__Status st = HASVC__CTL__STATUS__INIT;
	char digest[2 * HASVC_DIGEST_LEN + 1], state_digest[2 * HASVC_DIGEST_LEN + 1];
	char (*node_digests)[2][2 * HASVC_DIGEST_LEN + 1] = calloc(HASVC_MAX_NODES,
								  sizeof(*node_digests));
	Hasvc__Ctl__Node *nodes = calloc(HASVC_MAX_NODES, sizeof(*nodes));
	Hasvc__Ctl__Node **np = calloc(HASVC_MAX_NODES, sizeof(*np));
	Hasvc__Ctl__Vm *vms = calloc(HASVC_MAX_VMS, sizeof(*vms));
	Hasvc__Ctl__Vm **vp = calloc(HASVC_MAX_VMS, sizeof(*vp));

	if (!nodes || !np || !vms || !vp || !node_digests) {
		hasvc_ipc__fail(req, ENOMEM, "out of memory");
		goto out;
	}
	hasvcd__hex(d->conf_digest, HASVC_DIGEST_LEN, digest, sizeof(digest));
	st.cluster = d->conf && d->conf->cluster_name ? d->conf->cluster_name : (char *)"";
	st.local_node = d->node;
	st.quorate = d->votequorum_quorate;
	st.fsm_quorate = d->fsm->quorate;
	st.quorum_device = d->fsm->quorate &&
			   !quorum__majority(d->conf, (const char *const *)d->member_ptrs,
					     d->n_members);
	st.config_digest = digest;
	replica_digest(d, state_digest, sizeof(state_digest));
	st.state_digest = state_digest;
	fill_nodes(d, &st, nodes, np, node_digests);
	fill_vms(d, &st, vms, vp);
	r.ok = true;
	r.status = &st;
	hasvc_ipc__reply(req, &r);
out:
	free(nodes);
	free(np);
	free(vms);
	free(vp);
	free(node_digests);
}

static uint64_t remember(struct hasvcd *d, struct hasvc_ipc_req *req)
{
	struct serve *s = serve_of(d);

	for (int i = 0; i < MAX_PENDING; i++)
		if (!s->p[i].req) {
			s->p[i].id = ++s->next_id;
			s->p[i].req = req;
			return s->p[i].id;
		}
	return 0;
}

static void forget(struct hasvcd *d, uint64_t id)
{
	struct serve *s = serve_of(d);

	for (int i = 0; i < MAX_PENDING; i++)
		if (s->p[i].req && s->p[i].id == id)
			s->p[i].req = NULL;
}

/* Multicast m for req; the answer comes with serve__done. */
static void send_for(struct hasvcd *d, struct hasvc_ipc_req *req, Hasvc__Cluster__Msg *m,
		     uint64_t *request_field)
{
	uint64_t id = remember(d, req);
	int ret;

	if (!id) {
		hasvc_ipc__fail(req, EBUSY, "too many commands waiting for the cluster");
		return;
	}
	*request_field = id;
	ret = cluster__send(d, m);
	if (ret) {
		forget(d, id);
		hasvc_ipc__fail(req, -ret, "cannot reach the cluster: %s", strerror(-ret));
	}
}

static void do_op(struct hasvcd *d, struct hasvc_ipc_req *req, const Hasvc__Ctl__OpRequest *op)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__Operator o = HASVC__CLUSTER__OPERATOR__INIT;

	if (!d->fsm->quorate) {
		hasvc_ipc__fail(req, EAGAIN, "the cluster is not quorate here: commands need quorum");
		return;
	}
	if (op->vm[0] && fsm__vm_index(d->fsm, op->vm) < 0) {
		hasvc_ipc__fail(req, ENOENT, "no VM %s in the cluster's configuration", op->vm);
		return;
	}
	if (op->node[0] && fsm__node_index(d->fsm, op->node) < 0) {
		hasvc_ipc__fail(req, ENOENT, "no node %s in the cluster's configuration", op->node);
		return;
	}
	o.op = (uint32_t)op->op;
	o.vm = op->vm;
	o.node = op->node;
	o.timeout_s = op->timeout_s;
	m.body_case = HASVC__CLUSTER__MSG__BODY_OP;
	m.op = &o;
	send_for(d, req, &m, &o.request);
}

/*
 * A configuration text for the cluster (config apply, reload): checked
 * here (config_dist.c), then multicast; the answer comes when every member
 * said whether it took it.
 */
static void propose(struct hasvcd *d, struct hasvc_ipc_req *req, char *text, const char *path)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__Config c = HASVC__CLUSTER__CONFIG__INIT;
	char err[CONFIG_ERR_MAX];
	int ret = config_dist__check(d, text, path, err, sizeof(err));

	if (ret) {
		hasvc_ipc__fail(req, -ret, "%s", err);
		return;
	}
	c.text = text;
	c.path = (char *)path;
	m.body_case = HASVC__CLUSTER__MSG__BODY_CONFIG;
	m.config = &c;
	send_for(d, req, &m, &c.request);
}

static void do_reload(struct hasvcd *d, struct hasvc_ipc_req *req)
{
	char *text = hasvcd__read_file(d->config_path);

	if (!text) {
		hasvc_ipc__fail(req, errno, "cannot read %s: %s", d->config_path, strerror(errno));
		return;
	}
	propose(d, req, text, d->config_path);
	free(text);
}

static void do_config_apply(struct hasvcd *d, struct hasvc_ipc_req *req,
			    const Hasvc__Ctl__ConfigApplyRequest *a)
{
	propose(d, req, a->text, a->path[0] ? a->path : "hactl config apply");
}

static void on_request(void *opaque, struct hasvc_ipc_req *req, const Hasvc__Ctl__Request *msg)
{
	struct hasvcd *d = opaque;

	switch (msg->command_case) {
	case HASVC__CTL__REQUEST__COMMAND_STATUS:
		reply_status(d, req);
		break;
	case HASVC__CTL__REQUEST__COMMAND_OP:
		do_op(d, req, msg->op);
		break;
	case HASVC__CTL__REQUEST__COMMAND_RELOAD:
		do_reload(d, req);
		break;
	case HASVC__CTL__REQUEST__COMMAND_EVENTS:
		history__reply(d, req, msg->events);
		break;
	case HASVC__CTL__REQUEST__COMMAND_CONFIG_APPLY:
		do_config_apply(d, req, msg->config_apply);
		break;
	case HASVC__CTL__REQUEST__COMMAND_CONFIG_SHOW:
		config_dist__show(d, req);
		break;
	default:
		hasvc_ipc__fail(req, EOPNOTSUPP, "unknown command");
	}
}

static void on_cancel(void *opaque, struct hasvc_ipc_req *req)
{
	struct serve *s = serve_of(opaque);

	for (int i = 0; i < MAX_PENDING; i++)
		if (s->p[i].req == req)
			s->p[i].req = NULL;
}

void serve__done(struct hasvcd *d, uint64_t request, bool ok, const char *text)
{
	struct serve *s = serve_of(d);
	Hasvc__Ctl__Response r = HASVC__CTL__RESPONSE__INIT;

	for (int i = 0; s && i < MAX_PENDING; i++) {
		struct hasvc_ipc_req *req = s->p[i].req;

		if (!req || s->p[i].id != request)
			continue;
		s->p[i].req = NULL;
		r.ok = ok;
		if (ok) {
			r.text = (char *)text;
		} else {
			r.error = (char *)text;
			r.code = EPERM;
		}
		hasvc_ipc__reply(req, &r);
	}
}

int serve__start(struct hasvcd *d)
{
	static const struct hasvc_ipc_ops ops = { .request = on_request, .cancel = on_cancel };
	int ret;

	d->serve = calloc(1, sizeof(struct serve));
	if (!d->serve)
		return -ENOMEM;
	ret = hasvc_ipc__start(&d->ipc, &ops, d, d->loop, d->ipc_name);
	if (ret)
		qb_log(LOG_ERR, "cannot serve hactl on '%s': %s", d->ipc_name, strerror(-ret));
	return ret;
}

void serve__stop(struct hasvcd *d)
{
	if (d->ipc)
		hasvc_ipc__stop(d->ipc);
	d->ipc = NULL;
	free(d->serve);
	d->serve = NULL;
}
