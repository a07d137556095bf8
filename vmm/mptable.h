/*
 * Intel MultiProcessor Specification 1.4 tables: how a guest without ACPI
 * (Linux with acpi=off, or built without ACPI) finds its CPUs and IOAPIC.
 */
#ifndef VMM_MPTABLE_H
#define VMM_MPTABLE_H

#include "vmm/mem.h"

#define MPTABLE_ADDR 0xf0000        /* in the BIOS area Linux scans        */
#define MPTABLE_IOAPIC_ADDR 0xfec00000U
#define MPTABLE_LAPIC_ADDR 0xfee00000U
#define MPTABLE_MAX_VCPUS 254       /* APIC ids 0..n-1, the IOAPIC takes n  */

/*
 * Write the floating pointer and the configuration table for nr_vcpus CPUs
 * (APIC id = vCPU index, vCPU 0 the bootstrap processor), one ISA bus and
 * one IOAPIC with id nr_vcpus.  ISA IRQ n goes to IOAPIC pin n, IRQ 0 too,
 * matching KVM's default GSI routing (the IRQ 2 cascade is left out).  -EINVAL for a bad vCPU count,
 * -EFAULT when the BIOS area is not RAM.
 */
int mptable__write(struct vm_mem *mem, unsigned nr_vcpus);

#endif
