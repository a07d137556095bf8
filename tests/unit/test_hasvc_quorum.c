/*
 * The decision quorum of a group view (hasvc/quorum.c): a strict majority
 * of the declared nodes, or exactly half with quorum_device = yes and a
 * quorate votequorum verdict, about one ring, from every declared member.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/cluster_config.h"
#include "hasvc/quorum.h"

static struct config *conf(const char *cluster, int nodes)
{
	static const char *const node_text[] = {
		"[node a]\nreplication = h:1\n", "[node b]\nreplication = h:2\n",
		"[node c]\nreplication = h:3\n", "[node d]\nreplication = h:4\n",
	};
	char text[512], err[CONFIG_ERR_MAX] = "";
	struct config *c = NULL;

	snprintf(text, sizeof(text), "[cluster]\nallow_plaintext = yes\n%s\n", cluster);
	for (int i = 0; i < nodes; i++)
		strcat(text, node_text[i]);
	ck_assert_msg(cluster_config__parse_string(text, "hasvc.conf", &c, err, sizeof(err)) == 0,
		      "%s", err);
	return c;
}

START_TEST(test_majority_needs_no_device)
{
	struct config *c = conf("", 3);
	struct quorum_verdict v[3] = { { false, false, 0 } };
	const char *two[] = { "a", "b" }, *one[] = { "c" };

	ck_assert(quorum__view(c, two, 2, v));
	ck_assert(!quorum__view(c, one, 1, v));
	/* Without the key, a verdict changes nothing. */
	ck_assert_int_eq(quorum__record(c, one, 1, v, "c", true, 7), 0);
	ck_assert(!quorum__view(c, one, 1, v));
	cluster_config__free(c);
}
END_TEST

START_TEST(test_two_nodes_without_device)
{
	struct config *c = conf("two_node = yes", 2);
	struct quorum_verdict v[2] = { { false, false, 0 } };
	const char *both[] = { "a", "b" }, *a[] = { "a" };

	ck_assert(quorum__view(c, both, 2, v));
	quorum__record(c, a, 1, v, "a", true, 7);
	ck_assert(!quorum__view(c, a, 1, v));
	cluster_config__free(c);
}
END_TEST

/* 1 of 2: quorate only once its own verdict, delivered in the view, says so. */
START_TEST(test_half_with_device)
{
	struct config *c = conf("quorum_device = yes", 2);
	struct quorum_verdict v[2] = { { false, false, 0 } };
	const char *both[] = { "a", "b" }, *a[] = { "a" };

	ck_assert(quorum__view(c, both, 2, v)); /* a majority, with or without it */
	ck_assert(!quorum__view(c, a, 1, v));   /* nothing said yet */
	ck_assert_int_eq(quorum__record(c, a, 1, v, "a", false, 8), 0);
	ck_assert(!quorum__view(c, a, 1, v));
	ck_assert_int_eq(quorum__record(c, a, 1, v, "a", true, 8), 0);
	ck_assert(quorum__view(c, a, 1, v));
	ck_assert_int_eq(quorum__record(c, a, 1, v, "a", false, 8), 0);
	ck_assert(!quorum__view(c, a, 1, v));
	/* b is not in the view: its word counts for nothing. */
	ck_assert_int_eq(quorum__record(c, a, 1, v, "b", true, 8), -ENOENT);
	ck_assert(!quorum__view(c, a, 1, v));
	cluster_config__free(c);
}
END_TEST

/* 2 of 4: every member must say quorate, about the same ring. */
START_TEST(test_half_needs_every_member)
{
	struct config *c = conf("quorum_device = yes", 4);
	struct quorum_verdict v[2] = { { false, false, 0 } };
	const char *ab[] = { "a", "b" }, *abc[] = { "a", "b", "c" };

	quorum__record(c, ab, 2, v, "a", true, 5);
	ck_assert(!quorum__view(c, ab, 2, v));
	quorum__record(c, ab, 2, v, "b", true, 6); /* b has seen a newer ring */
	ck_assert(!quorum__view(c, ab, 2, v));
	quorum__record(c, ab, 2, v, "a", true, 6);
	ck_assert(quorum__view(c, ab, 2, v));
	quorum__record(c, ab, 2, v, "b", false, 6);
	ck_assert(!quorum__view(c, ab, 2, v));
	/* Fewer than half: the device's vote is not enough. */
	{
		struct quorum_verdict one[1] = { { true, true, 6 } };
		const char *a[] = { "a" };

		ck_assert(!quorum__view(c, a, 1, one));
	}
	/* More than half is a majority: no verdict needed. */
	{
		struct quorum_verdict none[3] = { { false, false, 0 } };

		ck_assert(quorum__view(c, abc, 3, none));
	}
	cluster_config__free(c);
}
END_TEST

/* A process in the group that is not a declared node neither counts nor blocks. */
START_TEST(test_undeclared_member)
{
	struct config *c = conf("quorum_device = yes", 2);
	struct quorum_verdict v[2] = { { false, false, 0 } };
	const char *ax[] = { "a", "x" }, *x[] = { "x" };

	ck_assert_int_eq(quorum__record(c, ax, 2, v, "x", true, 3), -ENOENT);
	ck_assert(!v[1].said);
	ck_assert(!quorum__view(c, ax, 2, v));
	quorum__record(c, ax, 2, v, "a", true, 3);
	ck_assert(quorum__view(c, ax, 2, v));
	ck_assert(!quorum__view(c, x, 1, v));
	ck_assert(!quorum__view(NULL, ax, 2, v));
	cluster_config__free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hasvc_quorum");
	TCase *tc = tcase_create("quorum");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_majority_needs_no_device);
	tcase_add_test(tc, test_two_nodes_without_device);
	tcase_add_test(tc, test_half_with_device);
	tcase_add_test(tc, test_half_needs_every_member);
	tcase_add_test(tc, test_undeclared_member);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
