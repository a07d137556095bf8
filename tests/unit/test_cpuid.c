/*
 * The XSAVE part of the guest's CPUID agrees with what the KVM does: after
 * a guest enables every XCR0 feature the vmm offers, CPUID leaf 0xD EBX
 * (what Linux checks in fpu__init_system_xstate) is the size those
 * features' offsets and sizes add up to, and KVM saw the XCR0.  Where the
 * KVM cannot follow XSETBV (the nested KVM under QEMU's TCG) the vmm must
 * offer no XSAVE at all.  Needs /dev/kvm.
 */
#include "config.h"

#include <check.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "tests/unit/kvmtest.h"

#define MIB (1ULL << 20)
#define LEGACY_AND_HEADER 576 /* FXSAVE area + XSAVE header */

static char kernel[512];

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c, uint32_t fn,
					   uint32_t index)
{
	for (unsigned i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == index)
			return &c->entries[i];
	return NULL;
}

/* The standard-format XSAVE size of the features in xcr0, from the sub-leaves. */
static uint32_t expected_size(const struct kvm_cpuid2 *c, uint64_t xcr0)
{
	uint32_t size = LEGACY_AND_HEADER;

	for (unsigned bit = 2; bit < 64; bit++) {
		const struct kvm_cpuid_entry2 *e = find(c, 0xd, bit);

		if (!(xcr0 & (1ULL << bit)))
			continue;
		ck_assert_msg(e && e->eax, "XCR0 bit %u offered without its sub-leaf", bit);
		if (e->ebx + e->eax > size)
			size = e->ebx + e->eax;
	}
	return size;
}

START_TEST(test_xsave_sizes_follow_xcr0)
{
	struct vm_config cfg = { .mem_size = 16 * MIB, .nr_vcpus = 1, .kernel_path = kernel,
				 .serial = { SERIAL_NONE, NULL } };
	const struct kvm_cpuid_entry2 *e1, *ed;
	const char *err = NULL;
	struct vm vm;
	uint64_t xcr0, kvm_xcr0 = 0;
	uint32_t ebx = 0;

	ck_assert_msg(vm__create(&vm, &cfg, &err) == 0, "vm__create: %s", err);
	e1 = find(vm.cpuid, 1, 0);
	ed = find(vm.cpuid, 0xd, 0);
	ck_assert(e1 != NULL);
	if (!(e1->ecx & (1u << 26))) {
		/* The FXSAVE machine: nothing may claim XSAVE state. */
		ck_assert_msg(ed == NULL, "XSAVE hidden but leaf 0xD still there");
		ck_assert_msg(!(e1->ecx & (1u << 28)), "AVX offered without XSAVE");
		fprintf(stderr, "this KVM does not follow XSETBV: the guest has no XSAVE\n");
		vm__destroy(&vm);
		return;
	}
	ck_assert_msg(ed != NULL, "XSAVE offered without leaf 0xD");
	xcr0 = ed->eax | (uint64_t)ed->edx << 32;
	ck_assert_int_eq(cpuid__xsetbv_probe(vm.kvm_fd, vm.cpuid, xcr0, &ebx, &kvm_xcr0), 0);
	fprintf(stderr, "XCR0 0x%llx: guest CPUID 0xD EBX %u, KVM's XCR0 0x%llx\n",
		(unsigned long long)xcr0, ebx, (unsigned long long)kvm_xcr0);
	ck_assert_msg(kvm_xcr0 == xcr0, "KVM's XCR0 0x%llx, the guest set 0x%llx",
		      (unsigned long long)kvm_xcr0, (unsigned long long)xcr0);
	ck_assert_uint_eq(ebx, expected_size(vm.cpuid, xcr0));
	ck_assert_uint_ge(ed->ecx, ebx); /* ECX: the size for every offered feature */
	vm__destroy(&vm);
}
END_TEST

static Suite *cpuid_suite(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("xsave");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_xsave_sizes_follow_xcr0);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kvmtest__main("test_cpuid", "hello.elf", kernel, sizeof(kernel), cpuid_suite);
}
