/*
 * hasvcd's restart back-off (hasvc/local_backoff.c): which ends count as
 * quick failures, the delay doubling from 1 s to 60 s, the reset after a
 * long run, and a full table.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/local.h"

static struct local *l;

static void setup(void)
{
	l = calloc(1, sizeof(*l));
	ck_assert_ptr_nonnull(l);
}

static void teardown(void)
{
	free(l);
}

/* A copy of vm, booted afresh (or not) at started, ending now. */
static void end(const char *vm, bool fresh, bool stopping, uint64_t started, uint64_t now)
{
	struct copy c;

	memset(&c, 0, sizeof(c));
	snprintf(c.vm, sizeof(c.vm), "%s", vm);
	c.fresh = fresh;
	c.stopping = stopping;
	c.started_ms = started;
	local_backoff__ended(l, &c, now);
}

static uint64_t due(const char *vm, unsigned *fails)
{
	return local_backoff__due_ms(l, vm, fails);
}

START_TEST(test_doubling)
{
	unsigned fails;
	uint64_t t = 100000;

	ck_assert_uint_eq(due("bad", &fails), 0);
	ck_assert_uint_eq(fails, 0);
	end("bad", true, false, t, t + 50);
	ck_assert_uint_eq(due("bad", &fails), t + 50 + 1000);
	ck_assert_uint_eq(fails, 1);
	for (unsigned n = 2; n <= 10; n++) {
		uint64_t want = 1000ULL << (n - 1);

		t += 100000;
		end("bad", true, false, t, t + 10);
		ck_assert_uint_eq(due("bad", &fails), t + 10 + (want < 60000 ? want : 60000));
		ck_assert_uint_eq(fails, n);
	}
	/* Another VM is not affected. */
	ck_assert_uint_eq(due("good", &fails), 0);
	ck_assert_uint_eq(fails, 0);
}
END_TEST

START_TEST(test_what_counts)
{
	unsigned fails;

	/* Stopped by the cluster, a standby or another copy not booted afresh. */
	end("vm", true, true, 1000, 2000);
	end("vm", false, false, 1000, 2000);
	ck_assert_uint_eq(due("vm", &fails), 0);
	end("vm", true, false, 1000, 2000);
	end("vm", true, false, 3000, 4000);
	ck_assert_uint_eq(due("vm", &fails), 4000 + 2000);
	ck_assert_uint_eq(fails, 2);
	/* Asked to stop, quick: neither counted nor reset. */
	end("vm", true, true, 5000, 6000);
	ck_assert_uint_eq(fails, 2);
	ck_assert_uint_eq(due("vm", &fails), 6000);
	/* A run of 60 s, however it ended, starts the count over. */
	end("vm", true, true, 10000, 70000);
	ck_assert_uint_eq(due("vm", &fails), 0);
	ck_assert_uint_eq(fails, 0);
	end("vm", true, false, 80000, 80100);
	ck_assert_uint_eq(due("vm", &fails), 81100);
	end("vm", true, false, 90000, 150000);
	ck_assert_uint_eq(due("vm", &fails), 0);
	/* Just under 60 s is still quick. */
	end("vm", true, false, 200000, 259999);
	ck_assert_uint_eq(due("vm", &fails), 260999);
	ck_assert_uint_eq(fails, 1);
}
END_TEST

START_TEST(test_full_table)
{
	char name[32];
	unsigned fails;

	/* More failing VMs than entries: the stalest is forgotten. */
	for (unsigned i = 0; i <= HASVC_MAX_VMS; i++) {
		snprintf(name, sizeof(name), "vm%u", i);
		end(name, true, false, 1000 + i, 2000 + i);
	}
	ck_assert_uint_eq(due("vm0", &fails), 0);
	ck_assert_uint_eq(due("vm1", &fails), 2001 + 1000);
	snprintf(name, sizeof(name), "vm%u", HASVC_MAX_VMS);
	ck_assert_uint_eq(due(name, &fails), 2000 + HASVC_MAX_VMS + 1000);
	ck_assert_uint_eq(fails, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hasvc_backoff");
	TCase *tc = tcase_create("backoff");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_doubling);
	tcase_add_test(tc, test_what_counts);
	tcase_add_test(tc, test_full_table);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
