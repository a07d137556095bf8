/*
 * One configuration for the whole cluster (docs/hasvc-daemon.md, "The
 * configuration").  A text hactl asks to apply is checked here before it is
 * multicast; every member applies only the delivered, totally-ordered text
 * (apply.c), writes it to its own file atomically, and says in a ConfigHeld
 * what its file and its running text are, which the node whose hactl asked
 * collects to answer which nodes took it.  A node whose state exchange
 * brings it another text (it was down while the text changed) writes that
 * one to its file too.
 *
 * The rule that keeps the texts equal: the checks that can refuse a text are
 * the parser's (the same on every node: nothing in them reads the host) and
 * the ones here against the replicated state, made by the sender before it
 * multicasts and by every member again as it is delivered (the replica may
 * have changed in between: apply.c), alike, so a text one node takes every
 * node takes.  Only a hasvcd of another version, or a file it cannot write,
 * can still differ: its ConfigHeld then carries the error and hactl fails
 * naming the node.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "hasvc/atomic_file.h"
#include "hasvc/config_text.h"
#include "hasvc/daemon.h"
#include "hasvc/ipc.h"

/* How long the sender waits for every member's ConfigHeld (hactl's call
 * gives up after HASVC_IPC_TIMEOUT_MS). */
#define CONFIG_DIST_WAIT_MS 6000
#define CONFIG_DIST_ANSWER_MAX 2048

struct held {
	char node[HASVC_NAME_MAX];
	uint8_t file[HASVC_DIGEST_LEN], running[HASVC_DIGEST_LEN];
	bool has_file, has_running;
};

/* The apply this node's hactl asked for, between its delivery and the answers. */
struct waiting {
	bool active;
	uint64_t request;
	char change[512];
	char expect[CPG_VIEW_MAX][HASVC_NAME_MAX];
	bool got[CPG_VIEW_MAX], refused[CPG_VIEW_MAX];
	size_t n;
	char errors[CONFIG_DIST_ANSWER_MAX];
	qb_loop_timer_handle timer;
};

struct config_dist {
	struct held nodes[CPG_VIEW_MAX];
	size_t n_nodes;
	struct waiting w;
};

int config_dist__new(struct hasvcd *d)
{
	d->cdist = calloc(1, sizeof(*d->cdist));
	return d->cdist ? 0 : -ENOMEM;
}

void config_dist__free(struct hasvcd *d)
{
	if (!d->cdist)
		return;
	if (d->cdist->w.active)
		qb_loop_timer_del(d->loop, d->cdist->w.timer);
	free(d->cdist);
	d->cdist = NULL;
}

/*
 * A running VM's standbys and migration destinations are started from the
 * configuration: one with other memory or vCPUs than the primary could never
 * take its state.  Such a change waits until the VM is not running.
 */
static int shape_changed(const struct hasvcd *d, const struct config *conf, char *err,
			 size_t errlen)
{
	for (size_t k = 0; d->conf && k < conf->n_vms; k++) {
		const struct config_vm *nv = &conf->vms[k];
		const struct config_vm *ov = cluster_config__vm(d->conf, nv->name);
		int v = fsm__vm_index(d->fsm, nv->name);

		if (!ov || v < 0 || d->fsm->vms[v].primary < 0)
			continue;
		if (ov->memory != nv->memory || ov->vcpus != nv->vcpus ||
		    !cluster_config__same_devices(ov, nv)) {
			snprintf(err, errlen, "%s:%d: vm %s runs with %llu MiB and %u vCPUs: memory, "
				 "vcpus, disk and network keys cannot change while it runs (remove it, "
				 "reload, add it back)", conf->path, nv->line, nv->name,
				 (unsigned long long)(ov->memory >> 20), ov->vcpus);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * A node whose hasvcd is in the group keeps its section: without it, it
 * would run a text that does not declare it.  Remove a node by stopping its
 * hasvcd first.
 */
static int members_kept(const struct hasvcd *d, const struct config *conf, char *err,
			size_t errlen)
{
	for (size_t i = 0; i < d->n_members; i++) {
		const char *n = d->members[i];

		if (!d->conf || !cluster_config__node(d->conf, n) || cluster_config__node(conf, n))
			continue;
		snprintf(err, errlen, "%s: no [node %s] section, but the hasvcd of node %s is in the "
			 "group: stop it before removing the node", conf->path, n, n);
		return -EINVAL;
	}
	return 0;
}

int config_dist__check(struct hasvcd *d, const char *text, const char *path, char *err,
		       size_t errlen)
{
	struct config *conf = NULL;
	int ret;

	if (d->fsm->configured && !d->fsm->quorate) {
		snprintf(err, errlen, "the cluster is not quorate here: a configuration change "
			 "needs quorum");
		return -EAGAIN;
	}
	ret = config_text__parse(text, path, &conf, err, errlen);
	if (ret)
		return ret;
	ret = members_kept(d, conf, err, errlen);
	if (!ret)
		ret = shape_changed(d, conf, err, errlen);
	cluster_config__free(conf);
	return ret;
}

/* The file's text is what it already holds: nothing to write. */
static bool file_holds(const char *path, const uint8_t digest[HASVC_DIGEST_LEN])
{
	uint8_t have[HASVC_DIGEST_LEN];
	char *text = hasvcd__read_file(path);

	if (!text)
		return false;
	hasvcd__digest(text, strlen(text), have);
	free(text);
	return !memcmp(have, digest, sizeof(have));
}

/* Make this node's file hold the text the cluster runs. */
static int write_file(struct hasvcd *d, char *err, size_t errlen)
{
	char was[2 * HASVC_DIGEST_LEN + 1], now[2 * HASVC_DIGEST_LEN + 1];
	int ret;

	if (!d->conf_text || file_holds(d->config_path, d->conf_digest)) {
		memcpy(d->file_digest, d->conf_digest, sizeof(d->file_digest));
		return 0;
	}
	ret = atomic_file__write(d->config_path, d->conf_text, err, errlen);
	if (ret) {
		qb_log(LOG_ERR, "configuration: %s", err);
		return ret;
	}
	hasvcd__hex(d->file_digest, HASVC_DIGEST_LEN, was, sizeof(was));
	hasvcd__hex(d->conf_digest, HASVC_DIGEST_LEN, now, sizeof(now));
	qb_log(LOG_NOTICE, "configuration: wrote the cluster's text %.12s to %s (it held %.12s)",
	       now, d->config_path, was);
	memcpy(d->file_digest, d->conf_digest, sizeof(d->file_digest));
	return 0;
}

/* Multicast what this node holds, about request of initiator (or 0). */
static void announce(struct hasvcd *d, const char *initiator, uint64_t request,
		     const char *error)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__ConfigHeld h = HASVC__CLUSTER__CONFIG_HELD__INIT;
	int ret;

	h.file_digest.data = d->file_digest;
	h.file_digest.len = HASVC_DIGEST_LEN;
	h.running_digest.data = d->conf_digest;
	h.running_digest.len = d->conf_text ? HASVC_DIGEST_LEN : 0;
	h.initiator = (char *)initiator;
	h.request = request;
	h.error = (char *)(error ? error : "");
	m.body_case = HASVC__CLUSTER__MSG__BODY_CONFIG_HELD;
	m.config_held = &h;
	ret = cluster__send(d, &m);
	if (ret)
		qb_log(LOG_WARNING, "configuration: cannot say what this node holds: %s",
		       strerror(-ret));
}

/* ", node" or ", node (why)" at the end of a list. */
static void append(char *buf, const char *node, const char *why)
{
	size_t k = strlen(buf);

	if (k + 1 < CONFIG_DIST_ANSWER_MAX)
		snprintf(buf + k, CONFIG_DIST_ANSWER_MAX - k, "%s%s%s%s%s", k ? ", " : "", node,
			 why[0] ? " (" : "", why, why[0] ? ")" : "");
}

/*
 * Answer hactl: what changed, the nodes that took it, those that did not.
 * timer_fired: called from the timer, which is gone already.
 */
static void finish(struct hasvcd *d, bool timer_fired)
{
	struct waiting *w = &d->cdist->w;
	char text[3 * CONFIG_DIST_ANSWER_MAX + 600], missing[CONFIG_DIST_ANSWER_MAX] = "";
	char taken[CONFIG_DIST_ANSWER_MAX] = "";

	if (!timer_fired)
		qb_loop_timer_del(d->loop, w->timer);
	w->active = false;
	for (size_t i = 0; i < w->n; i++) {
		if (!w->got[i])
			append(missing, w->expect[i], "");
		else if (!w->refused[i])
			append(taken, w->expect[i], "");
	}
	snprintf(text, sizeof(text), "%s; taken by %s%s%s%s%s", w->change,
		 taken[0] ? taken : "no node", w->errors[0] ? "; refused by " : "", w->errors,
		 missing[0] ? "; no answer from " : "", missing);
	qb_log(w->errors[0] || missing[0] ? LOG_ERR : LOG_NOTICE, "configuration: %s", text);
	serve__done(d, w->request, !w->errors[0] && !missing[0], text);
}

static void on_wait_timeout(void *data)
{
	struct hasvcd *d = data;

	if (d->cdist->w.active)
		finish(d, true);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * Our own Config came back: wait for the ConfigHeld of every member the
 * configuration declares.  An undeclared member (any process in the group
 * from a node hasvc.conf does not name) is not waited for: it may not be a
 * hasvcd at all.
 */
static void start_waiting(struct hasvcd *d, uint64_t request, const char *change)
{
	struct waiting *w = &d->cdist->w;

	if (w->active)
		finish(d, false);  /* an earlier one: answer it with what came */
	memset(w, 0, sizeof(*w));
	w->active = true;
	w->request = request;
	snprintf(w->change, sizeof(w->change), "%s", change ? change : "configuration refused");
	for (size_t i = 0; i < d->n_members && i < CPG_VIEW_MAX; i++)
		if (d->conf && cluster_config__node(d->conf, d->members[i]))
			snprintf(w->expect[w->n++], HASVC_NAME_MAX, "%s", d->members[i]);
	qsort(w->expect, w->n, sizeof(w->expect[0]), by_name);  /* answers list them so */
	qb_loop_timer_add(d->loop, QB_LOOP_MED, CONFIG_DIST_WAIT_MS * 1000000ULL, d,
			  on_wait_timeout, &w->timer);
}

void config_dist__applied(struct hasvcd *d, const Hasvc__Cluster__Msg *m, const char *error,
			  const char *change)
{
	char werr[CONFIG_ERR_MAX];

	if (!error && write_file(d, werr, sizeof(werr)))
		error = werr;
	if (!strcmp(m->sender, d->node) && m->config->request)
		start_waiting(d, m->config->request, change);
	announce(d, m->config->request ? m->sender : "", m->config->request, error);
}

void config_dist__adopted(struct hasvcd *d, const uint8_t before[HASVC_DIGEST_LEN])
{
	char err[CONFIG_ERR_MAX];

	/* Unchanged: a file edited since is the operator's, left alone. */
	if (!d->fsm->configured || !memcmp(before, d->conf_digest, HASVC_DIGEST_LEN))
		return;
	write_file(d, err, sizeof(err));
}

void config_dist__after_sync(struct hasvcd *d)
{
	announce(d, "", 0, NULL);
}

static struct held *held_of(struct config_dist *c, const char *node)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (!strcmp(c->nodes[i].node, node))
			return &c->nodes[i];
	if (c->n_nodes == CPG_VIEW_MAX)
		return NULL;
	snprintf(c->nodes[c->n_nodes].node, HASVC_NAME_MAX, "%s", node);
	return &c->nodes[c->n_nodes++];
}

static void note_answer(struct hasvcd *d, const char *node, const char *error)
{
	struct waiting *w = &d->cdist->w;

	for (size_t i = 0; i < w->n; i++) {
		if (w->got[i] || strcmp(w->expect[i], node))
			continue;
		w->got[i] = true;
		w->refused[i] = error[0] != 0;
		if (error[0])
			append(w->errors, node, error);
	}
	for (size_t i = 0; i < w->n; i++)
		if (!w->got[i])
			return;
	finish(d, false);
}

void config_dist__held(struct hasvcd *d, const Hasvc__Cluster__Msg *m)
{
	const Hasvc__Cluster__ConfigHeld *h = m->config_held;
	char why[160], file[2 * HASVC_DIGEST_LEN + 1], run[2 * HASVC_DIGEST_LEN + 1];
	struct held *e;

	if (config_text__check_held(h, why, sizeof(why))) {
		qb_log(LOG_WARNING, "message from %s ignored: %s", m->sender, why);
		return;
	}
	e = held_of(d->cdist, m->sender);
	if (e) {
		e->has_file = h->file_digest.len == HASVC_DIGEST_LEN;
		if (e->has_file)
			memcpy(e->file, h->file_digest.data, HASVC_DIGEST_LEN);
		e->has_running = h->running_digest.len == HASVC_DIGEST_LEN;
		if (e->has_running)
			memcpy(e->running, h->running_digest.data, HASVC_DIGEST_LEN);
	}
	hasvcd__hex(h->file_digest.data, h->file_digest.len, file, sizeof(file));
	hasvcd__hex(h->running_digest.data, h->running_digest.len, run, sizeof(run));
	qb_log(h->error[0] ? LOG_ERR : LOG_INFO, "configuration: %s runs %.12s, its file holds "
	       "%.12s%s%s", m->sender, run[0] ? run : "-", file[0] ? file : "-",
	       h->error[0] ? ": " : "", h->error);
	if (d->cdist->w.active && h->request == d->cdist->w.request &&
	    !strcmp(h->initiator, d->node))
		note_answer(d, m->sender, h->error);
}

void config_dist__digests(struct hasvcd *d, const char *node, char *file, char *running,
			  size_t len)
{
	const struct config_dist *c = d->cdist;

	file[0] = running[0] = 0;
	if (!strcmp(node, d->node)) {
		hasvcd__hex(d->file_digest, HASVC_DIGEST_LEN, file, len);
		if (d->conf_text)
			hasvcd__hex(d->conf_digest, HASVC_DIGEST_LEN, running, len);
		return;
	}
	for (size_t i = 0; c && i < c->n_nodes; i++) {
		if (strcmp(c->nodes[i].node, node))
			continue;
		if (c->nodes[i].has_file)
			hasvcd__hex(c->nodes[i].file, HASVC_DIGEST_LEN, file, len);
		if (c->nodes[i].has_running)
			hasvcd__hex(c->nodes[i].running, HASVC_DIGEST_LEN, running, len);
	}
}

void config_dist__show(struct hasvcd *d, struct hasvc_ipc_req *req)
{
	Hasvc__Ctl__Response r = HASVC__CTL__RESPONSE__INIT;
	char digest[2 * HASVC_DIGEST_LEN + 1];

	if (!d->conf_text) {
		hasvc_ipc__fail(req, ENOENT, "this hasvcd runs no configuration");
		return;
	}
	hasvcd__hex(d->conf_digest, HASVC_DIGEST_LEN, digest, sizeof(digest));
	r.ok = true;
	r.text = d->conf_text;
	r.config_digest = digest;
	hasvc_ipc__reply(req, &r);
}
