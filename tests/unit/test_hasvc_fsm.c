/*
 * The cluster state machine with synthetic events: formation and placement,
 * failover with and without fencing, quorum loss, stale generations,
 * evacuation, operator commands, determinism.  The invariants are checked
 * after every event.  The randomized run is in test_hasvc_fsm_random.c.
 */
#include "config.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/cluster_config.h"
#include "hasvc/fsm.h"

struct t {
	struct fsm *f;
	struct fsm_actions acts;
	struct config *conf;
	FILE *trace;           /* every action, for determinism checks */
	char *trace_buf;
	size_t trace_len;
};

#define NODE(n, extra) "[node " n "]\nreplication = " n ":7400\n" extra
#define VM(n, extra) "[vm " n "]\nmemory = 64M\nkernel = /k\n" extra

static const char base_conf[] =
	"[cluster]\nallow_plaintext = yes\n"
	NODE("a", "") NODE("b", "") NODE("c", "")
	VM("web1", "preferred_nodes = a, b\npriority = 10\n")
	VM("db1", "preferred_nodes = b, c\n");

static const char fenced_conf[] =
	"[cluster]\nallow_plaintext = yes\n"
	NODE("a", "fence_command = /bin/fence a\n") NODE("b", "") NODE("c", "")
	VM("web1", "preferred_nodes = a, b\npriority = 10\n")
	VM("db1", "preferred_nodes = b, c\n");

static void setup(struct t *t, const char *text)
{
	char err[CONFIG_ERR_MAX];
	struct fsm_event ev = { .type = FSM_EV_CONFIG };

	memset(t, 0, sizeof(*t));
	ck_assert_msg(cluster_config__parse_string(text, "test.conf", &t->conf, err,
						  sizeof(err)) == 0,
		      "%s", err);
	t->f = fsm__new();
	ck_assert_ptr_nonnull(t->f);
	fsm__actions_init(&t->acts);
	t->trace = open_memstream(&t->trace_buf, &t->trace_len);
	ev.config.config = t->conf;
	ev.config.digest[0] = 0x42;
	ck_assert_int_eq(fsm__step(t->f, &ev, &t->acts), 0);
}

static void teardown(struct t *t)
{
	fclose(t->trace);
	free(t->trace_buf);
	fsm__actions_free(&t->acts);
	fsm__free(t->f);
	cluster_config__free(t->conf);
}

static void feed(struct t *t, const struct fsm_event *ev)
{
	char why[256], line[512];

	fsm__actions_clear(&t->acts);
	ck_assert_int_eq(fsm__step(t->f, ev, &t->acts), 0);
	ck_assert_msg(fsm__check_invariants(t->f, why, sizeof(why)) == 0, "%s", why);
	for (size_t i = 0; i < t->acts.n; i++) {
		fsm__format_action(&t->acts.v[i], line, sizeof(line));
		fprintf(t->trace, "%s\n", line);
	}
	fflush(t->trace);
}

/* members: NULL-terminated names. */
static void members(struct t *t, bool quorate, ...)
{
	const char *names[HASVC_MAX_NODES + 1];   /* and the NULL */
	size_t n = 0;
	va_list ap;
	struct fsm_event ev = { .type = FSM_EV_MEMBERSHIP };

	va_start(ap, quorate);
	while ((names[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	ev.membership.nodes = names;
	ev.membership.n_nodes = n;
	ev.membership.quorate = quorate;
	feed(t, &ev);
}

static void inventory(struct t *t, const char *node)
{
	struct fsm_event ev = { .type = FSM_EV_INVENTORY_DONE };

	ev.inventory.node = node;
	feed(t, &ev);
}

static void report(struct t *t, const char *node, const char *vm, enum fsm_role role,
		   enum fsm_vm_state state, uint64_t gen, uint64_t epoch)
{
	struct fsm_event ev = { .type = FSM_EV_VM_REPORT };

	ev.report.node = node;
	ev.report.vm = vm;
	ev.report.role = role;
	ev.report.state = state;
	ev.report.generation = gen;
	ev.report.epoch = epoch;
	feed(t, &ev);
}

static void op(struct t *t, enum fsm_op o, const char *vm, const char *node)
{
	struct fsm_event ev = { .type = FSM_EV_OPERATOR };

	ev.op.origin = "b";
	ev.op.op = o;
	ev.op.vm = vm;
	ev.op.node = node;
	feed(t, &ev);
}

static void op_timeout(struct t *t, enum fsm_op o, const char *vm, uint32_t timeout_s)
{
	struct fsm_event ev = { .type = FSM_EV_OPERATOR };

	ev.op.origin = "b";
	ev.op.op = o;
	ev.op.vm = vm;
	ev.op.timeout_s = timeout_s;
	feed(t, &ev);
}

static void fence_result(struct t *t, const char *node, bool ok)
{
	struct fsm_event ev = { .type = FSM_EV_FENCE_RESULT };

	ev.fence.node = node;
	ev.fence.ok = ok;
	feed(t, &ev);
}

static void quorum(struct t *t, bool quorate)
{
	struct fsm_event ev = { .type = FSM_EV_QUORUM };

	ev.quorum.quorate = quorate;
	feed(t, &ev);
}

/* The action of this type for (node, vm); vm or node NULL match anything. */
static const struct fsm_action *find(struct t *t, enum fsm_action_type type,
				     const char *node, const char *vm)
{
	for (size_t i = 0; i < t->acts.n; i++) {
		const struct fsm_action *a = &t->acts.v[i];

		if (a->type == type && (!node || !strcmp(a->node, node)) &&
		    (!vm || !strcmp(a->vm, vm)))
			return a;
	}
	return NULL;
}

static int count(struct t *t, enum fsm_action_type type)
{
	int n = 0;

	for (size_t i = 0; i < t->acts.n; i++)
		n += t->acts.v[i].type == type;
	return n;
}

static const struct fsm_vm *vm_of(struct t *t, const char *name)
{
	int v = fsm__vm_index(t->f, name);

	ck_assert_int_ge(v, 0);
	return &t->f->vms[v];
}

static const char *primary_of(struct t *t, const char *vm)
{
	const struct fsm_vm *v = vm_of(t, vm);

	return v->primary >= 0 ? t->f->nodes[v->primary].name : "-";
}

static const char *standby_of(struct t *t, const char *vm)
{
	const struct fsm_vm *v = vm_of(t, vm);

	return v->standby >= 0 ? t->f->nodes[v->standby].name : "-";
}

/* a, b and c members, each with its inventory: placement may begin. */
static void all_ready(struct t *t)
{
	members(t, true, "a", "b", "c", NULL);
	inventory(t, "a");
	inventory(t, "b");
	inventory(t, "c");
}

/* Three nodes up, both VMs protected and synced: web1 a->b, db1 b->c. */
static void form(struct t *t)
{
	const struct fsm_action *a;

	members(t, true, "a", "b", "c", NULL);
	ck_assert_int_eq(count(t, FSM_ACT_START_PRIMARY), 0); /* inventories first */
	inventory(t, "a");
	inventory(t, "b");
	ck_assert_int_eq(count(t, FSM_ACT_START_PRIMARY), 0);
	inventory(t, "c");
	ck_assert_ptr_nonnull(a = find(t, FSM_ACT_START_PRIMARY, "a", "web1"));
	ck_assert_str_eq(a->peer, "b");
	ck_assert_uint_eq(a->generation, 1);
	ck_assert_uint_eq(a->peer_generation, 2);
	/* Every copy has a token of its own; each side knows the other's. */
	ck_assert_ptr_nonnull(a = find(t, FSM_ACT_START_STANDBY, "b", "web1"));
	ck_assert_str_eq(a->peer, "a");
	ck_assert_uint_eq(a->generation, 2);
	ck_assert_uint_eq(a->peer_generation, 1);
	ck_assert_ptr_nonnull(a = find(t, FSM_ACT_START_PRIMARY, "b", "db1"));
	ck_assert_str_eq(a->peer, "c");
	ck_assert_ptr_nonnull(find(t, FSM_ACT_START_STANDBY, "c", "db1"));
	/* Higher priority first. */
	ck_assert_str_eq(t->acts.v[0].vm, "web1");

	report(t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 1, 3);
	report(t, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 2, 3);
	report(t, "b", "db1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 1, 7);
	report(t, "c", "db1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 2, 7);
	ck_assert_int_eq(count(t, FSM_ACT_STOP), 0);
}

START_TEST(test_formation)
{
	struct t t;

	setup(&t, base_conf);
	form(&t);
	ck_assert_str_eq(primary_of(&t, "web1"), "a");
	ck_assert_str_eq(standby_of(&t, "web1"), "b");
	ck_assert_str_eq(primary_of(&t, "db1"), "b");
	ck_assert_str_eq(standby_of(&t, "db1"), "c");
	teardown(&t);
}
END_TEST

START_TEST(test_formation_least_loaded)
{
	struct t t;

	setup(&t, "[cluster]\nallow_plaintext = yes\n" NODE("c", "") NODE("b", "") NODE("a", "")
		  VM("v1", "") VM("v2", "") VM("v3", ""));
	all_ready(&t);
	/* By name: v1 on a (standby b), v2 on c (standby a), v3 on b (standby c). */
	ck_assert_str_eq(primary_of(&t, "v1"), "a");
	ck_assert_str_eq(standby_of(&t, "v1"), "b");
	ck_assert_str_eq(primary_of(&t, "v2"), "c");
	ck_assert_str_eq(standby_of(&t, "v2"), "a");
	ck_assert_str_eq(primary_of(&t, "v3"), "b");
	ck_assert_str_eq(standby_of(&t, "v3"), "c");
	teardown(&t);
}
END_TEST

START_TEST(test_primary_node_dies)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, base_conf);
	form(&t);
	members(&t, true, "b", "c", NULL);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_PROMOTE, "b", "web1"));
	ck_assert_uint_eq(a->generation, 3);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_STANDBY, "c", "web1"));
	ck_assert_str_eq(a->peer, "b");
	ck_assert_uint_eq(a->generation, 4);
	ck_assert_uint_eq(a->peer_generation, 3);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_PROTECT, "b", "web1"));
	ck_assert_str_eq(a->peer, "c");
	ck_assert_uint_eq(a->generation, 3);
	ck_assert_uint_eq(a->peer_generation, 4);
	/* Promotion comes before the new standby. */
	ck_assert(find(&t, FSM_ACT_PROMOTE, NULL, NULL) <
		  find(&t, FSM_ACT_START_STANDBY, NULL, NULL));
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, "db1"));
	ck_assert_str_eq(primary_of(&t, "web1"), "b");
	ck_assert_str_eq(standby_of(&t, "web1"), "c");

	/* The promoted standby's report in flight (old generation): no STOP. */
	report(&t, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 2, 4);
	ck_assert_int_eq(count(&t, FSM_ACT_STOP), 0);
	teardown(&t);
}
END_TEST

START_TEST(test_standby_node_dies)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, base_conf);
	form(&t);
	members(&t, true, "a", "b", NULL);
	/* db1's standby was on c: a new one on a; the primary stays. */
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_STANDBY, "a", "db1"));
	ck_assert_uint_eq(a->generation, 3);
	ck_assert_uint_eq(a->peer_generation, 1);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_PROTECT, "b", "db1"));
	ck_assert_str_eq(a->peer, "a");
	ck_assert_str_eq(primary_of(&t, "db1"), "b");
	teardown(&t);
}
END_TEST

START_TEST(test_fencing)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, fenced_conf);
	form(&t);
	members(&t, true, "b", "c", NULL);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_FENCE, "b", NULL));
	ck_assert_str_eq(a->peer, "a");
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));

	/* Unrelated events do not promote either. */
	report(&t, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 2, 9);
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));
	fence_result(&t, "a", false);
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));
	report(&t, "c", "db1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 2, 9);
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));
	op(&t, FSM_OP_FAILOVER, "web1", NULL);
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));

	fence_result(&t, "a", true);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_PROMOTE, "b", "web1"));
	ck_assert_uint_eq(a->generation, 3);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_START_STANDBY, "c", "web1"));
	teardown(&t);
}
END_TEST

static void leaving(struct t *t, const char *node)
{
	struct fsm_event ev = { .type = FSM_EV_NODE_LEAVING };

	ev.leaving.node = node;
	ev.leaving.deadline_ms = 1796000000000;
	feed(t, &ev);
}

static void expired(struct t *t, const char *node)
{
	struct fsm_event ev = { .type = FSM_EV_RESTART_EXPIRED };

	ev.expired.node = node;
	feed(t, &ev);
}

/*
 * b's hasvcd stops cleanly (it holds web1's standby and db1's primary):
 * both VMs are frozen, nothing moves, a failover is refused; b's return
 * and inventory end the freeze with the same copies and generations.
 */
START_TEST(test_restart_frozen)
{
	struct t t;

	setup(&t, base_conf);
	form(&t);
	leaving(&t, "b");
	ck_assert(t.f->nodes[fsm__node_index(t.f, "b")].restarting);
	members(&t, true, "a", "c", NULL);
	ck_assert_int_eq(t.acts.n, count(&t, FSM_ACT_LOG));
	ck_assert(!t.f->nodes[fsm__node_index(t.f, "b")].gone);
	ck_assert_int_eq(fsm__frozen_by(t.f, vm_of(&t, "web1")), fsm__node_index(t.f, "b"));
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 1, 9);
	op(&t, FSM_OP_FAILOVER, "web1", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	ck_assert_int_eq(t.acts.n, count(&t, FSM_ACT_LOG) + 1);
	/* A RestartExpired that comes after its return changes nothing. */
	members(&t, true, "a", "b", "c", NULL);
	expired(&t, "b");
	ck_assert(t.f->nodes[fsm__node_index(t.f, "b")].restarting);
	report(&t, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 2, 9);
	report(&t, "b", "db1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 1, 12);
	inventory(&t, "b");
	ck_assert(!t.f->nodes[fsm__node_index(t.f, "b")].restarting);
	ck_assert_int_eq(fsm__frozen_by(t.f, vm_of(&t, "web1")), -1);
	ck_assert_int_eq(t.acts.n, count(&t, FSM_ACT_LOG));
	ck_assert_str_eq(primary_of(&t, "db1"), "b");
	ck_assert_uint_eq(vm_of(&t, "db1")->generation, 1);
	ck_assert_str_eq(standby_of(&t, "web1"), "b");
	teardown(&t);
}
END_TEST

/*
 * Quorum lost and regained while a restarts: a's primary still runs there
 * unwatched, so web1's standby on b is not promoted, nor a fenced.
 */
START_TEST(test_restart_quorum_blip)
{
	struct t t;

	setup(&t, fenced_conf);
	form(&t);
	leaving(&t, "a");
	members(&t, true, "b", "c", NULL);
	members(&t, false, "b", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_PAUSE_ALL_PRIMARIES, "b", NULL));
	report(&t, "b", "db1", FSM_ROLE_PRIMARY, FSM_VM_PAUSED, 1, 9);
	members(&t, true, "b", "c", NULL);
	inventory(&t, "c");
	ck_assert_ptr_null(find(&t, FSM_ACT_FENCE, NULL, NULL));
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, "web1"));
	ck_assert_str_eq(primary_of(&t, "web1"), "a");
	ck_assert(t.f->nodes[fsm__node_index(t.f, "a")].restarting);
	teardown(&t);
}
END_TEST

/*
 * hactl stop of a VM frozen by a's restart: taken (the requested state is
 * the cluster's), carried out once a is back.  start takes it back before
 * then; migrate and failover, which would act on a's unwatched copy at
 * once, are refused.
 */
START_TEST(test_restart_frozen_stop)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, fenced_conf);
	form(&t);
	leaving(&t, "a");
	members(&t, true, "b", "c", NULL);
	op(&t, FSM_OP_FAILOVER, "web1", NULL);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_REJECT, "b", NULL));
	ck_assert_ptr_nonnull(strstr(a->text, "frozen while a restarts"));
	op(&t, FSM_OP_MIGRATE, "web1", "c");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	op_timeout(&t, FSM_OP_STOP, "web1", 5);
	ck_assert_ptr_null(find(&t, FSM_ACT_REJECT, NULL, NULL));
	ck_assert_int_eq(count(&t, FSM_ACT_SHUTDOWN), 0);
	ck_assert_uint_eq(vm_of(&t, "web1")->request, FSM_REQ_STOPPED);
	op(&t, FSM_OP_START, "web1", NULL);
	ck_assert_ptr_null(find(&t, FSM_ACT_REJECT, NULL, NULL));
	ck_assert_uint_eq(vm_of(&t, "web1")->request, FSM_REQ_STARTED);
	ck_assert_int_eq(count(&t, FSM_ACT_START_PRIMARY), 0);
	op(&t, FSM_OP_DISABLE, "web1", NULL);
	ck_assert_ptr_null(find(&t, FSM_ACT_REJECT, NULL, NULL));
	ck_assert_int_eq(t.acts.n, count(&t, FSM_ACT_LOG));

	members(&t, true, "a", "b", "c", NULL);
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 1, 9);
	ck_assert_int_eq(count(&t, FSM_ACT_SHUTDOWN), 0);
	inventory(&t, "a");
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_SHUTDOWN, "a", "web1"));
	ck_assert_uint_eq(a->generation, 1);
	ck_assert_uint_eq(a->timeout_s, FSM_STOP_TIMEOUT_S);
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_STOPPED, 1, 10);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "b", "web1"));
	ck_assert_uint_eq(vm_of(&t, "web1")->request, FSM_REQ_DISABLED);
	ck_assert_str_eq(primary_of(&t, "web1"), "-");
	teardown(&t);
}
END_TEST

/*
 * unprotect and protect while b (web1's standby, db1's primary) restarts:
 * taken, nothing acts until b's inventory, then web1's standby on b is
 * stopped; db1, protected again before the return, keeps its standby.
 */
START_TEST(test_restart_frozen_protect)
{
	struct t t;

	setup(&t, base_conf);
	form(&t);
	leaving(&t, "b");
	members(&t, true, "a", "c", NULL);
	op(&t, FSM_OP_UNPROTECT, "web1", NULL);
	ck_assert_ptr_null(find(&t, FSM_ACT_REJECT, NULL, NULL));
	ck_assert_int_eq(t.acts.n, count(&t, FSM_ACT_LOG));
	op(&t, FSM_OP_UNPROTECT, "db1", NULL);
	op(&t, FSM_OP_PROTECT, "db1", NULL);
	ck_assert_ptr_null(find(&t, FSM_ACT_REJECT, NULL, NULL));
	ck_assert_int_eq(t.acts.n, count(&t, FSM_ACT_LOG));
	members(&t, true, "a", "b", "c", NULL);
	report(&t, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 2, 9);
	report(&t, "b", "db1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 1, 12);
	inventory(&t, "b");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "b", "web1"));
	ck_assert_ptr_null(find(&t, FSM_ACT_STOP, NULL, "db1"));
	ck_assert_str_eq(standby_of(&t, "web1"), "-");
	ck_assert_str_eq(standby_of(&t, "db1"), "c");
	teardown(&t);
}
END_TEST

/*
 * A stop taken while a restarts, and a does not return: lost when its
 * grace ends, fenced, and web1 is down without a promotion.  Its disk is
 * newest on b then (the standby had every checkpoint; a is off), so start
 * boots it there.
 */
START_TEST(test_restart_frozen_stop_expired)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, fenced_conf);
	form(&t);
	leaving(&t, "a");
	members(&t, true, "b", "c", NULL);
	op(&t, FSM_OP_STOP, "web1", NULL);
	ck_assert_ptr_null(find(&t, FSM_ACT_REJECT, NULL, NULL));
	expired(&t, "a");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_FENCE, "b", NULL));
	ck_assert_int_eq(count(&t, FSM_ACT_SHUTDOWN), 0);
	fence_result(&t, "a", true);
	ck_assert_int_eq(count(&t, FSM_ACT_PROMOTE), 0);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "b", "web1"));
	ck_assert_str_eq(primary_of(&t, "web1"), "-");
	ck_assert_str_eq(standby_of(&t, "web1"), "-");
	ck_assert_int_eq(vm_of(&t, "web1")->home, fsm__node_index(t.f, "b"));
	/* Still so once a is back: its disk may be newer, but b's has every commit. */
	members(&t, true, "a", "b", "c", NULL);
	inventory(&t, "a");
	op(&t, FSM_OP_START, "web1", NULL);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_PRIMARY, "b", "web1"));
	teardown(&t);
}
END_TEST

/* a's hasvcd stops cleanly and stays away: a loss when its grace ends. */
START_TEST(test_restart_expired)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, fenced_conf);
	form(&t);
	leaving(&t, "a");
	members(&t, true, "b", "c", NULL);
	ck_assert_ptr_null(find(&t, FSM_ACT_FENCE, NULL, NULL));
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));
	expired(&t, "a");
	ck_assert(t.f->nodes[fsm__node_index(t.f, "a")].gone);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_FENCE, "b", NULL));
	ck_assert_str_eq(a->peer, "a");
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));
	fence_result(&t, "a", true);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_PROMOTE, "b", "web1"));
	teardown(&t);
}
END_TEST

/* hactl fence-ack: refused for a member, taken for a lost node as a fence. */
START_TEST(test_fence_ack)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, fenced_conf);
	form(&t);
	op(&t, FSM_OP_FENCE_ACK, NULL, "a");
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_REJECT, "b", NULL));
	ck_assert_ptr_nonnull(strstr(a->text, "a is a member"));
	members(&t, true, "b", "c", NULL);
	report(&t, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 2, 9);
	fence_result(&t, "a", false);
	op(&t, FSM_OP_FENCE_ACK, NULL, "c");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));
	op(&t, FSM_OP_FENCE_ACK, NULL, "a");
	ck_assert_ptr_null(find(&t, FSM_ACT_REJECT, NULL, NULL));
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_PROMOTE, "b", "web1"));
	/* Done once: a second acknowledgement has nothing to confirm. */
	op(&t, FSM_OP_FENCE_ACK, NULL, "a");
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_REJECT, "b", NULL));
	ck_assert_ptr_nonnull(strstr(a->text, "not waiting"));
	teardown(&t);
}
END_TEST

/*
 * Maintenance: evacuate, then keep the node empty across leaving and
 * rejoining until off.  evacuate --cancel: refused for a node in
 * maintenance; otherwise the node takes copies again.
 */
START_TEST(test_maintenance)
{
	struct t t;
	const struct fsm_action *a;
	setup(&t, base_conf);
	form(&t);
	op(&t, FSM_OP_EVACUATE_CANCEL, NULL, "a");
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_REJECT, "b", NULL));
	ck_assert_ptr_nonnull(strstr(a->text, "not being evacuated"));
	op(&t, FSM_OP_MAINTENANCE_ON, NULL, "a");
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_HANDOVER, "a", "web1"));
	op(&t, FSM_OP_MAINTENANCE_ON, NULL, "a");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	op(&t, FSM_OP_EVACUATE_CANCEL, NULL, "a");
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_REJECT, "b", NULL));
	ck_assert_ptr_nonnull(strstr(a->text, "hactl maintenance a off"));
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_STOPPED, 1, 4);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_PROMOTE, "b", "web1"));
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_STANDBY, NULL, "web1"));
	ck_assert_str_eq(a->node, "c");
	/* a leaves and comes back (a reboot): still nothing goes there. */
	members(&t, true, "b", "c", NULL);
	members(&t, true, "a", "b", "c", NULL);
	inventory(&t, "a");
	ck_assert(t.f->nodes[fsm__node_index(t.f, "a")].evacuating);
	/* c is lost: its standbys have nowhere to go but a, which is kept empty. */
	members(&t, true, "a", "b", NULL);
	ck_assert_ptr_null(find(&t, FSM_ACT_START_STANDBY, "a", NULL));
	op(&t, FSM_OP_MAINTENANCE_OFF, NULL, "a");
	ck_assert_ptr_null(find(&t, FSM_ACT_REJECT, NULL, NULL));
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_START_STANDBY, "a", "web1"));
	op(&t, FSM_OP_MAINTENANCE_OFF, NULL, "a");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	/* A plain evacuation, cancelled: a takes copies again. */
	op(&t, FSM_OP_EVACUATE, NULL, "a");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "a", "web1"));
	op(&t, FSM_OP_EVACUATE_CANCEL, NULL, "a");
	ck_assert_ptr_null(find(&t, FSM_ACT_REJECT, NULL, NULL));
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_START_STANDBY, "a", "web1"));
	teardown(&t);
}
END_TEST

START_TEST(test_fencer_leaves)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, fenced_conf);
	form(&t);
	members(&t, true, "b", "c", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_FENCE, "b", NULL));
	/* b leaves before reporting: c takes over fencing.  (c alone is not
	 * quorate in a 3-node cluster, so regain quorum with a new node list.) */
	members(&t, false, "c", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_PAUSE_ALL_PRIMARIES, "c", NULL));
	ck_assert_ptr_null(find(&t, FSM_ACT_FENCE, NULL, NULL));
	quorum(&t, true);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_FENCE, "c", NULL));
	teardown(&t);
}
END_TEST

START_TEST(test_quorum_lost)
{
	struct t t;

	setup(&t, base_conf);
	form(&t);
	/* a is cut off: its own replica sees a minority. */
	members(&t, false, "a", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_PAUSE_ALL_PRIMARIES, "a", NULL));
	ck_assert_int_eq(count(&t, FSM_ACT_PAUSE_ALL_PRIMARIES), 1);
	ck_assert_int_eq(count(&t, FSM_ACT_PROMOTE) + count(&t, FSM_ACT_START_PRIMARY) +
			 count(&t, FSM_ACT_START_STANDBY) + count(&t, FSM_ACT_FENCE), 0);
	/* Nothing starts in the minority, whatever happens. */
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_PAUSED, 1, 3);
	ck_assert_int_eq((int)t.acts.n, 0);
	op(&t, FSM_OP_MIGRATE, "web1", "a");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	ck_assert_int_eq((int)t.acts.n, 1);
	inventory(&t, "a");
	ck_assert_int_eq((int)t.acts.n, 0);
	teardown(&t);
}
END_TEST

START_TEST(test_quorum_blip_resumes_in_place)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, base_conf);
	form(&t);
	quorum(&t, false);
	ck_assert_int_eq(count(&t, FSM_ACT_PAUSE_ALL_PRIMARIES), 3);
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_PAUSED, 1, 3);
	quorum(&t, true);
	/* Resumed where it was under a new token, standby restarted under it. */
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_PROMOTE, "a", "web1"));
	ck_assert_uint_eq(a->generation, 3);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_STANDBY, "b", "web1"));
	ck_assert_uint_eq(a->generation, 4);
	ck_assert_uint_eq(a->peer_generation, 3);
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, "db1"));
	teardown(&t);
}
END_TEST

START_TEST(test_stale_generation_rejoins)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, base_conf);
	form(&t);
	members(&t, true, "b", "c", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_PROMOTE, "b", "web1"));
	/* a comes back with its paused primary of generation 1. */
	members(&t, true, "a", "b", "c", NULL);
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_PAUSED, 1, 3);
	/* Paused, it runs nothing, but the stale process is discarded. */
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_STOP, "a", "web1"));
	ck_assert_uint_eq(a->generation, 1);
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_RUNNING, 1, 3);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_STOP, "a", "web1"));
	ck_assert_uint_eq(a->generation, 1);
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));
	inventory(&t, "a");
	ck_assert_str_eq(primary_of(&t, "web1"), "b");
	/* A VM the configuration does not know is stopped too. */
	report(&t, "a", "ghost", FSM_ROLE_PRIMARY, FSM_VM_RUNNING, 5, 0);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "a", "ghost"));
	teardown(&t);
}
END_TEST

START_TEST(test_rejoined_node_lost_its_copies)
{
	struct t t;

	setup(&t, fenced_conf);
	form(&t);
	members(&t, true, "b", "c", NULL);       /* a lost, fencing pending */
	members(&t, true, "a", "b", "c", NULL);  /* a rebooted and rejoined */
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));
	inventory(&t, "a");                      /* with nothing */
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_PROMOTE, "b", "web1"));
	teardown(&t);
}
END_TEST

static bool holds_nothing(struct t *t, const char *node)
{
	int n = fsm__node_index(t->f, node);

	for (int v = 0; v < HASVC_MAX_VMS; v++) {
		const struct fsm_vm *vm = &t->f->vms[v];

		if (vm->used && (vm->primary == n || vm->standby == n || vm->migrate_to == n))
			return false;
	}
	return true;
}

START_TEST(test_evacuate)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, "[cluster]\nallow_plaintext = yes\n" NODE("a", "") NODE("b", "") NODE("c", "")
		  VM("web1", "preferred_nodes = a, b\n")
		  VM("batch", "preferred_nodes = a\nprotected = no\n")
		  VM("db1", "preferred_nodes = c, a\n"));
	all_ready(&t);
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 1, 3);
	report(&t, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 2, 3);
	report(&t, "a", "batch", FSM_ROLE_PRIMARY, FSM_VM_RUNNING, 1, 0);
	ck_assert_str_eq(standby_of(&t, "db1"), "a");

	op(&t, FSM_OP_EVACUATE, NULL, "a");
	/* Protected and synced: handover to the standby. */
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_HANDOVER, "a", "web1"));
	ck_assert_str_eq(a->peer, "b");
	ck_assert(!t.f->vms[fsm__vm_index(t.f, "web1")].failover_asked);  /* a planned move */
	/* Unprotected: live migration, destination told first. */
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_INCOMING, NULL, "batch"));
	ck_assert_str_eq(a->peer, "a");
	ck_assert_uint_eq(a->generation, 2);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_MIGRATE, "a", "batch"));
	ck_assert_str_ne(a->peer, "a");
	/* db1's standby leaves a. */
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "a", "db1"));
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_STANDBY, NULL, "db1"));
	ck_assert_str_eq(a->node, "b");

	/* The primary's last checkpoint is committed, it stops: promote. */
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_STOPPED, 1, 4);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_PROMOTE, "b", "web1"));
	ck_assert_uint_eq(a->generation, 3);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_STANDBY, "c", "web1"));

	/* The migration's destination runs. */
	report(&t, "a", "batch", FSM_ROLE_PRIMARY, FSM_VM_STOPPED, 1, 0);
	ck_assert_ptr_null(find(&t, FSM_ACT_START_PRIMARY, NULL, NULL));
	report(&t, t.f->nodes[vm_of(&t, "batch")->migrate_to].name, "batch",
	       FSM_ROLE_PRIMARY, FSM_VM_RUNNING, 2, 0);
	ck_assert_str_ne(primary_of(&t, "batch"), "a");
	ck_assert(holds_nothing(&t, "a"));
	/* And nothing comes back to it. */
	op(&t, FSM_OP_MIGRATE, "db1", "a");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	ck_assert(holds_nothing(&t, "a"));
	teardown(&t);
}
END_TEST

START_TEST(test_operator)
{
	struct t t;
	const struct fsm_action *a;
	char sb[HASVC_NAME_MAX];

	setup(&t, base_conf);
	form(&t);
	op(&t, FSM_OP_MIGRATE, "nope", "c");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	op(&t, FSM_OP_MIGRATE, "web1", "zz");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	op(&t, FSM_OP_MIGRATE, "web1", "a");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));

	/* Migrating to a node without its standby: live migration. */
	op(&t, FSM_OP_MIGRATE, "web1", "c");
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_MIGRATE, "a", "web1"));
	ck_assert_str_eq(a->peer, "c");
	/* The source stops checkpointing: its standby would fall behind. */
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "b", "web1"));
	op(&t, FSM_OP_MIGRATE, "web1", "b");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL)); /* already moving */
	report(&t, "c", "web1", FSM_ROLE_PRIMARY, FSM_VM_RUNNING, 3, 0);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "a", "web1"));
	/* A new standby under a new token, for the new primary. */
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_STANDBY, NULL, "web1"));
	ck_assert_uint_eq(a->generation, 4);
	ck_assert_uint_eq(a->peer_generation, 3);
	ck_assert_str_eq(a->peer, "c");
	ck_assert_str_ne(a->node, "c");
	snprintf(sb, sizeof(sb), "%s", a->node);
	report(&t, sb, "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 4, 1);

	/*
	 * Failover: stop the primary; its stop report promotes the standby.
	 * It runs as a handover marked as the operator's failover (events,
	 * metrics: not a migration).
	 */
	op(&t, FSM_OP_FAILOVER, "web1", NULL);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_STOP, "c", "web1"));
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, NULL));
	ck_assert(t.f->vms[fsm__vm_index(t.f, "web1")].handover);
	ck_assert(t.f->vms[fsm__vm_index(t.f, "web1")].failover_asked);
	report(&t, "c", "web1", FSM_ROLE_PRIMARY, FSM_VM_STOPPED, 3, 0);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_PROMOTE, sb, "web1"));
	ck_assert_uint_eq(a->generation, 5);
	ck_assert(!t.f->vms[fsm__vm_index(t.f, "web1")].failover_asked);

	/* Unprotect stops the standby; protect brings one back. */
	op(&t, FSM_OP_UNPROTECT, "db1", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "c", "db1"));
	ck_assert_str_eq(standby_of(&t, "db1"), "-");
	op(&t, FSM_OP_UNPROTECT, "db1", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	op(&t, FSM_OP_PROTECT, "db1", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_START_STANDBY, "c", "db1"));
	teardown(&t);
}
END_TEST

START_TEST(test_standby_fails_elsewhere_next)
{
	struct t t;

	setup(&t, base_conf);
	form(&t);
	report(&t, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_FAILED, 2, 3);
	/* The preferred b failed: c gets the new standby. */
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_START_STANDBY, "c", "web1"));
	ck_assert_str_eq(standby_of(&t, "web1"), "c");
	teardown(&t);
}
END_TEST

START_TEST(test_unsynced_standby_cold_restart)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, base_conf);
	all_ready(&t);
	report(&t, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_SYNCING, 2, 0);
	members(&t, true, "b", "c", NULL);
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, "web1"));
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_PRIMARY, "b", "web1"));
	ck_assert_uint_eq(a->generation, 3);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "b", "web1")); /* its useless standby */
	teardown(&t);
}
END_TEST

/* ---- the requested state and the failure limits ---- */


START_TEST(test_stop_start)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, base_conf);
	form(&t);
	/* web1 fails over to b; a comes back: b is where web1 runs now. */
	members(&t, true, "b", "c", NULL);
	report(&t, "b", "web1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 3, 5);
	members(&t, true, "a", "b", "c", NULL);
	inventory(&t, "a");
	ck_assert_str_eq(primary_of(&t, "web1"), "b");

	op_timeout(&t, FSM_OP_STOP, "web1", 7);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_SHUTDOWN, "b", "web1"));
	ck_assert_uint_eq(a->generation, 3);
	ck_assert_uint_eq(a->timeout_s, 7);
	/* The standby stays for the guest's last checkpoint. */
	ck_assert_int_eq(count(&t, FSM_ACT_STOP), 0);
	ck_assert_uint_eq(vm_of(&t, "web1")->request, FSM_REQ_STOPPED);
	/* Once per activation, not at every event. */
	report(&t, "c", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 4, 6);
	ck_assert_int_eq(count(&t, FSM_ACT_SHUTDOWN), 0);
	op(&t, FSM_OP_STOP, "web1", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	op(&t, FSM_OP_MIGRATE, "web1", "a");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));

	report(&t, "b", "web1", FSM_ROLE_PRIMARY, FSM_VM_STOPPED, 3, 6);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_STOP, "c", "web1"));
	ck_assert_uint_eq(a->generation, 4);
	ck_assert_int_eq(count(&t, FSM_ACT_START_PRIMARY), 0);
	ck_assert_int_eq(count(&t, FSM_ACT_PROMOTE), 0);
	ck_assert_str_eq(primary_of(&t, "web1"), "-");
	ck_assert_str_eq(standby_of(&t, "web1"), "-");
	/* Nothing restarts it: not a lost node, not a quorum blip. */
	members(&t, true, "a", "b", NULL);
	quorum(&t, false);
	quorum(&t, true);
	members(&t, true, "a", "b", "c", NULL);
	inventory(&t, "c");
	ck_assert_int_eq(count(&t, FSM_ACT_START_PRIMARY), 0);

	/* Started again where it stopped (its disk is newest on b), not on a. */
	op(&t, FSM_OP_START, "web1", NULL);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_PRIMARY, "b", "web1"));
	ck_assert_str_eq(a->peer, "a");
	ck_assert_uint_eq(vm_of(&t, "web1")->request, FSM_REQ_STARTED);
	op(&t, FSM_OP_START, "web1", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	teardown(&t);
}
END_TEST

START_TEST(test_disable_enable)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, base_conf);
	form(&t);
	op(&t, FSM_OP_DISABLE, "db1", NULL);
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_SHUTDOWN, "b", "db1"));
	ck_assert_uint_eq(a->timeout_s, FSM_STOP_TIMEOUT_S);
	op(&t, FSM_OP_ENABLE, "web1", NULL);  /* not disabled */
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	/* The guest ignored the button: the vmm quit, the standby ends too. */
	report(&t, "b", "db1", FSM_ROLE_PRIMARY, FSM_VM_STOPPED, 1, 8);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "c", "db1"));
	op(&t, FSM_OP_START, "db1", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	ck_assert_int_eq(count(&t, FSM_ACT_START_PRIMARY), 0);
	op(&t, FSM_OP_ENABLE, "db1", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_START_PRIMARY, "b", "db1"));
	teardown(&t);
}
END_TEST

static const char failing_conf[] =
	"[cluster]\nallow_plaintext = yes\n"
	NODE("a", "") NODE("b", "") NODE("c", "")
	VM("v", "preferred_nodes = a, b\nprotected = no\n");

/* v's fresh boot: on which node, under which generation. */
static void boots(struct t *t, const char *node, uint64_t gen)
{
	const struct fsm_action *a = find(t, FSM_ACT_START_PRIMARY, NULL, "v");

	ck_assert_msg(a, "v was not started again");
	ck_assert_str_eq(a->node, node);
	ck_assert_uint_eq(a->generation, gen);
}

START_TEST(test_failure_limits)
{
	struct t t;
	struct fsm_event ev = { .type = FSM_EV_VM_REPORT };

	setup(&t, failing_conf);
	all_ready(&t);
	boots(&t, "a", 1);
	/* max_restart 1, max_relocate 1: a twice, then b twice, then error. */
	report(&t, "a", "v", FSM_ROLE_PRIMARY, FSM_VM_FAILED, 1, 0);
	boots(&t, "a", 2);
	report(&t, "a", "v", FSM_ROLE_PRIMARY, FSM_VM_FAILED, 2, 0);
	boots(&t, "b", 3);
	report(&t, "b", "v", FSM_ROLE_PRIMARY, FSM_VM_FAILED, 3, 0);
	boots(&t, "b", 4);
	report(&t, "b", "v", FSM_ROLE_PRIMARY, FSM_VM_FAILED, 4, 0);
	ck_assert_int_eq(count(&t, FSM_ACT_START_PRIMARY), 0);
	ck_assert(vm_of(&t, "v")->error);
	ck_assert_str_eq(primary_of(&t, "v"), "-");
	/* Kept down through membership changes and commands. */
	members(&t, true, "a", "b", NULL);
	ck_assert_int_eq(count(&t, FSM_ACT_START_PRIMARY), 0);
	op(&t, FSM_OP_START, "v", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	op(&t, FSM_OP_FAILOVER, "v", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));

	op(&t, FSM_OP_CLEAR, "v", NULL);
	boots(&t, "a", 5);
	ck_assert(!vm_of(&t, "v")->error);
	op(&t, FSM_OP_CLEAR, "v", NULL);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_REJECT, "b", NULL));
	/* It failed once; then ran 60 s: that failure no longer counts. */
	report(&t, "a", "v", FSM_ROLE_PRIMARY, FSM_VM_FAILED, 5, 0);
	boots(&t, "a", 6);
	ck_assert_uint_eq(vm_of(&t, "v")->restarts, 1);
	ev.report.node = "a";
	ev.report.vm = "v";
	ev.report.role = FSM_ROLE_PRIMARY;
	ev.report.state = FSM_VM_RUNNING;
	ev.report.generation = 6;
	ev.report.stable = true;
	feed(&t, &ev);
	ck_assert_uint_eq(vm_of(&t, "v")->restarts, 0);
	report(&t, "a", "v", FSM_ROLE_PRIMARY, FSM_VM_FAILED, 6, 0);
	boots(&t, "a", 7);
	/* Out of error by disable, then enable: it boots with fresh counts. */
	report(&t, "a", "v", FSM_ROLE_PRIMARY, FSM_VM_FAILED, 7, 0);
	boots(&t, "b", 8);
	report(&t, "b", "v", FSM_ROLE_PRIMARY, FSM_VM_FAILED, 8, 0);
	boots(&t, "b", 9);
	report(&t, "b", "v", FSM_ROLE_PRIMARY, FSM_VM_FAILED, 9, 0);
	ck_assert(vm_of(&t, "v")->error);
	op(&t, FSM_OP_DISABLE, "v", NULL);
	ck_assert(!vm_of(&t, "v")->error);
	ck_assert_int_eq(count(&t, FSM_ACT_START_PRIMARY), 0);
	op(&t, FSM_OP_ENABLE, "v", NULL);
	boots(&t, "a", 10);
	ck_assert_uint_eq(vm_of(&t, "v")->restarts + vm_of(&t, "v")->relocations, 0);
	teardown(&t);
}
END_TEST

/* ---- placement: node memory and cpus, nodes, avoid ---- */

static const char placement_conf[] =
	"[cluster]\nallow_plaintext = yes\n"
	NODE("a", "memory = 100M\ncpus = 2\n") NODE("b", "memory = 100M\n")
	NODE("c", "memory = 40M\ncpus = 1\n")
	"[vm db1]\nmemory = 32M\nkernel = /k\nprotected = no\nnodes = a, b\n"
	"[vm web1]\nmemory = 64M\nkernel = /k\npreferred_nodes = a, b\n"
	"[vm web2]\nmemory = 32M\nkernel = /k\nprotected = no\navoid = web1\n"
	"preferred_nodes = a\n"
	"[vm big]\nmemory = 128M\nkernel = /k\nprotected = no\n";

/* The LOG or REJECT that contains text. */
static const struct fsm_action *find_text(struct t *t, enum fsm_action_type type,
					  const char *text)
{
	for (size_t i = 0; i < t->acts.n; i++)
		if (t->acts.v[i].type == type && strstr(t->acts.v[i].text, text))
			return &t->acts.v[i];
	return NULL;
}

/*
 * A protected primary whose guest powers off (its vmm ends cleanly, not
 * ordered to): its standby ended with it after the final checkpoint, so
 * nothing is promoted; the VM boots afresh.  hactl failover's stop still
 * promotes (test_operator).
 */
START_TEST(test_guest_power_off_boots_afresh)
{
	struct t t;
	const struct fsm_action *a;

	setup(&t, base_conf);
	form(&t);
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_STOPPED, vm_of(&t, "web1")->generation,
	       9);
	ck_assert_ptr_null(find(&t, FSM_ACT_PROMOTE, NULL, "web1"));
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "b", "web1"));
	ck_assert_ptr_nonnull(a = find(&t, FSM_ACT_START_PRIMARY, NULL, "web1"));
	ck_assert_ptr_nonnull(find_text(&t, FSM_ACT_LOG, "vm web1: its guest powered off: "
					"booting it afresh on"));
	ck_assert_str_eq(primary_of(&t, "web1"), a->node);
	ck_assert_uint_eq(vm_of(&t, "web1")->relocations, 0);
	teardown(&t);
}
END_TEST

/* Whole "X has 40 of 40 MiB ... needs 128" reasons between from and to. */
static int fsm_count_reasons(const char *from, const char *to)
{
	int n = 0;

	for (const char *p = from; p && p < to; p = strstr(p + 1, "; ")) {
		const char *end = strstr(p + 1, "; ");

		if (!end || end > to)
			end = to;
		ck_assert_msg(end - p > 10 && !strncmp(end - 9, "needs 128", 9),
			      "a reason cut off: %.*s", (int)(end - p), p);
		n++;
	}
	return n;
}

/* Eight small nodes: a refusal names whole reasons and counts the rest. */
static const char many_nodes_conf[] =
	"[cluster]\nallow_plaintext = yes\n"
	NODE("a", "memory = 40M\n") NODE("b", "memory = 40M\n") NODE("c", "memory = 40M\n")
	NODE("d", "memory = 40M\n") NODE("e", "memory = 40M\n") NODE("f", "memory = 40M\n")
	NODE("g", "memory = 40M\n") NODE("h", "memory = 40M\n")
	"[vm big]\nmemory = 128M\nkernel = /k\nprotected = no\n";

START_TEST(test_placement_refusal_many_nodes)
{
	const struct fsm_action *a;
	const char *why, *more;
	struct t t;

	setup(&t, many_nodes_conf);
	members(&t, true, "a", "b", "c", "d", "e", "f", "g", "h", NULL);
	for (const char *n = "abcdefgh"; *n; n++) {
		char name[2] = { *n, 0 };

		inventory(&t, name);
	}
	a = find_text(&t, FSM_ACT_LOG, "vm big: no node can run it: a has 40 of 40 MiB");
	ck_assert_ptr_nonnull(a);
	why = strstr(a->text, ": a has");
	more = strstr(a->text, "; and ");
	ck_assert_msg(more, "no count of the reasons left out: %s", a->text);
	/* Every reason before the count is whole; the count adds up to 8. */
	ck_assert_int_eq(fsm_count_reasons(why, more) + atoi(more + 6), 8);
	ck_assert_msg(!strcmp(more + 6 + strspn(more + 6, "0123456789"),
			      " more nodes cannot take it"), "%s", a->text);
	teardown(&t);
}
END_TEST

/*
 * The longest VM name, one node without room, seven in maintenance (short
 * reasons): the count still ends the log line and hactl start's refusal.
 */
#define LONG_VM "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
static const char many_nodes_long_conf[] =
	"[cluster]\nallow_plaintext = yes\n"
	NODE("a", "memory = 40M\n") NODE("b", "memory = 40M\n") NODE("c", "memory = 40M\n")
	NODE("d", "memory = 40M\n") NODE("e", "memory = 40M\n") NODE("f", "memory = 40M\n")
	NODE("g", "memory = 40M\n") NODE("h", "memory = 40M\n")
	"[vm " LONG_VM "]\nmemory = 128M\nkernel = /k\nprotected = no\n";

/* Whole reasons (a's, then "X cannot take VMs now"), then the count of the rest: 8. */
static void check_long_refusal(const char *text)
{
	const char *why = strstr(text, ": a has"), *more = strstr(text, "; and ");
	int n;

	ck_assert_msg(more, "no count of the reasons left out: %s", text);
	n = fsm_count_reasons(why, why + strcspn(why, ";"));
	for (const char *p = strstr(why, " cannot take VMs now"); p && p < more;
	     p = strstr(p + 1, " cannot take VMs now"))
		n++;
	ck_assert_int_eq(n + atoi(more + 6), 8);
	ck_assert_msg(!strcmp(more + 6 + strspn(more + 6, "0123456789"),
			      " more nodes cannot take it"), "%s", text);
}

START_TEST(test_placement_refusal_long_name)
{
	const struct fsm_action *a;
	struct t t;

	setup(&t, many_nodes_long_conf);
	members(&t, true, "a", "b", "c", "d", "e", "f", "g", "h", NULL);
	for (const char *c = "bcdefgh"; *c; c++) {
		char name[2] = { *c, 0 };

		op(&t, FSM_OP_MAINTENANCE_ON, NULL, name);
	}
	for (const char *c = "abcdefgh"; *c; c++) {
		char name[2] = { *c, 0 };

		inventory(&t, name);
	}
	a = find_text(&t, FSM_ACT_LOG, "vm " LONG_VM ": no node can run it: a has 40 of 40 MiB");
	ck_assert_ptr_nonnull(a);
	check_long_refusal(a->text);
	op(&t, FSM_OP_STOP, LONG_VM, NULL);
	op(&t, FSM_OP_START, LONG_VM, NULL);
	a = find_text(&t, FSM_ACT_REJECT, "no node can run vm " LONG_VM ": a has 40 of 40 MiB");
	ck_assert_ptr_nonnull(a);
	check_long_refusal(a->text);
	teardown(&t);
}
END_TEST

START_TEST(test_placement_limits)
{
	struct t t;

	setup(&t, placement_conf);
	all_ready(&t);
	/* db1 first (by name) on a; web1 fits beside it (96 of 100 MiB, 2 of 2
	 * cpus), its standby on b; web2 prefers a but avoids web1: c. */
	ck_assert_str_eq(primary_of(&t, "db1"), "a");
	ck_assert_str_eq(primary_of(&t, "web1"), "a");
	ck_assert_str_eq(standby_of(&t, "web1"), "b");
	ck_assert_str_eq(primary_of(&t, "web2"), "c");
	ck_assert_str_eq(primary_of(&t, "big"), "-");
	/* big is looked at first (by name), when every node is empty. */
	ck_assert_msg(find_text(&t, FSM_ACT_LOG, "vm big: no node can run it: a has 100 of 100 "
				"MiB of declared memory free, vm big needs 128; b has 100 of 100 MiB "
				"of declared memory free, vm big needs 128; c has 40 of 40"),
		      "no reason logged for big");

	op(&t, FSM_OP_MIGRATE, "web1", "c");
	ck_assert_ptr_nonnull(find_text(&t, FSM_ACT_REJECT, "cannot move vm web1 to c: c has 8 "
					"of 40 MiB of declared memory free, vm web1 needs 64"));
	op(&t, FSM_OP_MIGRATE, "db1", "c");
	ck_assert_ptr_nonnull(find_text(&t, FSM_ACT_REJECT, "c is not in the nodes of vm db1"));
	op(&t, FSM_OP_MIGRATE, "web2", "a");
	ck_assert_ptr_nonnull(find_text(&t, FSM_ACT_REJECT, "cannot move vm web2 to a"));
	/* a's room, when db1 is gone: then only the avoid rule is left. */
	op(&t, FSM_OP_STOP, "db1", NULL);
	report(&t, "a", "db1", FSM_ROLE_PRIMARY, FSM_VM_STOPPED, 1, 0);
	op(&t, FSM_OP_MIGRATE, "web2", "a");
	ck_assert_ptr_nonnull(find_text(&t, FSM_ACT_REJECT, "a runs vm web1, which vm web2 "
					"avoids"));
	/* The handover to its standby is not a new copy: accepted. */
	report(&t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 1, 3);
	report(&t, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 2, 3);
	op(&t, FSM_OP_MIGRATE, "web1", "b");
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_HANDOVER, "a", "web1"));

	op(&t, FSM_OP_STOP, "big", NULL);
	op(&t, FSM_OP_START, "big", NULL);
	ck_assert_ptr_nonnull(find_text(&t, FSM_ACT_REJECT, "no node can run vm big: a has"));
	ck_assert_uint_eq(vm_of(&t, "big")->request, FSM_REQ_STOPPED);
	teardown(&t);
}
END_TEST

/* What a hasvcd reads from its host (hasvc/local.c) comes with its inventory. */
static void inventory_of(struct t *t, const char *node, uint32_t mem_mib, uint16_t cpus)
{
	struct fsm_event ev = { .type = FSM_EV_INVENTORY_DONE };

	ev.inventory.node = node;
	ev.inventory.mem_mib = mem_mib;
	ev.inventory.cpus = cpus;
	feed(t, &ev);
}

/* a declares nothing, b its memory, c its cpus: the rest is what they report. */
static const char reported_conf[] =
	"[cluster]\nallow_plaintext = yes\n"
	NODE("a", "") NODE("b", "memory = 100M\n") NODE("c", "cpus = 1\n")
	"[vm v1]\nmemory = 64M\nkernel = /k\nprotected = no\npreferred_nodes = a\n"
	"[vm v2]\nmemory = 64M\nkernel = /k\nprotected = no\npreferred_nodes = a\n"
	"[vm v3]\nmemory = 64M\nkernel = /k\nprotected = no\npreferred_nodes = b\n"
	"[vm v4]\nmemory = 16M\nvcpus = 2\nkernel = /k\nprotected = no\n"
	"preferred_nodes = c, a\n";

START_TEST(test_placement_reported)
{
	struct fsm_capacity cap;
	struct t t;

	setup(&t, reported_conf);
	members(&t, true, "a", "b", "c", NULL);
	inventory_of(&t, "b", 4000, 8);
	inventory_of(&t, "c", 50, 4);
	/* A node that has not reported is no target: nothing is placed yet. */
	ck_assert_int_eq(count(&t, FSM_ACT_START_PRIMARY), 0);
	inventory_of(&t, "a", 100, 2);
	ck_assert_uint_eq(t.f->nodes[fsm__node_index(t.f, "a")].rep_mem_mib, 100);
	/* v1 on a (reported 100 MiB); v2 no longer fits there: b, whose declared
	 * 100M wins over its reported 4000; v3 fits nowhere; v4 needs 2 cpus:
	 * c declares 1 (its reported 4 do not count); a reports 2 and runs v1's
	 * one, but reported cpus do not limit (vCPUs time-share the host). */
	ck_assert_str_eq(primary_of(&t, "v1"), "a");
	ck_assert_str_eq(primary_of(&t, "v2"), "b");
	ck_assert_str_eq(primary_of(&t, "v3"), "-");
	ck_assert_str_eq(primary_of(&t, "v4"), "a");
	ck_assert_msg(find_text(&t, FSM_ACT_LOG, "vm v3: no node can run it: a has 36 of 100 MiB "
				"of reported memory free, vm v3 needs 64; b has 36 of 100 MiB of "
				"declared memory free, vm v3 needs 64; c has 50 of 50 MiB of "
				"reported memory free, vm v3 needs 64"),
		      "no reason logged for v3");
	op(&t, FSM_OP_MIGRATE, "v4", "c");
	ck_assert_ptr_nonnull(find_text(&t, FSM_ACT_REJECT, "cannot move vm v4 to c: c has 1 of "
					"1 declared cpus free, vm v4 needs 2"));
	/* What status shows: the figure counted, where it comes from, the use. */
	fsm__capacity(t.f, fsm__node_index(t.f, "b"), &cap);
	ck_assert_uint_eq(cap.mem_mib, 100);
	ck_assert(cap.mem_declared);
	ck_assert_uint_eq(cap.cpus, 8);
	ck_assert(!cap.cpus_declared);
	ck_assert_uint_eq(cap.used_mem_mib, 64);
	ck_assert_uint_eq(cap.used_cpus, 1);
	/* A node whose hasvcd reports nothing (an older one) is not counted. */
	members(&t, true, "a", "b", NULL);
	members(&t, true, "a", "b", "c", NULL);
	inventory_of(&t, "c", 0, 0);
	ck_assert_str_eq(primary_of(&t, "v3"), "c");
	teardown(&t);
}
END_TEST

static void scenario(struct t *t)
{
	form(t);
	members(t, true, "b", "c", NULL);
	report(t, "c", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 4, 1);
	op(t, FSM_OP_EVACUATE, NULL, "c");
	members(t, true, "a", "b", "c", NULL);
	report(t, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_RUNNING, 1, 3);
	inventory(t, "a");
	quorum(t, false);
	quorum(t, true);
}

START_TEST(test_determinism)
{
	struct t one, two;

	setup(&one, base_conf);
	setup(&two, base_conf);
	scenario(&one);
	scenario(&two);
	ck_assert_uint_gt(one.trace_len, 200);
	ck_assert_uint_eq(one.trace_len, two.trace_len);
	ck_assert_int_eq(memcmp(one.trace_buf, two.trace_buf, one.trace_len), 0);
	ck_assert_int_eq(memcmp(one.f, two.f, sizeof(*one.f)), 0);
	teardown(&one);
	teardown(&two);
}
END_TEST

START_TEST(test_membership_order_irrelevant)
{
	struct t one, two;

	setup(&one, base_conf);
	setup(&two, base_conf);
	members(&one, true, "a", "b", "c", NULL);
	members(&two, true, "c", "a", "b", NULL);
	ck_assert_int_eq(memcmp(one.f, two.f, sizeof(*one.f)), 0);
	teardown(&one);
	teardown(&two);
}
END_TEST

START_TEST(test_reload)
{
	struct t t;
	struct config *c2;
	char err[CONFIG_ERR_MAX];
	struct fsm_event ev = { .type = FSM_EV_CONFIG };

	setup(&t, base_conf);
	form(&t);
	ck_assert_int_eq(cluster_config__parse_string(
				 "[cluster]\nallow_plaintext = yes\n"
				 NODE("a", "") NODE("b", "") NODE("c", "")
				 VM("web1", "preferred_nodes = a, b\n")
				 VM("new1", "preferred_nodes = c\nprotected = no\n"),
				 "t2.conf", &c2, err, sizeof(err)), 0);
	ev.config.config = c2;
	feed(&t, &ev);
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "b", "db1"));
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_STOP, "c", "db1"));
	ck_assert_ptr_nonnull(find(&t, FSM_ACT_START_PRIMARY, "c", "new1"));
	ck_assert_str_eq(find(&t, FSM_ACT_START_PRIMARY, "c", "new1")->peer, "");
	ck_assert_int_lt(fsm__vm_index(t.f, "db1"), 0);
	ck_assert_str_eq(primary_of(&t, "web1"), "a");
	cluster_config__free(c2);
	teardown(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hasvc_fsm");
	TCase *tc = tcase_create("fsm");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_formation);
	tcase_add_test(tc, test_formation_least_loaded);
	tcase_add_test(tc, test_primary_node_dies);
	tcase_add_test(tc, test_standby_node_dies);
	tcase_add_test(tc, test_fencing);
	tcase_add_test(tc, test_fencer_leaves);
	tcase_add_test(tc, test_fence_ack);
	tcase_add_test(tc, test_restart_frozen);
	tcase_add_test(tc, test_restart_frozen_stop);
	tcase_add_test(tc, test_restart_frozen_protect);
	tcase_add_test(tc, test_restart_frozen_stop_expired);
	tcase_add_test(tc, test_restart_expired);
	tcase_add_test(tc, test_restart_quorum_blip);
	tcase_add_test(tc, test_maintenance);
	tcase_add_test(tc, test_quorum_lost);
	tcase_add_test(tc, test_quorum_blip_resumes_in_place);
	tcase_add_test(tc, test_stale_generation_rejoins);
	tcase_add_test(tc, test_rejoined_node_lost_its_copies);
	tcase_add_test(tc, test_evacuate);
	tcase_add_test(tc, test_operator);
	tcase_add_test(tc, test_standby_fails_elsewhere_next);
	tcase_add_test(tc, test_unsynced_standby_cold_restart);
	tcase_add_test(tc, test_determinism);
	tcase_add_test(tc, test_membership_order_irrelevant);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_stop_start);
	tcase_add_test(tc, test_disable_enable);
	tcase_add_test(tc, test_failure_limits);
	tcase_add_test(tc, test_placement_limits);
	tcase_add_test(tc, test_guest_power_off_boots_afresh);
	tcase_add_test(tc, test_placement_refusal_many_nodes);
	tcase_add_test(tc, test_placement_refusal_long_name);
	tcase_add_test(tc, test_placement_reported);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
