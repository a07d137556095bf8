/*
 * ACPI tables built by the vmm for a stock Linux guest: RSDP, XSDT, FADT
 * (with FACS), MADT and a DSDT describing COM1, the RTC and the virtio-mmio
 * devices, written to the BIOS area where Linux looks for the RSDP.  The
 * FADT is a full (not hardware-reduced) one: a hardware-reduced platform
 * has no CMOS RTC or i8042 for Linux (arch/x86/kernel/rtc.c skips rtc_cmos
 * there), while the vmm has the PC's RTC, PIT and 8259s.  The fixed-feature
 * power button and S5 go through the PM1 registers of vmm/acpi_pm.c.
 */
#ifndef VMM_ACPI_H
#define VMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/mem.h"

/* 0xe0000-0xeffff: the lower half of the BIOS area (the MP table is at 0xf0000). */
#define ACPI_TABLES_ADDR 0xe0000
#define ACPI_TABLES_MAX 0x10000

/* PM1a event (status + enable) and control blocks, and the SCI. */
#define ACPI_PM1A_EVT_PORT 0x600
#define ACPI_PM1_EVT_LEN 4
#define ACPI_PM1A_CNT_PORT 0x604
#define ACPI_PM1_CNT_LEN 2
#define ACPI_SCI_IRQ 9
/* The SLP_TYP that \_S5 gives: PM1_CNT with it and SLP_EN powers off. */
#define ACPI_S5_SLP_TYP 5
#define ACPI_RTC_CENTURY_REG 0x32

#define ACPI_MAX_VIRTIO 8

struct acpi_virtio {
	uint64_t base;
	uint32_t size;
	uint32_t irq;
};

struct acpi_cfg {
	unsigned nr_vcpus;
	unsigned nr_virtio;
	struct acpi_virtio virtio[ACPI_MAX_VIRTIO];
};

/*
 * Build every table into buf as it must lie at guest-physical addr (the
 * tables point at each other by address).  The RSDP comes first, at addr.
 * Returns the bytes used, or -EINVAL (bad configuration), -E2BIG (does not
 * fit in size), -ENOMEM.
 */
long acpi__build(const struct acpi_cfg *cfg, uint64_t addr, uint8_t *buf, size_t size);

/* Build the tables and write them at ACPI_TABLES_ADDR. */
int acpi__write(struct vm_mem *mem, const struct acpi_cfg *cfg);

#endif
