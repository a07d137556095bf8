/*
 * The replica as a Replica message (hasvc/fsm_codec.c): round trips of an
 * empty and a formed cluster's state, one encoding per state, fields a newer
 * hasvcd adds skipped (and the digest unchanged by them), and every value out
 * of range refused with the field named.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/cluster_config.h"
#include "hasvc/fsm.h"
#include "hasvc/fsm_codec.h"

static const char conf_text[] =
	"[cluster]\nallow_plaintext = yes\n"
	"[node a]\nreplication = a:7400\n"
	"[node b]\nreplication = b:7400\nfence_command = /bin/fence b\n"
	"[node c]\nreplication = c:7400\n"
	"[vm web1]\nmemory = 64M\nkernel = /k\npreferred_nodes = a, b\npriority = 10\n"
	"[vm db1]\nmemory = 64M\nkernel = /k\npreferred_nodes = b, c\n";

static void step(struct fsm *f, const struct fsm_event *ev)
{
	struct fsm_actions acts;
	char why[256];

	fsm__actions_init(&acts);
	ck_assert_int_eq(fsm__step(f, ev, &acts), 0);
	ck_assert_msg(fsm__check_invariants(f, why, sizeof(why)) == 0, "%s", why);
	fsm__actions_free(&acts);
}

static void report(struct fsm *f, const char *node, const char *vm, enum fsm_role role,
		   enum fsm_vm_state state, uint64_t epoch)
{
	struct fsm_event ev = { .type = FSM_EV_VM_REPORT };
	int v = fsm__vm_index(f, vm);

	ev.report.node = node;
	ev.report.vm = vm;
	ev.report.role = role;
	ev.report.state = state;
	ev.report.generation = f->vms[v].copies[fsm__node_index(f, node)].generation;
	ev.report.epoch = epoch;
	step(f, &ev);
}

static void view(struct fsm *f, const char *const *nodes, size_t n)
{
	struct fsm_event ev = { .type = FSM_EV_MEMBERSHIP };

	ev.membership.nodes = nodes;
	ev.membership.n_nodes = n;
	ev.membership.quorate = true;
	step(f, &ev);
}

/*
 * A formed cluster with most fields away from their defaults: both VMs
 * placed and protected (copies with epochs, preferred nodes), then b lost
 * with a fence command, so that its fencing is pending.
 */
static struct fsm *formed(void)
{
	static const char *const all[] = { "a", "b", "c" }, *const two[] = { "a", "c" };
	struct fsm *f = fsm__new();
	struct config *conf;
	char err[CONFIG_ERR_MAX];
	struct fsm_event ev = { .type = FSM_EV_CONFIG };

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(cluster_config__parse_string(conf_text, "t.conf", &conf, err,
						  sizeof(err)) == 0,
		      "%s", err);
	ev.config.config = conf;
	memset(ev.config.digest, 0x5a, sizeof(ev.config.digest));
	step(f, &ev);
	view(f, all, 3);
	for (int i = 0; i < 3; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.type = FSM_EV_INVENTORY_DONE;
		ev.inventory.node = all[i];
		step(f, &ev);
	}
	report(f, "a", "web1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 7);
	report(f, "b", "web1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 7);
	report(f, "b", "db1", FSM_ROLE_PRIMARY, FSM_VM_PROTECTED, 3);
	report(f, "c", "db1", FSM_ROLE_STANDBY, FSM_VM_PROTECTED, 3);
	view(f, two, 2);
	cluster_config__free(conf);
	ck_assert_int_eq(f->nodes[fsm__node_index(f, "b")].fence, FSM_FENCE_PENDING);
	return f;
}

static uint8_t *pack(const struct fsm *f, size_t *len)
{
	uint8_t *buf;

	ck_assert_int_eq(fsm_codec__pack(f, &buf, len), 0);
	return buf;
}

/* f through the wire and back: equal, and its encoding the same bytes. */
static void round_trip(const struct fsm *f)
{
	struct fsm *back = malloc(sizeof(*back));
	Hasvc__Cluster__Replica *r;
	uint8_t *buf, *again;
	size_t len, len2;
	char why[256];

	ck_assert_ptr_nonnull(back);
	buf = pack(f, &len);
	r = hasvc__cluster__replica__unpack(NULL, len, buf);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(fsm_codec__decode(r, back, why, sizeof(why)) == 0, "%s", why);
	ck_assert_int_eq(fsm_codec__unknown(r), 0);
	ck_assert_msg(!memcmp(f, back, sizeof(*f)), "the replica changed on a round trip");
	again = pack(back, &len2);
	ck_assert(len == len2 && !memcmp(buf, again, len));
	hasvc__cluster__replica__free_unpacked(r, NULL);
	free(again);
	free(buf);
	free(back);
}

START_TEST(test_round_trip_empty)
{
	struct fsm *f = fsm__new();
	size_t len;
	uint8_t *buf;

	ck_assert_ptr_nonnull(f);
	round_trip(f);
	buf = pack(f, &len);
	ck_assert_int_eq(len, 0); /* every field at its default */
	free(buf);
	fsm__free(f);
}
END_TEST

START_TEST(test_round_trip_formed)
{
	struct fsm *f = formed();

	round_trip(f);
	fsm__free(f);
}
END_TEST

/* A node in maintenance (hactl maintenance on) keeps the flag on the wire. */
START_TEST(test_round_trip_maintenance)
{
	struct fsm *f = formed();

	f->nodes[1].maintenance = true;
	f->nodes[1].evacuating = f->nodes[1].member;
	round_trip(f);
	fsm__free(f);
}
END_TEST

/* A node whose hasvcd restarts (ReplicaNode 80, 81) and a VM it freezes. */
START_TEST(test_round_trip_restarting)
{
	struct fsm *f = formed();
	int a = fsm__node_index(f, "a");

	f->nodes[a].restarting = true;
	f->nodes[a].restart_deadline_ms = 1796000000123;
	f->vms[0].waiting = FSM_WAIT_FROZEN;
	round_trip(f);
	fsm__free(f);
}
END_TEST

/* The lifecycle fields (ReplicaVm 40..48) away from their defaults. */
START_TEST(test_round_trip_lifecycle)
{
	struct fsm *f = formed();
	struct fsm_vm *vm = &f->vms[fsm__vm_index(f, "db1")];

	vm->request = FSM_REQ_DISABLED;
	vm->error = true;
	vm->max_restart = 3;
	vm->max_relocate = 0;
	vm->restarts = 2;
	vm->relocations = 1;
	vm->home = 2;
	vm->stop_timeout_s = 86400;
	vm->shutdown_gen = vm->generation;
	round_trip(f);
	/* An operator's failover under way (ReplicaVm 120). */
	vm->handover = vm->failover_asked = true;
	round_trip(f);
	vm->home = 0;  /* slot 0, not none */
	round_trip(f);
	vm->mem_mib = 512;
	vm->vcpus = 4;
	vm->nodes_mask = 0x5;
	vm->apart[1] = 1ULL << 63;  /* slot 127: both words go */
	f->nodes[0].mem_mib = 1 << 20;
	f->nodes[0].cpus = 64;
	round_trip(f);
	/* What a node's hasvcd reported of its host goes with the replica. */
	f->nodes[1].rep_mem_mib = 3u << 20;
	f->nodes[1].rep_cpus = 48;
	round_trip(f);
	fsm__free(f);
}
END_TEST

/* Equal replicas, equal bytes; one field apart, other bytes. */
START_TEST(test_one_encoding)
{
	struct fsm *f = formed(), *g = formed();
	uint8_t *a, *b;
	size_t la, lb;

	a = pack(f, &la);
	b = pack(g, &lb);
	ck_assert(la == lb && !memcmp(a, b, la));
	free(b);
	g->vms[fsm__vm_index(g, "db1")].copies[2].epoch++;
	b = pack(g, &lb);
	ck_assert(la != lb || memcmp(a, b, la));
	free(b);
	/* A reported capacity is in the digest: members that place apart disagree. */
	g->vms[fsm__vm_index(g, "db1")].copies[2].epoch--;
	g->nodes[0].rep_mem_mib = 1;
	b = pack(g, &lb);
	ck_assert(la != lb || memcmp(a, b, la));
	free(a);
	free(b);
	fsm__free(f);
	fsm__free(g);
}
END_TEST

/* A length-prefixed field 99: its data holds the length, then the bytes. */
static ProtobufCMessageUnknownField extra = {
	.tag = 99, .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, .len = 5,
	.data = (uint8_t *)"\x04next",
};

static void add_unknown(ProtobufCMessage *m)
{
	m->n_unknown_fields = 1;
	m->unknown_fields = &extra;
}

/*
 * What a newer hasvcd sends: fields this version does not know at every
 * level.  They are skipped, counted, and the replica and its encoding (the
 * digest's input) are those of the fields both know.
 */
START_TEST(test_unknown_fields_skipped)
{
	struct fsm *f = formed(), *back = malloc(sizeof(*back));
	Hasvc__Cluster__Replica *r = fsm_codec__encode(f), *got;
	uint8_t *buf, *mine, *theirs;
	size_t len, lm, lt;
	char why[256];

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(back);
	add_unknown(&r->base);
	add_unknown(&r->nodes[0]->base);
	add_unknown(&r->vms[1]->base);
	add_unknown(&r->vms[0]->copies[0]->base);
	len = hasvc__cluster__replica__get_packed_size(r);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	hasvc__cluster__replica__pack(r, buf);
	got = hasvc__cluster__replica__unpack(NULL, len, buf);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(fsm_codec__unknown(got), 4);
	ck_assert_msg(fsm_codec__decode(got, back, why, sizeof(why)) == 0, "%s", why);
	ck_assert_msg(!memcmp(f, back, sizeof(*f)), "the unknown fields changed the replica");
	mine = pack(f, &lm);
	theirs = pack(back, &lt);
	ck_assert(lm == lt && !memcmp(mine, theirs, lm));
	ck_assert(lm < len);
	hasvc__cluster__replica__free_unpacked(got, NULL);
	fsm_codec__free(r);
	free(mine);
	free(theirs);
	free(buf);
	free(back);
	fsm__free(f);
}
END_TEST

/* ---- every value out of range, one at a time ---- */

static const char long_name[] =
	"a123456789b123456789c123456789d123456789e123456789f123456789g123";
static uint32_t many[HASVC_MAX_NODES + 1];
static uint32_t far_node[] = { HASVC_MAX_NODES };
static uint8_t short_digest[5];

static void swap_copies(Hasvc__Cluster__ReplicaVm *vm)
{
	Hasvc__Cluster__ReplicaCopy *c = vm->copies[0];

	vm->copies[0] = vm->copies[1];
	vm->copies[1] = c;
}

/* The mutation number k of r; false past the last.  why: what the error names. */
static bool mutate(Hasvc__Cluster__Replica *r, int k, const char **want)
{
	Hasvc__Cluster__ReplicaVm *vm = r->vms[0];
	Hasvc__Cluster__ReplicaCopy *c = vm->copies[0];

	switch (k) {
	case 0: r->config_digest.len = 5; r->config_digest.data = short_digest;
		*want = "Replica.config_digest: 5 bytes, not 32"; break;
	case 1: r->nodes[0]->slot = HASVC_MAX_NODES;
		*want = "Replica.nodes: slot 32 out of range (0..31)"; break;
	case 2: r->nodes[1]->slot = r->nodes[0]->slot;
		*want = "Replica.nodes: slot 0 after slot 0 (ascending order)"; break;
	case 3: r->nodes[1]->name = (char *)long_name;
		*want = "Replica.nodes[1].name: 64 bytes, at most 63"; break;
	case 4: r->nodes[2]->fence = FSM_FENCE_DONE + 1;
		*want = "Replica.nodes[2].fence: 4 is out of range (0..3)"; break;
	case 5: vm->slot = HASVC_MAX_VMS;
		*want = "Replica.vms: slot 128 out of range (0..127)"; break;
	case 6: r->vms[1]->slot = vm->slot;
		*want = "Replica.vms: slot 0 after slot 0 (ascending order)"; break;
	case 7: vm->name = (char *)long_name;
		*want = "Replica.vms[0].name: 64 bytes, at most 63"; break;
	case 8: vm->waiting = FSM_WAIT_FROZEN + 1;
		*want = "Replica.vms[0].waiting: 6 is out of range (0..5)"; break;
	case 9: vm->preferred = many; vm->n_preferred = HASVC_MAX_NODES + 1;
		*want = "Replica.vms[0].preferred: 33 nodes, at most 32"; break;
	case 10: vm->preferred = far_node; vm->n_preferred = 1;
		*want = "Replica.vms[0].preferred[0]: 32 is not a node slot (0..31)"; break;
	case 11: vm->primary = -2;
		*want = "Replica.vms[0].primary: -2 is not a node slot (-1..31)"; break;
	case 12: vm->standby = HASVC_MAX_NODES;
		*want = "Replica.vms[0].standby: 32 is not a node slot (-1..31)"; break;
	case 13: vm->migrate_to = 1000;
		*want = "Replica.vms[0].migrate_to: 1000 is not a node slot (-1..31)"; break;
	case 14: vm->avoid = -100;
		*want = "Replica.vms[0].avoid: -100 is not a node slot (-1..31)"; break;
	case 15: c->node = HASVC_MAX_NODES;
		*want = "Replica.vms[0].copies[0]: slot 32 out of range (0..31)"; break;
	case 16: swap_copies(vm);
		*want = "Replica.vms[0].copies[1]: slot 0 after slot"; break;
	case 17: c->role = FSM_ROLE_STANDBY + 1;
		*want = "Replica.vms[0].copies[0].role: 3 is out of range (0..2)"; break;
	case 18: c->state = FSM_VM_FAILED + 1;
		*want = "Replica.vms[0].copies[0].state: 8 is out of range (0..7)"; break;
	/* In range, but a broken rule of the machine: fsm__check_invariants. */
	case 19: vm->primary = vm->standby;
		*want = "vm web1: primary and standby both on"; break;
	case 20: vm->copies[1]->generation = vm->issued + 1;
		*want = "above the highest issued"; break;
	case 21: vm->request = FSM_REQ_DISABLED + 1;
		*want = "Replica.vms[0].request: 3 is out of range (0..2)"; break;
	case 22: vm->restarts = 256;
		*want = "Replica.vms[0].restarts: 256 is out of range (0..255)"; break;
	case 23: vm->home = HASVC_MAX_NODES + 1;
		*want = "Replica.vms[0].home: 32 is not a node slot (-1..31)"; break;
	case 24: r->nodes[1]->reported_cpus = 65536;
		*want = "Replica.nodes[1].reported_cpus: 65536 is out of range (0..65535)"; break;
	default:
		return false;
	}
	return true;
}

START_TEST(test_bad_values_refused)
{
	struct fsm *f = formed(), *back = malloc(sizeof(*back));
	const char *want;
	char why[256];
	int k;

	ck_assert_ptr_nonnull(back);
	for (k = 0;; k++) {
		Hasvc__Cluster__Replica *r = fsm_codec__encode(f);
		bool more;

		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(r->n_nodes, 3);
		ck_assert_msg(r->n_vms == 2 && r->vms[0]->n_copies == 2 &&
			      r->vms[0]->copies[0]->node == 0, "the formed state changed");
		more = mutate(r, k, &want);
		if (more) {
			why[0] = 0;
			ck_assert_msg(fsm_codec__decode(r, back, why, sizeof(why)) == -EPROTO,
				      "mutation %d (%s) accepted", k, want);
			ck_assert_msg(strstr(why, want), "mutation %d: '%s', not '%s'", k, why,
				      want);
		}
		fsm_codec__free(r);
		if (!more)
			break;
	}
	ck_assert_int_eq(k, 25);
	free(back);
	fsm__free(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hasvc_fsm_codec");
	TCase *tc = tcase_create("codec");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_round_trip_empty);
	tcase_add_test(tc, test_round_trip_formed);
	tcase_add_test(tc, test_round_trip_maintenance);
	tcase_add_test(tc, test_round_trip_restarting);
	tcase_add_test(tc, test_round_trip_lifecycle);
	tcase_add_test(tc, test_one_encoding);
	tcase_add_test(tc, test_unknown_fields_skipped);
	tcase_add_test(tc, test_bad_values_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
