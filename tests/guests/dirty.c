/*
 * dirty: a memory-dirtying workload whose state can be verified after a
 * save/restore, migration or fail-over.
 *
 * Parameters (command line):
 *   mem_mib=W       working set, MiB (default 64), at 16 MiB upward; must be RAM
 *   rate_mib=R      MiB/s of page writes, all cpus together (0 = as fast as possible)
 *   hb_us=H         heartbeat period in microseconds (default 100000, 0 = none)
 *   duration_ms=D   run time, then verify and power off (0 = forever)
 *   verify_every=K  also verify everything every K heartbeats (default 0 = never)
 *   cpus=N          writers: the working set is split into N slices, one per cpu
 *   incr=N          instead: read, check and increment N pages (incr_run)
 *
 * Every page is first filled with a pattern derived from its address.  Then
 * write number s of a slice goes to page s % P of the slice (P pages), word
 * (s / P) % 512, with the value val(slice, s); each slice keeps its count of
 * writes and the sum of the values written (the checksum) in guest memory.
 * Verification recomputes every word of the working set and the checksums
 * from the counts alone.
 *
 * Output: "hb <n> <writes> <checksum>" every H us (hex checksum, the sum over
 * the slices); at the end "dirty ok <writes> <checksum>" and power off 0, or
 * "dirty BAD ..." and power off 1 (also when a periodic verify fails).
 */
#include "guest.h"

#define MiB (1ULL << 20)
#define WS_BASE (16 * MiB)
#define WORDS_PER_PAGE 512
#define BATCH 1024

#define K1 0x9e3779b97f4a7c15ULL
#define K2 0x0123456789abcdefULL
#define K3 0x5851f42d4c957f2dULL

struct slice {
	volatile uint64_t seq; /* writes done */
	volatile uint64_t csum; /* sum of the values written */
	uint64_t *base;
	uint64_t pages;
	uint64_t pps; /* pages per second, 0 = unpaced */
	uint64_t base_tsc, base_seq; /* pacing */
	volatile uint64_t held;
	uint64_t pad[1];
} __attribute__((aligned(64)));

static struct slice slices[GUEST_MAX_CPUS];
static unsigned nslices;
static volatile uint64_t hold; /* nonzero: every writer stops and sets held */

static inline uint64_t val(unsigned c, uint64_t s)
{
	return s * K1 + K2 + c * K3;
}

static inline uint64_t init_val(const uint64_t *addr)
{
	return ~(uint64_t)(uintptr_t)addr ^ 0x5a5a5a5a00000000ULL;
}

/* sum of val(c, s) for s < n, mod 2^64 */
static uint64_t csum_of(unsigned c, uint64_t n)
{
	uint64_t tri = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
	return K1 * tri + (K2 + c * K3) * n;
}

static void slice_rebase(struct slice *sl)
{
	sl->base_tsc = rdtsc();
	sl->base_seq = sl->seq;
}

/* One batch of writes, paced. */
static void slice_step(unsigned c)
{
	struct slice *sl = &slices[c];
	uint64_t s = sl->seq, n = BATCH;

	if (sl->pps) {
		uint64_t now = rdtsc();
		uint64_t target = sl->base_seq + tsc_to_us(now - sl->base_tsc) * sl->pps / 1000000;
		if (target <= s) {
			cpu_relax();
			return;
		}
		n = target - s;
		if (n > sl->pps / 50 + BATCH) {
			/* far behind (the VM was paused): do not burst to catch up */
			sl->base_tsc = now;
			sl->base_seq = s;
			n = BATCH;
		}
		if (n > BATCH)
			n = BATCH;
	}

	uint64_t P = sl->pages, p = s % P, r = s / P, sum = sl->csum;
	uint64_t *base = sl->base;
	for (uint64_t i = 0; i < n; i++, s++) {
		uint64_t v = val(c, s);
		base[p * WORDS_PER_PAGE + (r % WORDS_PER_PAGE)] = v;
		sum += v;
		if (++p == P) {
			p = 0;
			r++;
		}
	}
	sl->csum = sum;
	sl->seq = s;
}

static void writer(unsigned c)
{
	slice_rebase(&slices[c]);
	for (;;) {
		if (hold) {
			slices[c].held = 1;
			while (hold)
				cpu_relax();
			slices[c].held = 0;
			slice_rebase(&slices[c]);
		}
		slice_step(c);
	}
}

static void hold_all(void)
{
	hold = 1;
	for (unsigned c = 1; c < nslices; c++)
		while (!slices[c].held)
			cpu_relax();
}

static void release_all(void)
{
	hold = 0;
	for (unsigned c = 1; c < nslices; c++)
		while (slices[c].held)
			cpu_relax();
	slice_rebase(&slices[0]);
}

/*
 * incr=N (one cpu): pass n checks that the first word of N pages holds
 * n, then makes it n + 1, as fast as it can.  Each write is read back by
 * the next pass, so state saved with some page newer than the rest (a
 * checkpoint not taken at one instant: the guest, resumed from it, adds
 * again what the page holds already) prints "dirty BAD incr".  A line
 * "pass N" every hb_us.
 */
static int incr_run(volatile uint64_t *ws, uint64_t pages, uint64_t hb_us)
{
	uint64_t hb_tsc = us_to_tsc(hb_us), next = rdtsc() + hb_tsc;

	for (uint64_t p = 0; p < pages; p++)
		ws[p * WORDS_PER_PAGE] = 0;
	printf("dirty start incr pages=%lu\n", pages);
	for (uint64_t n = 0;; n++) {
		for (uint64_t p = 0; p < pages; p++) {
			uint64_t v = ws[p * WORDS_PER_PAGE];

			if (v != n) {
				printf("dirty BAD incr page %lu holds %lu in pass %lu\n", p, v, n);
				return 1;
			}
			ws[p * WORDS_PER_PAGE] = n + 1;
		}
		if (rdtsc() >= next) {
			printf("pass %lu\n", n);
			next = rdtsc() + hb_tsc;
		}
	}
}

/* Check every word of every slice and the checksums; 0 if all is well. */
static uint64_t verify(void)
{
	uint64_t bad = 0;
	for (unsigned c = 0; c < nslices; c++) {
		struct slice *sl = &slices[c];
		uint64_t N = sl->seq, P = sl->pages;
		if (sl->csum != csum_of(c, N)) {
			printf("dirty BAD slice %u checksum %lx want %lx after %lu writes\n", c,
			       sl->csum, csum_of(c, N), N);
			bad++;
		}
		for (uint64_t p = 0; p < P; p++) {
			uint64_t *pg = sl->base + p * WORDS_PER_PAGE;
			uint64_t rounds = N > p ? (N - p - 1) / P + 1 : 0;
			uint64_t q = rounds ? (rounds - 1) / WORDS_PER_PAGE : 0;
			uint64_t m = rounds ? (rounds - 1) % WORDS_PER_PAGE : 0;
			for (uint64_t w = 0; w < WORDS_PER_PAGE; w++) {
				uint64_t want;
				if (w < rounds) {
					uint64_t r = (w <= m ? q : q - 1) * WORDS_PER_PAGE + w;
					want = val(c, r * P + p);
				} else {
					want = init_val(&pg[w]);
				}
				if (pg[w] != want) {
					if (bad < 5)
						printf("dirty BAD word 0x%lx = %lx want %lx\n",
						       (uint64_t)(uintptr_t)&pg[w], pg[w], want);
					bad++;
				}
			}
		}
	}
	return bad;
}

static uint64_t total_writes(uint64_t *csum)
{
	uint64_t n = 0, s = 0;
	for (unsigned c = 0; c < nslices; c++) {
		n += slices[c].seq;
		s += slices[c].csum;
	}
	*csum = s;
	return n;
}

int guest_main(const char *cmdline)
{
	uint64_t mem_mib = cmdline_get_u64("mem_mib", 64);
	uint64_t rate_mib = cmdline_get_u64("rate_mib", 0);
	uint64_t hb_us = cmdline_get_u64("hb_us", 100000);
	uint64_t duration_ms = cmdline_get_u64("duration_ms", 0);
	uint64_t verify_every = cmdline_get_u64("verify_every", 0);
	unsigned ncpus = smp_cpus();
	uint64_t pages = mem_mib * (MiB / 4096);

	if ((uintptr_t)_end > WS_BASE || !pages || pages < ncpus ||
	    !mem_range_is_ram(WS_BASE, mem_mib * MiB)) {
		printf("dirty BAD working set %lu MiB at 0x%lx is not in RAM\n", mem_mib,
		       (uint64_t)WS_BASE);
		return 1;
	}

	if (cmdline_get_u64("incr", 0) && cmdline_get_u64("incr", 0) <= pages)
		return incr_run((volatile uint64_t *)(uintptr_t)WS_BASE,
				cmdline_get_u64("incr", 0), hb_us);

	/* slices, and the initial pattern (this touches every page) */
	nslices = ncpus;
	uint64_t *ws = (uint64_t *)(uintptr_t)WS_BASE;
	for (unsigned c = 0; c < nslices; c++) {
		struct slice *sl = &slices[c];
		uint64_t first = pages * c / nslices, end = pages * (c + 1) / nslices;
		sl->base = ws + first * WORDS_PER_PAGE;
		sl->pages = end - first;
		sl->pps = rate_mib * (MiB / 4096) / nslices;
		if (rate_mib && !sl->pps)
			sl->pps = 1;
	}
	for (uint64_t i = 0; i < pages * WORDS_PER_PAGE; i++)
		ws[i] = init_val(&ws[i]);
	printf("dirty start mem_mib=%lu rate_mib=%lu cpus=%u\n", mem_mib, rate_mib, nslices);

	smp_start(writer);

	uint64_t hb_tsc = us_to_tsc(hb_us);
	uint64_t t0 = rdtsc(), next_hb = t0 + hb_tsc, hb = 0;
	uint64_t end_tsc = duration_ms ? t0 + us_to_tsc(duration_ms * 1000) : 0;
	slice_rebase(&slices[0]);
	for (;;) {
		slice_step(0);
		uint64_t now = rdtsc();
		if (hb_us && now >= next_hb) {
			uint64_t csum, n = total_writes(&csum);
			printf("hb %lu %lu %lx\n", ++hb, n, csum);
			next_hb += hb_tsc;
			if (next_hb < now)
				next_hb = now + hb_tsc;
			if (verify_every && hb % verify_every == 0) {
				hold_all();
				if (verify()) {
					printf("dirty BAD\n");
					return 1;
				}
				release_all();
			}
		}
		if (end_tsc && now >= end_tsc)
			break;
	}

	hold_all();
	uint64_t csum, n = total_writes(&csum);
	uint64_t bad = verify();
	if (bad) {
		printf("dirty BAD %lu words\n", bad);
		return 1;
	}
	printf("dirty ok %lu %lx\n", n, csum);
	return 0;
}
