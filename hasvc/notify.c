/*
 * systemd's service protocol (sd_notify(3), conf/hasvcd.service is
 * Type=notify): READY=1 once this daemon has joined the group and agreed
 * on its state, STATUS= lines that say what it is doing, and WATCHDOG=1
 * from the loop's own timer when the unit sets WatchdogSec=, so that a hung
 * loop stops feeding it and systemd restarts the daemon.  Without
 * $NOTIFY_SOCKET (not started by systemd) every call does nothing.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <qb/qblog.h>
#include <systemd/sd-daemon.h>

#include "hasvc/notify.h"

/* How often STATUS= is brought up to date (and the watchdog fed, at most). */
#define NOTIFY_TICK_US 1000000ULL
/* A watchdog period under 20 ms would make the loop spin: fed every 10 ms. */
#define NOTIFY_TICK_MIN_US 10000ULL
/* A STATUS= line, NUL included: longer ones are cut. */
#define NOTIFY_STATUS_MAX 256

struct notify {
	bool ready;
	uint64_t tick_us;            /* the timer's period */
	bool watchdog;
	char status[NOTIFY_STATUS_MAX]; /* the last STATUS= sent */
	qb_loop_timer_handle timer;
};

static void send_status(struct hasvcd *d, const char *text)
{
	struct notify *n = d->notify;
	char msg[sizeof(n->status) + 8];

	if (!strcmp(n->status, text))
		return;
	snprintf(n->status, sizeof(n->status), "%s", text);
	snprintf(msg, sizeof(msg), "STATUS=%s", n->status);
	sd_notify(0, msg);
}

/* Append to out (k bytes used) what the cluster is in the middle of. */
static void describe_work(const struct fsm *f, char *out, size_t len, size_t k)
{
	for (int i = 0; i < HASVC_MAX_NODES && k < len; i++)
		if (f->nodes[i].name[0] && f->nodes[i].fence == FSM_FENCE_PENDING)
			k += (size_t)snprintf(out + k, len - k, "; fencing %s", f->nodes[i].name);
	for (size_t v = 0; v < HASVC_MAX_VMS && k < len; v++) {
		const struct fsm_vm *vm = &f->vms[v];
		int to = vm->migrate_to >= 0 ? vm->migrate_to : vm->handover ? vm->standby : -1;

		if (vm->used && to >= 0 && to < HASVC_MAX_NODES)
			k += (size_t)snprintf(out + k, len - k, "; %s %s to %s",
					      vm->failover_asked ? "failing over" : "migrating",
					      vm->name, f->nodes[to].name);
	}
}

/*
 * What the daemon is doing, in a line: the group, this node's copies, and
 * what the cluster is in the middle of (fencing, migrations, failovers).
 */
static void describe(struct hasvcd *d, char *out, size_t len)
{
	const struct fsm *f = d->fsm;
	unsigned prim = 0, stby = 0;
	int me = -1, k;

	for (int i = 0; i < HASVC_MAX_NODES; i++)
		if (f->nodes[i].name[0] && !strcmp(f->nodes[i].name, d->node))
			me = i;
	for (size_t v = 0; me >= 0 && v < HASVC_MAX_VMS; v++) {
		prim += f->vms[v].used && f->vms[v].primary == me;
		stby += f->vms[v].used && f->vms[v].standby == me;
	}
	k = snprintf(out, len, "node %s: %zu member%s, %s; %u primar%s, %u standby%s here",
		     d->node, d->n_members, d->n_members == 1 ? "" : "s",
		     f->quorate ? "quorate" : "NOT quorate", prim, prim == 1 ? "y" : "ies", stby,
		     stby == 1 ? "" : "s");
	describe_work(f, out, len, k > 0 ? (size_t)k : 0);
}

static void on_tick(void *data)
{
	struct hasvcd *d = data;
	struct notify *n = d->notify;
	char line[NOTIFY_STATUS_MAX];

	if (n->watchdog)
		sd_notify(0, "WATCHDOG=1");
	if (n->ready) {
		describe(d, line, sizeof(line));
		send_status(d, line);
	} else if (d->fsm && d->fsm->have_view) {
		/* Until the state exchange ends (sync.c) nothing runs here. */
		send_status(d, "joined the cluster group: agreeing on the cluster state");
	}
	qb_loop_timer_add(d->loop, QB_LOOP_HIGH, n->tick_us * 1000ULL, d, on_tick, &n->timer);
}

int notify__start(struct hasvcd *d)
{
	struct notify *n;
	uint64_t usec = 0;

	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	d->notify = n;
	n->tick_us = NOTIFY_TICK_US;
	/* Fed twice per period, as sd_watchdog_enabled(3) advises. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec) {
		n->watchdog = true;
		if (usec / 2 < n->tick_us)
			n->tick_us = usec / 2 > NOTIFY_TICK_MIN_US ? usec / 2 : NOTIFY_TICK_MIN_US;
		qb_log(LOG_INFO, "systemd watchdog: fed every %llu ms",
		       (unsigned long long)(n->tick_us / 1000));
	}
	send_status(d, "joining the cluster group");
	on_tick(d);
	return 0;
}

void notify__changed(struct hasvcd *d)
{
	struct notify *n = d->notify;
	char line[sizeof(n->status)];

	if (!n || !n->ready)
		return;
	describe(d, line, sizeof(line));
	send_status(d, line);
}

void notify__ready(struct hasvcd *d)
{
	struct notify *n = d->notify;
	char line[NOTIFY_STATUS_MAX];

	if (!n || n->ready)
		return;
	n->ready = true;
	describe(d, line, sizeof(line));
	snprintf(n->status, sizeof(n->status), "%s", line);
	sd_notifyf(0, "READY=1\nSTATUS=%s", line);
	qb_log(LOG_INFO, "told systemd: ready (%s)", line);
}

bool notify__stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	/* systemd's check (systemd.exec(5)): the stream it gave is still stderr. */
	return e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && !fstat(STDERR_FILENO, &st) &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void notify__stop(struct hasvcd *d)
{
	struct notify *n = d->notify;

	if (!n)
		return;
	sd_notify(0, "STOPPING=1\nSTATUS=leaving the cluster");
	qb_loop_timer_del(d->loop, n->timer);
	free(n);
	d->notify = NULL;
}
