/*
 * block: a ring-3, polling virtio-blk driver (virtio-mmio, vmm/guest_abi.h)
 * and a disk workload whose result can be checked after a restore, a
 * migration, or from the host (tests/virtio/check_image.py).
 *
 * Sector N of the disk holds a record: word 0 is N, words 1-62 are
 * mix(N * 64 + i), word 63 a checksum of words 0-62 (see record()).
 *
 * Command line:
 *   mode=write   (default) write records to sectors [0, sectors), rq_sectors
 *                per request, pace_us between requests, "hb K <done>"
 *                every 256 requests; then FLUSH, read everything back
 *                ("vb K <done>" every 256 requests, paced the same; a
 *                16 MiB window is read in full before it is compared) and
 *                verify: "block ok <sectors>" (power off 0) or "block BAD ..."
 *                (power off 1).  Progress lives in guest RAM, so a restored
 *                or migrated guest carries on where it was saved.
 *   mode=verify  only read back and verify [0, sectors)
 *   mode=bad     malformed requests and rings, each must be refused (IOERR or
 *                DEVICE_NEEDS_RESET) and the device must work after a reset:
 *                "block ok bad <cases>"
 *   mode=bench   measured in the guest with the TSC (tests/bench/bench_block.sh):
 *                sequential write of [0, sectors) in rq_sectors requests
 *                (then FLUSH, counted), sequential read of it, then ops
 *                (default 4096) random 4 KiB writes, then as many random
 *                4 KiB reads; "bench seq_write_kbs W seq_read_kbs R
 *                rand_write_iops X rand_read_iops Y", then "block ok bench";
 *                then it waits linger_ms (default 0) before powering off
 *                (mode=write takes linger_ms too)
 *   sectors=S    (default: the disk's capacity), rq_sectors=R (8, at most 64),
 *   pace_us=P    (0)
 */
#include "guest.h"
#include "vblk.h"

#define MAX_RQ 64
#define WINDOW (16 * MiB / 512)      /* sectors read before comparing  */

static uint64_t capacity;

/* Progress of mode=write: in RAM, so it travels with the guest's state. */
static volatile uint64_t next_sector;

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void record(uint64_t n, uint64_t *w)
{
	uint64_t c = 0xcbf29ce484222325ULL;

	w[0] = n;
	for (unsigned i = 1; i < 63; i++)
		w[i] = mix(n * 64 + i);
	for (unsigned i = 0; i < 63; i++)
		c = (c ^ w[i]) * 0x100000001b3ULL;
	w[63] = c;
}

static uint64_t pace_us;

/*
 * Read one window of sectors into consecutive buffers first and compare
 * only when the whole window is in: a page the device wrote during a
 * migration and that did not reach the destination shows up as a bad
 * record, however long ago it was read.
 */
static uint64_t verify_window(uint64_t first, uint64_t end, uint64_t rq, uint64_t *k)
{
	uint64_t *buf = (uint64_t *)(uintptr_t)DATA, want[64], bad = 0;

	for (uint64_t s = first; s < end; s += rq) {
		uint64_t n = end - s < rq ? end - s : rq;
		uint8_t st = request(T_IN, s, DATA + (s - first) * 512, (uint32_t)(n * 512));

		if (st) {
			printf("block BAD read of sector %lu: status %u\n", s, st);
			return 1;
		}
		if (++*k % 256 == 0)
			printf("vb %lu %lu\n", *k / 256, s + n);
		if (pace_us)
			delay_us(pace_us);
	}
	for (uint64_t s = first; s < end; s++) {
		record(s, want);
		if (memcmp(buf + 64 * (s - first), want, 512) && bad++ < 3)
			printf("block BAD sector %lu holds record %lu\n", s, buf[64 * (s - first)]);
	}
	return bad;
}

/* Read back and check [0, sectors); "vb K <sector>" every 256 requests. */
static uint64_t verify(uint64_t sectors, uint64_t rq)
{
	uint64_t bad = 0, k = 0;

	for (uint64_t w = 0; w < sectors && !bad; w += WINDOW)
		bad = verify_window(w, sectors - w < WINDOW ? sectors : w + WINDOW, rq, &k);
	return bad;
}

static int do_write(uint64_t sectors, uint64_t rq)
{
	uint64_t *buf = (uint64_t *)(uintptr_t)DATA, k = 0, bad;

	printf("block start %lu sectors\n", sectors);
	while (next_sector < sectors) {
		uint64_t s = next_sector, n = sectors - s < rq ? sectors - s : rq;
		uint8_t st;

		for (uint64_t i = 0; i < n; i++)
			record(s + i, buf + 64 * i);
		st = request(T_OUT, s, DATA, (uint32_t)(n * 512));
		if (st) {
			printf("block BAD write of sector %lu: status %u\n", s, st);
			return 1;
		}
		next_sector = s + n;
		if (++k % 256 == 0)
			printf("hb %lu %lu\n", k / 256, next_sector);
		if (pace_us)
			delay_us(pace_us);
	}
	if (request(T_FLUSH, 0, DATA, 0)) {
		printf("block BAD flush\n");
		return 1;
	}
	printf("block written\n");
	bad = verify(sectors, rq);
	if (bad) {
		printf("block BAD %lu sectors\n", bad);
		return 1;
	}
	printf("block ok %lu\n", sectors);
	return 0;
}

/* --- mode=bench -------------------------------------------------------- */

/* Bytes (or operations) per second from a TSC interval. */
static uint64_t per_s(uint64_t n, uint64_t t0)
{
	uint64_t us = tsc_to_us(rdtsc() - t0);

	return us ? n * 1000000 / us : 0;
}

static bool bench_seq(uint32_t type, uint64_t sectors, uint64_t rq)
{
	for (uint64_t s = 0; s < sectors; s += rq) {
		uint64_t n = sectors - s < rq ? sectors - s : rq;

		if (request(type, s, DATA, (uint32_t)(n * 512)))
			return false;
	}
	return type == T_IN || !request(T_FLUSH, 0, DATA, 0);
}

static bool bench_rand(uint32_t type, uint64_t sectors, uint64_t ops)
{
	uint64_t x = 0x2545f4914f6cdd1dULL, blocks = sectors / 8;

	for (uint64_t i = 0; i < ops; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (request(type, (x % blocks) * 8, DATA, 4096))
			return false;
	}
	return true;
}

static int do_bench(uint64_t sectors, uint64_t rq)
{
	uint64_t ops = cmdline_get_u64("ops", 4096), t, sw, sr, rw, rr;

	if (sectors < 8 || !ops) {
		printf("block BAD bench parameters\n");
		return 1;
	}
	memset((void *)(uintptr_t)DATA, 0x5a, MAX_RQ * 512);
	t = rdtsc();
	if (!bench_seq(T_OUT, sectors, rq))
		goto bad;
	sw = per_s(sectors * 512, t) / 1024;
	t = rdtsc();
	if (!bench_seq(T_IN, sectors, rq))
		goto bad;
	sr = per_s(sectors * 512, t) / 1024;
	t = rdtsc();
	if (!bench_rand(T_OUT, sectors, ops))
		goto bad;
	rw = per_s(ops, t);
	t = rdtsc();
	if (!bench_rand(T_IN, sectors, ops))
		goto bad;
	rr = per_s(ops, t);
	printf("bench seq_write_kbs %lu seq_read_kbs %lu rand_write_iops %lu rand_read_iops %lu\n",
	       sw, sr, rw, rr);
	printf("block ok bench\n");
	delay_us(cmdline_get_u64("linger_ms", 0) * 1000);
	return 0;
bad:
	printf("block BAD bench request failed\n");
	return 1;
}

/* --- mode=bad ---------------------------------------------------------- */

#define NOWHERE 0x7f0000000000ULL /* not RAM, not a device */

static bool needs_reset(void)
{
	return rd(R_STATUS) & S_NEEDS_RESET;
}

/* After a refused case the device must work again once reset. */
static bool recovers(void)
{
	return dev_init(QSIZE, RINGS) && request(T_IN, 0, DATA, 512) == 0;
}

/* A chain set up by the case in dtab, kicked from head 0. */
static void chain3(uint16_t f0, uint16_t n0, uint16_t f1, uint16_t n1, uint64_t st_addr)
{
	*(struct hdr *)(uintptr_t)HDRS = (struct hdr){ T_IN, 0, 0 };
	dtab[0] = (struct desc){ HDRS, sizeof(struct hdr), f0, n0 };
	dtab[1] = (struct desc){ DATA, 512, f1, n1 };
	dtab[2] = (struct desc){ st_addr, 1, F_WRITE, 0 };
}

static int status_cases(void)
{
	char *id = (char *)(uintptr_t)DATA;

	if (request(T_IN, 0, NOWHERE, 512) != 1 || needs_reset())
		return 1;
	if (request(T_IN, capacity, DATA, 512) != 1 || request(T_OUT, capacity - 1, DATA, 1024) != 1)
		return 2;
	if (request(T_IN, 0, DATA, 100) != 1)
		return 3;
	if (request(99, 0, DATA, 512) != 2)
		return 4;
	memset(id, 0, 32);
	if (request(T_GET_ID, 0, DATA, 20) != 0 || !id[0])
		return 5;
	return needs_reset() ? 6 : 0;
}

/* Cases that must leave the device needing a reset; returns how many passed. */
static int reset_cases(void)
{
	int n = 0;

#define CASE(what, setup)                                                  \
	do {                                                               \
		setup;                                                     \
		if (!needs_reset()) {                                      \
			printf("block BAD not refused: %s\n", what);       \
			return -1;                                         \
		}                                                          \
		if (!recovers()) {                                         \
			printf("block BAD no recovery after: %s\n", what); \
			return -1;                                         \
		}                                                          \
		n++;                                                       \
	} while (0)

	CASE("a descriptor loop", (chain3(F_NEXT, 1, F_NEXT | F_WRITE, 0, HDRS + 64), kick(0)));
	CASE("next outside the table", (chain3(F_NEXT, 1, F_NEXT | F_WRITE, 200, HDRS + 64),
					kick(0)));
	CASE("an indirect descriptor", (chain3(F_NEXT | F_INDIRECT, 1, F_NEXT | F_WRITE, 2,
					       HDRS + 64), kick(0)));
	CASE("a head outside the table", (chain3(F_NEXT, 1, F_NEXT | F_WRITE, 2, HDRS + 64),
					  kick(99)));
	CASE("no status byte", (chain3(F_NEXT, 1, F_NEXT | F_WRITE, 2, HDRS + 64),
				dtab[2].flags = 0, kick(0)));
	CASE("a status byte outside RAM", (chain3(F_NEXT, 1, F_NEXT | F_WRITE, 2, NOWHERE),
					   kick(0)));
	CASE("the available index far ahead", (avail_idx += 100, avail[1] = avail_idx,
					       wr(R_QUEUE_NOTIFY, 0)));
	CASE("notify of a queue that does not exist", wr(R_QUEUE_NOTIFY, 7));
	CASE("rings outside RAM", dev_init(QSIZE, NOWHERE));
	CASE("a queue size not a power of 2", dev_init(3, RINGS));
	CASE("a queue larger than the maximum", dev_init(1024, RINGS));
#undef CASE
	return n;
}

static int bad_cases(void)
{
	int r = status_cases(), n;

	if (r) {
		printf("block BAD status case %d\n", r);
		return 1;
	}
	n = reset_cases();
	if (n < 0)
		return 1;
	printf("block ok bad %d\n", n + 5);
	return 0;
}

int guest_main(const char *cmdline)
{
	char mode[16] = "write";
	uint64_t rq = cmdline_get_u64("rq_sectors", 8);
	uint64_t sectors;

	vblk_map(GUEST_ABI_VIRTIO_BLK_SLOT);
	cmdline_get_str("mode", mode, sizeof(mode));
	pace_us = cmdline_get_u64("pace_us", 0);
	if (rd(R_MAGIC) != 0x74726976 || rd(R_VERSION) != 2 || rd(R_DEVICE_ID) != 2) {
		printf("block BAD no virtio-blk device (magic 0x%x)\n", rd(R_MAGIC));
		return 1;
	}
	capacity = rd(R_CONFIG) | (uint64_t)rd(R_CONFIG + 4) << 32;
	sectors = cmdline_get_u64("sectors", capacity);
	if (!rq || rq > MAX_RQ || sectors > capacity || !mem_range_is_ram(RINGS, 17 * MiB)) {
		printf("block BAD parameters (capacity %lu)\n", capacity);
		return 1;
	}
	if (!dev_init(QSIZE, RINGS)) {
		printf("block BAD device init (status 0x%x)\n", rd(R_STATUS));
		return 1;
	}
	if (!strcmp(mode, "write")) {
		int rc = do_write(sectors, rq);

		/* For benchmarks and manual runs: time to read the figures. */
		delay_us(cmdline_get_u64("linger_ms", 0) * 1000);
		return rc;
	}
	if (!strcmp(mode, "verify")) {
		uint64_t bad = verify(sectors, rq);

		if (bad)
			printf("block BAD %lu sectors\n", bad);
		else
			printf("block ok %lu\n", sectors);
		return bad ? 1 : 0;
	}
	if (!strcmp(mode, "bad"))
		return bad_cases();
	if (!strcmp(mode, "bench"))
		return do_bench(sectors, rq);
	printf("block BAD unknown mode %s\n", mode);
	return 2;
}
