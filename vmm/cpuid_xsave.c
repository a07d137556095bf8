/*
 * XSAVE in the guest's CPUID.  A KVM must see every XSETBV of its guest:
 * it keeps the guest's XCR0, loads it on each entry and derives CPUID
 * leaf 0xD EBX (the XSAVE area size of the features enabled in XCR0) from
 * it.  One KVM does not: the nested KVM that runs under QEMU's TCG with
 * SVM (tests/nested) lets the guest's XSETBV go straight to the emulated
 * CPU, so KVM's XCR0 stays at 1, is loaded again on every entry, and
 * leaf 0xD reports 576 bytes whatever the guest enabled.  Linux then warns
 * in fpu__init_system_xstate, and a guest that used XSAVE anyway would lose
 * its SSE/AVX registers on context switches.  So the vmm asks the KVM once,
 * with a throwaway vCPU that runs one XSETBV, and offers XSAVE only where
 * the KVM follows it; elsewhere the guest gets the FXSAVE machine (no
 * XSAVE, nothing that needs XCR0: AVX, AVX-512, AMX, PKU).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/vcpu.h"

#define PROBE_MEM 0x10000
#define PROBE_CODE 0x1000
#define PROBE_PORT 0x10
#define PROBE_TSS_ADDR 0xfffbd000ULL

#define CPUID1_ECX_XSAVE_DEPS ((1u << 12) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 29))
/* Leaf 7.0 EBX: AVX2, AVX-512 F/DQ/IFMA/PF/ER/CD/BW/VL, MPX. */
#define CPUID7_EBX_XSAVE_DEPS ((1u << 5) | (1u << 14) | (1u << 16) | (1u << 17) | (1u << 21) | \
			       (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31))
/* Leaf 7.0 ECX: AVX512_VBMI, PKU, OSPKE, VBMI2, VAES, VPCLMULQDQ, VNNI, BITALG, VPOPCNTDQ. */
#define CPUID7_ECX_XSAVE_DEPS ((1u << 1) | (1u << 3) | (1u << 4) | (1u << 6) | (1u << 9) | \
			       (1u << 10) | (1u << 11) | (1u << 12) | (1u << 14))
/* Leaf 7.0 EDX: AVX512 4VNNIW/4FMAPS/VP2INTERSECT/FP16, AMX BF16/TILE/INT8. */
#define CPUID7_EDX_XSAVE_DEPS ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | \
			       (1u << 24) | (1u << 25))
/* Leaf 7.1 EAX: AVX-VNNI, AVX512_BF16. */
#define CPUID71_EAX_XSAVE_DEPS ((1u << 4) | (1u << 5))
/* Leaf 0x80000001 ECX: XOP, FMA4. */
#define CPUIDX1_ECX_XSAVE_DEPS ((1u << 11) | (1u << 16))

/*
 * Real mode, CS base 0: CR4.OSXSAVE on, XSETBV(EDX:EAX from the patched
 * immediates), CPUID(0xD, 0), OUT EBX to PROBE_PORT, HLT.
 */
static const uint8_t probe_code[] = {
	0x66, 0x0f, 0x20, 0xe0,                   /* mov eax, cr4            */
	0x66, 0x0d, 0x00, 0x00, 0x04, 0x00,       /* or eax, CR4.OSXSAVE     */
	0x66, 0x0f, 0x22, 0xe0,                   /* mov cr4, eax            */
	0x66, 0x31, 0xc9,                         /* xor ecx, ecx            */
	0x66, 0xba, 0, 0, 0, 0,                   /* mov edx, imm32 (at 19)  */
	0x66, 0xb8, 0, 0, 0, 0,                   /* mov eax, imm32 (at 25)  */
	0x0f, 0x01, 0xd1,                         /* xsetbv                  */
	0x66, 0xb8, 0x0d, 0, 0, 0,                /* mov eax, 0xd            */
	0x66, 0x31, 0xc9,                         /* xor ecx, ecx            */
	0x0f, 0xa2,                               /* cpuid                   */
	0x66, 0x89, 0xd8,                         /* mov eax, ebx            */
	0x66, 0xe7, PROBE_PORT,                   /* out PROBE_PORT, eax     */
	0xf4,                                     /* hlt                     */
};
#define PROBE_EDX_AT 19
#define PROBE_EAX_AT 25

struct probe {
	int vm_fd, vcpu_fd;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
};

static void probe_close(struct probe *p)
{
	if (p->run)
		munmap(p->run, p->run_size);
	if (p->mem)
		munmap(p->mem, PROBE_MEM);
	if (p->vcpu_fd >= 0)
		close(p->vcpu_fd);
	if (p->vm_fd >= 0)
		close(p->vm_fd);
}

static int probe_open(struct probe *p, int kvm_fd, const struct kvm_cpuid2 *cpuid)
{
	struct kvm_userspace_memory_region r = { .memory_size = PROBE_MEM };
	struct kvm_sregs s;
	struct kvm_regs regs = { .rip = PROBE_CODE, .rflags = 2 };
	int n;

	p->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (p->vm_fd < 0 || ioctl(p->vm_fd, KVM_SET_TSS_ADDR, PROBE_TSS_ADDR) < 0)
		return -errno;
	p->mem = mmap(NULL, PROBE_MEM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p->mem == MAP_FAILED) {
		p->mem = NULL;
		return -errno;
	}
	/* Any stray jump lands on HLT, so the probe always ends. */
	memset(p->mem, 0xf4, PROBE_MEM);
	memcpy(p->mem + PROBE_CODE, probe_code, sizeof(probe_code));
	r.userspace_addr = (uintptr_t)p->mem;
	n = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ioctl(p->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 || n <= 0)
		return -errno;
	p->run_size = (size_t)n;
	p->vcpu_fd = ioctl(p->vm_fd, KVM_CREATE_VCPU, 0);
	if (p->vcpu_fd < 0)
		return -errno;
	p->run = mmap(NULL, p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->vcpu_fd, 0);
	if (p->run == MAP_FAILED) {
		p->run = NULL;
		return -errno;
	}
	if (ioctl(p->vcpu_fd, KVM_SET_CPUID2, cpuid) < 0 ||
	    ioctl(p->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	s.cs.base = 0;
	s.cs.selector = 0;
	if (ioctl(p->vcpu_fd, KVM_SET_SREGS, &s) < 0 || ioctl(p->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

/* Run to the HLT: the guest's CPUID(0xD, 0).EBX in *ebx, 0 if it never got there. */
static int probe_run(struct probe *p, uint32_t *ebx)
{
	*ebx = 0;
	for (;;) {
		if (ioctl(p->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p->run->exit_reason == KVM_EXIT_IO && p->run->io.port == PROBE_PORT &&
		    p->run->io.size == 4)
			memcpy(ebx, (uint8_t *)p->run + p->run->io.data_offset, 4);
		else if (p->run->exit_reason != KVM_EXIT_IO)
			return 0; /* HLT, or a fault that ended in a shutdown */
	}
}

int cpuid__xsetbv_probe(int kvm_fd, const struct kvm_cpuid2 *cpuid, uint64_t xcr0,
			uint32_t *guest_ebx, uint64_t *kvm_xcr0)
{
	struct probe p = { .vm_fd = -1, .vcpu_fd = -1 };
	struct kvm_xcrs xcrs;
	uint32_t lo = (uint32_t)xcr0, hi = (uint32_t)(xcr0 >> 32);
	int ret = probe_open(&p, kvm_fd, cpuid);

	if (!ret) {
		memcpy(p.mem + PROBE_CODE + PROBE_EDX_AT, &hi, 4);
		memcpy(p.mem + PROBE_CODE + PROBE_EAX_AT, &lo, 4);
		ret = probe_run(&p, guest_ebx);
	}
	if (!ret)
		ret = ioctl(p.vcpu_fd, KVM_GET_XCRS, &xcrs) < 0 ? -errno : 0;
	if (!ret)
		*kvm_xcr0 = xcrs.nr_xcrs > 0 && xcrs.xcrs[0].xcr == 0 ? xcrs.xcrs[0].value : 0;
	probe_close(&p);
	return ret;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t index)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == index)
			return &c->entries[i];
	return NULL;
}

static void clear_bits(struct kvm_cpuid2 *c, uint32_t fn, uint32_t index, int reg, uint32_t bits)
{
	struct kvm_cpuid_entry2 *e = find(c, fn, index);
	uint32_t *r[] = { e ? &e->eax : NULL, e ? &e->ebx : NULL, e ? &e->ecx : NULL,
			  e ? &e->edx : NULL };

	if (e)
		*r[reg] &= ~bits;
}

enum { EAX, EBX, ECX, EDX };

/* Take XSAVE and everything that needs XCR0 out of the CPUID. */
static void hide_xsave(struct kvm_cpuid2 *c)
{
	unsigned j = 0;

	clear_bits(c, 1, 0, ECX, CPUID1_ECX_XSAVE_DEPS);
	clear_bits(c, 7, 0, EBX, CPUID7_EBX_XSAVE_DEPS);
	clear_bits(c, 7, 0, ECX, CPUID7_ECX_XSAVE_DEPS);
	clear_bits(c, 7, 0, EDX, CPUID7_EDX_XSAVE_DEPS);
	clear_bits(c, 7, 1, EAX, CPUID71_EAX_XSAVE_DEPS);
	clear_bits(c, 0x80000001, 0, ECX, CPUIDX1_ECX_XSAVE_DEPS);
	/* Leaf 0xD (XSAVE) and 0x1D/0x1E (AMX tiles) describe nothing now. */
	for (unsigned i = 0; i < c->nent; i++) {
		uint32_t fn = c->entries[i].function;

		if (fn != 0xd && fn != 0x1d && fn != 0x1e)
			c->entries[j++] = c->entries[i];
	}
	c->nent = j;
}

/* The user features KVM offers in XCR0 (x87 always, the rest from leaf 0xD). */
static uint64_t offered_xcr0(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = find(c, 0xd, 0);

	return e ? (e->eax | (uint64_t)e->edx << 32) : 0;
}

int cpuid__fix_xsave(int kvm_fd, struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e1 = find(c, 1, 0);
	uint64_t kvm_xcr0 = 0;
	uint32_t ebx;
	int ret;

	if (!e1 || !(e1->ecx & (1u << 26)) || !(offered_xcr0(c) & 3)) {
		hide_xsave(c);
		return 0;
	}
	/* x87 and SSE: valid on every CPU with XSAVE, so only a KVM that misses it fails. */
	ret = cpuid__xsetbv_probe(kvm_fd, c, 3, &ebx, &kvm_xcr0);
	if (ret)
		return ret;
	if (kvm_xcr0 != 3)
		hide_xsave(c);
	return 0;
}
