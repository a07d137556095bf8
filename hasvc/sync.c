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
 *
 * Who takes part: the hasvcd of each node id (cluster.c) whose node the
 * configuration declares.  A State counts only from such a member, under
 * the name corosync gives its node id.
 *
 * A round has a time limit ([cluster] sync_timeout_ms).  A member whose
 * limit passes multicasts a SyncCut naming the round; the first one
 * delivered, from a member that has answered, ends the round at the same
 * point on every member: those whose State had not come are taken as gone
 * (left out of the membership, their messages ignored) for as long as they
 * stay in the group.  The held-back messages are bounded too.  When they
 * fill, the member that sent the most of them in the round but not its
 * State (a rogue or broken daemon flooding it) is cut off at once, its held
 * messages dropped, and the round goes on waiting for the others: a healthy
 * daemon that was only slow to answer (not scheduled for a while, perhaps
 * with a message on its way) is not cut off for another's flood.  Where no such member made them fill, the
 * round ends as at its time limit, at once.  A daemon that finds itself
 * cut off has a replica the others no longer count: it leaves (self-fence,
 * exit as a failure; its service manager starts it again).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "hasvc/daemon.h"
#include "hasvc/fsm_codec.h"
#include "hasvc/history.h"
#include "hasvc/msgq.h"

#define MAX_MEMBERS CPG_VIEW_MAX

struct sync_member {
	struct group_member id;
	bool expected;           /* a State is waited for from it */
	bool got;
	bool cut;                /* taken as gone: ignored while it stays */
	size_t held;             /* its messages held in this round */
	size_t held_bytes;       /* ... and their bytes */
	unsigned long ignored;   /* its messages ignored since */
};

struct sync {
	struct hasvcd *d;
	bool syncing;
	struct sync_member m[MAX_MEMBERS];
	size_t n;
	/* The best State so far, packed; the sender's name. */
	uint8_t *best;
	size_t best_len;
	char best_from[HASVC_NAME_MAX];
	uint64_t best_events;
	bool best_saved, best_running;
	struct msgq held;
	uint64_t started_ms;
	bool timer_armed;
	qb_loop_timer_handle timer;
};

int sync__new(struct hasvcd *d)
{
	d->sync = calloc(1, sizeof(*d->sync));
	if (!d->sync)
		return -ENOMEM;
	d->sync->d = d;
	msgq__init(&d->sync->held, HASVCD_HELD_MAX, HASVCD_HELD_BYTES);
	return 0;
}

static void stop_timer(struct sync *s)
{
	if (s->timer_armed)
		qb_loop_timer_del(s->d->loop, s->timer);
	s->timer_armed = false;
}

void sync__free(struct hasvcd *d)
{
	if (!d->sync)
		return;
	stop_timer(d->sync);
	msgq__clear(&d->sync->held);
	free(d->sync->best);
	free(d->sync);
	d->sync = NULL;
}

/* This replica can no longer follow the group: leave rather than act. */
static void leave(struct hasvcd *d, const char *why)
{
	qb_log(LOG_CRIT, "%s: self-fencing and leaving the cluster", why);
	local__self_fence(d);
	d->stopping = d->failed = true;
	qb_loop_stop(d->loop);
}

static unsigned timeout_ms(const struct hasvcd *d)
{
	return d->conf ? d->conf->sync_timeout_ms : CONFIG_DEFAULT_SYNC_TIMEOUT_MS;
}

static struct sync_member *member(struct sync *s, const struct group_member *g)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->m[i].id.nodeid == g->nodeid && s->m[i].id.pid == g->pid)
			return &s->m[i];
	return NULL;
}

static struct sync_member *self(struct sync *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->m[i].id.self)
			return &s->m[i];
	return NULL;
}

/* The members not cut off, by name, as the state machine sees them. */
static size_t member_names(const struct sync *s, const char **names)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n; i++)
		if (!s->m[i].cut)
			names[k++] = s->m[i].id.name;
	return k;
}

static void apply_view(struct hasvcd *d)
{
	const char *names[MAX_MEMBERS];
	size_t n = member_names(d->sync, names);

	apply__membership(d, names, n);
}

static void fill_members(const struct sync *s, Hasvc__Cluster__Member *v,
			 Hasvc__Cluster__Member **p, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->m[i].cut || !s->m[i].id.certain)
			continue;
		hasvc__cluster__member__init(&v[*n]);
		v[*n].nodeid = s->m[i].id.nodeid;
		v[*n].pid = s->m[i].id.pid;
		p[*n] = &v[*n];
		(*n)++;
	}
}

#ifdef HASVC_FAULT_INJECTION
/*
 * HASVCD_TEST_STATE_EXTRA_FIELD=N (tests/cluster/newer_state.sh): this daemon's
 * State carries field N, which no version knows, in its Replica and in each
 * of its VMs, as a newer hasvcd's would.  Only in builds configured with
 * --enable-fault-injection.
 */
static void add_test_field(Hasvc__Cluster__Replica *r, ProtobufCMessageUnknownField *u)
{
	/* A length-prefixed field: its data holds the length, then the bytes. */
	static const char data[] = "\x0cnext version";
	const char *v = getenv("HASVCD_TEST_STATE_EXTRA_FIELD");

	if (!v)
		return;
	u->tag = (uint32_t)strtoul(v, NULL, 10);
	u->wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	u->len = sizeof(data) - 1;
	u->data = (uint8_t *)data;
	r->base.n_unknown_fields = 1;
	r->base.unknown_fields = u;
	for (size_t k = 0; k < r->n_vms; k++) {
		r->vms[k]->base.n_unknown_fields = 1;
		r->vms[k]->base.unknown_fields = u;
	}
}
#else
static void add_test_field(Hasvc__Cluster__Replica *r, ProtobufCMessageUnknownField *u)
{
	(void)r;
	(void)u;
}
#endif

static void send_state(struct hasvcd *d)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__State st = HASVC__CLUSTER__STATE__INIT;
	Hasvc__Cluster__Member v[MAX_MEMBERS], *p[MAX_MEMBERS];
	ProtobufCMessageUnknownField extra;

	st.replica = fsm_codec__encode(d->fsm);
	if (!st.replica) {
		leave(d, "out of memory while encoding this replica's state");
		return;
	}
	add_test_field(st.replica, &extra);
	st.quorate_events = d->fsm->quorate_events;
	st.saved = d->replica_saved;
	st.format = FSM_CODEC_FORMAT;
	st.config_text = d->conf_text ? d->conf_text : (char *)"";
	st.config_path = d->conf ? d->conf->path : (char *)"";
	fill_members(d->sync, v, p, &st.n_members);
	st.members = p;
	if (history__encode(d, &st))
		qb_log(LOG_ERR, "out of memory: this state goes without its events");
	m.body_case = HASVC__CLUSTER__MSG__BODY_STATE;
	m.state = &st;
	if (cluster__send(d, &m))
		qb_log(LOG_ERR, "cannot send this replica's state to the group");
	history__encoded_free(&st);
	fsm_codec__free(st.replica);
}

static void on_timeout(void *data);

static void arm_timer(struct sync *s)
{
	stop_timer(s);
	s->timer_armed = !qb_loop_timer_add(s->d->loop, QB_LOOP_HIGH,
					    timeout_ms(s->d) * 1000000ULL, s, on_timeout,
					    &s->timer);
	if (!s->timer_armed)
		qb_log(LOG_ERR, "cannot arm the state exchange's time limit");
}

/* The members a round waits for, as a SyncCut names them. */
static size_t round_members(const struct sync *s, Hasvc__Cluster__Member *v,
			    Hasvc__Cluster__Member **p)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (!s->m[i].expected)
			continue;
		hasvc__cluster__member__init(&v[n]);
		v[n].nodeid = s->m[i].id.nodeid;
		v[n].pid = s->m[i].id.pid;
		p[n] = &v[n];
		n++;
	}
	return n;
}

static void on_timeout(void *data)
{
	struct sync *s = data;
	struct sync_member *me = self(s);
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__SyncCut cut = HASVC__CLUSTER__SYNC_CUT__INIT;
	Hasvc__Cluster__Member v[MAX_MEMBERS], *p[MAX_MEMBERS];

	s->timer_armed = false;
	if (!s->syncing)
		return;
	/* Again later: the cut may be lost in a new view, or our State be late. */
	arm_timer(s);
	if (!me || !me->got)
		return;
	for (size_t i = 0; i < s->n; i++)
		if (s->m[i].expected && !s->m[i].got)
			qb_log(LOG_WARNING, "state exchange: no state from %s (node id %u, pid %u) "
			       "after %u ms", s->m[i].id.name, s->m[i].id.nodeid, s->m[i].id.pid,
			       timeout_ms(s->d));
	cut.n_round = round_members(s, v, p);
	cut.round = p;
	m.body_case = HASVC__CLUSTER__MSG__BODY_SYNC_CUT;
	m.sync_cut = &cut;
	if (cluster__send(s->d, &m))
		qb_log(LOG_ERR, "cannot ask the group to end the state exchange");
}

static bool declared(const struct hasvcd *d, const char *name)
{
	return d->conf && cluster_config__node(d->conf, name);
}

void sync__view(struct hasvcd *d, const struct group_member *members, size_t n, bool joiners)
{
	struct sync *s = d->sync;
	struct sync_member next[MAX_MEMBERS];

	if (n > MAX_MEMBERS)
		n = MAX_MEMBERS;
	/* A member cut off stays cut off while it stays in the group. */
	for (size_t i = 0; i < n; i++) {
		const struct sync_member *old = member(s, &members[i]);

		memset(&next[i], 0, sizeof(next[i]));
		next[i].id = members[i];
		next[i].cut = old && old->cut;
		next[i].ignored = old ? old->ignored : 0;
		next[i].expected = !next[i].cut && declared(d, members[i].name);
	}
	memcpy(s->m, next, n * sizeof(*next));
	s->n = n;
	if (!joiners && !s->syncing) {
		apply_view(d);
		return;
	}
	if (s->syncing && s->held.n) {
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
		       "%zu held messages dropped", s->held.n);
		msgq__clear(&s->held);
	}
	free(s->best);
	s->best = NULL;
	s->best_len = 0;
	s->best_from[0] = 0;
	if (!s->syncing)
		s->started_ms = hasvcd__now_ms();
	s->syncing = true;
	arm_timer(s);
	send_state(d);
}

/*
 * A configured replica whose last view was quorate: the running cluster's.
 * Not merely configured: a node without a state file that started first
 * configures the cluster from its own file alone, and that replica must not
 * beat what the others read back (persist.c).
 */
static bool running(const Hasvc__Cluster__State *st)
{
	return st->replica && st->replica->configured && st->replica->quorate;
}

/*
 * Whether st beats the best State so far: a running cluster's replica
 * beats one read back from a state file (persist.c); else the most quorate
 * events, then one not read back (a daemon that ran on alone, not quorate,
 * since the file's node left has as many events and knows more), then the
 * smallest node name.
 */
static bool better(const struct sync *s, const Hasvc__Cluster__State *st, const char *from)
{
	if (!s->best)
		return true;
	if (st->saved != s->best_saved && (st->saved ? s->best_running : running(st)))
		return !st->saved;
	if (st->quorate_events != s->best_events)
		return st->quorate_events > s->best_events;
	if (st->saved != s->best_saved)
		return !st->saved;
	return strcmp(from, s->best_from) < 0;
}

/* The replica a State carries, decoded into f: 0 or -EINVAL with why. */
static int decode_state(const Hasvc__Cluster__State *st, struct fsm *f, char *why, size_t len)
{
	if (!st->replica) {
		snprintf(why, len, "State.replica missing");
		return -EINVAL;
	}
	if (fsm_codec__decode(st->replica, f, why, len))
		return -EINVAL;
	if (f->quorate_events != st->quorate_events) {
		snprintf(why, len, "State.quorate_events %llu but Replica.quorate_events %llu",
			 (unsigned long long)st->quorate_events,
			 (unsigned long long)f->quorate_events);
		return -EINVAL;
	}
	return 0;
}

/*
 * Every member checks the same bytes alike, so all skip the same states.
 * Fields a newer hasvcd added are dropped, and said so (docs/hasvc-daemon.md,
 * "Versions").
 */
static int valid_state(const Hasvc__Cluster__State *st, const char *from)
{
	struct fsm *f = malloc(sizeof(*f));
	char why[256];
	size_t unknown;
	int ret;

	if (!f)
		return -ENOMEM;
	ret = decode_state(st, f, why, sizeof(why));
	free(f);
	if (ret) {
		qb_log(LOG_ERR, "the state node %s sent is not valid (%s): not used", from, why);
		return ret;
	}
	unknown = fsm_codec__unknown(st->replica);
	if (unknown)
		qb_log(LOG_NOTICE, "the state node %s sent has %zu fields this hasvcd does not "
		       "know (a newer hasvcd's): ignored", from, unknown);
	return 0;
}

static void take_state(struct hasvcd *d, struct sync_member *sm, const Hasvc__Cluster__Msg *m)
{
	struct sync *s = d->sync;
	const Hasvc__Cluster__State *st = m->state;
	int ret;

	if (!sm->expected) {
		qb_log(LOG_WARNING, "state from %s (node id %u, pid %u), which %s: not used",
		       sm->id.name, sm->id.nodeid, sm->id.pid,
		       sm->cut ? "was cut off from an earlier state exchange" :
		       "the configuration does not declare");
		return;
	}
	if (sm->got)
		return;
	sm->got = true;
	if (st->format != FSM_CODEC_FORMAT) {
		qb_log(LOG_ERR, "node %s runs a hasvcd with another state format (%#x, this one "
		       "reads %#x): its state is not used", m->sender, st->format,
		       FSM_CODEC_FORMAT);
		return;
	}
	if (!sm->id.certain) {
		qb_log(LOG_WARNING, "state from %s (pid %u): this daemon does not know yet "
		       "whether it is that node's hasvcd: counted, not used", sm->id.name,
		       sm->id.pid);
		return;
	}
	ret = valid_state(st, m->sender);
	if (ret == -ENOMEM)
		leave(d, "out of memory while checking a state");
	if (ret || !better(s, st, m->sender))
		return;
	free(s->best);
	s->best_len = hasvc__cluster__msg__get_packed_size(m);
	s->best = malloc(s->best_len);
	if (!s->best) {
		leave(d, "out of memory while keeping the cluster's state");
		return;
	}
	hasvc__cluster__msg__pack(m, s->best);
	s->best_events = st->quorate_events;
	s->best_saved = st->saved;
	s->best_running = running(st);
	snprintf(s->best_from, sizeof(s->best_from), "%s", m->sender);
}

/* The adopted state names the hasvcd of node ids this daemon had to guess. */
static void trust(struct hasvcd *d, const Hasvc__Cluster__State *st)
{
	struct sync *s = d->sync;

	for (size_t i = 0; i < s->n; i++) {
		if (s->m[i].id.certain)
			continue;
		for (size_t k = 0; k < st->n_members; k++) {
			if (st->members[k]->nodeid != s->m[i].id.nodeid ||
			    cluster__trust(d, st->members[k]->nodeid, st->members[k]->pid))
				continue;
			s->m[i].id.pid = st->members[k]->pid;
			s->m[i].id.certain = true;
		}
	}
}

static void adopt(struct hasvcd *d)
{
	struct sync *s = d->sync;
	Hasvc__Cluster__Msg *m;
	char err[CONFIG_ERR_MAX];
	uint8_t before[HASVC_DIGEST_LEN];

	if (!s->best || !strcmp(s->best_from, d->node))
		return;
	m = hasvc__cluster__msg__unpack(NULL, s->best_len, s->best);
	if (!m)
		return;
	/* take_state decoded the same bytes without an error. */
	if (fsm_codec__decode(m->state->replica, d->fsm, err, sizeof(err))) {
		hasvc__cluster__msg__free_unpacked(m, NULL);
		leave(d, "the state kept from the exchange no longer decodes");
		return;
	}
	memcpy(before, d->conf_digest, sizeof(before));
	if (m->state->config_text[0] &&
	    hasvcd__set_config(d, m->state->config_text, m->state->config_path, err, sizeof(err)))
		qb_log(LOG_ERR, "the cluster's configuration does not parse here: %s", err);
	else
		config_dist__adopted(d, before);
	trust(d, m->state);
	history__adopt(d, m->state);
	d->replica_saved = s->best_saved;
	qb_log(LOG_INFO, "adopted the state of %s (%llu quorate events)", s->best_from,
	       (unsigned long long)s->best_events);
	hasvc__cluster__msg__free_unpacked(m, NULL);
}

static bool cut_off(const struct sync *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->m[i].cut && !strcmp(s->m[i].id.name, name))
			return true;
	return false;
}

/*
 * Whether the protocol expects m from its sender.  A configuration runs
 * commands as root on every node (fence_command) and names their disks: it
 * is taken only from a node the configuration in force declares.
 */
static bool expected(const struct hasvcd *d, const Hasvc__Cluster__Msg *m)
{
	if (m->body_case == HASVC__CLUSTER__MSG__BODY_CONFIG && !declared(d, m->sender)) {
		qb_log(LOG_WARNING, "configuration from %s, a node the configuration in force "
		       "does not declare: ignored", m->sender);
		return false;
	}
	return true;
}

static void finish(struct hasvcd *d)
{
	struct sync *s = d->sync;
	const struct msgq_item *it;

	stop_timer(s);
	adopt(d);
	s->syncing = false;
	qb_log(LOG_INFO, "group state agreed in %llu ms", (unsigned long long)
	       (hasvcd__now_ms() - s->started_ms));
	apply_view(d);
	while ((it = msgq__first(&s->held)) && !d->stopping) {
		Hasvc__Cluster__Msg *m = hasvc__cluster__msg__unpack(NULL, it->len, it->buf);

		/* A member cut off by this round is gone from before its first one. */
		if (m && !cut_off(s, m->sender) && expected(d, m))
			apply__message(d, m);
		if (m)
			hasvc__cluster__msg__free_unpacked(m, NULL);
		msgq__drop_first(&s->held);
	}
	msgq__clear(&s->held);
	apply__after_sync(d);
}

/* End the round now: who has not answered is taken as gone. */
static void cut(struct hasvcd *d, const char *why)
{
	struct sync *s = d->sync;

	for (size_t i = 0; i < s->n; i++) {
		struct sync_member *sm = &s->m[i];

		if (!sm->expected || sm->got)
			continue;
		if (sm->id.self) {
			leave(d, "this daemon's state did not reach the group in time");
			return;
		}
		sm->cut = true;
		sm->expected = false;
		qb_log(LOG_WARNING, "state exchange ended (%s) without the state of %s (node id %u, "
		       "pid %u): taken as gone while it stays in the group", why, sm->id.name,
		       sm->id.nodeid, sm->id.pid);
	}
	finish(d);
}

/* A SyncCut for the round in progress, from a member that answered it? */
static bool this_round(struct sync *s, const struct sync_member *from,
		       const Hasvc__Cluster__SyncCut *c)
{
	size_t k = 0;

	if (!s->syncing || !from->expected || !from->got)
		return false;
	for (size_t i = 0; i < s->n; i++) {
		if (!s->m[i].expected)
			continue;
		if (k >= c->n_round || c->round[k]->nodeid != s->m[i].id.nodeid ||
		    c->round[k]->pid != s->m[i].id.pid)
			return false;
		k++;
	}
	return k == c->n_round;
}

static bool from_cut(const struct msgq_item *it, void *arg)
{
	Hasvc__Cluster__Msg *m = hasvc__cluster__msg__unpack(NULL, it->len, it->buf);
	bool drop = !m || cut_off(arg, m->sender);

	if (m)
		hasvc__cluster__msg__free_unpacked(m, NULL);
	return drop;
}

/* A member's share of the held messages' limits (count or bytes, the larger). */
static uint64_t load(const struct sync *s, const struct sync_member *sm)
{
	uint64_t by_count = (uint64_t)sm->held * s->held.max_bytes;
	uint64_t by_bytes = (uint64_t)sm->held_bytes * s->held.max_n;

	return by_count > by_bytes ? by_count : by_bytes;
}

/* Sent messages in this round but not its State. */
static bool talker(const struct sync_member *sm)
{
	return sm->expected && !sm->got && sm->held;
}

/*
 * The held messages are full: cut off the member that sent the most of them
 * (by its share of the limits) without its State, and drop those.  Only
 * the most: a daemon only slow to answer may have had a message or two on
 * its way when the round began.  Every member holds the same messages, so
 * every member cuts the same ones.  False if there was none.
 */
static bool cut_talkers(struct hasvcd *d)
{
	struct sync *s = d->sync;
	bool any = false, done = true;
	uint64_t most = 0;

	for (size_t i = 0; i < s->n; i++)
		if (talker(&s->m[i]) && load(s, &s->m[i]) > most)
			most = load(s, &s->m[i]);
	for (size_t i = 0; i < s->n; i++) {
		struct sync_member *sm = &s->m[i];

		if (!talker(sm) || load(s, sm) < most)
			continue;
		if (sm->id.self) {
			leave(d, "this daemon's messages filled the state exchange before its state");
			return true;
		}
		sm->cut = true;
		sm->expected = false;
		any = true;
		qb_log(LOG_WARNING, "%s (node id %u, pid %u) sent %zu messages during the state "
		       "exchange without its state: taken as gone while it stays in the group",
		       sm->id.name, sm->id.nodeid, sm->id.pid, sm->held);
	}
	if (!any)
		return false;
	msgq__drop_if(&s->held, from_cut, s);
	for (size_t i = 0; i < s->n; i++)
		done = done && (!s->m[i].expected || s->m[i].got);
	if (done)
		finish(d);
	return true;
}

static void hold(struct hasvcd *d, const Hasvc__Cluster__Msg *m, struct sync_member *from)
{
	struct sync *s = d->sync;
	size_t bytes = s->held.bytes;
	int ret = msgq__push(&s->held, m);

	if (ret == -ENOBUFS) {
		qb_log(LOG_ERR, "%zu messages (%zu bytes) held during the state exchange: the "
		       "limit", s->held.n, s->held.bytes);
		if (cut_talkers(d)) {
			if (d->stopping || from->cut)
				return;
			if (!s->syncing) {
				/* The round ended: m comes after what it held. */
				if (expected(d, m))
					apply__message(d, m);
				return;
			}
			bytes = s->held.bytes;
			ret = msgq__push(&s->held, m);
		}
	}
	if (ret == -ENOBUFS) {
		/* Every member holds the same messages: all end the round here. */
		cut(d, "too many messages held");
		if (!d->stopping && expected(d, m))
			apply__message(d, m);
	} else if (ret) {
		/* Dropping a message would make this replica differ. */
		leave(d, "out of memory while holding back messages");
	} else {
		from->held++;
		from->held_bytes += s->held.bytes - bytes;
	}
}

void sync__deliver(struct hasvcd *d, Hasvc__Cluster__Msg *m, const struct group_member *from)
{
	struct sync *s = d->sync;
	struct sync_member *sm = member(s, from);
	bool done = true;

	if (!sm)
		return;
	if (sm->cut) {
		if (!sm->ignored++)
			qb_log(LOG_WARNING, "%s (pid %u) was cut off from a state exchange: its "
			       "messages are ignored while it stays in the group", sm->id.name,
			       sm->id.pid);
		return;
	}
	if (m->body_case == HASVC__CLUSTER__MSG__BODY_SYNC_CUT) {
		if (this_round(s, sm, m->sync_cut))
			cut(d, "time limit");
		return;
	}
	if (m->body_case == HASVC__CLUSTER__MSG__BODY_STATE) {
		/* States outside a round are answers to a round already closed. */
		if (!s->syncing)
			return;
		take_state(d, sm, m);
		for (size_t i = 0; i < s->n; i++)
			done = done && (!s->m[i].expected || s->m[i].got);
		if (done && !d->stopping)
			finish(d);
		return;
	}
	if (s->syncing)
		hold(d, m, sm);
	else if (expected(d, m))
		apply__message(d, m);
}
