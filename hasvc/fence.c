/*
 * Fence commands: `fence_command` of a lost node, run by the member the
 * state machine picked, through /bin/sh with HASVC_FENCE_NODE set.  Exit
 * status 0 within the time limit means fenced; the result goes to every
 * member as a FenceResult message.  The command runs in a process group of
 * its own, so that the time limit kills whatever it started too (a fence
 * agent left running could power the node off after it rejoined).
 *
 * A node fenced by its watchdog (`fencing = watchdog` or `both`) resets
 * itself when it stops feeding the device (watchdog.c): the fencer waits
 * its watchdog_timeout plus [cluster] watchdog_margin_ms from the FENCE it
 * got, then multicasts an ok FenceResult, unless the node came back.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <qb/qblog.h>

#include "hasvc/daemon.h"

#define FENCE_RETRY_MS 5000

struct fence_job {
	pid_t pid;
	char node[HASVC_NAME_MAX];
	unsigned timeout_ms;
	qb_loop_timer_handle timer;
	struct hasvcd *d;
};

struct fence_retry {
	struct hasvcd *d;
	char node[HASVC_NAME_MAX];
	bool armed;
	qb_loop_timer_handle timer;
};

struct fence_wait {
	struct hasvcd *d;
	char node[HASVC_NAME_MAX];
	bool armed;
	unsigned wait_ms;
	qb_loop_timer_handle timer;
};

struct fence {
	struct fence_job jobs[HASVC_MAX_NODES];
	struct fence_retry retries[HASVC_MAX_NODES];
	struct fence_wait waits[HASVC_MAX_NODES];
};

int fence__new(struct hasvcd *d)
{
	d->fence = calloc(1, sizeof(*d->fence));
	return d->fence ? 0 : -ENOMEM;
}

void fence__free(struct hasvcd *d)
{
	if (!d->fence)
		return;
	for (int i = 0; i < HASVC_MAX_NODES; i++)
		if (d->fence->retries[i].armed)
			qb_loop_timer_del(d->loop, d->fence->retries[i].timer);
	for (int i = 0; i < HASVC_MAX_NODES; i++)
		if (d->fence->waits[i].armed)
			qb_loop_timer_del(d->loop, d->fence->waits[i].timer);
	free(d->fence);
	d->fence = NULL;
}

static void send_result(struct hasvcd *d, const char *node, bool ok)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__FenceResult r = HASVC__CLUSTER__FENCE_RESULT__INIT;

	r.node = (char *)node;
	r.ok = ok;
	m.body_case = HASVC__CLUSTER__MSG__BODY_FENCE;
	m.fence = &r;
	cluster__send(d, &m);
}

static void on_timeout(void *data)
{
	struct fence_job *j = data;

	qb_log(LOG_ERR, "fencing %s: the command did not finish in %u ms: killed with "
	       "everything it started", j->node, j->timeout_ms);
	/* The group is the shell's pid: it exists until the shell is reaped. */
	if (kill(-j->pid, SIGKILL) < 0)
		kill(j->pid, SIGKILL);
}

static struct fence_job *job_of(struct fence *f, const char *node)
{
	for (int i = 0; i < HASVC_MAX_NODES; i++)
		if (f->jobs[i].pid && !strcmp(f->jobs[i].node, node))
			return &f->jobs[i];
	return NULL;
}

static void run_command(struct hasvcd *d, const struct config_node *cn, const char *node)
{
	struct fence_job *j = NULL;
	pid_t pid;

	if (job_of(d->fence, node))
		return; /* already running: its result will come */
	for (int i = 0; i < HASVC_MAX_NODES && !j; i++)
		if (!d->fence->jobs[i].pid)
			j = &d->fence->jobs[i];
	qb_log(LOG_NOTICE, "fencing %s: %s", node, cn->fence_command);
	pid = hasvcd__fork();
	if (pid == 0) {
		setpgid(0, 0);
		close_range(3, ~0U, 0);
		setenv("HASVC_FENCE_NODE", node, 1);
		execl("/bin/sh", "sh", "-c", cn->fence_command, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || !j) {
		qb_log(LOG_ERR, "cannot run the fence command for %s: %s", node,
		       pid < 0 ? strerror(errno) : "too many at once");
		send_result(d, node, false);
		return;
	}
	/* Both sides set the group: neither order of running leaves a gap. */
	setpgid(pid, pid);
	j->pid = pid;
	j->d = d;
	j->timeout_ms = cn->fence_timeout_ms;
	snprintf(j->node, sizeof(j->node), "%s", node);
	qb_loop_timer_add(d->loop, QB_LOOP_HIGH, j->timeout_ms * 1000000ULL, j, on_timeout,
			  &j->timer);
}

static struct fence_wait *wait_of(struct fence *f, const char *node)
{
	for (int i = 0; i < HASVC_MAX_NODES; i++)
		if (f->waits[i].armed && !strcmp(f->waits[i].node, node))
			return &f->waits[i];
	return NULL;
}

/* Its watchdog has reset it by now, unless it came back meanwhile. */
static void on_wait_over(void *data)
{
	struct fence_wait *w = data;
	int n = fsm__node_index(w->d->fsm, w->node);

	w->armed = false;
	if (n < 0 || !w->d->fsm->nodes[n].gone || w->d->fsm->nodes[n].fence == FSM_FENCE_DONE)
		return;
	qb_log(LOG_NOTICE, "fencing %s: its watchdog's timeout and the margin (%u ms) have "
	       "passed: taken as reset", w->node, w->wait_ms);
	send_result(w->d, w->node, true);
}

static void wait_watchdog(struct hasvcd *d, const struct config_node *cn, const char *node)
{
	struct fence_wait *w = NULL;

	if (wait_of(d->fence, node))
		return; /* counting since the first FENCE */
	for (int i = 0; i < HASVC_MAX_NODES && !w; i++)
		if (!d->fence->waits[i].armed)
			w = &d->fence->waits[i];
	if (!w)
		return;
	w->d = d;
	w->armed = true;
	w->wait_ms = cn->watchdog_timeout_s * 1000 + d->conf->watchdog_margin_ms;
	snprintf(w->node, sizeof(w->node), "%s", node);
	qb_log(LOG_NOTICE, "fencing %s: waiting %u ms for its watchdog to reset it", node,
	       w->wait_ms);
	qb_loop_timer_add(d->loop, QB_LOOP_HIGH, w->wait_ms * 1000000ULL, w, on_wait_over,
			  &w->timer);
}

void fence__run(struct hasvcd *d, const char *node)
{
	const struct config_node *cn = d->conf ? cluster_config__node(d->conf, node) : NULL;

	if (!cn || cn->fencing == CONFIG_FENCING_NONE) {
		qb_log(LOG_ERR, "asked to fence %s, which has no fencing here", node);
		send_result(d, node, false);
		return;
	}
	if (cluster_config__fence_by_watchdog(cn))
		wait_watchdog(d, cn, node);
	if (cluster_config__fence_by_command(cn))
		run_command(d, cn, node);
}

/* A node that is a member again may feed its watchdog again: start over. */
void fence__view(struct hasvcd *d)
{
	for (int i = 0; d->fence && i < HASVC_MAX_NODES; i++) {
		struct fence_wait *w = &d->fence->waits[i];
		int n = w->armed ? fsm__node_index(d->fsm, w->node) : -1;

		if (!w->armed || (n >= 0 && !d->fsm->nodes[n].member))
			continue;
		qb_loop_timer_del(d->loop, w->timer);
		w->armed = false;
		qb_log(LOG_NOTICE, "fencing %s: it is back; no longer waiting for its watchdog",
		       w->node);
	}
}

/* Still a lost node that is not fenced? Then its VMs still wait. */
static void on_retry(void *data)
{
	struct fence_retry *r = data;
	int n = fsm__node_index(r->d->fsm, r->node);

	r->armed = false;
	if (n >= 0 && r->d->fsm->nodes[n].gone && r->d->fsm->nodes[n].fence != FSM_FENCE_DONE) {
		qb_log(LOG_NOTICE, "fencing %s again", r->node);
		fence__run(r->d, r->node);
	}
}

static void retry_later(struct hasvcd *d, const char *node)
{
	struct fence_retry *r = NULL;

	for (int i = 0; i < HASVC_MAX_NODES && !r; i++)
		if (!d->fence->retries[i].armed)
			r = &d->fence->retries[i];
	if (!r)
		return;
	r->d = d;
	r->armed = true;
	snprintf(r->node, sizeof(r->node), "%s", node);
	qb_loop_timer_add(d->loop, QB_LOOP_LOW, FENCE_RETRY_MS * 1000000ULL, r, on_retry,
			  &r->timer);
}

bool fence__child_exited(struct hasvcd *d, pid_t pid, int status)
{
	struct fence_job *j = NULL;
	bool ok;

	for (int i = 0; i < HASVC_MAX_NODES && !j; i++)
		if (d->fence->jobs[i].pid == pid)
			j = &d->fence->jobs[i];
	if (!j)
		return false;
	qb_loop_timer_del(d->loop, j->timer);
	ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	qb_log(ok ? LOG_NOTICE : LOG_ERR, "fencing %s: %s", j->node,
	       ok ? "done" : "the fence command failed");
	send_result(d, j->node, ok);
	/* A lost node's VMs wait for this: keep trying while it is not fenced. */
	if (!ok)
		retry_later(d, j->node);
	j->pid = 0;
	return true;
}
