/*
 * fault: exercises the failure paths.
 *   mode=assert        a failing GUEST_ASSERT_EQ (ucall ASSERT)
 *   mode=exception     ud2 in ring 3 (#UD, reported by the IDT handler)
 *   mode=pagefault     a write above the 64 GiB identity map (#PF)
 *   mode=triplefault   ring 0 loads an empty IDT and executes int3
 *   mode=poweroff      power off with status=N (default 0)
 *   mode=reset         reset the machine through port 0xcf9 (boots again)
 *   mode=emulfail      lock cmpxchg16b in ring 0, which the nested KVM of
 *                      the test machines cannot emulate
 *   mode=flood         count=N (default 100000) sync test calls as fast as
 *                      it can (a guest flooding the host's log), then
 *                      "fault: flood done N" and power off with 0
 *   mode=spew          write to the UART forever as fast as it can, on every
 *                      CPU, never looking whether the transmitter is free:
 *                      `rep outsb` of 4 KiB (lines of 63 'x'); a KVM that
 *                      exits once per byte (kvm-pvm) is slow at it, so
 *                      several CPUs write at once
 * Without a mode it prints "fault: no mode" and powers off with 2.
 */
#include "guest.h"

static char spew_buf[4096];

/* mode=spew on one CPU: 4 KiB at a time, never looking at the UART. */
static void spew(unsigned cpu)
{
	(void)cpu;
	for (;;) {
		const char *p = spew_buf;
		uint64_t n = sizeof(spew_buf);

		__asm__ volatile("rep outsb"
				 : "+S"(p), "+c"(n)
				 : "d"((uint16_t)GUEST_ABI_COM1_PORT)
				 : "memory");
	}
}

int guest_main(const char *cmdline)
{
	char mode[32];
	if (!cmdline_get_str("mode", mode, sizeof(mode))) {
		printf("fault: no mode\n");
		return 2;
	}
	printf("fault: mode=%s\n", mode);
	if (!strcmp(mode, "assert")) {
		volatile uint64_t two = 2;
		GUEST_ASSERT_EQ(two + 2, 5);
	} else if (!strcmp(mode, "exception")) {
		__asm__ volatile("ud2");
	} else if (!strcmp(mode, "pagefault")) {
		*(volatile uint64_t *)(1ULL << 40) = 1;
	} else if (!strcmp(mode, "triplefault")) {
		triple_fault();
	} else if (!strcmp(mode, "reset")) {
		outb(0xcf9, 0x06);
		for (;;)
			cpu_relax(); /* the vmm resets us */
	} else if (!strcmp(mode, "emulfail")) {
		ring0_cmpxchg16b();
	} else if (!strcmp(mode, "flood")) {
		uint64_t n = cmdline_get_u64("count", 100000);

		for (uint64_t i = 0; i < n; i++)
			GUEST_SYNC(i);
		printf("fault: flood done %lu\n", n);
		return 0;
	} else if (!strcmp(mode, "spew")) {
		for (unsigned i = 0; i < sizeof(spew_buf); i++)
			spew_buf[i] = (i + 1) % 64 ? 'x' : '\n';
		smp_start(spew);
		spew(0);
	} else if (!strcmp(mode, "poweroff")) {
		power_off((unsigned)cmdline_get_u64("status", 0));
	}
	printf("fault: unknown mode or no fault\n");
	return 2;
}
