/*
 * Self-fencing with a watchdog device, as Proxmox VE's watchdog-mux does it.
 *
 * While this node runs a primary and its [node] section says `fencing =
 * watchdog` (or `both`), hasvcd holds the device open (the Linux watchdog
 * API: open arms it, WDIOC_SETTIMEOUT, a write is a keepalive, 'V' before
 * close disarms it) and feeds it from a loop timer every quarter of the
 * timeout, but only while the node is quorate (the local votequorum flag and
 * the decision view both).  A node cut off from the quorate partition stops
 * feeding and is reset; so is one whose loop hangs.  The surviving members
 * wait the timeout plus [cluster] watchdog_margin_ms before they take its
 * VMs (fence.c), so by then it is off.
 *
 * A path that is not a watchdog (a file or a FIFO a test watches: the
 * ioctl says ENOTTY) gets the same opens and writes; that is logged, since
 * nothing resets the node then.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>

#include <qb/qblog.h>

#include "hasvc/daemon.h"

#define WATCHDOG_IDLE_MS 1000 /* how often to look while disarmed */
#define WATCHDOG_MIN_TICK_MS 250

struct watchdog {
	int fd;                 /* -1: disarmed */
	char path[4096];        /* armed: the device */
	unsigned timeout_s;     /* armed: its timeout */
	bool fed;               /* the last tick fed it */
	bool failed;            /* arming failed and was logged: once */
	qb_loop_timer_handle timer;
};

static const struct config_node *this_node(const struct hasvcd *d)
{
	return d->conf ? cluster_config__node(d->conf, d->node) : NULL;
}

/* The magic close: without the 'V' the device goes on counting. */
static int magic_close(struct watchdog *w)
{
	int ret = write(w->fd, "V", 1) == 1 ? 0 : -errno;

	close(w->fd);
	w->fd = -1;
	return ret;
}

static void disarm(struct hasvcd *d, const char *why)
{
	struct watchdog *w = d->watchdog;
	int ret = magic_close(w);

	if (ret)
		qb_log(LOG_ERR, "watchdog %s: the magic close failed: %s", w->path, strerror(-ret));
	qb_log(LOG_NOTICE, "watchdog %s disarmed: %s", w->path, why);
}

/*
 * The timeout the device runs with must be the one the others wait for.
 * 0, 1 for a stand-in (not a watchdog), or -errno with why.
 */
static int set_timeout(struct watchdog *w, unsigned want, char *why, size_t len)
{
	int t = (int)want;

	if (ioctl(w->fd, WDIOC_SETTIMEOUT, &t) == 0) {
		if ((unsigned)t <= want)
			return 0;
		snprintf(why, len, "it runs with %d s, not the %u s the cluster waits for", t,
			 want);
		return -ERANGE;
	}
	if (errno == ENOTTY)
		return 1;
	snprintf(why, len, "cannot set its timeout to %u s: %s", want, strerror(errno));
	return -errno;
}

/* Logged once while it keeps failing; the tick tries again every second. */
static int arm(struct hasvcd *d, const struct config_node *n)
{
	struct watchdog *w = d->watchdog;
	const char *path = n->watchdog_device ? n->watchdog_device :
					       CONFIG_DEFAULT_WATCHDOG_DEVICE;
	char why[160];
	int ret;

	snprintf(w->path, sizeof(w->path), "%s", path);
	w->fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
	if (w->fd < 0) {
		ret = -errno;
		snprintf(why, sizeof(why), "cannot open it: %s", strerror(errno));
	} else {
		ret = set_timeout(w, n->watchdog_timeout_s, why, sizeof(why));
		if (ret < 0)
			magic_close(w);
	}
	if (ret < 0) {
		if (!w->failed)
			qb_log(LOG_CRIT, "watchdog %s: %s: this node cannot fence itself (tried "
			       "again every second, logged once)", path, why);
		w->failed = true;
		return ret;
	}
	if (ret == 1)
		qb_log(LOG_WARNING, "watchdog_device %s is not a watchdog: keepalives are "
		       "written to it, but nothing resets this node", path);
	w->failed = false;
	w->timeout_s = n->watchdog_timeout_s;
	w->fed = true; /* so that a first tick without quorum says so */
	qb_log(LOG_NOTICE, "watchdog %s armed (%u s): a primary runs here", path, w->timeout_s);
	return 0;
}

static void feed(struct hasvcd *d)
{
	struct watchdog *w = d->watchdog;
	bool quorate = d->votequorum_quorate && d->fsm->quorate;

	if (!quorate) {
		if (w->fed)
			qb_log(LOG_CRIT, "watchdog %s: not fed without quorum: it resets this node in "
			       "%u s unless quorum returns", w->path, w->timeout_s);
		w->fed = false;
		return;
	}
	if (write(w->fd, ".", 1) != 1) {
		qb_log(LOG_ERR, "watchdog %s: keepalive failed: %s", w->path, strerror(errno));
		return;
	}
	if (!w->fed)
		qb_log(LOG_NOTICE, "watchdog %s: fed again", w->path);
	w->fed = true;
}

static void on_tick(void *data)
{
	struct hasvcd *d = data;
	struct watchdog *w = d->watchdog;
	const struct config_node *n = this_node(d);
	bool want = n && cluster_config__fence_by_watchdog(n) && local__runs_primary(d);
	unsigned tick = WATCHDOG_IDLE_MS;

	/* Another device or timeout after a reload: start again with it. */
	if (w->fd >= 0 && want && (w->timeout_s != n->watchdog_timeout_s ||
	    strcmp(w->path, n->watchdog_device ? n->watchdog_device :
		   CONFIG_DEFAULT_WATCHDOG_DEVICE)))
		disarm(d, "the configuration changed");
	if (w->fd >= 0 && !want)
		disarm(d, n && cluster_config__fence_by_watchdog(n) ? "no primary runs here" :
		       "this node is no longer fenced by its watchdog");
	if (w->fd < 0 && want)
		arm(d, n);
	else if (!want)
		w->failed = false;
	if (w->fd >= 0) {
		feed(d);
		tick = w->timeout_s * 1000 / 4;
		if (tick < WATCHDOG_MIN_TICK_MS)
			tick = WATCHDOG_MIN_TICK_MS;
	}
	qb_loop_timer_add(d->loop, QB_LOOP_HIGH, tick * 1000000ULL, d, on_tick, &w->timer);
}

int watchdog__new(struct hasvcd *d)
{
	d->watchdog = calloc(1, sizeof(*d->watchdog));
	if (!d->watchdog)
		return -ENOMEM;
	d->watchdog->fd = -1;
	return qb_loop_timer_add(d->loop, QB_LOOP_HIGH, 0, d, on_tick, &d->watchdog->timer);
}

/*
 * A daemon that stops while primaries run here leaves the device armed: a
 * killed daemon is a node loss the others wait out for the timeout, and a
 * clean stop's grace (grace.c) may end as one, so the node must be off by
 * then unless hasvcd is back to feed it.
 */
void watchdog__free(struct hasvcd *d)
{
	struct watchdog *w = d->watchdog;

	if (!w)
		return;
	qb_loop_timer_del(d->loop, w->timer);
	if (w->fd >= 0 && local__runs_primary(d)) {
		qb_log(LOG_CRIT, "watchdog %s stays armed: hasvcd stops while a primary runs here; "
		       "this node resets in %u s unless hasvcd feeds it again", w->path,
		       w->timeout_s);
		close(w->fd);
	} else if (w->fd >= 0) {
		disarm(d, "hasvcd stops");
	}
	free(w);
	d->watchdog = NULL;
}
