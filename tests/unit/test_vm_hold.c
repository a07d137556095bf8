/*
 * The record of who holds the guest paused (vmm/vm_hold.h), without KVM:
 * the vCPUs are a flag the callbacks flip, and the test counts how often
 * they were stopped and started.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vm_hold.h"

struct fake_vcpus {
	bool running;
	unsigned stops, starts;
	int stop_ret, start_ret;  /* what the next callback returns */
};

static int fake_stop(void *opaque)
{
	struct fake_vcpus *f = opaque;

	if (f->stop_ret)
		return f->stop_ret;
	ck_assert_msg(f->running, "stop called on stopped vCPUs");
	f->running = false;
	f->stops++;
	return 0;
}

static int fake_start(void *opaque)
{
	struct fake_vcpus *f = opaque;

	if (f->start_ret)
		return f->start_ret;
	ck_assert_msg(!f->running, "start called on running vCPUs");
	f->running = true;
	f->starts++;
	return 0;
}

static const struct vm_hold_ops fake_ops = { .stop = fake_stop, .start = fake_start };

static void setup(struct vm_hold *h, struct fake_vcpus *f)
{
	memset(f, 0, sizeof(*f));
	f->running = true;
	vm_hold__init(h, &fake_ops, f);
}

START_TEST(test_one_holder)
{
	struct vm_hold h;
	struct fake_vcpus f;

	setup(&h, &f);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_OPERATOR), 0);
	ck_assert(!f.running);
	ck_assert_uint_eq(vm_hold__held(&h), VM_HOLD_OPERATOR);
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_OPERATOR), 0);
	ck_assert(f.running);
	ck_assert_uint_eq(f.stops, 1);
	ck_assert_uint_eq(f.starts, 1);
	ck_assert_uint_eq(vm_hold__held(&h), 0);
}
END_TEST

/* Overlapping holders: only the first stops, only the last starts. */
START_TEST(test_nested_holders)
{
	struct vm_hold h;
	struct fake_vcpus f;

	setup(&h, &f);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_MIGRATION), 0);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_EPOCH | VM_HOLD_SAVE), 0);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_POLICY), 0);
	ck_assert_uint_eq(f.stops, 1);
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_MIGRATION), 0);
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_EPOCH), 0);
	ck_assert(!f.running);
	ck_assert_uint_eq(vm_hold__held(&h), VM_HOLD_SAVE | VM_HOLD_POLICY);
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_SAVE | VM_HOLD_POLICY), 0);
	ck_assert(f.running);
	ck_assert_uint_eq(f.starts, 1);
}
END_TEST

/* The old bug class: an engine's own pause and resume around the operator's. */
START_TEST(test_operator_survives_epochs)
{
	struct vm_hold h;
	struct fake_vcpus f;

	setup(&h, &f);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_OPERATOR), 0);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_EPOCH), 0);
		ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_EPOCH), 0);
		ck_assert(!f.running);
	}
	ck_assert_uint_eq(f.stops, 1);
	ck_assert_uint_eq(f.starts, 0);
	ck_assert_uint_eq(vm_hold__held(&h), VM_HOLD_OPERATOR);
}
END_TEST

/* The operator pauses during a migration, which then fails. */
START_TEST(test_failed_migration_releases_only_its_hold)
{
	struct vm_hold h;
	struct fake_vcpus f;

	setup(&h, &f);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_THROTTLE), 0);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_OPERATOR), 0);
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_THROTTLE), 0);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_MIGRATION), 0);
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_MIGRATION | VM_HOLD_THROTTLE), 0);
	ck_assert(!f.running);
	ck_assert_uint_eq(vm_hold__held(&h), VM_HOLD_OPERATOR);
	/* The operator's resume runs it. */
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_OPERATOR), 0);
	ck_assert(f.running);
}
END_TEST

/* A release by a holder that does not hold is a no-op: it ends no other hold. */
START_TEST(test_release_not_held)
{
	struct vm_hold h;
	struct fake_vcpus f;

	setup(&h, &f);
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_MIGRATION), 0);
	ck_assert(f.running);
	ck_assert_uint_eq(f.starts, 0);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_STANDBY), 0);
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_OPERATOR | VM_HOLD_EPOCH), 0);
	ck_assert(!f.running);
	ck_assert_uint_eq(vm_hold__held(&h), VM_HOLD_STANDBY);
	ck_assert_uint_eq(f.starts, 0);
}
END_TEST

/* Holds do not nest within one holder: its one release ends it. */
START_TEST(test_same_holder_twice)
{
	struct vm_hold h;
	struct fake_vcpus f;

	setup(&h, &f);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_OPERATOR), 0);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_OPERATOR), 0);
	ck_assert_uint_eq(f.stops, 1);
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_OPERATOR), 0);
	ck_assert(f.running);
	ck_assert_uint_eq(vm_hold__held(&h), 0);
}
END_TEST

/* The vCPUs cannot be stopped (a stopped VM): nothing is recorded. */
START_TEST(test_stop_fails)
{
	struct vm_hold h;
	struct fake_vcpus f;

	setup(&h, &f);
	f.stop_ret = -EINVAL;
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_EPOCH), -EINVAL);
	ck_assert_uint_eq(vm_hold__held(&h), 0);
	f.stop_ret = 0;
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_EPOCH), 0);
	ck_assert_uint_eq(f.starts, 0);
}
END_TEST

/* The last holder leaves but the vCPUs cannot run: said, and the hold is gone. */
START_TEST(test_start_fails)
{
	struct vm_hold h;
	struct fake_vcpus f;

	setup(&h, &f);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_SAVE), 0);
	f.start_ret = -EINVAL;
	ck_assert_int_eq(vm_hold__drop(&h, VM_HOLD_SAVE), -EINVAL);
	ck_assert_uint_eq(vm_hold__held(&h), 0);
}
END_TEST

START_TEST(test_bad_holders)
{
	struct vm_hold h;
	struct fake_vcpus f;

	setup(&h, &f);
	ck_assert_int_eq(vm_hold__take(&h, 0), -EINVAL);
	ck_assert_int_eq(vm_hold__take(&h, VM_HOLD_ALL + 1), -EINVAL);
	ck_assert(f.running);
	ck_assert_uint_eq(vm_hold__held(&h), 0);
}
END_TEST

START_TEST(test_format)
{
	char buf[128], tiny[8];

	vm_hold__format(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "none");
	vm_hold__format(VM_HOLD_OPERATOR | VM_HOLD_EPOCH, buf, sizeof(buf));
	ck_assert_str_eq(buf, "operator,epoch");
	vm_hold__format(VM_HOLD_ALL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "operator,epoch,migration,sync,throttle,policy,standby,save,"
			 "reset");
	vm_hold__format(VM_HOLD_ALL, tiny, sizeof(tiny));
	ck_assert_str_eq(tiny, "operato");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vm_hold");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_one_holder);
	tcase_add_test(tc, test_nested_holders);
	tcase_add_test(tc, test_operator_survives_epochs);
	tcase_add_test(tc, test_failed_migration_releases_only_its_hold);
	tcase_add_test(tc, test_release_not_held);
	tcase_add_test(tc, test_same_holder_twice);
	tcase_add_test(tc, test_stop_fails);
	tcase_add_test(tc, test_start_fails);
	tcase_add_test(tc, test_bad_holders);
	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
