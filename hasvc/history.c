/*
 * The cluster events of this daemon (history.h): derived around every step,
 * kept in a ring, exchanged with the state, served to hactl.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "hasvc/history.h"
#include "hasvc/journal.h"

struct history {
	struct events ev;
	struct fsm before;          /* the replica before the current step */
	/*
	 * The highest number handed to alert_command: an event is alerted
	 * once on this node, and never one this node took from another's
	 * state.
	 */
	uint64_t alerted;
};

int history__new(struct hasvcd *d)
{
	d->history = calloc(1, sizeof(*d->history));
	if (!d->history)
		return -ENOMEM;
	events__init(&d->history->ev);
	return 0;
}

void history__free(struct hasvcd *d)
{
	free(d->history);
	d->history = NULL;
}

void history__before_step(struct hasvcd *d)
{
	memcpy(&d->history->before, d->fsm, sizeof(d->history->before));
}

void history__after_step(struct hasvcd *d)
{
	struct history *h = d->history;
	struct cluster_event out[EVENTS_PER_STEP];
	size_t n = events__diff(&h->before, d->fsm, &d->acts, out, EVENTS_PER_STEP);

	for (size_t i = 0; i < n; i++) {
		out[i].time_ms = hasvcd__wall_ms();
		events__push(&h->ev, &out[i]);
		journal__event(events__name(out[i].kind), out[i].node, out[i].vm, out[i].seq);
		qb_log(LOG_NOTICE, "event %llu: %s%s%s%s%s", (unsigned long long)out[i].seq,
		       events__name(out[i].kind), out[i].node[0] ? " node " : "", out[i].node,
		       out[i].vm[0] ? " vm " : "", out[i].vm);
		journal__clear();
		/*
		 * A replica read back from the state file (persist.c) and not yet
		 * through a quorate view numbers its events on its own: the
		 * cluster's, adopted or confirmed later, are the ones alerted.
		 */
		if (out[i].seq > h->alerted && !d->replica_saved) {
			h->alerted = out[i].seq;
			alert__event(d, &out[i]);
		}
	}
}

int history__encode(struct hasvcd *d, Hasvc__Cluster__State *st)
{
	const struct events *e = &d->history->ev;
	Hasvc__Cluster__ClusterEvent *v = calloc(e->n ? e->n : 1, sizeof(*v));
	Hasvc__Cluster__ClusterEvent **p = calloc(e->n ? e->n : 1, sizeof(*p));

	if (!v || !p) {
		free(v);
		free(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i < e->n; i++) {
		const struct cluster_event *ev = events__at(e, i);

		hasvc__cluster__cluster_event__init(&v[i]);
		v[i].seq = ev->seq;
		v[i].kind = (char *)events__name(ev->kind);
		v[i].node = (char *)ev->node;
		v[i].vm = (char *)ev->vm;
		v[i].time_ms = ev->time_ms;
		p[i] = &v[i];
	}
	st->events = p;
	st->n_events = e->n;
	st->events_next_seq = e->next_seq;
	return 0;
}

void history__encoded_free(Hasvc__Cluster__State *st)
{
	if (st->events)
		free(st->events[0]);
	free(st->events);
	st->events = NULL;
	st->n_events = 0;
}

/* One event of a State; false when it is not one this build can hold. */
static bool take(const Hasvc__Cluster__ClusterEvent *m, struct cluster_event *ev)
{
	int kind = events__kind(m->kind);

	if (kind < 0 || strlen(m->node) >= sizeof(ev->node) || strlen(m->vm) >= sizeof(ev->vm))
		return false;
	memset(ev, 0, sizeof(*ev));
	ev->seq = m->seq;
	ev->kind = (uint8_t)kind;
	strcpy(ev->node, m->node);
	strcpy(ev->vm, m->vm);
	ev->time_ms = m->time_ms;
	return true;
}

void history__adopt(struct hasvcd *d, const Hasvc__Cluster__State *st)
{
	struct history *h = d->history;
	size_t first = st->n_events > EVENTS_RING ? st->n_events - EVENTS_RING : 0;

	/* A sender without events (an older hasvcd) leaves ours as they are. */
	if (!st->events_next_seq)
		return;
	h->ev.n = 0;
	for (size_t i = first; i < st->n_events; i++)
		if (take(st->events[i], &h->ev.ring[h->ev.n]))
			h->ev.n++;
	h->ev.next_seq = st->events_next_seq;
	/*
	 * What the cluster saw before this node took its state is not alerted
	 * here.  Also when the numbers go back (a partition that healed took
	 * the other side's history): the events that come next are new ones.
	 */
	h->alerted = st->events_next_seq - 1;
}

void history__reply(struct hasvcd *d, struct hasvc_ipc_req *req,
		    const Hasvc__Ctl__EventsRequest *er)
{
	const struct events *e = &d->history->ev;
	Hasvc__Ctl__Response r = HASVC__CTL__RESPONSE__INIT;
	Hasvc__Ctl__Event *v = calloc(EVENTS_RING, sizeof(*v));
	Hasvc__Ctl__Event **p = calloc(EVENTS_RING, sizeof(*p));

	if (!v || !p) {
		hasvc_ipc__fail(req, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < e->n; i++) {
		const struct cluster_event *ev = events__at(e, i);

		if (ev->seq <= er->after_seq)
			continue;
		hasvc__ctl__event__init(&v[r.n_events]);
		v[r.n_events].seq = ev->seq;
		v[r.n_events].event = (char *)events__name(ev->kind);
		v[r.n_events].node = (char *)ev->node;
		v[r.n_events].vm = (char *)ev->vm;
		v[r.n_events].time_ms = ev->time_ms;
		p[r.n_events] = &v[r.n_events];
		r.n_events++;
	}
	r.ok = true;
	r.events = p;
	r.events_next_seq = e->next_seq;
	hasvc_ipc__reply(req, &r);
out:
	free(v);
	free(p);
}
