/*
 * Dirty log against dirty ring: what a harvest costs, per GiB of guest
 * memory and per GiB dirtied.  A bare KVM VM (no vmm code: the ring must be
 * enabled before the vCPU exists) runs a 5-byte-per-page store loop in
 * 32-bit protected mode over [1 MiB, SIZE), then halts.
 *
 *   bench_dirty [log|ring] [MiB]      (default: both, 1024)
 *
 * log:  manual-protect dirty log; after the run, KVM_GET_DIRTY_LOG +
 *       KVM_CLEAR_DIRTY_LOG of the whole slot (every page dirty), then the
 *       same with nothing dirty.
 * ring: a 1 MiB ring (64 Ki entries); each ring-full exit is a harvest
 *       (collect entries, KVM_RESET_DIRTY_RINGS); then one harvest of an
 *       empty ring.
 *
 * Here the guest's ring-0 code is emulated (about 1 M instructions/s), so
 * the run times are the emulator's; the harvest times are the point.  The
 * program also counts the pages harvested against the pages written: on
 * the nested development hosts the ring filled completely before KVM's
 * ring-full exit and lost every page written after that (see
 * docs/state-format.md, "Dirty-page tracking").
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ULL
#define CODE_GPA 0x1000ULL
#define FIRST_GPA (1ULL << 20)
#define RING_BYTES (1u << 20)

struct bench {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	uint8_t *mem;
	uint64_t size;
	struct kvm_dirty_gfn *ring;
	uint32_t ring_n, ring_next;
	uint64_t *bitmap;
	double harvest_ms;
	uint64_t harvested, harvests;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_dirty: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* loop: mov [eax],dl; add eax,0x1000; cmp eax,ebx; jb loop; hlt */
static const uint8_t guest_code[] = {
	0x88, 0x10, 0x05, 0x00, 0x10, 0x00, 0x00, 0x39, 0xd8, 0x72, 0xf5, 0xf4,
};

static void flat(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = sel,
		.type = type, .present = 1, .s = 1, .db = 1, .g = 1 };
}

static void setup(struct bench *b, bool ring)
{
	struct kvm_userspace_memory_region r;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = CODE_GPA, .rax = FIRST_GPA, .rdx = 0x5a, .rflags = 2 };
	int run_size;

	b->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (b->kvm < 0)
		die("/dev/kvm");
	b->vm = ioctl(b->kvm, KVM_CREATE_VM, 0);
	if (b->vm < 0)
		die("KVM_CREATE_VM");
	ioctl(b->vm, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	if (ring) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING, .args[0] = RING_BYTES };

		if (ioctl(b->vm, KVM_ENABLE_CAP, &cap) < 0)
			die("KVM_CAP_DIRTY_LOG_RING");
	} else {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE };

		if (ioctl(b->vm, KVM_ENABLE_CAP, &cap) < 0)
			die("KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2");
	}
	b->mem = mmap(NULL, b->size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->mem == MAP_FAILED)
		die("mmap");
	memcpy(b->mem + CODE_GPA, guest_code, sizeof(guest_code));
	r = (struct kvm_userspace_memory_region){ .slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = 0, .memory_size = b->size, .userspace_addr = (uintptr_t)b->mem };
	if (ioctl(b->vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	b->vcpu = ioctl(b->vm, KVM_CREATE_VCPU, 0);
	if (b->vcpu < 0)
		die("KVM_CREATE_VCPU");
	run_size = ioctl(b->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	b->run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, b->vcpu, 0);
	if (b->run == MAP_FAILED)
		die("mmap kvm_run");
	if (ring) {
		b->ring = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, b->vcpu,
			       KVM_DIRTY_LOG_PAGE_OFFSET * getpagesize());
		if (b->ring == MAP_FAILED)
			die("mmap dirty ring");
		b->ring_n = RING_BYTES / sizeof(*b->ring);
	}
	if (ioctl(b->vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	flat(&sregs.cs, 8, 0xb);
	flat(&sregs.ds, 16, 0x3);
	sregs.es = sregs.ss = sregs.fs = sregs.gs = sregs.ds;
	sregs.cr0 = 1;
	regs.rbx = b->size;
	if (ioctl(b->vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(b->vcpu, KVM_SET_REGS, &regs) < 0)
		die("set registers");
	b->bitmap = calloc(b->size / PAGE / 64 + 1, 8);
}

static void ring_harvest(struct bench *b)
{
	double t0 = now_ms();

	for (;;) {
		struct kvm_dirty_gfn *e = &b->ring[b->ring_next & (b->ring_n - 1)];

		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
			break;
		b->bitmap[e->offset / 64] |= 1ULL << (e->offset % 64);
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		b->ring_next++;
		b->harvested++;
	}
	if (ioctl(b->vm, KVM_RESET_DIRTY_RINGS, 0) < 0)
		die("KVM_RESET_DIRTY_RINGS");
	b->harvest_ms += now_ms() - t0;
	b->harvests++;
}

static void log_harvest(struct bench *b)
{
	struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = b->bitmap };
	struct kvm_clear_dirty_log clr = { .slot = 0, .first_page = 0,
		.num_pages = (uint32_t)(b->size / PAGE), .dirty_bitmap = b->bitmap };
	double t0 = now_ms();
	uint64_t n = 0;

	if (ioctl(b->vm, KVM_GET_DIRTY_LOG, &log) < 0)
		die("KVM_GET_DIRTY_LOG");
	for (uint64_t i = 0; i < b->size / PAGE / 64; i++)
		n += (uint64_t)__builtin_popcountll(b->bitmap[i]);
	if (n && ioctl(b->vm, KVM_CLEAR_DIRTY_LOG, &clr) < 0)
		die("KVM_CLEAR_DIRTY_LOG");
	b->harvest_ms += now_ms() - t0;
	b->harvested += n;
	b->harvests++;
}

static void bench(bool ring, uint64_t mib)
{
	struct bench b = { .size = mib << 20 };
	double t0, run_ms, gib = (double)b.size / (1 << 30), idle;
	uint64_t written = (b.size - FIRST_GPA) / PAGE;

	setup(&b, ring);
	t0 = now_ms();
	for (;;) {
		if (ioctl(b.vcpu, KVM_RUN, 0) < 0 && errno != EINTR)
			die("KVM_RUN");
		if (b.run->exit_reason == KVM_EXIT_HLT)
			break;
		if (b.run->exit_reason == KVM_EXIT_DIRTY_RING_FULL) {
			ring_harvest(&b);
			continue;
		}
		fprintf(stderr, "bench_dirty: unexpected exit %u\n", b.run->exit_reason);
		exit(1);
	}
	run_ms = now_ms() - t0;
	if (ring)
		ring_harvest(&b);
	else
		log_harvest(&b);
	printf("%-4s %5llu MiB: guest run %.0f ms; %llu pages harvested (of %llu written) in "
	       "%llu harvests, %.2f ms total = %.2f ms per GiB dirtied%s\n",
	       ring ? "ring" : "log", (unsigned long long)mib, run_ms,
	       (unsigned long long)b.harvested, (unsigned long long)written,
	       (unsigned long long)b.harvests, b.harvest_ms,
	       b.harvest_ms / ((double)b.harvested * PAGE / (1 << 30)),
	       b.harvested < written ? "  ** PAGES LOST **" : "");
	/* Nothing dirty now: the fixed cost of looking. */
	b.harvest_ms = 0;
	b.harvests = 0;
	for (int i = 0; i < 100; i++)
		ring ? ring_harvest(&b) : log_harvest(&b);
	idle = b.harvest_ms / 100;
	printf("%-4s %5llu MiB: empty harvest %.4f ms = %.4f ms per GiB of guest memory\n",
	       ring ? "ring" : "log", (unsigned long long)mib, idle, idle / gib);
	close(b.vcpu);
	close(b.vm);
	close(b.kvm);
	munmap(b.mem, b.size);
	free(b.bitmap);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "both";
	uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 0) : 1024;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access("/dev/kvm", R_OK | W_OK)) {
		fprintf(stderr, "bench_dirty: no /dev/kvm\n");
		return 77;
	}
	if (mib < 4 || mib > 3072) {
		fprintf(stderr, "bench_dirty: MiB must be 4..3072\n");
		return 2;
	}
	if (strcmp(mode, "ring"))
		bench(false, mib);
	if (strcmp(mode, "log"))
		bench(true, mib);
	return 0;
}
