/*
 * hello: prints a greeting and its command line, then powers off with 0.
 * With idle=1 it prints "hello idle" and halts for good instead (interrupts
 * off, the vCPU asleep in KVM): a guest that costs the host nothing, so
 * that what the vmm spends is its own (tests/bench/bench_idle.sh).
 */
#include "guest.h"

int guest_main(const char *cmdline)
{
	printf("Hello from the hasvc test guest\n");
	printf("cmdline: %s\n", cmdline);
	if (cmdline_get_u64("idle", 0)) {
		printf("hello idle\n");
		halt_forever();
	}
	return 0;
}
