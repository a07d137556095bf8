/*
 * Dirty-page tracking against a real guest: the dirty guest writes a 4 MiB
 * working set at 16 MiB; every page of it must be reported (never fewer),
 * pages far outside must not, a harvest clears (the next one sees only new
 * writes), and pages the VMM marks itself are reported.  Needs /dev/kvm
 * (fails without) and tests/guests.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/dirty.h"
#include "vmm/vm.h"
#include "tests/unit/kvmtest.h"

#define MIB (1ULL << 20)
#define PAGE 4096ULL
#define WS_FIRST (16 * MIB / PAGE)
#define WS_END (20 * MIB / PAGE)
/* The guest's image, page tables and stacks live below the working set. */
#define QUIET_FIRST WS_END

static char kernel[512];

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* With a log: the guest's heartbeats say how far it has written. */
static void make_vm(struct vm *vm, const char *log)
{
	struct vm_config cfg = {
		.mem_size = 64 * MIB, .nr_vcpus = 1, .kernel_path = kernel,
		.cmdline = "mem_mib=4 rate_mib=0 hb_us=20000",
		.serial = { log ? SERIAL_FILE : SERIAL_NONE, log },
	};
	const char *err = NULL;

	ck_assert_msg(vm__create(vm, &cfg, &err) == 0, "vm__create: %s", err);
}

/*
 * Until the guest has written the whole working set since tracking started
 * (its one writer goes round the 1024 pages in order).  The first heartbeat
 * after the last one seen may have been counted before; the next was not.
 */
static void wait_full_pass(const char *log)
{
	struct kvmtest_hb hb;

	kvmtest__last_hb(log, &hb);
	ck_assert_msg(kvmtest__wait_hb(log, hb.n + 2, 0, &hb), "the guest's heartbeats stopped");
	ck_assert_msg(kvmtest__wait_hb(log, 0, hb.writes + (WS_END - WS_FIRST), &hb),
		      "the guest did not write its working set in time");
}

static void assert_working_set(const struct dirty_bitmap *b)
{
	uint64_t missing = 0, outside = 0;

	for (uint64_t p = WS_FIRST; p < WS_END; p++)
		missing += !dirty_bitmap__test(b, p);
	for (uint64_t p = QUIET_FIRST; p < b->nr_pages; p++)
		outside += dirty_bitmap__test(b, p);
	ck_assert_msg(missing == 0, "%llu pages of the working set not reported",
		      (unsigned long long)missing);
	ck_assert_msg(outside == 0, "%llu pages above the working set reported",
		      (unsigned long long)outside);
}

START_TEST(guest_writes_reported)
{
	struct vm vm;
	struct dirty_bitmap b;
	char log[] = "/tmp/test_dirty.XXXXXX";
	int fd = mkstemp(log);
	double t0;

	ck_assert_int_ge(fd, 0);
	close(fd);
	make_vm(&vm, log);
	ck_assert_int_eq(dirty_bitmap__init(&b, vm.mem.size), 0);
	ck_assert_int_eq(vm__start(&vm), 0);
	/* Heartbeats start after the guest's initial fill. */
	ck_assert_msg(kvmtest__wait_line(log, "hb "), "no heartbeat from the guest");
	ck_assert_int_eq(dirty__start(&vm), 0);
	ck_assert(dirty__active(&vm));
	wait_full_pass(log);
	ck_assert_int_eq(vm__pause(&vm), 0);
	t0 = now_ms();
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	fprintf(stderr, "harvest of %llu dirty pages (64 MiB VM): %.3f ms\n",
		(unsigned long long)dirty_bitmap__count(&b), now_ms() - t0);
	assert_working_set(&b);

	/* Nothing runs: nothing new. */
	dirty_bitmap__clear(&b);
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	ck_assert_uint_eq(dirty_bitmap__count(&b), 0);

	/* The guest again: the harvest re-protected what it reported. */
	ck_assert_int_eq(vm__resume(&vm), 0);
	wait_full_pass(log);
	ck_assert_int_eq(vm__pause(&vm), 0);
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	assert_working_set(&b);

	ck_assert_int_eq(dirty__stop(&vm), 0);
	ck_assert(!dirty__active(&vm));
	vm__request_stop(&vm, VM_STOP_QUIT, 0, "test done");
	vm__destroy(&vm);
	dirty_bitmap__free(&b);
	unlink(log);
}
END_TEST

START_TEST(vmm_writes_reported)
{
	struct vm vm;
	struct dirty_bitmap b;
	uint64_t gpa = 40 * MIB + 5, len = 10000;

	make_vm(&vm, NULL); /* not started: only the VMM writes */
	ck_assert_int_eq(dirty_bitmap__init(&b, vm.mem.size), 0);
	dirty__mark(&vm, gpa, len); /* tracking off: forgotten */
	ck_assert_int_eq(dirty__start(&vm), 0);
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	ck_assert_uint_eq(dirty_bitmap__count(&b), 0);

	ck_assert_int_eq(mem__write(&vm.mem, gpa, "x", 1), 0);
	dirty__mark(&vm, gpa, len);
	dirty__mark(&vm, 64 * MIB, 100);     /* not RAM: ignored */
	dirty__mark(&vm, 0xfee00000, 4096);  /* the LAPIC page: ignored */
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	ck_assert_uint_eq(dirty_bitmap__count(&b), 3);
	for (uint64_t p = gpa / PAGE; p <= (gpa + len - 1) / PAGE; p++)
		ck_assert(dirty_bitmap__test(&b, p));

	dirty_bitmap__clear(&b);
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	ck_assert_uint_eq(dirty_bitmap__count(&b), 0);

	/* Across a stop and a new start. */
	ck_assert_int_eq(dirty__stop(&vm), 0);
	ck_assert_int_eq(dirty__start(&vm), 0);
	dirty__mark(&vm, 0, 64 * MIB);
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	ck_assert_uint_eq(dirty_bitmap__count(&b), 64 * MIB / PAGE);
	ck_assert_int_eq(dirty__stop(&vm), 0);
	vm__destroy(&vm);
	dirty_bitmap__free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dirty");
	TCase *tc = tcase_create("kvm");
	SRunner *sr;
	int failed, rc;

	rc = kvmtest__need_guest("test_dirty", "dirty.elf", kernel, sizeof(kernel));
	if (rc)
		return rc;
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, guest_writes_reported);
	tcase_add_test(tc, vmm_writes_reported);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
