/*
 * alert_command (history.h): run through /bin/sh once per cluster event on
 * every node, as Pacemaker's alert agents are, with the event in the
 * environment.  The daemon never waits for it: a child in a process group
 * of its own, reaped on SIGCHLD, the whole group killed after
 * alert_timeout_ms.  At most ALERT_JOBS run at once; the next events wait
 * in a queue, and beyond that they are dropped with a log line.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <qb/qblog.h>

#include "hasvc/history.h"

#define ALERT_JOBS 4
#define ALERT_QUEUE 256

struct alert_job {
	pid_t pid;                 /* 0: free; also its process group */
	struct cluster_event ev;
	qb_loop_timer_handle timer;
	bool timer_set;            /* a fired timer is gone from the loop */
	struct hasvcd *d;
};

struct alert {
	struct alert_job jobs[ALERT_JOBS];
	struct cluster_event queue[ALERT_QUEUE];
	size_t head, n;
};

int alert__new(struct hasvcd *d)
{
	d->alert = calloc(1, sizeof(*d->alert));
	return d->alert ? 0 : -ENOMEM;
}

void alert__free(struct hasvcd *d)
{
	if (!d->alert)
		return;
	/* The time limit holds when the daemon stops too. */
	for (int i = 0; i < ALERT_JOBS; i++) {
		if (!d->alert->jobs[i].pid)
			continue;
		if (d->alert->jobs[i].timer_set)
			qb_loop_timer_del(d->loop, d->alert->jobs[i].timer);
		kill(-d->alert->jobs[i].pid, SIGKILL);
	}
	free(d->alert);
	d->alert = NULL;
}

/* "2026-12-06T16:40:00.123Z" */
static void format_time(int64_t ms, char *out, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	char date[32];

	gmtime_r(&s, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03dZ", date, (int)(ms % 1000));
}

/* In the child: the event's environment, then the command. */
static void exec_alert(struct hasvcd *d, const struct cluster_event *ev)
{
	char num[32], when[64];

	setpgid(0, 0);
	close_range(3, ~0U, 0);
	setenv("HASVC_EVENT", events__name(ev->kind), 1);
	setenv("HASVC_NODE", ev->node, 1);
	setenv("HASVC_VM", ev->vm, 1);
	snprintf(num, sizeof(num), "%" PRIu64, ev->seq);
	setenv("HASVC_SEQ", num, 1);
	format_time(ev->time_ms, when, sizeof(when));
	setenv("HASVC_TIME", when, 1);
	snprintf(num, sizeof(num), "%" PRId64, ev->time_ms);
	setenv("HASVC_TIME_MS", num, 1);
	setenv("HASVC_LOCAL_NODE", d->node, 1);
	setenv("HASVC_CLUSTER", d->conf->cluster_name ? d->conf->cluster_name : "", 1);
	execl("/bin/sh", "sh", "-c", d->conf->alert_command, (char *)NULL);
	_exit(127);
}

static void on_timeout(void *data)
{
	struct alert_job *j = data;

	j->timer_set = false;
	qb_log(LOG_ERR, "alert_command for event %" PRIu64 " (%s) still runs after %u ms: "
	       "killed with its process group", j->ev.seq, events__name(j->ev.kind),
	       j->d->conf ? j->d->conf->alert_timeout_ms : 0);
	kill(-j->pid, SIGKILL);
}

static void start(struct hasvcd *d, struct alert_job *j, const struct cluster_event *ev)
{
	pid_t pid = hasvcd__fork();

	if (pid == 0)
		exec_alert(d, ev);
	if (pid < 0) {
		qb_log(LOG_ERR, "cannot run alert_command for event %" PRIu64 ": %s", ev->seq,
		       strerror(errno));
		return;
	}
	setpgid(pid, pid);  /* either side may come first */
	j->pid = pid;
	j->ev = *ev;
	j->d = d;
	j->timer_set = qb_loop_timer_add(d->loop, QB_LOOP_HIGH,
					 d->conf->alert_timeout_ms * 1000000ULL, j, on_timeout,
					 &j->timer) == 0;
}

static struct alert_job *free_job(struct alert *a)
{
	for (int i = 0; i < ALERT_JOBS; i++)
		if (!a->jobs[i].pid)
			return &a->jobs[i];
	return NULL;
}

void alert__event(struct hasvcd *d, const struct cluster_event *ev)
{
	struct alert *a = d->alert;
	struct alert_job *j;

	if (!d->conf || !d->conf->alert_command)
		return;
	j = free_job(a);
	if (j && !a->n) {
		start(d, j, ev);
	} else if (a->n < ALERT_QUEUE) {
		a->queue[(a->head + a->n++) % ALERT_QUEUE] = *ev;
	} else {
		qb_log(LOG_ERR, "alert_command: %d events wait already: event %" PRIu64
		       " (%s) is not alerted", ALERT_QUEUE, ev->seq, events__name(ev->kind));
	}
}

bool alert__child_exited(struct hasvcd *d, pid_t pid, int status)
{
	struct alert *a = d->alert;
	struct alert_job *j = NULL;

	for (int i = 0; a && i < ALERT_JOBS && !j; i++)
		if (a->jobs[i].pid == pid)
			j = &a->jobs[i];
	if (!j)
		return false;
	if (j->timer_set)
		qb_loop_timer_del(d->loop, j->timer);
	j->timer_set = false;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		qb_log(LOG_WARNING, "alert_command for event %" PRIu64 " (%s) failed: %s %d",
		       j->ev.seq, events__name(j->ev.kind),
		       WIFEXITED(status) ? "exit status" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	j->pid = 0;
	/* The next queued event, unless the configuration no longer has a command. */
	if (a->n && d->conf && d->conf->alert_command) {
		struct cluster_event next = a->queue[a->head];

		a->head = (a->head + 1) % ALERT_QUEUE;
		a->n--;
		start(d, j, &next);
	}
	return true;
}
