/*
 * From the group to the state machine and back: memberships and messages
 * (in CPG's agreed order) become events; of the actions, this node carries
 * out those addressed to it and logs the LOG ones.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "hasvc/persist.h"
#include "hasvc/daemon.h"
#include "hasvc/metrics.h"
#include "hasvc/history.h"
#include "hasvc/msg_event.h"
#include "hasvc/notify.h"

static void dispatch(struct hasvcd *d, const struct fsm_action *a)
{
	char line[320];

	if (a->type == FSM_ACT_LOG) {
		qb_log(LOG_NOTICE, "cluster: %s", a->text);
		return;
	}
	if (strcmp(a->node, d->node))
		return;
	fsm__format_action(a, line, sizeof(line));
	qb_log(LOG_INFO, "action: %s", line);
	switch (a->type) {
	case FSM_ACT_FENCE:
		fence__run(d, a->peer);
		break;
	case FSM_ACT_REJECT:
		break; /* answered to hactl by apply_op() */
	default:
		local__act(d, a);
	}
}

void apply__step(struct hasvcd *d, const struct fsm_event *ev)
{
	fsm__actions_clear(&d->acts);
	metrics__pre_step(d);
	history__before_step(d);
	if (fsm__step(d->fsm, ev, &d->acts)) {
		/* This replica now differs from its peers: leave rather than act. */
		qb_log(LOG_CRIT, "out of memory in the state machine: leaving the cluster");
		local__self_fence(d);
		d->stopping = d->failed = true;
		qb_loop_stop(d->loop);
		return;
	}
	metrics__step(d, ev, &d->acts);
	history__after_step(d);
	for (size_t i = 0; i < d->acts.n; i++)
		dispatch(d, &d->acts.v[i]);
	grace__check(d);
	persist__changed(d);
	notify__changed(d);
}

void apply__membership(struct hasvcd *d, const char *const *members, size_t n)
{
	struct fsm_event ev = { .type = FSM_EV_MEMBERSHIP };

	if (n > CPG_VIEW_MAX)
		n = CPG_VIEW_MAX;
	/*
	 * Kept: a configuration applied later re-applies the same view (and
	 * the verdicts said in it).  A new view starts with none: one said
	 * before may be about an older ring.
	 */
	bool new_view = members != (const char *const *)d->member_ptrs;

	if (new_view) {
		for (size_t i = 0; i < n; i++)
			snprintf(d->members[i], HASVC_NAME_MAX, "%s", members[i]);
		d->n_members = n;
		memset(d->verdicts, 0, sizeof(d->verdicts));
	}
	for (size_t i = 0; i < n; i++)
		d->member_ptrs[i] = d->members[i];
	ev.membership.nodes = (const char *const *)d->member_ptrs;
	ev.membership.n_nodes = n;
	ev.membership.quorate = quorum__view(d->conf, ev.membership.nodes, n, d->verdicts);
	qb_log(LOG_NOTICE, "membership: %zu daemons, %s", n,
	       ev.membership.quorate ? "quorate" : "NOT quorate");
	/* From now on a replica read back loses to none (persist.c). */
	if (ev.membership.quorate)
		d->replica_saved = false;
	apply__step(d, &ev);
	fence__view(d);
	if (new_view)
		apply__send_verdict(d);
}

void apply__send_verdict(struct hasvcd *d)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__QuorumVerdict v = HASVC__CLUSTER__QUORUM_VERDICT__INIT;
	int ret;

	/*
	 * Only about the ring the group is in: votequorum and CPG report a new
	 * ring on two connections, in either order, and a verdict about the
	 * ring before would count in the view after.
	 */
	if (!d->conf || !d->conf->quorum_device || !d->votequorum_known || !d->n_members ||
	    d->votequorum_ring != d->cpg_ring)
		return;
	v.quorate = d->votequorum_quorate;
	v.ring_seq = d->votequorum_ring;
	m.body_case = HASVC__CLUSTER__MSG__BODY_QUORUM_VERDICT;
	m.quorum_verdict = &v;
	ret = cluster__send(d, &m);
	if (ret)
		qb_log(LOG_ERR, "cannot send this node's quorum verdict: %s", strerror(-ret));
}

/*
 * A verdict changes the decision quorum of a half view only: it becomes an
 * event at this point of the order, on every replica alike.
 */
static void apply_verdict(struct hasvcd *d, const Hasvc__Cluster__Msg *m)
{
	const Hasvc__Cluster__QuorumVerdict *v = m->quorum_verdict;
	const char *const *members = (const char *const *)d->member_ptrs;
	struct fsm_event ev = { .type = FSM_EV_QUORUM };

	/*
	 * A verdict about another ring than the group's is stale (sent before
	 * the sender saw the new ring).  The same on every member: corosync
	 * tells each of them the ring (on_totem(), after the view's
	 * configuration change) before it delivers any message sent in it.
	 */
	if (v->ring_seq != d->cpg_ring) {
		qb_log(LOG_INFO, "quorum verdict of %s ignored: about ring %llu, the group is in "
		       "ring %llu", m->sender, (unsigned long long)v->ring_seq,
		       (unsigned long long)d->cpg_ring);
		return;
	}
	if (quorum__record(d->conf, members, d->n_members, d->verdicts, m->sender, v->quorate,
			   v->ring_seq))
		return;
	qb_log(LOG_INFO, "quorum verdict of %s: votequorum %s (ring %llu)", m->sender,
	       v->quorate ? "quorate" : "NOT quorate", (unsigned long long)v->ring_seq);
	ev.quorum.quorate = quorum__view(d->conf, members, d->n_members, d->verdicts);
	if (!d->fsm->have_view || ev.quorum.quorate == d->fsm->quorate)
		return;
	qb_log(LOG_NOTICE, "membership: %zu daemons, %s with the quorum device", d->n_members,
	       ev.quorum.quorate ? "quorate" : "NOT quorate");
	if (ev.quorum.quorate)
		d->replica_saved = false;
	apply__step(d, &ev);
}

static void apply_report(struct hasvcd *d, const Hasvc__Cluster__Msg *m,
			 const struct fsm_event *ev)
{
	const Hasvc__Cluster__Report *r = m->report;
	int v;

	apply__step(d, ev);
	v = fsm__vm_index(d->fsm, r->vm);
	if (v >= 0 && r->role == FSM_ROLE_PRIMARY && d->fsm->vms[v].primary >= 0 &&
	    !strcmp(d->fsm->nodes[d->fsm->vms[v].primary].name, m->sender)) {
		d->figs[v].checkpoint_age_ms = r->checkpoint_age_ms;
		d->figs[v].epochs_per_s = r->epochs_per_s;
		d->figs[v].at_ms = hasvcd__now_ms();
	}
}

/*
 * A command taken for a VM that a restarting node freezes (stop, start,
 * protect ...) is carried out only when the freeze ends: the answer says
 * so, or the operator would wonder why nothing happens.
 */
static bool frozen_note(struct hasvcd *d, const Hasvc__Cluster__Operator *op, char *out,
			size_t len)
{
	int v = op->vm && op->vm[0] ? fsm__vm_index(d->fsm, op->vm) : -1;
	int n = v >= 0 ? fsm__frozen_by(d->fsm, &d->fsm->vms[v]) : -1;

	if (n < 0)
		return false;
	snprintf(out, len, "vm %s is frozen while %s restarts its hasvcd: this takes effect "
		 "when %s is back, or is lost (its corosync gone, or its restart grace over)", op->vm,
		 d->fsm->nodes[n].name, d->fsm->nodes[n].name);
	return true;
}

static void apply_op(struct hasvcd *d, const Hasvc__Cluster__Msg *m, const struct fsm_event *ev)
{
	const char *why = NULL;
	char note[FSM_TEXT_MAX];

	apply__step(d, ev);
	if (strcmp(m->sender, d->node) || !m->op->request)
		return;
	for (size_t i = 0; i < d->acts.n && !why; i++)
		if (d->acts.v[i].type == FSM_ACT_REJECT && !strcmp(d->acts.v[i].node, d->node))
			why = d->acts.v[i].text;
	if (!why && frozen_note(d, m->op, note, sizeof(note)))
		serve__done(d, m->op->request, true, note);
	else
		serve__done(d, m->op->request, !why, why ? why : ""); /* hactl says "accepted" */
}

/* "added web2; changed web1" for hactl reload, from the old to the new file. */
static void describe_change(const struct config *old, const char *text, const char *path,
			    char *out, size_t len)
{
	static const char *const what[] = { "added", "removed", "changed" };
	struct config *conf = NULL;
	struct config_diff diff;
	char err[CONFIG_ERR_MAX];
	size_t k = 0;

	snprintf(out, len, "configuration applied");
	if (!old || cluster_config__parse_string(text, path, &conf, err, sizeof(err)))
		return;
	if (!cluster_config__diff(old, conf, &diff)) {
		char **lists[] = { diff.added, diff.removed, diff.changed };
		size_t ns[] = { diff.n_added, diff.n_removed, diff.n_changed };

		for (int i = 0; i < 3; i++) {
			for (size_t j = 0; j < ns[i] && k < len; j++)
				k += (size_t)snprintf(out + k, len - k, "%s%s %s", k ? "; " : "",
						      what[i], lists[i][j]);
		}
		if (!k)
			snprintf(out, len, "no VM changed");
		cluster_config__diff_free(&diff);
	}
	cluster_config__free(conf);
}

static void apply_config(struct hasvcd *d, const Hasvc__Cluster__Msg *m)
{
	struct fsm_event ev = { .type = FSM_EV_CONFIG };
	char err[CONFIG_ERR_MAX];
	bool mine = !strcmp(m->sender, d->node) && m->config->request;
	char change[512];
	int n;

	/*
	 * A hactl text was checked by its sender against its replica when it
	 * was multicast; quorum may have gone, or a VM started, before it came
	 * back in order.  Every member checks it again here against the same
	 * replica at the same point, so all refuse it alike.
	 */
	if (m->config->request &&
	    config_dist__check(d, m->config->text, m->config->path, err, sizeof(err))) {
		qb_log(LOG_ERR, "configuration from %s refused as delivered: %s", m->sender, err);
		config_dist__applied(d, m, err, NULL);
		return;
	}
	if (mine)
		describe_change(d->conf, m->config->text, m->config->path, change, sizeof(change));
	if (hasvcd__set_config(d, m->config->text, m->config->path, err, sizeof(err))) {
		/* The sender checked it; a node that cannot parse it differs. */
		qb_log(LOG_ERR, "configuration from %s refused here: %s", m->sender, err);
		config_dist__applied(d, m, err, NULL);
		return;
	}
	ev.config.config = d->conf;
	memcpy(ev.config.digest, d->conf_digest, sizeof(ev.config.digest));
	qb_log(LOG_NOTICE, "configuration from %s applied (%zu nodes, %zu VMs)", m->sender,
	       d->conf->n_nodes, d->conf->n_vms);
	apply__step(d, &ev);
	/* Nodes declared just now were not counted by the last view. */
	apply__membership(d, (const char *const *)d->member_ptrs, d->n_members);
	/* An inventory sent before this node was declared did not count. */
	n = fsm__node_index(d->fsm, d->node);
	if (n >= 0 && d->fsm->nodes[n].member && !d->fsm->nodes[n].ready)
		local__inventory(d);
	config_dist__applied(d, m, NULL, mine ? change : NULL);
}

void apply__message(struct hasvcd *d, const Hasvc__Cluster__Msg *m)
{
	struct fsm_event ev;
	char why[128];

	if (m->body_case == HASVC__CLUSTER__MSG__BODY_CONFIG) {
		apply_config(d, m);
		return;
	}
	if (m->body_case == HASVC__CLUSTER__MSG__BODY_CONFIG_HELD) {
		config_dist__held(d, m);
		return;
	}
	if (m->body_case == HASVC__CLUSTER__MSG__BODY_QUORUM_VERDICT) {
		apply_verdict(d, m);
		return;
	}
	if (msg_event__convert(m, &ev, why, sizeof(why))) {
		qb_log(LOG_WARNING, "message from %s ignored: %s", m->sender, why);
		return;
	}
	if (ev.type == FSM_EV_VM_REPORT)
		apply_report(d, m, &ev);
	else if (ev.type == FSM_EV_OPERATOR)
		apply_op(d, m, &ev);
	else
		apply__step(d, &ev);
	if (ev.type == FSM_EV_NODE_LEAVING)
		grace__delivered(d, m->sender);
}

/* The smallest member name: it offers its configuration to a fresh cluster. */
static bool smallest_member(const struct hasvcd *d)
{
	for (size_t i = 0; i < d->n_members; i++)
		if (strcmp(d->members[i], d->node) < 0)
			return false;
	return true;
}

static void offer_config(struct hasvcd *d)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__Config c = HASVC__CLUSTER__CONFIG__INIT;

	if (d->fsm->configured || !smallest_member(d) || !d->conf_text)
		return;
	c.text = d->conf_text;
	c.path = d->conf->path;
	m.body_case = HASVC__CLUSTER__MSG__BODY_CONFIG;
	m.config = &c;
	qb_log(LOG_NOTICE, "the cluster has no configuration yet: offering %s", d->conf->path);
	cluster__send(d, &m);
}

static void on_formation_timeout(void *data)
{
	struct hasvcd *d = data;

	d->formation_over = true;
	offer_config(d);
}

/* Are all nodes of the configuration in the group? */
static bool all_declared_here(const struct hasvcd *d)
{
	for (size_t k = 0; d->conf && k < d->conf->n_nodes; k++) {
		bool in = false;

		for (size_t i = 0; i < d->n_members && !in; i++)
			in = !strcmp(d->members[i], d->conf->nodes[k].name);
		if (!in)
			return false;
	}
	return true;
}

void apply__after_sync(struct hasvcd *d)
{
	local__inventory(d);
	config_dist__after_sync(d);
	notify__ready(d);
	grace__check(d);
	if (d->fsm->configured || !smallest_member(d))
		return;
	/*
	 * A fresh cluster waits a little for every declared node, as corosync's
	 * wait_for_all does, so that the first placement is the one the
	 * configuration asks for rather than whatever started first.
	 */
	if (all_declared_here(d) || d->formation_over) {
		offer_config(d);
	} else if (!d->formation_timer_armed) {
		d->formation_timer_armed = true;
		qb_log(LOG_NOTICE, "waiting up to %d s for every node before the first placement",
		       HASVCD_FORMATION_WAIT_MS / 1000);
		qb_loop_timer_add(d->loop, QB_LOOP_MED, HASVCD_FORMATION_WAIT_MS * 1000000ULL, d,
				  on_formation_timeout, &d->formation_timer);
	}
}
