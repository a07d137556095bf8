/*
 * The corosync side of hasvcd: the CPG group "hasvc.CLUSTER" (agreed-order
 * messages and configuration changes), the quorum service (the local
 * corosync's view of quorum), and cmap (node names).
 *
 * Members of the group are named by their corosync node name
 * (nodelist.node.N.name), the same names hasvc.conf uses; a member whose
 * node id has no name is called "nodeid-N" and is not declared.
 *
 * Who sent a message is what corosync says (the node id and process id it
 * delivers it with), never the sender field inside it.  Any process that
 * may use the local corosync can join the group, so one member per node id
 * is taken as the node's hasvcd (bound) and every other member from that
 * node id is refused for as long as it stays in the group:
 *  - this daemon's own node id: this process;
 *  - a node id already bound: the member bound before (every daemon that
 *    saw the same views binds the same one);
 *  - a node id with one member: that one;
 *  - a node id with several members none of which is known (a daemon that
 *    just joined): the lowest pid, marked uncertain until the state it
 *    adopts names the right one (sync.c, cluster__trust()).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include <corosync/cmap.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <qb/qblist.h>
#include <qb/qblog.h>

#include "hasvc/daemon.h"
#include "hasvc/msgq.h"

#define MAX_NAMES 64
/* Messages logged per refused member; later ones are only counted. */
#define REFUSED_LOG_MAX 8

struct node_name {
	uint32_t id;
	char name[HASVC_NAME_MAX];
};

/* A second process from a node id that has a hasvcd. */
struct refused {
	uint32_t nodeid, pid;
	unsigned long messages;
	bool logged;
};

#define FLUSH_RETRY_NS (5 * 1000000ULL)

struct cluster {
	struct hasvcd *d;
	cpg_handle_t cpg;
	quorum_handle_t quorum;
	bool cpg_up, quorum_up;
	struct cpg_name group;    /* "hasvc.CLUSTER": two clusters may share a ring */
	struct node_name names[MAX_NAMES];
	size_t n_names;
	uint32_t local_id;
	struct group_member bound[CPG_MEMBERS_MAX];
	size_t n_bound;
	struct refused refused[CPG_MEMBERS_MAX];
	size_t n_refused;
	/* The whole group as last seen, duplicates included. */
	struct cpg_address all[CPG_MEMBERS_MAX];
	size_t n_all;
	struct msgq queue;        /* what corosync could not take yet */
	bool queue_full_logged;
	bool flush_armed;
	qb_loop_timer_handle flush_timer;
};

static int cs_errno(cs_error_t e)
{
	switch (e) {
	case CS_OK: return 0;
	case CS_ERR_TRY_AGAIN: return -EAGAIN;
	case CS_ERR_NO_MEMORY: return -ENOMEM;
	case CS_ERR_LIBRARY: return -ECONNREFUSED;
	case CS_ERR_TOO_BIG: return -E2BIG;
	default: return -EIO;
	}
}

/* nodelist.node.N.{nodeid,name} from the local corosync's cmap. */
static int load_names(struct cluster *cl)
{
	cmap_handle_t h;
	cs_error_t e;
	int ret = 0;

	e = cmap_initialize(&h);
	if (e != CS_OK)
		return cs_errno(e);
	cl->n_names = 0;
	for (unsigned i = 0; i < MAX_NAMES; i++) {
		char key[64], *name = NULL;
		uint32_t id;

		snprintf(key, sizeof(key), "nodelist.node.%u.nodeid", i);
		if (cmap_get_uint32(h, key, &id) != CS_OK)
			break;
		snprintf(key, sizeof(key), "nodelist.node.%u.name", i);
		if (cmap_get_string(h, key, &name) != CS_OK)
			continue;
		cl->names[cl->n_names].id = id;
		snprintf(cl->names[cl->n_names].name, HASVC_NAME_MAX, "%s", name);
		cl->n_names++;
		free(name);
	}
	if (!cl->n_names) {
		qb_log(LOG_ERR, "corosync's nodelist names no node (nodelist.node.N.name)");
		ret = -ENOENT;
	}
	cmap_finalize(h);
	return ret;
}

static const char *name_of(struct cluster *cl, uint32_t id, char *buf, size_t len)
{
	for (size_t i = 0; i < cl->n_names; i++)
		if (cl->names[i].id == id)
			return cl->names[i].name;
	snprintf(buf, len, "nodeid-%u", id);
	return buf;
}

static struct group_member *bound_member(struct cluster *cl, uint32_t nodeid, uint32_t pid)
{
	for (size_t i = 0; i < cl->n_bound; i++)
		if (cl->bound[i].nodeid == nodeid && cl->bound[i].pid == pid)
			return &cl->bound[i];
	return NULL;
}

static struct refused *refused_member(struct cluster *cl, uint32_t nodeid, uint32_t pid)
{
	for (size_t i = 0; i < cl->n_refused; i++)
		if (cl->refused[i].nodeid == nodeid && cl->refused[i].pid == pid)
			return &cl->refused[i];
	return NULL;
}

/*
 * The member of nodeid this daemon only guessed is its hasvcd: the State of
 * whichever of them is, counts as nodeid's answer (sync.c counts a guessed
 * member's state but never adopts it).
 */
static struct group_member *guessed_member(struct cluster *cl, uint32_t nodeid)
{
	for (size_t i = 0; i < cl->n_bound; i++)
		if (cl->bound[i].nodeid == nodeid && !cl->bound[i].certain)
			return &cl->bound[i];
	return NULL;
}

/* A name a message claims, fit for a log line: bounded, control bytes as '?'. */
static const char *printable(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s && s[i] && i + 1 < len; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	buf[i] = 0;
	return buf;
}

/* "config", "state" ...: the body's field name in cluster.proto, for logs. */
static const char *body_name(const Hasvc__Cluster__Msg *m)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(&hasvc__cluster__msg__descriptor,
							(unsigned)m->body_case);

	return f && m->body_case ? f->name : "no body";
}

static void refused_message(struct cluster *cl, uint32_t nodeid, uint32_t pid,
			    const Hasvc__Cluster__Msg *m)
{
	struct refused *r = refused_member(cl, nodeid, pid);
	unsigned long n = r ? ++r->messages : 1;
	char buf[24], claim[HASVC_NAME_MAX];

	if (n <= REFUSED_LOG_MAX)
		qb_log(LOG_WARNING, "message (%s, says it is from '%s') from pid %u on "
		       "node id %u (%s), which is not that node's hasvcd: ignored%s",
		       m ? body_name(m) : "undecodable",
		       printable(m ? m->sender : NULL, claim, sizeof(claim)), pid, nodeid,
		       name_of(cl, nodeid, buf, sizeof(buf)),
		       n == REFUSED_LOG_MAX ? " (its next ones are not logged)" : "");
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid,
		       uint32_t pid, void *msg, size_t len)
{
	struct cluster *cl = NULL;
	struct group_member *from;
	Hasvc__Cluster__Msg *m;

	(void)group;
	cpg_context_get(h, (void **)&cl);
	m = hasvc__cluster__msg__unpack(NULL, len, msg);
	from = bound_member(cl, nodeid, pid);
	if (!m) {
		if (from)
			qb_log(LOG_WARNING, "undecodable message of %zu bytes from node id %u: "
			       "ignored", len, nodeid);
		else
			refused_message(cl, nodeid, pid, NULL);
		return;
	}
	if (!from && m->body_case == HASVC__CLUSTER__MSG__BODY_STATE)
		from = guessed_member(cl, nodeid);
	if (!from) {
		refused_message(cl, nodeid, pid, m);
	} else if (!m->sender || strcmp(m->sender, from->name)) {
		char claim[HASVC_NAME_MAX];

		qb_log(LOG_WARNING, "message (%s) from node id %u (%s) says it is from "
		       "'%s': ignored", body_name(m), nodeid, from->name,
		       printable(m->sender, claim, sizeof(claim)));
	} else {
		sync__deliver(cl->d, m, from);
	}
	hasvc__cluster__msg__free_unpacked(m, NULL);
}

/* Which member of nodeid is its hasvcd (the rules at the top); -1: none. */
static int pick(struct cluster *cl, const struct cpg_address *members, size_t n,
		uint32_t nodeid, bool *certain)
{
	int lowest = -1, count = 0;

	*certain = true;
	for (size_t i = 0; i < n; i++) {
		if (members[i].nodeid != nodeid)
			continue;
		if (nodeid == cl->local_id && members[i].pid == (uint32_t)getpid())
			return (int)i;
		if (nodeid != cl->local_id && bound_member(cl, nodeid, members[i].pid)) {
			*certain = bound_member(cl, nodeid, members[i].pid)->certain;
			return (int)i;
		}
		if (refused_member(cl, nodeid, members[i].pid))
			continue;
		if (lowest < 0 || members[i].pid < members[lowest].pid)
			lowest = (int)i;
		count++;
	}
	if (nodeid == cl->local_id)
		return -1;
	*certain = count == 1;
	return lowest;
}

/* Members of the group that are not their node's hasvcd: remembered and logged. */
static void refuse_others(struct cluster *cl, const struct cpg_address *members, size_t n,
			  struct refused *kept, size_t n_kept)
{
	char buf[24];

	cl->n_refused = 0;
	for (size_t i = 0; i < n; i++) {
		struct refused *r = &cl->refused[cl->n_refused];
		const struct group_member *b = NULL;

		for (size_t k = 0; k < cl->n_bound && !b; k++)
			if (cl->bound[k].nodeid == members[i].nodeid)
				b = &cl->bound[k];
		if (b && b->pid == members[i].pid)
			continue;
		r->nodeid = members[i].nodeid;
		r->pid = members[i].pid;
		r->messages = 0;
		r->logged = false;
		for (size_t k = 0; k < n_kept; k++)
			if (kept[k].nodeid == r->nodeid && kept[k].pid == r->pid)
				*r = kept[k];
		if (!r->logged)
			qb_log(LOG_WARNING, "pid %u on node id %u (%s) is in the group, not as that "
			       "node's hasvcd%s: it is ignored while it stays", r->pid, r->nodeid,
			       name_of(cl, r->nodeid, buf, sizeof(buf)),
			       b ? " (another process is)" : "");
		r->logged = true;
		cl->n_refused++;
	}
}

/* The hasvcd of every node id in members, in order; true if one is new. */
static bool bind_members(struct cluster *cl, const struct cpg_address *members, size_t n)
{
	struct group_member next[CPG_MEMBERS_MAX];
	struct refused kept[CPG_MEMBERS_MAX];
	size_t n_next = 0, n_kept = cl->n_refused;
	bool joiners = false;
	char buf[24];

	for (size_t i = 0; i < n && n_next < CPG_MEMBERS_MAX; i++) {
		struct group_member *g = &next[n_next];
		bool seen = false, certain, fresh;
		int k;

		for (size_t j = 0; j < n_next && !seen; j++)
			seen = next[j].nodeid == members[i].nodeid;
		if (seen || (k = pick(cl, members, n, members[i].nodeid, &certain)) < 0)
			continue;
		memset(g, 0, sizeof(*g));
		g->nodeid = members[k].nodeid;
		g->pid = members[k].pid;
		g->self = g->nodeid == cl->local_id;
		g->certain = certain;
		snprintf(g->name, sizeof(g->name), "%s", name_of(cl, g->nodeid, buf, sizeof(buf)));
		fresh = !bound_member(cl, g->nodeid, g->pid);
		joiners = joiners || fresh;
		if (!certain && fresh)
			qb_log(LOG_WARNING, "node id %u (%s) has several members in the group: taking "
			       "pid %u as its hasvcd until the cluster's state says which", g->nodeid,
			       g->name, g->pid);
		n_next++;
	}
	memcpy(kept, cl->refused, n_kept * sizeof(*kept));
	memcpy(cl->bound, next, n_next * sizeof(*next));
	cl->n_bound = n_next;
	refuse_others(cl, members, n, kept, n_kept);
	return joiners;
}

/*
 * The members that were in the group before this daemon took it for this
 * node's hasvcd; this daemon cannot prove otherwise, so it does not run
 * beside one.  True when it is stopping.
 */
static bool squatted(struct cluster *cl, const struct cpg_address *members, size_t n,
		     const struct cpg_address *joined, size_t n_joined)
{
	bool me_joined = false;

	for (size_t i = 0; i < n_joined; i++)
		me_joined = me_joined || (joined[i].nodeid == cl->local_id &&
					  joined[i].pid == (uint32_t)getpid());
	if (!me_joined)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (members[i].nodeid != cl->local_id || members[i].pid == (uint32_t)getpid())
			continue;
		qb_log(LOG_CRIT, "pid %u of this node was in the group '%s' before this daemon: "
		       "the other members take it for this node's hasvcd.  Stop it (is another "
		       "hasvcd running here?); self-fencing and exiting", members[i].pid,
		       cl->group.value);
		local__self_fence(cl->d);
		cl->d->stopping = cl->d->failed = true;
		qb_loop_stop(cl->d->loop);
		return true;
	}
	return false;
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
		       const struct cpg_address *members, size_t n_members,
		       const struct cpg_address *left, size_t n_left,
		       const struct cpg_address *joined, size_t n_joined)
{
	struct cluster *cl = NULL;
	size_t before;
	bool joiners, changed;

	(void)group;
	(void)left;
	cpg_context_get(h, (void **)&cl);
	if (squatted(cl, members, n_members, joined, n_joined))
		return;
	if (n_members > CPG_MEMBERS_MAX)
		n_members = CPG_MEMBERS_MAX;
	before = cl->n_bound;
	memcpy(cl->all, members, n_members * sizeof(*members));
	cl->n_all = n_members;
	joiners = bind_members(cl, members, n_members);
	/* A refused process that came or went changes nothing for hasvcd. */
	changed = joiners || before != cl->n_bound;
	qb_log(LOG_INFO, "group view: %zu members, %zu left, %zu joined; %zu hasvcd%s",
	       n_members, n_left, n_joined, cl->n_bound, changed ? "" : " (no change)");
	if (changed)
		sync__view(cl->d, cl->bound, cl->n_bound, joiners);
}

int cluster__trust(struct hasvcd *d, uint32_t nodeid, uint32_t pid)
{
	struct cluster *cl = d->cl;
	bool in_group = false;

	for (size_t i = 0; cl && i < cl->n_all && !in_group; i++)
		in_group = cl->all[i].nodeid == nodeid && cl->all[i].pid == pid;
	if (!in_group || nodeid == cl->local_id)
		return -ENOENT;
	for (size_t i = 0; i < cl->n_bound; i++) {
		if (cl->bound[i].nodeid != nodeid)
			continue;
		if (cl->bound[i].pid != pid)
			qb_log(LOG_NOTICE, "node id %u (%s): pid %u is its hasvcd, as the cluster's "
			       "state says, not pid %u", nodeid, cl->bound[i].name, pid,
			       cl->bound[i].pid);
		cl->bound[i].pid = pid;
		cl->bound[i].certain = true;
	}
	{
		struct refused kept[CPG_MEMBERS_MAX];
		size_t n_kept = cl->n_refused;

		memcpy(kept, cl->refused, n_kept * sizeof(*kept));
		refuse_others(cl, cl->all, cl->n_all, kept, n_kept);
	}
	return 0;
}

static void on_quorum(quorum_handle_t h, uint32_t quorate, uint64_t ring_seq,
		      uint32_t n, uint32_t *view)
{
	struct cluster *cl = NULL;
	bool changed;

	(void)view;
	quorum_context_get(h, (const void **)&cl);
	if (cl->d->votequorum_quorate != !!quorate)
		qb_log(quorate ? LOG_NOTICE : LOG_WARNING, "corosync: %s (%u nodes in view)",
		       quorate ? "quorate" : "quorum lost", n);
	changed = !cl->d->votequorum_known || cl->d->votequorum_quorate != !!quorate ||
		  cl->d->votequorum_ring != ring_seq;
	cl->d->votequorum_quorate = !!quorate;
	cl->d->votequorum_known = true;
	cl->d->votequorum_ring = ring_seq;
	/* The state machine hears of it through the group, in order. */
	if (changed)
		apply__send_verdict(cl->d);
	/* Self-fence at once, not after the group view catches up. */
	if (!quorate)
		local__self_fence(cl->d);
}

/* The ring the group is in: a verdict is sent about this ring only. */
static void on_totem(cpg_handle_t h, struct cpg_ring_id ring, uint32_t n, const uint32_t *ids)
{
	struct cluster *cl = NULL;
	char bufs[CPG_MEMBERS_MAX][HASVC_NAME_MAX];
	const char *names[CPG_MEMBERS_MAX];
	size_t k = 0;

	cpg_context_get(h, (void **)&cl);
	cl->d->cpg_ring = ring.seq;
	apply__send_verdict(cl->d);
	for (uint32_t i = 0; i < n && k < CPG_MEMBERS_MAX; i++, k++)
		names[k] = name_of(cl, ids[i], bufs[k], sizeof(bufs[k]));
	grace__ring(cl->d, names, k);
}

static int dispatch_cpg(int fd, int events, void *data)
{
	struct cluster *cl = data;
	cs_error_t e;

	(void)fd;
	(void)events;
	e = cpg_dispatch(cl->cpg, CS_DISPATCH_ALL);
	if (e != CS_OK && e != CS_ERR_TRY_AGAIN) {
		/* corosync went away: nothing this replica decides is safe now. */
		qb_log(LOG_CRIT, "lost the connection to corosync (cpg: %d): self-fencing and exiting",
		       e);
		local__self_fence(cl->d);
		cl->d->stopping = cl->d->failed = true;
		qb_loop_stop(cl->d->loop);
		return -1;
	}
	return 0;
}

static int dispatch_quorum(int fd, int events, void *data)
{
	struct cluster *cl = data;

	(void)fd;
	(void)events;
	if (quorum_dispatch(cl->quorum, CS_DISPATCH_ALL) != CS_OK) {
		qb_log(LOG_CRIT, "lost the connection to corosync (quorum): self-fencing");
		cl->d->votequorum_quorate = false;
		local__self_fence(cl->d);
		return -1;
	}
	return 0;
}

static int start_quorum(struct cluster *cl)
{
	quorum_callbacks_t cb = { .quorum_notify_fn = on_quorum };
	uint32_t type = 0;
	int fd;
	cs_error_t e;

	e = quorum_initialize(&cl->quorum, &cb, &type);
	if (e != CS_OK)
		return cs_errno(e);
	cl->quorum_up = true;
	quorum_context_set(cl->quorum, cl);
	if (!type)
		qb_log(LOG_WARNING, "corosync has no quorum provider: every view counts as quorate "
		       "for corosync; hasvcd still requires a majority of declared nodes");
	e = quorum_trackstart(cl->quorum, CS_TRACK_CHANGES | CS_TRACK_CURRENT);
	if (e == CS_OK)
		e = quorum_fd_get(cl->quorum, &fd);
	if (e != CS_OK)
		return cs_errno(e);
	return qb_loop_poll_add(cl->d->loop, QB_LOOP_HIGH, fd, POLLIN, cl, dispatch_quorum);
}

static int start_cpg(struct cluster *cl)
{
	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = on_deliver,
		.cpg_confchg_fn = on_confchg,
		.cpg_totem_confchg_fn = on_totem,
		.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
	};
	unsigned int local_id;
	char buf[24];
	int fd;
	cs_error_t e;

	e = cpg_model_initialize(&cl->cpg, CPG_MODEL_V1, (cpg_model_data_t *)&model, cl);
	if (e != CS_OK)
		return cs_errno(e);
	cl->cpg_up = true;
	e = cpg_local_get(cl->cpg, &local_id);
	if (e != CS_OK)
		return cs_errno(e);
	cl->local_id = local_id;
	if (!cl->d->node[0]) {
		snprintf(cl->d->node, sizeof(cl->d->node), "%s",
			 name_of(cl, local_id, buf, sizeof(buf)));
	} else if (strcmp(cl->d->node, name_of(cl, local_id, buf, sizeof(buf)))) {
		/* The group knows members by corosync's names only. */
		qb_log(LOG_ERR, "--node %s, but corosync calls this node %s", cl->d->node,
		       name_of(cl, local_id, buf, sizeof(buf)));
		return -EINVAL;
	}
	do
		e = cpg_join(cl->cpg, &cl->group);
	while (e == CS_ERR_TRY_AGAIN);
	if (e == CS_OK)
		e = cpg_fd_get(cl->cpg, &fd);
	if (e != CS_OK)
		return cs_errno(e);
	return qb_loop_poll_add(cl->d->loop, QB_LOOP_HIGH, fd, POLLIN, cl, dispatch_cpg);
}

int cluster__start(struct hasvcd *d)
{
	struct cluster *cl = calloc(1, sizeof(*cl));
	int ret;

	if (!cl)
		return -ENOMEM;
	cl->d = d;
	d->cl = cl;
	msgq__init(&cl->queue, HASVCD_SEND_QUEUE_MAX, HASVCD_SEND_QUEUE_BYTES);
	snprintf(cl->group.value, sizeof(cl->group.value), "hasvc.%s",
		 d->conf && d->conf->cluster_name ? d->conf->cluster_name : "default");
	cl->group.length = (uint32_t)strlen(cl->group.value);
	ret = load_names(cl);
	if (ret) {
		qb_log(LOG_ERR, "cannot read node names from corosync (cmap): %s; "
		       "is corosync running?", strerror(-ret));
		return ret;
	}
	ret = start_quorum(cl);
	if (ret) {
		qb_log(LOG_ERR, "cannot use corosync's quorum service: %s", strerror(-ret));
		return ret;
	}
	ret = start_cpg(cl);
	if (ret)
		qb_log(LOG_ERR, "cannot join the corosync group '%s': %s", cl->group.value,
		       strerror(-ret));
	return ret;
}

void cluster__stop(struct hasvcd *d)
{
	struct cluster *cl = d->cl;
	int fd;

	if (!cl)
		return;
	if (cl->cpg_up) {
		if (cpg_fd_get(cl->cpg, &fd) == CS_OK)
			qb_loop_poll_del(d->loop, fd);
		cpg_leave(cl->cpg, &cl->group);
		cpg_finalize(cl->cpg);
	}
	if (cl->quorum_up) {
		if (quorum_fd_get(cl->quorum, &fd) == CS_OK)
			qb_loop_poll_del(d->loop, fd);
		quorum_finalize(cl->quorum);
	}
	if (cl->flush_armed)
		qb_loop_timer_del(d->loop, cl->flush_timer);
	msgq__clear(&cl->queue);
	free(cl);
	d->cl = NULL;
}

/* 0 sent, 1 corosync asks to try again, or -errno. */
static int mcast(struct cluster *cl, const uint8_t *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	cs_error_t e = cpg_mcast_joined(cl->cpg, CPG_TYPE_AGREED, &iov, 1);

	if (e == CS_ERR_TRY_AGAIN)
		return 1;
	if (e != CS_OK) {
		qb_log(LOG_ERR, "cannot multicast to the group: corosync error %d", e);
		return cs_errno(e);
	}
	return 0;
}

static void flush(void *data)
{
	struct cluster *cl = data;
	const struct msgq_item *q;

	cl->flush_armed = false;
	while ((q = msgq__first(&cl->queue))) {
		int ret = mcast(cl, q->buf, q->len);

		if (ret == 1) {
			cl->flush_armed = true;
			qb_loop_timer_add(cl->d->loop, QB_LOOP_HIGH, FLUSH_RETRY_NS, cl, flush,
					  &cl->flush_timer);
			return;
		}
		msgq__drop_first(&cl->queue);
	}
	cl->queue_full_logged = false;
}

int cluster__send(struct hasvcd *d, Hasvc__Cluster__Msg *m)
{
	struct cluster *cl = d->cl;
	const struct msgq_item *q;
	int ret;

	if (!cl || !cl->cpg_up)
		return -ENOTCONN;
	m->sender = d->node;
	/*
	 * TRY_AGAIN is flow control: corosync's queue is full for a moment
	 * (during a membership change, for one).  The message waits in order
	 * behind the others and a timer tries again; the loop never blocks.
	 * A corosync that takes nothing for so long that the queue fills is
	 * stuck: the message is refused with an error, not kept without bound.
	 */
	ret = msgq__push(&cl->queue, m);
	if (ret == -ENOBUFS && !cl->queue_full_logged) {
		cl->queue_full_logged = true;
		qb_log(LOG_ERR, "corosync has not taken the last %zu messages (%zu bytes): "
		       "the send queue is full, messages are not sent until it drains",
		       cl->queue.n, cl->queue.bytes);
	}
	if (ret)
		return ret;
	if (cl->queue.n == 1) {
		q = msgq__first(&cl->queue);
		ret = mcast(cl, q->buf, q->len);
		if (ret != 1) {
			msgq__drop_first(&cl->queue);
			return ret;
		}
	}
	if (!cl->flush_armed) {
		cl->flush_armed = true;
		qb_loop_timer_add(d->loop, QB_LOOP_HIGH, FLUSH_RETRY_NS, cl, flush, &cl->flush_timer);
	}
	return 0;
}
