/*
 * smp: starts the APs (cpus=N on the command line), each AP counts its own
 * slot up to `iters` (default 100000) in ring 3 and checks in; the BSP waits
 * for all (timeout_ms, default 10000), prints "smp ok N" and reports done.
 */
#include "guest.h"

struct slot {
	volatile uint64_t count;
	volatile uint64_t done;
	char pad[48];
} __attribute__((aligned(64)));

static struct slot slots[GUEST_MAX_CPUS];
static uint64_t iters;

static void ap_work(unsigned cpu)
{
	for (uint64_t i = 0; i < iters; i++)
		slots[cpu].count++;
	slots[cpu].done = 1;
}

int guest_main(const char *cmdline)
{
	iters = cmdline_get_u64("iters", 100000);
	uint64_t timeout_us = cmdline_get_u64("timeout_ms", 10000) * 1000;
	unsigned n = smp_start(ap_work);
	uint64_t t0 = now_us();
	for (unsigned cpu = 1; cpu < n; cpu++) {
		while (!slots[cpu].done) {
			if (now_us() - t0 > timeout_us) {
				printf("smp BAD cpu %u did not finish\n", cpu);
				GUEST_ASSERT(slots[cpu].done);
			}
			cpu_relax();
		}
		GUEST_ASSERT_EQ(slots[cpu].count, iters);
	}
	printf("smp ok %u\n", n);
	GUEST_DONE();
}
