/*
 * Keeping the replicas of the state machine equal across membership
 * changes.
 *
 * A daemon that just joined the group (or whose partition healed) holds a
 * replica that differs from the others.  So after every configuration
 * change with joiners, every member multicasts its whole state (a State
 * message) and holds back every other message; once a State from every
 * member has been delivered, all adopt the one with the most events handled
 * while quorate (ties: the smallest node name), apply the membership change
 * and then the held-back messages.  Only a quorate view changes placement
 * and only one view at a time is quorate, so the largest count is the
 * newest authority.  Every member sees the same deliveries in the same
 * order, so every member adopts the same state at the same point.  A new
 * change during a round starts a new round, and drops what the old one held.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "hasvc/daemon.h"

#define MAX_MEMBERS 128

struct held {
	uint8_t *buf;
	size_t len;
};

struct sync {
	bool syncing;
	char members[MAX_MEMBERS][HASVC_NAME_MAX];
	bool got[MAX_MEMBERS];
	size_t n;
	/* The best State so far, packed; the sender's name. */
	uint8_t *best;
	size_t best_len;
	char best_from[HASVC_NAME_MAX];
	uint64_t best_events;
	struct held *held;
	size_t n_held, cap_held;
	uint64_t started_ms;
};

int sync__new(struct hasvcd *d)
{
	d->sync = calloc(1, sizeof(*d->sync));
	return d->sync ? 0 : -ENOMEM;
}

static void drop_held(struct sync *s)
{
	for (size_t i = 0; i < s->n_held; i++)
		free(s->held[i].buf);
	s->n_held = 0;
}

void sync__free(struct hasvcd *d)
{
	if (!d->sync)
		return;
	drop_held(d->sync);
	free(d->sync->held);
	free(d->sync->best);
	free(d->sync);
	d->sync = NULL;
}

static void send_state(struct hasvcd *d)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__State st = HASVC__CLUSTER__STATE__INIT;

	st.quorate_events = d->fsm->quorate_events;
	st.fsm.data = (uint8_t *)d->fsm;
	st.fsm.len = sizeof(*d->fsm);
	st.format = HASVCD_FSM_FORMAT;
	st.config_text = d->conf_text ? d->conf_text : (char *)"";
	st.config_path = d->conf ? d->conf->path : (char *)"";
	m.body_case = HASVC__CLUSTER__MSG__BODY_STATE;
	m.state = &st;
	if (cluster__send(d, &m))
		qb_log(LOG_ERR, "cannot send this replica's state to the group");
}

void sync__view(struct hasvcd *d, const char *const *members, size_t n, bool joiners)
{
	struct sync *s = d->sync;

	if (!joiners && !s->syncing) {
		apply__membership(d, members, n);
		return;
	}
	if (s->syncing && s->n_held) {
		/*
		 * Messages held in the interrupted round were not delivered to
		 * the members joining now: applying them would make the replicas
		 * differ, so every member drops them.  What they said comes back:
		 * every member reports its copies after a round, fencing is asked
		 * again on every view change, a node offers its configuration when
		 * the cluster has none; an operator command sent then gets no
		 * answer and hactl says so.
		 */
		qb_log(LOG_NOTICE, "membership changed again during the state exchange: "
		       "%zu held messages dropped", s->n_held);
		drop_held(s);
	}
	if (n > MAX_MEMBERS)
		n = MAX_MEMBERS;
	for (size_t i = 0; i < n; i++) {
		snprintf(s->members[i], HASVC_NAME_MAX, "%s", members[i]);
		s->got[i] = false;
	}
	s->n = n;
	free(s->best);
	s->best = NULL;
	s->best_len = 0;
	s->best_from[0] = 0;
	if (!s->syncing)
		s->started_ms = hasvcd__now_ms();
	s->syncing = true;
	send_state(d);
}

static bool better(const struct sync *s, uint64_t events, const char *from)
{
	if (!s->best)
		return true;
	if (events != s->best_events)
		return events > s->best_events;
	return strcmp(from, s->best_from) < 0;
}

/* Every member checks the same bytes alike, so all skip the same states. */
static bool valid_state(const uint8_t *bytes, const char *from)
{
	struct fsm *f = malloc(sizeof(*f));
	char why[256];
	bool ok;

	if (!f) {
		qb_log(LOG_CRIT, "out of memory while checking a state");
		abort();
	}
	memcpy(f, bytes, sizeof(*f));
	ok = !fsm__validate(f, why, sizeof(why));
	if (!ok)
		qb_log(LOG_ERR, "the state node %s sent is not valid (%s): not used", from, why);
	free(f);
	return ok;
}

static void take_state(struct hasvcd *d, const Hasvc__Cluster__Msg *m)
{
	struct sync *s = d->sync;
	const Hasvc__Cluster__State *st = m->state;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->members[i], m->sender))
			break;
	if (i == s->n || s->got[i])
		return;
	s->got[i] = true;
	if (st->format != HASVCD_FSM_FORMAT || st->fsm.len != sizeof(struct fsm)) {
		qb_log(LOG_ERR, "node %s runs a hasvcd with another state format (%#x, %zu bytes): "
		       "its state is not used", m->sender, st->format, st->fsm.len);
		return;
	}
	if (!valid_state(st->fsm.data, m->sender))
		return;
	if (!better(s, st->quorate_events, m->sender))
		return;
	free(s->best);
	s->best_len = hasvc__cluster__msg__get_packed_size(m);
	s->best = malloc(s->best_len);
	if (!s->best) {
		qb_log(LOG_CRIT, "out of memory while adopting the cluster state");
		abort();
	}
	hasvc__cluster__msg__pack(m, s->best);
	s->best_events = st->quorate_events;
	snprintf(s->best_from, sizeof(s->best_from), "%s", m->sender);
}

static void adopt(struct hasvcd *d)
{
	struct sync *s = d->sync;
	Hasvc__Cluster__Msg *m;
	char err[CONFIG_ERR_MAX];

	if (!s->best || !strcmp(s->best_from, d->node))
		return;
	m = hasvc__cluster__msg__unpack(NULL, s->best_len, s->best);
	if (!m)
		return;
	memcpy(d->fsm, m->state->fsm.data, sizeof(*d->fsm));
	if (m->state->config_text[0] &&
	    hasvcd__set_config(d, m->state->config_text, m->state->config_path, err, sizeof(err)))
		qb_log(LOG_ERR, "the cluster's configuration does not parse here: %s", err);
	qb_log(LOG_INFO, "adopted the state of %s (%llu quorate events)", s->best_from,
	       (unsigned long long)s->best_events);
	hasvc__cluster__msg__free_unpacked(m, NULL);
}

static void finish(struct hasvcd *d)
{
	struct sync *s = d->sync;
	const char *names[MAX_MEMBERS];
	size_t n_held = s->n_held;

	adopt(d);
	for (size_t i = 0; i < s->n; i++)
		names[i] = s->members[i];
	s->syncing = false;
	qb_log(LOG_INFO, "group state agreed in %llu ms", (unsigned long long)
	       (hasvcd__now_ms() - s->started_ms));
	apply__membership(d, names, s->n);
	for (size_t i = 0; i < n_held; i++) {
		Hasvc__Cluster__Msg *m = hasvc__cluster__msg__unpack(NULL, s->held[i].len,
								      s->held[i].buf);

		if (m) {
			apply__message(d, m);
			hasvc__cluster__msg__free_unpacked(m, NULL);
		}
	}
	drop_held(s);
	apply__after_sync(d);
}

static void hold(struct sync *s, const Hasvc__Cluster__Msg *m)
{
	struct held *h;

	if (s->n_held == s->cap_held) {
		size_t cap = s->cap_held ? 2 * s->cap_held : 16;
		struct held *nh = realloc(s->held, cap * sizeof(*nh));

		if (!nh)
			goto oom;
		s->held = nh;
		s->cap_held = cap;
	}
	h = &s->held[s->n_held];
	h->len = hasvc__cluster__msg__get_packed_size(m);
	h->buf = malloc(h->len ? h->len : 1);
	if (!h->buf)
		goto oom;
	hasvc__cluster__msg__pack(m, h->buf);
	s->n_held++;
	return;
oom:
	/* Dropping a message would make this replica differ: give up. */
	qb_log(LOG_CRIT, "out of memory while holding back messages");
	abort();
}

void sync__deliver(struct hasvcd *d, Hasvc__Cluster__Msg *m)
{
	struct sync *s = d->sync;
	bool done = true;

	if (!m->sender || !m->sender[0]) {
		qb_log(LOG_WARNING, "message without a sender: ignored");
		return;
	}
	if (m->body_case == HASVC__CLUSTER__MSG__BODY_STATE) {
		/* States outside a round are answers to a round already closed. */
		if (!s->syncing)
			return;
		take_state(d, m);
		for (size_t i = 0; i < s->n; i++)
			done = done && s->got[i];
		if (done)
			finish(d);
		return;
	}
	if (s->syncing)
		hold(s, m);
	else
		apply__message(d, m);
}
