/*
 * The journal target (journal.h): a libqb custom target that writes each
 * line with sd_journal_sendv, adding the event's fields when a line says one.
 *
 * The fields are per thread, set around the one qb_log call that needs them
 * (history.c): libqb's logging is the process's, not a daemon's, and calls
 * the target synchronously on the logging thread (hasvcd does not use
 * QB_LOG_CONF_THREADED), so a line logged meanwhile by another thread
 * never takes them.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include <qb/qblog.h>
/* The CODE_* fields are the logging call's, not this file's. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "hasvc/journal.h"

#define FIELDS_MAX 11

struct event_fields {
	const char *event;           /* NULL: the line says no event */
	const char *node, *vm;
	uint64_t seq;
};

static _Thread_local struct event_fields cur;

void journal__event(const char *event, const char *node, const char *vm, uint64_t seq)
{
	cur.event = event;
	cur.node = node;
	cur.vm = vm;
	cur.seq = seq;
}

void journal__clear(void)
{
	memset(&cur, 0, sizeof(cur));
}

struct fields {
	struct iovec iov[FIELDS_MAX];
	char buf[FIELDS_MAX][QB_LOG_MAX_LEN + 32];
	int n;
};

/* KEY=value into the next field; an empty value is left out. */
static void add(struct fields *f, const char *key, const char *fmt, ...)
{
	char *b = f->buf[f->n];
	size_t k = strlen(key);
	va_list ap;
	int len;

	if (f->n == FIELDS_MAX || k + 2 > sizeof(f->buf[0]))
		return;
	memcpy(b, key, k);
	b[k] = '=';
	va_start(ap, fmt);
	len = vsnprintf(b + k + 1, sizeof(f->buf[0]) - k - 1, fmt, ap);
	va_end(ap);
	if (len <= 0)
		return;
	if ((size_t)len >= sizeof(f->buf[0]) - k - 1)
		len = (int)(sizeof(f->buf[0]) - k - 2);
	f->iov[f->n].iov_base = b;
	f->iov[f->n].iov_len = k + 1 + (size_t)len;
	f->n++;
}

static void logger(int32_t t, struct qb_log_callsite *cs, struct timespec *ts, const char *msg)
{
	/* libqb's LOG_TRACE is one past LOG_DEBUG, which the journal has not. */
	int prio = cs->priority > LOG_DEBUG ? LOG_DEBUG : cs->priority;
	struct fields f = { .n = 0 };

	(void)t;
	(void)ts;
	add(&f, "PRIORITY", "%d", prio);
	add(&f, "CODE_LINE", "%u", cs->lineno);
	add(&f, "CODE_FILE", "%s", cs->filename);
	add(&f, "CODE_FUNC", "%s", cs->function);
	add(&f, "SYSLOG_IDENTIFIER", "%s", "hasvcd");
	add(&f, "MESSAGE", "%s", msg);
	if (cur.event) {
		add(&f, "HASVC_EVENT", "%s", cur.event);
		add(&f, "HASVC_NODE", "%s", cur.node ? cur.node : "");
		add(&f, "HASVC_VM", "%s", cur.vm ? cur.vm : "");
		add(&f, "HASVC_SEQ", "%llu", (unsigned long long)cur.seq);
	}
	/* Nothing to tell anyone when the journal cannot take a line. */
	sd_journal_sendv(f.iov, f.n);
}

int journal__open(int level)
{
	int32_t t = qb_log_custom_open(logger, NULL, NULL, NULL);

	if (t < 0)
		return t;
	qb_log_filter_ctl(t, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", level);
	qb_log_ctl(t, QB_LOG_CONF_ENABLED, QB_TRUE);
	return t;
}
