/*
 * A hasvcd restart that is not a node loss (docs/hasvc-daemon.md, "A clean
 * stop").  On SIGTERM this daemon multicasts Leaving and stops only once it
 * is delivered back: in agreed order every member then has it before the
 * membership without us, and freezes our VMs instead of failing them over.
 * Every member also watches the deadlines of the nodes that restart and
 * multicasts RestartExpired when one passes without the node's return.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <corosync/cpg.h>
#include <qb/qblog.h>

#include "hasvc/daemon.h"

/* How long a stopping daemon waits for its own Leaving to come back. */
#define GRACE_LEAVE_WAIT_MS 5000

struct grace {
	bool leaving;                 /* our Leaving is on its way    */
	qb_loop_timer_handle leave_timer;
	bool expiry_armed;
	int64_t expiry_at;            /* the deadline it is armed for */
	int64_t sent_at;              /* ... or sent RestartExpired for */
	qb_loop_timer_handle expiry_timer;
	/* corosync's last ring, by node name: who was there to leave it. */
	char ring[CPG_MEMBERS_MAX][HASVC_NAME_MAX];
	size_t n_ring;
};

int64_t grace__left_ms(const struct fsm_node *n)
{
	int64_t left = n->restart_deadline_ms - hasvcd__wall_ms();

	return left > 0 ? left : 0;
}

int grace__new(struct hasvcd *d)
{
	d->grace = calloc(1, sizeof(*d->grace));
	return d->grace ? 0 : -ENOMEM;
}

void grace__free(struct hasvcd *d)
{
	struct grace *g = d->grace;

	if (!g)
		return;
	if (g->leaving)
		qb_loop_timer_del(d->loop, g->leave_timer);
	if (g->expiry_armed)
		qb_loop_timer_del(d->loop, g->expiry_timer);
	free(g);
	d->grace = NULL;
}

static void stop_now(struct hasvcd *d)
{
	d->stopping = true;
	qb_loop_stop(d->loop);
}

static void on_leave_timeout(void *data)
{
	struct hasvcd *d = data;

	d->grace->leaving = false;
	qb_log(LOG_WARNING, "the restart notice did not come back within %d ms: leaving anyway "
	       "(the others may take this node as lost)", GRACE_LEAVE_WAIT_MS);
	stop_now(d);
}

bool grace__leave(struct hasvcd *d)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__Leaving l = HASVC__CLUSTER__LEAVING__INIT;
	struct grace *g = d->grace;
	int n = d->fsm ? fsm__node_index(d->fsm, d->node) : -1;

	if (!g || g->leaving || !d->conf || n < 0 || !d->fsm->nodes[n].member)
		return false;
	l.deadline_ms = hasvcd__wall_ms() + d->conf->restart_grace_ms;
	m.body_case = HASVC__CLUSTER__MSG__BODY_LEAVING;
	m.leaving = &l;
	if (cluster__send(d, &m))
		return false;
	g->leaving = true;
	qb_loop_timer_add(d->loop, QB_LOOP_HIGH, GRACE_LEAVE_WAIT_MS * 1000000ULL, d,
			  on_leave_timeout, &g->leave_timer);
	qb_log(LOG_NOTICE, "leaving the cluster for a restart: this node's VMs stay frozen for "
	       "up to %u ms (vmm processes run on)", d->conf->restart_grace_ms);
	return true;
}

void grace__delivered(struct hasvcd *d, const char *sender)
{
	struct grace *g = d->grace;

	if (!g || !g->leaving || strcmp(sender, d->node))
		return;
	qb_loop_timer_del(d->loop, g->leave_timer);
	g->leaving = false;
	qb_log(LOG_NOTICE, "the cluster froze this node's VMs: leaving");
	stop_now(d);
}

/* The earliest deadline of a node that restarts and is away; 0: none. */
static int64_t earliest(const struct fsm *f)
{
	int64_t at = 0;

	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		const struct fsm_node *n = &f->nodes[i];

		if (n->restarting && !n->member && (!at || n->restart_deadline_ms < at))
			at = n->restart_deadline_ms;
	}
	return at;
}

static void send_expired(struct hasvcd *d, const char *node)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__RestartExpired x = HASVC__CLUSTER__RESTART_EXPIRED__INIT;

	x.node = (char *)node;
	m.body_case = HASVC__CLUSTER__MSG__BODY_RESTART_EXPIRED;
	m.restart_expired = &x;
	cluster__send(d, &m);
}

static void on_expiry(void *data)
{
	struct hasvcd *d = data;
	int64_t now = hasvcd__wall_ms();

	d->grace->expiry_armed = false;
	/* Until a RestartExpired is applied, this deadline is not armed again. */
	d->grace->sent_at = d->grace->expiry_at;
	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		const struct fsm_node *n = &d->fsm->nodes[i];

		/* The deadline armed for ends even if this clock is behind. */
		if (!n->restarting || n->member ||
		    (n->restart_deadline_ms > now && n->restart_deadline_ms != d->grace->expiry_at))
			continue;
		qb_log(LOG_NOTICE, "node %s: its restart grace is over", n->name);
		send_expired(d, n->name);
	}
}

static bool listed(const char *const *names, size_t n, const char *name)
{
	for (size_t k = 0; k < n; k++)
		if (!strcmp(names[k], name))
			return true;
	return false;
}

static bool in_last_ring(const struct grace *g, const char *name)
{
	for (size_t k = 0; k < g->n_ring; k++)
		if (!strcmp(g->ring[k], name))
			return true;
	return false;
}

/*
 * corosync's ring changed.  A node that restarts its hasvcd keeps its
 * corosync running; one whose corosync leaves the ring too has died, been
 * powered off or cut off: that is no restart, and waiting out the rest of
 * restart_grace_ms would only delay its fencing and the failover of its
 * VMs.  Its grace ends now (RestartExpired, as at the deadline; the
 * members that see the same change send it too, the first one delivered
 * counts).  Only a node seen in the ring before: after a restart of the
 * whole cluster (persist.c) every node is restarting, and one whose
 * machine is still booting keeps its grace.
 */
void grace__ring(struct hasvcd *d, const char *const *names, size_t n)
{
	struct grace *g = d->grace;

	if (!g)
		return;
	for (int i = 0; d->fsm && i < HASVC_MAX_NODES; i++) {
		const struct fsm_node *node = &d->fsm->nodes[i];

		if (!node->restarting || node->member || listed(names, n, node->name) ||
		    !in_last_ring(g, node->name))
			continue;
		qb_log(LOG_WARNING, "node %s: its corosync left the ring while its hasvcd "
		       "restarted: its restart grace ends now", node->name);
		send_expired(d, node->name);
	}
	for (g->n_ring = 0; g->n_ring < n && g->n_ring < CPG_MEMBERS_MAX; g->n_ring++)
		snprintf(g->ring[g->n_ring], HASVC_NAME_MAX, "%s", names[g->n_ring]);
}

void grace__check(struct hasvcd *d)
{
	struct grace *g = d->grace;
	int64_t at, wait;

	if (!g || !d->fsm)
		return;
	at = earliest(d->fsm);
	/* What was sent for is applied, or the node came back meanwhile. */
	if (at != g->sent_at)
		g->sent_at = 0;
	if (g->expiry_armed && g->expiry_at == at)
		return;
	if (g->expiry_armed)
		qb_loop_timer_del(d->loop, g->expiry_timer);
	g->expiry_armed = false;
	if (!at || at == g->sent_at)
		return;
	wait = at - hasvcd__wall_ms();
	if (wait < 0)
		wait = 0;
	/* A sender's clock far ahead must not freeze its VMs for good. */
	if (d->conf && wait > (int64_t)d->conf->restart_grace_ms)
		wait = d->conf->restart_grace_ms;
	/* The expiry goes through the group, where our own delivery re-arms. */
	if (qb_loop_timer_add(d->loop, QB_LOOP_MED, (uint64_t)wait * 1000000ULL, d, on_expiry,
			      &g->expiry_timer) == 0) {
		g->expiry_armed = true;
		g->expiry_at = at;
	}
}
