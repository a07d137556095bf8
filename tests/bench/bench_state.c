/*
 * bench_state: save and restore of a whole VM, and one dirty-log harvest,
 * through the vmm's own code (vmm/vm_state.h, vmm/dirty.h), in-process.
 *
 *   bench_state --kernel FILE [--cmdline STR] [--memory MIB] [--dir DIR]
 *               [--settle-ms MS] [--empty-harvests N]
 *
 * One run of one configuration:
 *  1. Creates the VM as `vmm run` does (1 vCPU, serial into a file under
 *     DIR), starts it and waits for the guest's "dirty start" line (the dirty
 *     guest has then written its whole working set).
 *  2. Harvest: dirty__start (timed), lets the guest run --settle-ms, pauses,
 *     times one dirty__harvest (the pages dirtied while it ran) and then
 *     --empty-harvests harvests with nothing dirty (median); dirty__stop.
 *  3. With the VM paused, first one read of every guest page through the
 *     vmm's mapping, timed apart (touch_ram): the vmm's page tables need not
 *     map the pages the guest faulted in, and whichever save came first
 *     would pay for that.  Then vm_state__save to a memory stream, which is
 *     parsed (vm_state__parse, untimed) to count the pages it holds and
 *     freed; vm_state__save to a new file in DIR without fsync (save, flush,
 *     close; the file is then synced and dropped untimed so its write-back
 *     does not overlap the next figure); vm_state__save to another file
 *     including fsync.  The source VM is then destroyed.
 *  4. vm_state__load from the fsync'd file into a fresh VM, file in the page
 *     cache (it was just written); that VM is started and must keep running
 *     (and print a heartbeat line when the guest has hb_us set).  Then
 *     another fresh VM loads the file after POSIX_FADV_DONTNEED dropped it
 *     from the page cache (read from the disk).
 *  5. The ceiling: memcpy of as many bytes as the stream has, between two
 *     malloc'd buffers faulted in beforehand (the best of 2 copies, of 20
 *     below 256 MiB).  Beside it, to explain the gap: the same copy into a
 *     fresh mapping (a page fault per page, as when the load stages the
 *     stream and fills the new VM's RAM) and the SHA-256 of the same bytes
 *     (every stream carries one, computed on save and checked on load).
 *
 * The peak memory is about twice the guest's written RAM (source VM and
 * memory stream; then the staged stream and the fresh VM, with the file in
 * the page cache; then the two memcpy buffers), never all at once.
 *
 * Output: "key=value" lines for bench.py:
 *   result op=save_file bytes=B ram_bytes=R ms=T
 *   (ops: dirty_start harvest harvest_empty touch_ram save_file save_file_fsync
 *    save_mem load_file load_file_cold memcpy memcpy_fresh sha256)
 * Exit status 0, or 1 when something could not be created, saved or loaded.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <qb/qbdefs.h>
#include <openssl/evp.h>
#include <qb/qblog.h>

#include "vmm/dirty.h"
#include "vmm/stream.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"

struct opts {
	struct vm_config cfg;
	const char *dir;
	unsigned settle_ms;
	unsigned empty_harvests;
};

struct files {
	char serial_src[4096], serial_dst[4096], nosync[4096], synced[4096];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void log_setup(void)
{
	qb_log_init("bench_state", LOG_USER, LOG_INFO);
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_FALSE);
	qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_TRUE);
	qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_WARNING);
}

static bool vm_stopped(struct vm *vm)
{
	bool s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state == VM_STATE_STOPPED;
	pthread_mutex_unlock(&vm->lock);
	return s;
}

/* Does the file (the guest's serial output) contain what? */
static bool file_has(const char *path, const char *what)
{
	static char buf[1 << 16];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(buf, sizeof(buf), f))
		found = strstr(buf, what) != NULL;
	fclose(f);
	return found;
}

static int wait_output(struct vm *vm, const char *path, const char *what, unsigned timeout_s)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_s * 1000000000ULL;

	while (!file_has(path, what)) {
		if (vm_stopped(vm) || now_ns() > deadline) {
			fprintf(stderr, "bench_state: the guest never printed \"%s\" (%s)\n", what,
				vm_stopped(vm) ? vm->stop_message : "timeout");
			return -1;
		}
		sleep_ms(10);
	}
	return 0;
}

static int create(struct vm *vm, const struct vm_config *cfg)
{
	const char *err = "unknown error";
	int ret = vm__create(vm, cfg, &err);

	if (ret) {
		fprintf(stderr, "bench_state: cannot create the VM: %s (%s)\n", err,
			strerror(-ret));
		vm__destroy(vm);
	}
	return ret;
}

static void destroy(struct vm *vm)
{
	vm__request_stop(vm, VM_STOP_QUIT, 0, "benchmark done");
	vm__destroy(vm);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void result(const char *op, uint64_t bytes, uint64_t ram_bytes, double ms)
{
	printf("result op=%s bytes=%llu ram_bytes=%llu ms=%.6f\n", op,
	       (unsigned long long)bytes, (unsigned long long)ram_bytes, ms);
	fflush(stdout);
}

/* Step 2: the cost of one harvest through the vmm, and of an empty one. */
static int harvest(struct vm *vm, const struct opts *o)
{
	struct dirty_bitmap b;
	double *empty = calloc(o->empty_harvests, sizeof(*empty));
	uint64_t t0, pages;
	double ms;
	int ret;

	if (!empty || dirty_bitmap__init(&b, vm->mem.size)) {
		free(empty);
		return -1;
	}
	t0 = now_ns();
	ret = dirty__start(vm);
	ms = ms_since(t0);
	if (ret) {
		fprintf(stderr, "bench_state: dirty__start: %s\n", strerror(-ret));
		goto out;
	}
	result("dirty_start", 0, vm->mem.size, ms);
	sleep_ms(o->settle_ms);
	if (vm__pause(vm) || vm_stopped(vm)) {
		fprintf(stderr, "bench_state: the guest stopped: %s\n", vm->stop_message);
		ret = -1;
		goto out;
	}
	t0 = now_ns();
	ret = dirty__harvest(vm, &b);
	ms = ms_since(t0);
	if (ret) {
		fprintf(stderr, "bench_state: dirty__harvest: %s\n", strerror(-ret));
		goto out;
	}
	pages = dirty_bitmap__count(&b);
	result("harvest", pages * MEM_PAGE_SIZE, vm->mem.size, ms);
	for (unsigned i = 0; i < o->empty_harvests; i++) {
		dirty_bitmap__clear(&b);
		t0 = now_ns();
		ret = dirty__harvest(vm, &b);
		empty[i] = ms_since(t0);
		if (ret) {
			fprintf(stderr, "bench_state: dirty__harvest: %s\n", strerror(-ret));
			goto out;
		}
	}
	qsort(empty, o->empty_harvests, sizeof(*empty), cmp_double);
	result("harvest_empty", dirty_bitmap__count(&b) * MEM_PAGE_SIZE, vm->mem.size,
	       empty[o->empty_harvests / 2]);
	ret = dirty__stop(vm);
out:
	dirty_bitmap__free(&b);
	free(empty);
	return ret ? -1 : 0;
}

/*
 * Read one byte of every page the guest touched, through the vmm's own
 * mapping.  KVM faulted the pages in for the guest; the vmm's page tables
 * need not map them yet, and whichever save came first would pay a minor
 * fault per page.  That cost is timed here on its own.
 */
static void touch_ram(struct vm *vm)
{
	volatile uint8_t sum = 0;
	uint64_t t0 = now_ns(), n = 0;
	off_t size = (off_t)vm->mem.size, data = 0, hole;

	for (;;) {
		data = lseek(vm->mem.memfd, data, SEEK_DATA);
		if (data < 0)
			break;
		hole = lseek(vm->mem.memfd, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		for (off_t off = data & ~(off_t)(MEM_PAGE_SIZE - 1); off < hole;
		     off += (off_t)MEM_PAGE_SIZE, n++)
			sum += vm->mem.host[off];
		if (hole >= size)
			break;
		data = hole;
	}
	(void)sum;
	result("touch_ram", n * MEM_PAGE_SIZE, n * MEM_PAGE_SIZE, ms_since(t0));
}

/* Save to a new file; fsync included in the time or not. */
static int save_file(struct vm *vm, const char *path, bool sync, uint64_t *bytes)
{
	struct stream s;
	uint64_t t0;
	double ms;
	int fd, ret;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "bench_state: %s: %s\n", path, strerror(errno));
		return -1;
	}
	t0 = now_ns();
	stream__init_fd(&s, fd);
	ret = vm_state__save(vm, &s);
	if (!ret)
		ret = stream__flush(&s);
	*bytes = s.bytes;
	stream__close(&s);
	if (!ret && sync && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	ms = ms_since(t0);
	if (ret) {
		fprintf(stderr, "bench_state: saving to %s: %s\n", path, strerror(-ret));
		return -1;
	}
	result(sync ? "save_file_fsync" : "save_file", *bytes, 0, ms);
	return 0;
}

/* Write back and drop a file's pages from the page cache (untimed). */
static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/* Save to memory; parse the stream (untimed) to count its pages. */
static int save_mem(struct vm *vm, uint64_t *bytes, uint64_t *ram_bytes)
{
	struct vm_state_parsed p;
	const char *err = NULL;
	struct stream s;
	uint8_t *buf;
	size_t len;
	uint64_t t0;
	double ms;
	int ret;

	t0 = now_ns();
	stream__init_mem(&s);
	ret = vm_state__save(vm, &s);
	ms = ms_since(t0);
	*bytes = s.bytes;
	buf = stream__mem_take(&s, &len);
	stream__close(&s);
	if (ret) {
		fprintf(stderr, "bench_state: saving to memory: %s\n", strerror(-ret));
		free(buf);
		return -1;
	}
	memset(&p, 0, sizeof(p));
	ret = vm_state__parse(buf, len, &p, &err);
	*ram_bytes = p.nr_pages * MEM_PAGE_SIZE;
	vm_state__free_parsed(&p);
	free(buf);
	if (ret) {
		fprintf(stderr, "bench_state: the saved stream does not parse: %s\n", err);
		return -1;
	}
	result("save_mem", *bytes, *ram_bytes, ms);
	return 0;
}

/* Step 4: load into a fresh VM; run it afterwards when check is set. */
static int load_file(const struct opts *o, const struct files *f, bool cold, bool check,
		     uint64_t bytes, uint64_t ram_bytes)
{
	struct vm_config cfg = o->cfg;
	const char *err = NULL;
	struct stream s;
	struct vm vm;
	uint64_t t0;
	double ms;
	int fd, ret;

	cfg.kernel_path = NULL;
	cfg.restoring = true;
	cfg.serial = check ? (struct serial_cfg){ SERIAL_FILE, f->serial_dst }
			   : (struct serial_cfg){ SERIAL_NONE, NULL };
	if (cold)
		drop_cache(f->synced);
	if (create(&vm, &cfg))
		return -1;
	fd = open(f->synced, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bench_state: %s: %s\n", f->synced, strerror(errno));
		destroy(&vm);
		return -1;
	}
	t0 = now_ns();
	stream__init_fd(&s, fd);
	ret = vm_state__load(&vm, &s, &err);
	stream__close(&s);
	ms = ms_since(t0);
	close(fd);
	if (ret) {
		fprintf(stderr, "bench_state: loading %s: %s\n", f->synced, err ? err : strerror(-ret));
		destroy(&vm);
		return -1;
	}
	result(cold ? "load_file_cold" : "load_file", bytes, ram_bytes, ms);
	if (check) {
		bool hb = o->cfg.cmdline && !strstr(o->cfg.cmdline, "hb_us=0");

		ret = vm__start(&vm);
		if (!ret && hb)
			ret = wait_output(&vm, f->serial_dst, "hb ", 10);
		if (!ret) {
			sleep_ms(200);
			ret = vm_stopped(&vm) ? -1 : 0;
		}
		printf("check restored_vm=%s\n", ret ? "FAILED" : hb ? "ran,heartbeat" : "ran");
		if (ret)
			fprintf(stderr, "bench_state: the restored VM did not keep running: %s\n",
				vm.stop_message);
	}
	destroy(&vm);
	return ret ? -1 : 0;
}

/* The SHA-256 the stream carries, over the same number of bytes. */
static void sha256_ref(const uint8_t *buf, uint64_t bytes)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint64_t t0 = now_ns();

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(c, buf, bytes) || !EVP_DigestFinal_ex(c, md, &mdlen)) {
		fprintf(stderr, "bench_state: SHA-256 failed\n");
		EVP_MD_CTX_free(c);
		return;
	}
	result("sha256", bytes, bytes, ms_since(t0));
	EVP_MD_CTX_free(c);
}

/*
 * Step 5: the ceiling, memcpy between pre-faulted buffers; beside it the
 * same copy into a buffer not faulted in yet (what staging a stream and
 * filling a fresh VM's RAM pay per page) and the SHA-256 of those bytes.
 */
static int memcpy_floor(uint64_t bytes)
{
	uint8_t *a = malloc(bytes), *b = malloc(bytes);
	/* Small copies are repeated: a single one is too short to time. */
	int rounds = bytes >= (256u << 20) ? 2 : 20;
	double best = 0;
	uint64_t t0;

	if (!a || !b) {
		fprintf(stderr, "bench_state: cannot allocate 2 x %llu bytes for memcpy\n",
			(unsigned long long)bytes);
		free(a);
		free(b);
		return -1;
	}
	memset(a, 0x5a, bytes);
	memset(b, 0, bytes);
	for (int i = 0; i < rounds; i++) {
		double ms;

		t0 = now_ns();
		memcpy(b, a, bytes);
		ms = ms_since(t0);
		if (!i || ms < best)
			best = ms;
		a[0] ^= b[bytes - 1]; /* keep the copy observable */
	}
	result("memcpy", bytes, bytes, best);
	free(b);
	b = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b != MAP_FAILED) {
		t0 = now_ns();
		memcpy(b, a, bytes);
		result("memcpy_fresh", bytes, bytes, ms_since(t0));
		munmap(b, bytes);
	}
	sha256_ref(a, bytes);
	free(a);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_state --kernel FILE [--cmdline STR] [--memory MIB] "
			"[--dir DIR] [--settle-ms MS] [--empty-harvests N]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "cmdline", required_argument, NULL, 'a' },
		{ "memory", required_argument, NULL, 'm' },
		{ "dir", required_argument, NULL, 'd' },
		{ "settle-ms", required_argument, NULL, 's' },
		{ "empty-harvests", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .cfg = { .mem_size = 1024ULL << 20, .nr_vcpus = 1 },
			    .dir = "/tmp", .settle_ms = 500, .empty_harvests = 21 };
	while ((c = getopt_long(argc, argv, "k:a:m:d:s:e:", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o->cfg.kernel_path = optarg; break;
		case 'a': o->cfg.cmdline = optarg; break;
		case 'm': o->cfg.mem_size = strtoull(optarg, NULL, 10) << 20; break;
		case 'd': o->dir = optarg; break;
		case 's': o->settle_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'e': o->empty_harvests = (unsigned)strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (!o->cfg.kernel_path || !o->empty_harvests || optind < argc)
		usage();
}

static void name(char *out, const struct opts *o, const char *what)
{
	snprintf(out, 4096, "%s/bench_state.%d.%s", o->dir, (int)getpid(), what);
}

int main(int argc, char **argv)
{
	uint64_t bytes = 0, bytes_sync = 0, mem_bytes = 0, ram_bytes = 0;
	struct files f;
	struct rusage ru;
	struct opts o;
	struct vm vm;
	sigset_t set;
	int ret;

	parse(argc, argv, &o);
	log_setup();
	/* As in `vmm run`: only vCPU threads take the kick signal. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	name(f.serial_src, &o, "serial-src");
	name(f.serial_dst, &o, "serial-dst");
	name(f.nosync, &o, "state-nosync");
	name(f.synced, &o, "state");
	o.cfg.serial = (struct serial_cfg){ SERIAL_FILE, f.serial_src };

	printf("config memory_mib=%llu cmdline=%s\n",
	       (unsigned long long)(o.cfg.mem_size >> 20), o.cfg.cmdline ? o.cfg.cmdline : "");
	if (create(&vm, &o.cfg))
		return 1;
	ret = vm__start(&vm);
	if (!ret)
		ret = wait_output(&vm, f.serial_src, "dirty start", 300);
	if (!ret)
		ret = harvest(&vm, &o);
	if (!ret)
		ret = vm__pause(&vm);
	if (!ret) {
		touch_ram(&vm);
		ret = save_mem(&vm, &mem_bytes, &ram_bytes);
	}
	if (!ret)
		ret = save_file(&vm, f.nosync, false, &bytes);
	if (!ret) {
		drop_cache(f.nosync);
		unlink(f.nosync);
		ret = save_file(&vm, f.synced, true, &bytes_sync);
	}
	destroy(&vm);
	if (!ret)
		ret = load_file(&o, &f, false, true, bytes_sync, ram_bytes);
	if (!ret)
		ret = load_file(&o, &f, true, false, bytes_sync, ram_bytes);
	unlink(f.nosync);
	unlink(f.synced);
	unlink(f.serial_src);
	unlink(f.serial_dst);
	if (!ret)
		ret = memcpy_floor(mem_bytes);
	getrusage(RUSAGE_SELF, &ru);
	printf("peak_rss_mib %ld\n", ru.ru_maxrss / 1024);
	qb_log_fini();
	return ret ? 1 : 0;
}
