/*
 * The state exchange (hasvc/sync.c) without corosync: the functions it
 * calls in other modules are stubs here that record what they were given,
 * and the test plays the group, delivering messages in the order it
 * chooses.  Covered: a round that ends when every declared member answered;
 * undeclared members neither hold it up nor get their State adopted; the
 * time limit (a real libqb timer) and its SyncCut; a SyncCut for another
 * round or from a member that has not answered; a member cut off stays
 * ignored; the held messages' limit ends the round; a State of a guessed
 * member counts but is not adopted, and the adopted state's members are
 * trusted; configurations only from declared nodes; a daemon cut off
 * itself leaves; a State with fields of a newer version is adopted, one
 * that does not decode, of another format or with a wrong event count is
 * not.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/daemon.h"
#include "hasvc/fsm_codec.h"
#include "hasvc/history.h"
#include "hasvc/msgq.h"

/* ---- what the stubs saw ---- */

static struct {
	char members[CPG_VIEW_MAX][HASVC_NAME_MAX];
	size_t n_members, memberships;
	unsigned applied, applied_config, after_sync, self_fenced, set_config;
	uint64_t last_request;
	struct msgq sent;            /* what this daemon multicast */
	uint32_t trusted_nodeid, trusted_pid;
} seen;

void apply__membership(struct hasvcd *d, const char *const *members, size_t n)
{
	(void)d;
	for (size_t i = 0; i < n; i++)
		snprintf(seen.members[i], HASVC_NAME_MAX, "%s", members[i]);
	seen.n_members = n;
	seen.memberships++;
}

void apply__message(struct hasvcd *d, const Hasvc__Cluster__Msg *m)
{
	(void)d;
	seen.applied++;
	if (m->body_case == HASVC__CLUSTER__MSG__BODY_CONFIG)
		seen.applied_config++;
	if (m->body_case == HASVC__CLUSTER__MSG__BODY_OP)
		seen.last_request = m->op->request;
}

void apply__after_sync(struct hasvcd *d)
{
	(void)d;
	seen.after_sync++;
}

int cluster__send(struct hasvcd *d, Hasvc__Cluster__Msg *m)
{
	m->sender = d->node;
	return msgq__push(&seen.sent, m);
}

int cluster__trust(struct hasvcd *d, uint32_t nodeid, uint32_t pid)
{
	(void)d;
	seen.trusted_nodeid = nodeid;
	seen.trusted_pid = pid;
	return 0;
}

void local__self_fence(struct hasvcd *d)
{
	(void)d;
	seen.self_fenced++;
}

uint64_t hasvcd__now_ms(void)
{
	return 0;
}

/* The events that go with the state (tests/cluster/events.sh checks them). */
int history__encode(struct hasvcd *d, Hasvc__Cluster__State *st)
{
	(void)d;
	(void)st;
	return 0;
}

void history__encoded_free(Hasvc__Cluster__State *st)
{
	(void)st;
}

void history__adopt(struct hasvcd *d, const Hasvc__Cluster__State *st)
{
	(void)d;
	(void)st;
}

int hasvcd__set_config(struct hasvcd *d, const char *text, const char *path, char *err,
		       size_t errlen)
{
	(void)d;
	(void)text;
	(void)path;
	(void)err;
	(void)errlen;
	seen.set_config++;
	return 0;
}

void config_dist__adopted(struct hasvcd *d, const uint8_t before[HASVC_DIGEST_LEN])
{
	(void)d;
	(void)before;
}

/* ---- the group ---- */

#define CONF "[cluster]\nallow_plaintext = yes\nsync_timeout_ms = 100\n" \
	"[node a]\nreplication = 10.0.0.1:7400\n" \
	"[node b]\nreplication = 10.0.0.2:7400\n" \
	"[node c]\nreplication = 10.0.0.3:7400\n" \
	"[node d]\nreplication = 10.0.0.4:7400\n"

static struct hasvcd d;
static struct group_member view[8];
static size_t n_view;

static void setup(void)
{
	char err[CONFIG_ERR_MAX];

	memset(&seen, 0, sizeof(seen));
	msgq__init(&seen.sent, 100000, 1u << 30);
	memset(&d, 0, sizeof(d));
	snprintf(d.node, sizeof(d.node), "a");
	d.loop = qb_loop_create();
	ck_assert_ptr_nonnull(d.loop);
	d.fsm = fsm__new();
	ck_assert_ptr_nonnull(d.fsm);
	ck_assert_int_eq(cluster_config__parse_string(CONF, "hasvc.conf", &d.conf, err,
						     sizeof(err)), 0);
	ck_assert_int_eq(sync__new(&d), 0);
	n_view = 0;
}

static void teardown(void)
{
	sync__free(&d);
	cluster_config__free(d.conf);
	fsm__free(d.fsm);
	qb_loop_destroy(d.loop);
	msgq__clear(&seen.sent);
}

/* Member name (node id = its letter - 'a' + 1, pid 100 + node id). */
static void add(const char *name, bool certain)
{
	struct group_member *g = &view[n_view++];

	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->nodeid = (uint32_t)(name[0] - 'a' + 1);
	g->pid = 100 + g->nodeid;
	g->self = !strcmp(name, "a");
	g->certain = certain;
}

static const struct group_member *who(const char *name)
{
	for (size_t i = 0; i < n_view; i++)
		if (!strcmp(view[i].name, name))
			return &view[i];
	ck_abort_msg("no member %s", name);
	return NULL;
}

static void deliver(Hasvc__Cluster__Msg *m, const char *from)
{
	m->sender = (char *)from;
	sync__deliver(&d, m, who(from));
}

/* The next message this daemon multicast, delivered back to it. */
static int deliver_sent(void)
{
	const struct msgq_item *it = msgq__first(&seen.sent);
	Hasvc__Cluster__Msg *m;
	int body;

	ck_assert_ptr_nonnull(it);
	m = hasvc__cluster__msg__unpack(NULL, it->len, it->buf);
	ck_assert_ptr_nonnull(m);
	body = m->body_case;
	sync__deliver(&d, m, who("a"));
	hasvc__cluster__msg__free_unpacked(m, NULL);
	msgq__drop_first(&seen.sent);
	return body;
}

/* How a State differs from what this version sends. */
enum state_kind {
	STATE_PLAIN,
	STATE_NEWER,         /* fields this version does not know          */
	STATE_BAD_SLOT,      /* web1's primary is no node slot              */
	STATE_OTHER_FORMAT,  /* another major version                       */
	STATE_EVENTS_DIFFER, /* State.quorate_events is not the replica's   */
	STATE_CONFIGURED,    /* a configured replica, of a quorate view     */
	STATE_SAVED,         /* ... read back from a state file (persist.c) */
	STATE_ALONE,         /* configured but never quorate (a bootstrap)  */
};

/* A field number no version uses, length-prefixed: length, then bytes. */
static ProtobufCMessageUnknownField newer = {
	.tag = 99, .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, .len = 5,
	.data = (uint8_t *)"\x04next",
};

/* A State from `from` whose replica has `events` and an unplaced web1. */
static void state_of(const char *from, uint64_t events, enum state_kind kind)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__State st = HASVC__CLUSTER__STATE__INIT;
	Hasvc__Cluster__Member mem = HASVC__CLUSTER__MEMBER__INIT, *mp = &mem;
	struct fsm *f = fsm__new();

	ck_assert_ptr_nonnull(f);
	f->quorate_events = events;
	f->configured = kind == STATE_CONFIGURED || kind == STATE_SAVED || kind == STATE_ALONE;
	f->quorate = kind == STATE_CONFIGURED;
	st.saved = kind == STATE_SAVED;
	f->vms[0].used = true;
	snprintf(f->vms[0].name, sizeof(f->vms[0].name), "web1");
	f->vms[0].primary = f->vms[0].standby = f->vms[0].migrate_to = f->vms[0].avoid = -1;
	st.quorate_events = kind == STATE_EVENTS_DIFFER ? events + 1 : events;
	st.replica = fsm_codec__encode(f);
	ck_assert_ptr_nonnull(st.replica);
	if (kind == STATE_NEWER) {
		st.replica->base.n_unknown_fields = 1;
		st.replica->base.unknown_fields = &newer;
		st.replica->vms[0]->base.n_unknown_fields = 1;
		st.replica->vms[0]->base.unknown_fields = &newer;
	}
	if (kind == STATE_BAD_SLOT)
		st.replica->vms[0]->primary = HASVC_MAX_NODES;
	st.format = kind == STATE_OTHER_FORMAT ? FSM_CODEC_FORMAT + 1 : FSM_CODEC_FORMAT;
	st.config_text = (char *)CONF;
	st.config_path = (char *)"hasvc.conf";
	/* Says that node b's hasvcd is pid 202. */
	mem.nodeid = 2;
	mem.pid = 202;
	st.members = &mp;
	st.n_members = 1;
	m.body_case = HASVC__CLUSTER__MSG__BODY_STATE;
	m.state = &st;
	if (kind == STATE_NEWER) {
		/* Through the wire, as protobuf-c keeps what it does not know. */
		size_t len;
		uint8_t *buf;
		Hasvc__Cluster__Msg *got;

		m.sender = (char *)from;
		len = hasvc__cluster__msg__get_packed_size(&m);
		buf = malloc(len);
		ck_assert_ptr_nonnull(buf);
		hasvc__cluster__msg__pack(&m, buf);
		got = hasvc__cluster__msg__unpack(NULL, len, buf);
		ck_assert_ptr_nonnull(got);
		ck_assert_uint_eq(fsm_codec__unknown(got->state->replica), 2);
		sync__deliver(&d, got, who(from)); /* its sender is from already */
		hasvc__cluster__msg__free_unpacked(got, NULL);
		free(buf);
	} else {
		deliver(&m, from);
	}
	fsm_codec__free(st.replica);
	fsm__free(f);
}

static void state_from(const char *from, uint64_t events)
{
	state_of(from, events, STATE_PLAIN);
}

static void op_from(const char *from, uint64_t request)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__Operator op = HASVC__CLUSTER__OPERATOR__INIT;

	op.vm = (char *)"web1";
	op.request = request;
	m.body_case = HASVC__CLUSTER__MSG__BODY_OP;
	m.op = &op;
	deliver(&m, from);
}

static void config_from(const char *from)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__Config c = HASVC__CLUSTER__CONFIG__INIT;

	c.text = (char *)CONF;
	c.path = (char *)"x.conf";
	m.body_case = HASVC__CLUSTER__MSG__BODY_CONFIG;
	m.config = &c;
	deliver(&m, from);
}

/* A SyncCut naming the members in names (space separated) as the round. */
static void cut_from(const char *from, const char *names)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__SyncCut c = HASVC__CLUSTER__SYNC_CUT__INIT;
	Hasvc__Cluster__Member v[8], *p[8];
	size_t n = 0;

	for (const char *s = names; *s; s++) {
		char name[2] = { *s, 0 };

		if (*s == ' ')
			continue;
		hasvc__cluster__member__init(&v[n]);
		v[n].nodeid = who(name)->nodeid;
		v[n].pid = who(name)->pid;
		p[n] = &v[n];
		n++;
	}
	c.round = p;
	c.n_round = n;
	m.body_case = HASVC__CLUSTER__MSG__BODY_SYNC_CUT;
	m.sync_cut = &c;
	deliver(&m, from);
}

static void stop_loop(void *data)
{
	qb_loop_stop(data);
}

/* Run the loop for ms milliseconds: the exchange's timer may fire. */
static void run_loop(unsigned ms)
{
	qb_loop_timer_handle t;

	ck_assert_int_eq(qb_loop_timer_add(d.loop, QB_LOOP_LOW, ms * 1000000ULL, d.loop,
					   stop_loop, &t), 0);
	qb_loop_run(d.loop);
}

static void expect_members(const char *names)
{
	char got[64] = "";

	for (size_t i = 0; i < seen.n_members; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
			 seen.members[i]);
	ck_assert_str_eq(got, names);
}

START_TEST(test_round_ends_when_declared_members_answered)
{
	add("a", true);
	add("b", true);
	add("x", true);    /* not declared: not waited for */
	sync__view(&d, view, n_view, true);
	ck_assert_int_eq(deliver_sent(), HASVC__CLUSTER__MSG__BODY_STATE);
	op_from("b", 7);   /* held */
	ck_assert_uint_eq(seen.applied, 0);
	state_from("x", 1000); /* not used: x is not declared */
	ck_assert_uint_eq(seen.memberships, 0);
	state_from("b", 5);
	ck_assert_uint_eq(seen.memberships, 1);
	expect_members("a b x");
	ck_assert_uint_eq(seen.applied, 1);
	ck_assert_uint_eq(seen.last_request, 7);
	ck_assert_uint_eq(seen.after_sync, 1);
	/* b's state (5 events) was adopted, not x's (1000). */
	ck_assert_uint_eq(d.fsm->quorate_events, 5);
	/* Out of a round, messages apply at once. */
	op_from("b", 8);
	ck_assert_uint_eq(seen.last_request, 8);
}
END_TEST

START_TEST(test_time_limit_cuts_the_silent_member)
{
	add("a", true);
	add("b", true);
	add("d", true);
	sync__view(&d, view, n_view, true);
	deliver_sent();
	state_from("b", 0);
	op_from("b", 1);
	/* A cut from b, which answered, naming another round: ignored. */
	cut_from("b", "a b");
	/* A cut from d, which did not answer: ignored. */
	cut_from("d", "a b d");
	ck_assert_uint_eq(seen.memberships, 0);
	run_loop(250);     /* sync_timeout_ms = 100 */
	ck_assert_uint_eq(seen.memberships, 0);
	ck_assert_int_eq(deliver_sent(), HASVC__CLUSTER__MSG__BODY_SYNC_CUT);
	ck_assert_uint_eq(seen.memberships, 1);
	expect_members("a b");
	ck_assert_uint_eq(seen.applied, 1);
	/* d stays gone while it stays: its messages are ignored ... */
	op_from("d", 2);
	ck_assert_uint_eq(seen.applied, 1);
	/* ... and the next round does not wait for it. */
	add("c", true);
	sync__view(&d, view, n_view, true);
	msgq__clear(&seen.sent);
	state_from("a", 0);
	state_from("b", 0);
	state_from("c", 0);
	ck_assert_uint_eq(seen.memberships, 2);
	expect_members("a b c");
}
END_TEST

START_TEST(test_held_limit_ends_the_round)
{
	add("a", true);
	add("b", true);
	add("d", true);
	sync__view(&d, view, n_view, true);
	deliver_sent();
	state_from("b", 0);
	for (uint64_t i = 1; i <= HASVCD_HELD_MAX; i++)
		op_from("b", i);
	ck_assert_uint_eq(seen.applied, 0);
	ck_assert_uint_eq(seen.memberships, 0);
	/* One more: the limit; the round ends without d, nothing is lost. */
	op_from("b", HASVCD_HELD_MAX + 1);
	ck_assert_uint_eq(seen.memberships, 1);
	expect_members("a b");
	ck_assert_uint_eq(seen.applied, HASVCD_HELD_MAX + 1);
	ck_assert_uint_eq(seen.last_request, HASVCD_HELD_MAX + 1);
	ck_assert_uint_eq(seen.self_fenced, 0);
}
END_TEST

/*
 * A member that floods the round without answering fills the held messages:
 * it is cut off with what it sent, and the round still waits for a member
 * that is only slow to answer (b), which is not cut off for d's flood.
 */
START_TEST(test_held_limit_cuts_the_flooder_only)
{
	add("a", true);
	add("b", true);
	add("c", true);
	add("d", true);
	sync__view(&d, view, n_view, true);
	deliver_sent();
	state_from("c", 0);
	op_from("c", 1);
	for (uint64_t i = 2; i <= HASVCD_HELD_MAX; i++)
		op_from("d", i);
	ck_assert_uint_eq(seen.memberships, 0);
	/* One more from d: the limit; d is cut off, the round goes on. */
	op_from("d", HASVCD_HELD_MAX + 1);
	ck_assert_uint_eq(seen.memberships, 0);
	op_from("d", HASVCD_HELD_MAX + 2);   /* ignored now */
	op_from("c", HASVCD_HELD_MAX + 3);   /* held: there is room again */
	ck_assert_uint_eq(seen.applied, 0);
	state_from("b", 0);
	ck_assert_uint_eq(seen.memberships, 1);
	expect_members("a b c");
	ck_assert_uint_eq(seen.applied, 2);
	ck_assert_uint_eq(seen.last_request, HASVCD_HELD_MAX + 3);
	ck_assert_uint_eq(seen.self_fenced, 0);
}
END_TEST

/*
 * The slow member (b) had a message on its way when the round began (sent
 * before it saw the view, delivered before its State): d's flood still cuts
 * off d only, and b's message is applied after the round.
 */
START_TEST(test_held_limit_spares_a_slow_member_that_spoke)
{
	add("a", true);
	add("b", true);
	add("c", true);
	add("d", true);
	sync__view(&d, view, n_view, true);
	deliver_sent();
	state_from("c", 0);
	op_from("b", 1);
	for (uint64_t i = 2; i <= HASVCD_HELD_MAX + 1; i++)
		op_from("d", i);
	ck_assert_uint_eq(seen.memberships, 0);
	op_from("b", HASVCD_HELD_MAX + 2);
	state_from("b", 0);
	ck_assert_uint_eq(seen.memberships, 1);
	expect_members("a b c");
	ck_assert_uint_eq(seen.applied, 2);
	ck_assert_uint_eq(seen.last_request, HASVCD_HELD_MAX + 2);
	ck_assert_uint_eq(seen.self_fenced, 0);
}
END_TEST

/*
 * A replica read back from a state file loses to a configured one that ran
 * in a quorate cluster since, whatever its events: a node restarted alone
 * never brings an old state back into a running cluster.
 */
START_TEST(test_saved_state_loses_to_a_running_cluster)
{
	add("a", true);
	add("b", true);
	add("c", true);
	sync__view(&d, view, n_view, true);
	deliver_sent();
	state_of("b", 5000, STATE_SAVED);
	state_of("c", 10, STATE_CONFIGURED);
	ck_assert_uint_eq(seen.memberships, 1);
	ck_assert_uint_eq(d.fsm->quorate_events, 10);
	ck_assert(!d.replica_saved);
}
END_TEST

/*
 * A node without a state file that started first and, alone, configured
 * the cluster from its own file: its replica never ran in a quorate
 * cluster, so it does not beat what the others read back.
 */
START_TEST(test_saved_state_beats_a_lone_bootstrap)
{
	add("a", true);
	add("b", true);
	add("c", true);
	d.fsm->configured = true;    /* a configured the cluster, alone */
	sync__view(&d, view, n_view, true);
	deliver_sent();
	state_of("b", 50, STATE_SAVED);
	state_of("c", 0, STATE_ALONE);
	ck_assert_uint_eq(seen.memberships, 1);
	ck_assert_uint_eq(d.fsm->quorate_events, 50);
	ck_assert(d.replica_saved);
}
END_TEST

/*
 * A node restarted into a cluster whose rest is not quorate without it
 * (two nodes; or a third one down): the daemon that ran on has the same
 * events as the file (nothing quorate happened since it left) and more
 * (where copies run, what is being fenced): it wins the tie, whatever the
 * names.
 */
START_TEST(test_saved_state_loses_a_tie)
{
	add("a", true);
	add("b", true);
	add("c", true);
	sync__view(&d, view, n_view, true);
	deliver_sent();
	state_of("b", 50, STATE_SAVED);
	state_of("c", 50, STATE_ALONE);
	ck_assert_uint_eq(seen.memberships, 1);
	ck_assert_uint_eq(d.fsm->quorate_events, 50);
	ck_assert(!d.replica_saved);
}
END_TEST

/* Among replicas read back (every hasvcd restarted), the newest wins. */
START_TEST(test_saved_states_newest_wins)
{
	add("a", true);
	add("b", true);
	add("c", true);
	sync__view(&d, view, n_view, true);
	deliver_sent();    /* a fresh replica: no configuration, no events */
	state_of("b", 50, STATE_SAVED);
	state_of("c", 40, STATE_SAVED);
	ck_assert_uint_eq(seen.memberships, 1);
	ck_assert_uint_eq(d.fsm->quorate_events, 50);
	ck_assert(d.replica_saved);
}
END_TEST

START_TEST(test_cut_member_held_messages_dropped)
{
	add("a", true);
	add("b", true);
	add("d", true);
	sync__view(&d, view, n_view, true);
	deliver_sent();
	op_from("d", 1);   /* held, but d is cut before it applies */
	state_from("b", 0);
	op_from("b", 2);
	cut_from("b", "a b d");
	expect_members("a b");
	ck_assert_uint_eq(seen.applied, 1);
	ck_assert_uint_eq(seen.last_request, 2);
}
END_TEST

START_TEST(test_self_cut_off_leaves)
{
	add("a", true);
	add("b", true);
	sync__view(&d, view, n_view, true);
	msgq__clear(&seen.sent);   /* our State never reaches the group */
	state_from("b", 0);
	cut_from("b", "a b");
	ck_assert_uint_eq(seen.self_fenced, 1);
	ck_assert(d.stopping && d.failed);
	ck_assert_uint_eq(seen.memberships, 0);
}
END_TEST

START_TEST(test_guessed_member)
{
	add("a", true);
	add("b", false);   /* b's node id had two members when we joined */
	add("c", true);
	sync__view(&d, view, n_view, true);
	deliver_sent();
	state_from("b", 1000);   /* counted as b's answer, not adopted */
	ck_assert_uint_eq(seen.memberships, 0);
	state_from("c", 3);
	ck_assert_uint_eq(seen.memberships, 1);
	ck_assert_uint_eq(d.fsm->quorate_events, 3);
	/* c's state names b's hasvcd. */
	ck_assert_uint_eq(seen.trusted_nodeid, 2);
	ck_assert_uint_eq(seen.trusted_pid, 202);
}
END_TEST

/*
 * A State with fields of a newer version is used like any other; one whose
 * replica does not decode, of another format, or whose event count is not
 * its replica's is not, however many events it claims.
 */
START_TEST(test_state_versions)
{
	add("a", true);
	add("b", true);
	add("c", true);
	add("d", true);
	sync__view(&d, view, n_view, true);
	ck_assert_int_eq(deliver_sent(), HASVC__CLUSTER__MSG__BODY_STATE);
	state_of("b", 1000, STATE_BAD_SLOT);
	state_of("c", 1000, STATE_OTHER_FORMAT);
	state_of("d", 1000, STATE_EVENTS_DIFFER);
	ck_assert_uint_eq(seen.memberships, 1); /* every member answered */
	ck_assert_uint_eq(d.fsm->quorate_events, 0);
	ck_assert_int_eq(fsm__vm_index(d.fsm, "web1"), -1);
	add("e", true); /* not declared: a new round all the same */
	sync__view(&d, view, n_view, true);
	ck_assert_int_eq(deliver_sent(), HASVC__CLUSTER__MSG__BODY_STATE);
	state_of("b", 9, STATE_NEWER);
	state_from("c", 3);
	state_from("d", 3);
	ck_assert_uint_eq(seen.memberships, 2);
	ck_assert_uint_eq(d.fsm->quorate_events, 9);
	ck_assert_int_eq(fsm__vm_index(d.fsm, "web1"), 0);
	ck_assert_int_eq(d.fsm->vms[0].primary, -1);
}
END_TEST

START_TEST(test_config_only_from_declared_nodes)
{
	add("a", true);
	add("b", true);
	add("x", true);
	sync__view(&d, view, n_view, false);
	config_from("x");
	ck_assert_uint_eq(seen.applied_config, 0);
	config_from("b");
	ck_assert_uint_eq(seen.applied_config, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hasvc_sync");
	TCase *tc = tcase_create("sync");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_ends_when_declared_members_answered);
	tcase_add_test(tc, test_time_limit_cuts_the_silent_member);
	tcase_add_test(tc, test_held_limit_ends_the_round);
	tcase_add_test(tc, test_held_limit_cuts_the_flooder_only);
	tcase_add_test(tc, test_held_limit_spares_a_slow_member_that_spoke);
	tcase_add_test(tc, test_cut_member_held_messages_dropped);
	tcase_add_test(tc, test_saved_state_loses_to_a_running_cluster);
	tcase_add_test(tc, test_saved_states_newest_wins);
	tcase_add_test(tc, test_saved_state_beats_a_lone_bootstrap);
	tcase_add_test(tc, test_saved_state_loses_a_tie);
	tcase_add_test(tc, test_self_cut_off_leaves);
	tcase_add_test(tc, test_guessed_member);
	tcase_add_test(tc, test_config_only_from_declared_nodes);
	tcase_add_test(tc, test_state_versions);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
