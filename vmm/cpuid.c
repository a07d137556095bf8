/*
 * CPUID for each vCPU: what KVM supports, with the topology made consistent
 * (one package, one core per vCPU, no SMT) and the APIC id set per vCPU.
 */
#include "config.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/vcpu.h"

#define CPUID_MAX_ENTRIES 256
#define CPUID_TIMING_LEAF 0x40000010 /* TSC kHz in EAX, as VMware/QEMU expose */

struct kvm_cpuid2 *cpuid__supported(int kvm_fd)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));

	if (!c)
		return NULL;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

static void fix_entry(struct kvm_cpuid_entry2 *e, unsigned id, unsigned nr, uint32_t tsc_khz)
{
	unsigned shift = bits_for(nr);

	switch (e->function) {
	case 1:
		/* Initial APIC id, logical processor count, HTT when > 1. */
		e->ebx = (e->ebx & 0x0000ffff) | (nr << 16) | (id << 24);
		e->edx = nr > 1 ? e->edx | (1u << 28) : e->edx & ~(1u << 28);
		e->ecx |= 1u << 31; /* running under a hypervisor */
		break;
	case 4:
		/* Cores per package - 1 in EAX[31:26]; threads sharing the cache. */
		e->eax &= 0x3ff;
		e->eax |= (nr - 1) << 26;
		break;
	case 0xb:
	case 0x1f:
		/* Level 0: SMT (1 thread), level 1: core (nr), then invalid. */
		if (e->index == 0) {
			e->eax = 0; e->ebx = 1; e->ecx = 0x100;
		} else if (e->index == 1) {
			e->eax = shift; e->ebx = nr; e->ecx = 0x200 | 1;
		} else {
			e->eax = 0; e->ebx = 0; e->ecx = e->index;
		}
		e->edx = id;
		break;
	case 0x40000000:
		if (e->eax < CPUID_TIMING_LEAF)
			e->eax = CPUID_TIMING_LEAF;
		break;
	case 0x80000008:
		/* Cores per package - 1 in ECX[7:0], APIC id size in ECX[15:12]. */
		e->ecx = (e->ecx & ~0xf0ffu) | (shift << 12) | (nr - 1);
		break;
	}
}

int cpuid__apply(const struct kvm_cpuid2 *base, int vcpu_fd, unsigned id,
		 unsigned nr_vcpus, uint32_t tsc_khz)
{
	size_t sz = sizeof(*base) + (base->nent + 1) * sizeof(base->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, base, sizeof(*base) + base->nent * sizeof(base->entries[0]));
	for (unsigned i = 0; i < c->nent; i++)
		fix_entry(&c->entries[i], id, nr_vcpus, tsc_khz);
	if (tsc_khz) {
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){
			.function = CPUID_TIMING_LEAF, .eax = tsc_khz, .ebx = 1000000 };
	}
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}
