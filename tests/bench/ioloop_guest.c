/*
 * The benchmarks' guest (built on the test guests' library).
 *
 *   count=N port=P   N one-byte `out`s to port P (default 0x3ff, the UART's
 *                    scratch register: a register with no effect), each one
 *                    a port-I/O exit; the lines "ioloop begin" and
 *                    "ioloop end ..." frame the loop so that the host can
 *                    time it from the serial output; then power off.
 *   spin [cpus=K]    every CPU spins in ring 3 forever; "sync 1" (a test
 *                    call) once all are running.  For pause/resume latency.
 */
#include "guest.h"

static void spin_forever(unsigned cpu)
{
	for (;;)
		cpu_relax();
}

int guest_main(const char *cmdline)
{
	uint64_t count = cmdline_get_u64("count", 0);
	uint16_t port = (uint16_t)cmdline_get_u64("port", 0x3ff);
	uint64_t t0, t1;

	if (cmdline_has("spin")) {
		unsigned n = smp_start(spin_forever);

		printf("spin: %u cpus\n", n);
		GUEST_SYNC(1);
		spin_forever(0);
	}
	printf("ioloop begin\n");
	t0 = rdtsc();
	for (uint64_t i = 0; i < count; i++)
		outb(port, (uint8_t)i);
	t1 = rdtsc();
	/* The guest's own view, for comparison; tsc_khz may be a guess (QEMU). */
	printf("ioloop end count=%lu port=0x%x tsc_us=%lu tsc_khz=%lu\n", count, port,
	       tsc_to_us(t1 - t0), tsc_khz);
	GUEST_REPORT("ioloop_tsc_us", tsc_to_us(t1 - t0));
	return 0;
}
