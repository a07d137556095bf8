/*
 * Cluster events from pairs of replicas (hasvc/events.c): each transition
 * is one event, naming its node and VM; a state that stays is none; the
 * ring keeps the last EVENTS_RING with their numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "hasvc/events.h"

static struct fsm *before, *after;

static void setup(void)
{
	before = calloc(1, sizeof(*before));
	after = calloc(1, sizeof(*after));
	ck_assert_ptr_nonnull(before);
	ck_assert_ptr_nonnull(after);
	before->configured = before->have_view = before->quorate = true;
	for (int i = 0; i < 3; i++) {
		snprintf(before->nodes[i].name, HASVC_NAME_MAX, "%c", 'a' + i);
		before->nodes[i].declared = before->nodes[i].member = true;
	}
	before->vms[0].used = true;
	snprintf(before->vms[0].name, HASVC_NAME_MAX, "web1");
	before->vms[0].primary = 0;
	before->vms[0].standby = 1;
	before->vms[0].migrate_to = -1;
	before->vms[0].copies[0].state = FSM_VM_SYNCING;
	memcpy(after, before, sizeof(*after));
}

static void teardown(void)
{
	free(before);
	free(after);
}

/* The events of before -> after (and acts) as "kind node vm; ...". */
static const char *diff(const struct fsm_actions *acts)
{
	static char text[1024];
	struct cluster_event out[EVENTS_PER_STEP];
	size_t n = events__diff(before, after, acts, out, EVENTS_PER_STEP), k = 0;

	text[0] = '\0';
	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(text + k, sizeof(text) - k, "%s%s %s %s", i ? "; " : "",
				      events__name(out[i].kind), out[i].node, out[i].vm);
	memcpy(before, after, sizeof(*before));
	return text;
}

START_TEST(test_nothing_changed)
{
	ck_assert_str_eq(diff(NULL), "");
}
END_TEST

START_TEST(test_nodes_and_quorum)
{
	after->nodes[2].member = false;
	after->quorate = false;
	ck_assert_str_eq(diff(NULL), "quorum_lost  ; node_lost c ");
	after->nodes[2].fence = FSM_FENCE_PENDING;
	ck_assert_str_eq(diff(NULL), "fence_started c ");
	ck_assert_str_eq(diff(NULL), "");
	after->nodes[2].fence = FSM_FENCE_FAILED;
	ck_assert_str_eq(diff(NULL), "fence_failed c ");
	after->nodes[2].fence = FSM_FENCE_DONE;
	ck_assert_str_eq(diff(NULL), "fence_succeeded c ");
	after->nodes[2].member = true;
	after->quorate = true;
	ck_assert_str_eq(diff(NULL), "quorum_regained  ; node_joined c ");
	/* A node that is not declared is nobody's business. */
	snprintf(after->nodes[5].name, HASVC_NAME_MAX, "stray");
	after->nodes[5].member = true;
	ck_assert_str_eq(diff(NULL), "");
}
END_TEST

START_TEST(test_vm_states)
{
	struct fsm_action promote = { .type = FSM_ACT_PROMOTE, .node = "b", .vm = "web1" };
	struct fsm_actions acts = { .v = &promote, .n = 1, .cap = 1 };

	after->vms[0].copies[0].state = FSM_VM_PROTECTED;
	ck_assert_str_eq(diff(NULL), "vm_protected a web1");
	ck_assert_str_eq(diff(NULL), "");  /* reported again: no event */
	after->vms[0].copies[0].state = FSM_VM_DEGRADED;
	ck_assert_str_eq(diff(NULL), "vm_degraded a web1");
	after->vms[0].primary = 1;
	after->vms[0].copies[1].state = FSM_VM_RUNNING;
	ck_assert_str_eq(diff(&acts), "vm_promoted b web1");
}
END_TEST

/*
 * The synced standby of a protected primary is dropped (lost): degraded,
 * though the primary still says protected (hasvcd's vmm pauses instead of
 * reporting degraded).  Not when the operator unprotects, nor when a live
 * migration drops it.
 */
START_TEST(test_standby_lost)
{
	before->vms[0].protect = true;
	before->vms[0].copies[1] = (struct fsm_copy){ .role = FSM_ROLE_STANDBY, .live = true,
						      .epoch = 3, .generation = 2 };
	memcpy(after, before, sizeof(*after));
	after->vms[0].copies[0].state = FSM_VM_PROTECTED;
	ck_assert_str_eq(diff(NULL), "vm_protected a web1");
	after->vms[0].standby = -1;
	ck_assert_str_eq(diff(NULL), "vm_degraded a web1");
	after->vms[0].standby = 2;  /* a new one, syncing */
	ck_assert_str_eq(diff(NULL), "");
	/* Synced, then lost, and a new one on the same node at once: a new token. */
	before->vms[0].copies[2] = (struct fsm_copy){ .role = FSM_ROLE_STANDBY, .live = true,
						      .state = FSM_VM_PROTECTED, .generation = 4 };
	memcpy(after, before, sizeof(*after));
	after->vms[0].copies[2].generation = 6;
	after->vms[0].copies[2].state = FSM_VM_SYNCING;
	ck_assert_str_eq(diff(NULL), "vm_degraded a web1");
	/* That one is replaced before it synced: nothing more. */
	after->vms[0].copies[2].generation = 8;
	ck_assert_str_eq(diff(NULL), "");
	/*
	 * The primary's vmm pauses on the loss and says so before the
	 * cluster drops the synced standby: degraded once.
	 */
	after->vms[0].copies[2].state = FSM_VM_PROTECTED;
	diff(NULL);
	after->vms[0].copies[0].state = FSM_VM_PAUSED;
	ck_assert_str_eq(diff(NULL), "vm_degraded a web1");
	after->vms[0].standby = -1;
	ck_assert_str_eq(diff(NULL), "");
	/* Paused by a quorum loss: that is quorum_lost, not degraded. */
	after->vms[0].copies[0].state = FSM_VM_PROTECTED;
	after->vms[0].standby = 2;
	diff(NULL);
	after->quorate = false;
	after->vms[0].copies[0].state = FSM_VM_PAUSED;
	ck_assert_str_eq(diff(NULL), "quorum_lost  ");
	after->quorate = true;
	after->vms[0].copies[0].state = FSM_VM_PROTECTED;
	diff(NULL);
	/*
	 * Paused on the loss, reported, resumed in place and given a new
	 * standby in one step: degraded comes before the promotion.
	 */
	struct fsm_action resume = { .type = FSM_ACT_PROMOTE, .node = "a", .vm = "web1" };
	struct fsm_actions acts = { .v = &resume, .n = 1, .cap = 1 };

	after->vms[0].copies[0].state = FSM_VM_RUNNING;
	after->vms[0].copies[2].generation = 10;
	after->vms[0].copies[2].state = FSM_VM_SYNCING;
	ck_assert_str_eq(diff(&acts), "vm_degraded a web1; vm_promoted a web1");
	after->vms[0].standby = -1;
	after->vms[0].protect = false;
	ck_assert_str_eq(diff(NULL), "");
	after->vms[0].protect = true;
	after->vms[0].standby = 1;
	diff(NULL);
	after->vms[0].standby = -1;
	after->vms[0].migrate_to = 2;
	ck_assert_str_eq(diff(NULL), "migration_started c web1");
}
END_TEST

START_TEST(test_migrations_and_config)
{
	after->vms[0].migrate_to = 2;
	ck_assert_str_eq(diff(NULL), "migration_started c web1");
	after->vms[0].migrate_to = -1;
	after->vms[0].primary = 2;
	ck_assert_str_eq(diff(NULL), "migration_finished c web1");
	after->vms[0].migrate_to = 1;
	ck_assert_str_eq(diff(NULL), "migration_started b web1");
	after->vms[0].migrate_to = -1;
	ck_assert_str_eq(diff(NULL), "migration_failed b web1");
	after->digest[0] ^= 1;
	ck_assert_str_eq(diff(NULL), "config_reloaded  ");
}
END_TEST

/*
 * `hactl migrate web1 b` to the synced standby's node is a handover: a
 * migration to b that ends with b's copy the primary, or fails.
 * `hactl failover` runs as a handover too, and is no migration.
 */
START_TEST(test_handover)
{
	struct fsm_action promote = { .type = FSM_ACT_PROMOTE, .node = "b", .vm = "web1" };
	struct fsm_actions acts = { .v = &promote, .n = 1, .cap = 1 };

	after->vms[0].handover = true;
	ck_assert_str_eq(diff(NULL), "migration_started b web1");
	ck_assert_str_eq(diff(NULL), "");
	after->vms[0].handover = false;
	after->vms[0].primary = 1;
	after->vms[0].standby = -1;
	ck_assert_str_eq(diff(&acts), "vm_promoted b web1; migration_finished b web1");
	/* Back on a with b its standby; the next handover fails (b lost). */
	after->vms[0].primary = 0;
	after->vms[0].standby = 1;
	diff(NULL);
	after->vms[0].handover = true;
	ck_assert_str_eq(diff(NULL), "migration_started b web1");
	after->vms[0].handover = false;
	after->vms[0].standby = -1;
	ck_assert_str_eq(diff(NULL), "migration_failed b web1");
	/* An operator's failover: promoted, no migration. */
	after->vms[0].standby = 1;
	diff(NULL);
	after->vms[0].handover = after->vms[0].failover_asked = true;
	ck_assert_str_eq(diff(NULL), "");
	after->vms[0].handover = after->vms[0].failover_asked = false;
	after->vms[0].primary = 1;
	after->vms[0].standby = -1;
	ck_assert_str_eq(diff(&acts), "vm_promoted b web1");
}
END_TEST

START_TEST(test_ring)
{
	struct events *e = malloc(sizeof(*e));
	struct cluster_event ev = { .kind = EVENT_NODE_LOST };

	ck_assert_ptr_nonnull(e);
	events__init(e);
	for (int i = 0; i < EVENTS_RING + 2; i++)
		events__push(e, &ev);
	ck_assert_uint_eq(e->n, EVENTS_RING);
	ck_assert_uint_eq(events__at(e, 0)->seq, 3);
	ck_assert_uint_eq(events__at(e, EVENTS_RING - 1)->seq, EVENTS_RING + 2);
	ck_assert_uint_eq(e->next_seq, EVENTS_RING + 3);
	ck_assert_int_eq(events__kind("vm_promoted"), EVENT_VM_PROMOTED);
	ck_assert_int_eq(events__kind("bogus"), -1);
	ck_assert_ptr_null(events__name(EVENT_KINDS));
	free(e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hasvc_events");
	TCase *tc = tcase_create("events");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nothing_changed);
	tcase_add_test(tc, test_nodes_and_quorum);
	tcase_add_test(tc, test_vm_states);
	tcase_add_test(tc, test_migrations_and_config);
	tcase_add_test(tc, test_handover);
	tcase_add_test(tc, test_standby_lost);
	tcase_add_test(tc, test_ring);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
