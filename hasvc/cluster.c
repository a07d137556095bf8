/*
 * The corosync side of hasvcd: the CPG group "hasvc.CLUSTER" (agreed-order
 * messages and configuration changes), the quorum service (the local
 * corosync's view of quorum), and cmap (node names).
 *
 * Members of the group are named by their corosync node name
 * (nodelist.node.N.name), the same names hasvc.conf uses; a member whose
 * node id has no name is called "nodeid-N" and is not declared.
 */
#include "config.h"

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

#define MAX_NAMES 64

struct node_name {
	uint32_t id;
	char name[HASVC_NAME_MAX];
};

/* A message corosync could not take yet. */
struct queued {
	struct qb_list_head list;
	size_t len;
	uint8_t buf[];
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
	struct qb_list_head queue;    /* struct queued, oldest first */
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

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid,
		       uint32_t pid, void *msg, size_t len)
{
	struct cluster *cl = NULL;
	Hasvc__Cluster__Msg *m;

	(void)group;
	(void)pid;
	cpg_context_get(h, (void **)&cl);
	m = hasvc__cluster__msg__unpack(NULL, len, msg);
	if (!m) {
		qb_log(LOG_WARNING, "undecodable message of %zu bytes from node id %u: ignored",
		       len, nodeid);
		return;
	}
	sync__deliver(cl->d, m);
	hasvc__cluster__msg__free_unpacked(m, NULL);
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
		       const struct cpg_address *members, size_t n_members,
		       const struct cpg_address *left, size_t n_left,
		       const struct cpg_address *joined, size_t n_joined)
{
	struct cluster *cl = NULL;
	char bufs[CPG_MEMBERS_MAX][24];
	const char *names[CPG_MEMBERS_MAX];
	size_t n = 0;

	(void)group;
	(void)left;
	(void)joined;
	cpg_context_get(h, (void **)&cl);
	for (size_t i = 0; i < n_members && n < CPG_MEMBERS_MAX; i++)
		names[n] = name_of(cl, members[i].nodeid, bufs[n], sizeof(bufs[n])), n++;
	qb_log(LOG_INFO, "group view: %zu members, %zu left, %zu joined", n_members, n_left,
	       n_joined);
	sync__view(cl->d, names, n, n_joined > 0);
}

static void on_quorum(quorum_handle_t h, uint32_t quorate, uint64_t ring_seq,
		      uint32_t n, uint32_t *view)
{
	struct cluster *cl = NULL;

	(void)ring_seq;
	(void)view;
	quorum_context_get(h, (const void **)&cl);
	if (cl->d->votequorum_quorate != !!quorate)
		qb_log(quorate ? LOG_NOTICE : LOG_WARNING, "corosync: %s (%u nodes in view)",
		       quorate ? "quorate" : "quorum lost", n);
	cl->d->votequorum_quorate = !!quorate;
	cl->d->votequorum_known = true;
	/* Self-fence at once, not after the group view catches up. */
	if (!quorate)
		local__self_fence(cl->d);
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
	qb_list_init(&cl->queue);
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
	while (!qb_list_empty(&cl->queue)) {
		struct queued *q = qb_list_first_entry(&cl->queue, struct queued, list);

		qb_list_del(&q->list);
		free(q);
	}
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
	struct queued *q, *tmp;

	cl->flush_armed = false;
	qb_list_for_each_entry_safe(q, tmp, &cl->queue, list) {
		int ret = mcast(cl, q->buf, q->len);

		if (ret == 1) {
			cl->flush_armed = true;
			qb_loop_timer_add(cl->d->loop, QB_LOOP_HIGH, FLUSH_RETRY_NS, cl, flush,
					  &cl->flush_timer);
			return;
		}
		qb_list_del(&q->list);
		free(q);
	}
}

int cluster__send(struct hasvcd *d, Hasvc__Cluster__Msg *m)
{
	struct cluster *cl = d->cl;
	struct queued *q;
	size_t len;
	int ret;

	if (!cl || !cl->cpg_up)
		return -ENOTCONN;
	m->sender = d->node;
	len = hasvc__cluster__msg__get_packed_size(m);
	q = malloc(sizeof(*q) + (len ? len : 1));
	if (!q)
		return -ENOMEM;
	q->len = len;
	hasvc__cluster__msg__pack(m, q->buf);
	/*
	 * TRY_AGAIN is flow control: corosync's queue is full for a moment
	 * (during a membership change, for one).  The message waits in order
	 * behind the others and a timer tries again; the loop never blocks and
	 * nothing is dropped.
	 */
	if (qb_list_empty(&cl->queue)) {
		ret = mcast(cl, q->buf, q->len);
		if (ret != 1) {
			free(q);
			return ret;
		}
	}
	qb_list_add_tail(&q->list, &cl->queue);
	if (!cl->flush_armed) {
		cl->flush_armed = true;
		qb_loop_timer_add(d->loop, QB_LOOP_HIGH, FLUSH_RETRY_NS, cl, flush, &cl->flush_timer);
	}
	return 0;
}
