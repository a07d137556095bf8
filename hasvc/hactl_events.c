/*
 * `hactl events [--follow]` (hactl.h, docs/hactl.md): the cluster events
 * hasvcd holds, one line each; --follow asks again every
 * HACTL_WAIT_POLL_MS for those after the last one shown.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hasvc/hactl.h"
#include "ipc/json_out.h"

/* "2026-12-06 16:40:00.123" (UTC) */
static void format_time(int64_t ms, char *out, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	char date[32];
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, len, "%s.%03d", date, (int)(ms % 1000));
}

static void print_event(const struct hactl *h, const Hasvc__Ctl__Event *ev)
{
	char when[48];

	if (h->json) {
		json_out__print(stdout, json_out__message(&ev->base, JSON_OUT_SIGNIFICANT));
		return;
	}
	format_time(ev->time_ms, when, sizeof(when));
	printf("%" PRIu64 " %s %s%s%s%s%s\n", ev->seq, when, ev->event,
	       ev->node[0] ? " node=" : "", ev->node, ev->vm[0] ? " vm=" : "", ev->vm);
}

/* One call: the events after *after, printed; *after moves to the last. */
static int fetch(struct hactl *h, uint64_t *after, char *err, size_t errlen)
{
	Hasvc__Ctl__EventsRequest er = HASVC__CTL__EVENTS_REQUEST__INIT;
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;
	Hasvc__Ctl__Response *resp;
	int rc;

	er.after_seq = *after;
	req.command_case = HASVC__CTL__REQUEST__COMMAND_EVENTS;
	req.events = &er;
	rc = hactl__call(h, &req, HACTL_STATUS_TIMEOUT_MS, &resp, err, errlen);
	if (rc < 0)
		return rc;
	if (!resp->ok) {
		snprintf(err, errlen, "events: %s", resp->error[0] ? resp->error : "refused");
		rc = -(resp->code ? resp->code : EPROTO);
	} else if (h->json && !h->follow) {
		json_out__print(stdout, json_out__message(&resp->base, JSON_OUT_SIGNIFICANT));
	} else {
		/* A cluster that started afresh numbers from 1 again. */
		if (resp->events_next_seq && resp->events_next_seq <= *after) {
			fprintf(stderr, "hactl: the cluster's events start again from 1\n");
			*after = 0;
		}
		if (resp->n_events && *after && resp->events[0]->seq > *after + 1)
			fprintf(stderr, "hactl: events %" PRIu64 " to %" PRIu64 " left the ring "
				"before they were shown\n", *after + 1, resp->events[0]->seq - 1);
		for (size_t i = 0; i < resp->n_events; i++)
			print_event(h, resp->events[i]);
	}
	if (!rc && resp->n_events)
		*after = resp->events[resp->n_events - 1]->seq;
	hasvc__ctl__response__free_unpacked(resp, NULL);
	fflush(stdout);
	return rc;
}

int hactl__events(struct hactl *h)
{
	struct timespec pause = { .tv_sec = 0, .tv_nsec = HACTL_WAIT_POLL_MS * 1000000L };
	char err[256], said[256] = "";
	uint64_t after = 0;
	int rc;

	for (;;) {
		rc = fetch(h, &after, err, sizeof(err));
		if (rc < 0 && !h->follow)
			return hactl__report_failure(h, rc, err);
		/* Following, a daemon that restarts is waited for: said once. */
		if (rc < 0 && strcmp(err, said))
			fprintf(stderr, "hactl: %s; trying again\n", err);
		snprintf(said, sizeof(said), "%s", rc < 0 ? err : "");
		if (!h->follow)
			return 0;
		nanosleep(&pause, NULL);
	}
}
