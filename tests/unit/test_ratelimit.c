/* The log lines' token bucket (vmm/ratelimit.h), on a clock the test sets. */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "vmm/ratelimit.h"

#define S 1000000000ULL

START_TEST(test_burst_then_rate)
{
	struct ratelimit rl;
	uint64_t sup = 99, passed = 0;

	ratelimit__init(&rl, 20, 5);
	/* 1000 at one instant: the burst passes, the rest is counted. */
	for (int i = 0; i < 1000; i++)
		passed += ratelimit__allow_at(&rl, 10 * S, &sup);
	ck_assert_uint_eq(passed, 20);
	/* A second later, 5 more; the first says 980 were suppressed. */
	ck_assert(ratelimit__allow_at(&rl, 11 * S, &sup));
	ck_assert_uint_eq(sup, 980);
	passed = 1;
	for (int i = 0; i < 100; i++)
		passed += ratelimit__allow_at(&rl, 11 * S, &sup);
	ck_assert_uint_eq(passed, 5);
	/* A long quiet time refills the burst, no more. */
	passed = 0;
	for (int i = 0; i < 100; i++)
		passed += ratelimit__allow_at(&rl, 1000 * S, &sup);
	ck_assert_uint_eq(passed, 20);
	ratelimit__destroy(&rl);
}
END_TEST

START_TEST(test_steady_rate)
{
	struct ratelimit rl;
	uint64_t sup, passed = 0;

	ratelimit__init(&rl, 1, 5);
	/* One call a millisecond for 10 s: 1 + 5 a second. */
	for (uint64_t t = 0; t < 10000; t++)
		passed += ratelimit__allow_at(&rl, 5 * S + t * (S / 1000), &sup);
	ck_assert_uint_ge(passed, 50);
	ck_assert_uint_le(passed, 51);
	/* A clock that goes back (another thread's older reading) adds nothing. */
	ck_assert(!ratelimit__allow_at(&rl, 1 * S, &sup));
	ratelimit__destroy(&rl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_burst_then_rate);
	tcase_add_test(tc, test_steady_rate);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
