/*
 * The ACPI tables (vmm/acpi.h), each built in the byte buffer at the
 * offset it will have in guest memory, with explicit little-endian stores.
 * Layout: RSDP, XSDT, FADT, FACS (64-byte aligned), MADT, DSDT.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/acpi.h"
#include "vmm/acpi_aml.h"
#include "vmm/bytes.h"
#include "vmm/guest_abi.h"
#include "vmm/mptable.h"

#define HDR_LEN 36
#define RSDP_LEN 36
#define RSDP_V1_LEN 20
#define FADT_LEN 276
#define FADT_REVISION 6
#define FADT_MINOR 4
#define FACS_LEN 64
#define MADT_REVISION 5
#define DSDT_REVISION 2 /* 64-bit integers */
#define XSDT_ENTRIES 2  /* FADT, MADT (the DSDT is found through the FADT) */

/* FADT field offsets (ACPI 6.4, table 5.9). */
enum {
	FADT_FIRMWARE_CTRL = 36, FADT_DSDT = 40, FADT_SCI_INT = 46,
	FADT_PM1A_EVT_BLK = 56, FADT_PM1A_CNT_BLK = 64,
	FADT_PM1_EVT_LEN = 88, FADT_PM1_CNT_LEN = 89,
	FADT_P_LVL2_LAT = 96, FADT_P_LVL3_LAT = 98, FADT_CENTURY = 108,
	FADT_IAPC_BOOT_ARCH = 109, FADT_FLAGS = 112, FADT_RESET_REG = 116,
	FADT_RESET_VALUE = 128, FADT_MINOR_VERSION = 131, FADT_X_FIRMWARE_CTRL = 132,
	FADT_X_DSDT = 140, FADT_X_PM1A_EVT_BLK = 148, FADT_X_PM1A_CNT_BLK = 172,
	FADT_HYPERVISOR_ID = 268,
};

#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_SLP_BUTTON (1u << 5) /* no sleep button (the power button is fixed) */
#define FADT_F_RESET_REG_SUP (1u << 10)
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define C2_NOT_SUPPORTED 101
#define C3_NOT_SUPPORTED 1001
#define GAS_SYSTEM_IO 1

enum { MADT_LAPIC = 0, MADT_IOAPIC = 1, MADT_ISO = 2, MADT_LAPIC_NMI = 4 };
#define MADT_PCAT_COMPAT 1
#define MADT_LAPIC_ENABLED 1
#define MADT_ISO_LEVEL_HIGH 0x000d /* active high (01), level-triggered (11) */
#define MADT_ALL_CPUS 0xff
#define MADT_LINT1 1

struct tables {
	uint8_t *buf;
	size_t size, len;
	uint64_t addr;
};

/* Room for n bytes aligned to align, zeroed; its offset, or -E2BIG. */
static long place(struct tables *t, size_t n, size_t align)
{
	size_t off = (t->len + align - 1) & ~(align - 1);

	if (off + n > t->size)
		return -E2BIG;
	memset(t->buf + off, 0, n);
	t->len = off + n;
	return (long)off;
}

static void header(uint8_t *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h, sig, 4);
	bytes__put32(h + 4, len);
	h[8] = rev;
	memcpy(h + 10, "HASVC ", 6);
	memcpy(h + 16, "HASVCVMM", 8);
	bytes__put32(h + 24, 1);
	memcpy(h + 28, "HASV", 4);
	bytes__put32(h + 32, 1);
}

static void finish(uint8_t *h)
{
	uint32_t len = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
		       (uint32_t)h[7] << 24;

	h[9] = 0;
	h[9] = bytes__checksum(h, len);
}

static void gas_io(uint8_t *g, uint16_t port, uint8_t bits)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = bits;
	g[2] = 0; /* bit offset */
	g[3] = 0; /* access size: as the register's width */
	bytes__put64(g + 4, port);
}

static long add_fadt(struct tables *t, uint64_t facs, uint64_t dsdt)
{
	long off = place(t, FADT_LEN, 16);
	uint8_t *f;

	if (off < 0)
		return off;
	f = t->buf + off;
	header(f, "FACP", FADT_LEN, FADT_REVISION);
	bytes__put32(f + FADT_FIRMWARE_CTRL, (uint32_t)facs);
	bytes__put32(f + FADT_DSDT, (uint32_t)dsdt);
	bytes__put16(f + FADT_SCI_INT, ACPI_SCI_IRQ);
	/* No SMI command port: the platform is always in ACPI mode (SCI_EN reads 1). */
	bytes__put32(f + FADT_PM1A_EVT_BLK, ACPI_PM1A_EVT_PORT);
	bytes__put32(f + FADT_PM1A_CNT_BLK, ACPI_PM1A_CNT_PORT);
	f[FADT_PM1_EVT_LEN] = ACPI_PM1_EVT_LEN;
	f[FADT_PM1_CNT_LEN] = ACPI_PM1_CNT_LEN;
	bytes__put16(f + FADT_P_LVL2_LAT, C2_NOT_SUPPORTED);
	bytes__put16(f + FADT_P_LVL3_LAT, C3_NOT_SUPPORTED);
	f[FADT_CENTURY] = ACPI_RTC_CENTURY_REG;
	/* No i8042 (LEGACY/8042 bits clear: Linux does not probe it), no VGA; a CMOS RTC. */
	bytes__put16(f + FADT_IAPC_BOOT_ARCH, BOOT_ARCH_VGA_NOT_PRESENT);
	bytes__put32(f + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
				     FADT_F_RESET_REG_SUP);
	gas_io(f + FADT_RESET_REG, GUEST_ABI_RESET_PORT, 8);
	f[FADT_RESET_VALUE] = 0x06; /* what vmm/sysdev.c takes as a reset */
	f[FADT_MINOR_VERSION] = FADT_MINOR;
	bytes__put64(f + FADT_X_FIRMWARE_CTRL, facs);
	bytes__put64(f + FADT_X_DSDT, dsdt);
	gas_io(f + FADT_X_PM1A_EVT_BLK, ACPI_PM1A_EVT_PORT, ACPI_PM1_EVT_LEN * 8);
	gas_io(f + FADT_X_PM1A_CNT_BLK, ACPI_PM1A_CNT_PORT, ACPI_PM1_CNT_LEN * 8);
	memcpy(f + FADT_HYPERVISOR_ID, "HASVCVMM", 8);
	finish(f);
	return off;
}

static long add_facs(struct tables *t)
{
	long off = place(t, FACS_LEN, 64);

	if (off < 0)
		return off;
	memcpy(t->buf + off, "FACS", 4);
	bytes__put32(t->buf + off + 4, FACS_LEN);
	t->buf[off + 32] = 2; /* version; no checksum in the FACS */
	return off;
}

static uint8_t *madt_entry(uint8_t *m, uint32_t *len, uint8_t type, uint8_t size)
{
	uint8_t *e = m + *len;

	e[0] = type;
	e[1] = size;
	*len += size;
	return e;
}

static long add_madt(struct tables *t, unsigned nr_vcpus)
{
	size_t max = HDR_LEN + 8 + nr_vcpus * 8 + 12 + 10 + 6;
	long off = place(t, max, 16);
	uint32_t len = HDR_LEN + 8;
	uint8_t *m, *e;

	if (off < 0)
		return off;
	m = t->buf + off;
	bytes__put32(m + HDR_LEN, MPTABLE_LAPIC_ADDR);
	bytes__put32(m + HDR_LEN + 4, MADT_PCAT_COMPAT); /* the 8259s are there too */
	for (unsigned i = 0; i < nr_vcpus; i++) {
		e = madt_entry(m, &len, MADT_LAPIC, 8);
		e[2] = (uint8_t)i; /* ACPI processor UID */
		e[3] = (uint8_t)i; /* APIC id = vCPU index (vmm/cpuid.c) */
		bytes__put32(e + 4, MADT_LAPIC_ENABLED);
	}
	/* The IOAPIC id follows the CPUs', as in the MP table. */
	e = madt_entry(m, &len, MADT_IOAPIC, 12);
	e[2] = (uint8_t)nr_vcpus;
	bytes__put32(e + 4, MPTABLE_IOAPIC_ADDR);
	bytes__put32(e + 8, 0);
	/*
	 * KVM's default routing sends ISA IRQ n to IOAPIC pin n (IRQ 0 too), the
	 * ACPI default; only the SCI differs: level-triggered, active high, as
	 * vmm/acpi_pm.c drives it.
	 */
	e = madt_entry(m, &len, MADT_ISO, 10);
	e[3] = ACPI_SCI_IRQ;
	bytes__put32(e + 4, ACPI_SCI_IRQ);
	bytes__put16(e + 8, MADT_ISO_LEVEL_HIGH);
	e = madt_entry(m, &len, MADT_LAPIC_NMI, 6);
	e[2] = MADT_ALL_CPUS;
	e[5] = MADT_LINT1;
	header(m, "APIC", len, MADT_REVISION);
	finish(m);
	return off;
}

static void device_header(struct aml *a, const char *name, const char *eisa_hid,
			  const char *str_hid, unsigned uid)
{
	acpi_aml__device(a, name);
	acpi_aml__name(a, "_HID");
	if (eisa_hid)
		acpi_aml__eisa_id(a, eisa_hid);
	else
		acpi_aml__string(a, str_hid);
	acpi_aml__name(a, "_UID");
	acpi_aml__integer(a, uid);
	acpi_aml__name(a, "_CRS");
	acpi_aml__buffer(a);
}

static void dsdt_body(struct aml *a, const struct acpi_cfg *cfg)
{
	char name[5];

	acpi_aml__scope(a, "\\_SB_");
	device_header(a, "COM1", "PNP0501", NULL, 1);
	acpi_aml__res_io(a, GUEST_ABI_COM1_PORT, 8);
	acpi_aml__res_irq_noflags(a, GUEST_ABI_COM1_IRQ);
	acpi_aml__end_resources(a);
	acpi_aml__end(a);
	device_header(a, "RTC_", "PNP0B00", NULL, 0);
	acpi_aml__res_io(a, 0x70, 2);
	acpi_aml__res_irq_noflags(a, 8);
	acpi_aml__end_resources(a);
	acpi_aml__end(a);
	/* Linux's virtio_mmio binds LNRO0005 (the only way in, without a device tree). */
	for (unsigned i = 0; i < cfg->nr_virtio; i++) {
		name[0] = 'V';
		name[1] = 'R';
		name[2] = (char)('0' + i / 10);
		name[3] = (char)('0' + i % 10);
		name[4] = 0;
		device_header(a, name, NULL, "LNRO0005", i);
		acpi_aml__res_mem32_fixed(a, (uint32_t)cfg->virtio[i].base, cfg->virtio[i].size);
		acpi_aml__res_interrupt_level_high(a, cfg->virtio[i].irq);
		acpi_aml__end_resources(a);
		acpi_aml__end(a);
	}
	acpi_aml__end(a);
	/* \_S5: SLP_TYPa, SLP_TYPb, two reserved. */
	acpi_aml__name(a, "\\_S5_");
	acpi_aml__package(a, 4);
	acpi_aml__integer(a, ACPI_S5_SLP_TYP);
	acpi_aml__integer(a, ACPI_S5_SLP_TYP);
	acpi_aml__integer(a, 0);
	acpi_aml__integer(a, 0);
	acpi_aml__end(a);
}

static long add_dsdt(struct tables *t, const struct acpi_cfg *cfg)
{
	struct aml a;
	long off;
	int ret;

	acpi_aml__init(&a);
	dsdt_body(&a, cfg);
	ret = acpi_aml__finish(&a);
	off = ret ? ret : place(t, HDR_LEN + a.len, 16);
	if (off >= 0) {
		header(t->buf + off, "DSDT", (uint32_t)(HDR_LEN + a.len), DSDT_REVISION);
		memcpy(t->buf + off + HDR_LEN, a.buf, a.len);
		finish(t->buf + off);
	}
	acpi_aml__free(&a);
	return off;
}

static void rsdp(uint8_t *r, uint64_t xsdt)
{
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "HASVC ", 6);
	r[15] = 2; /* revision: ACPI 2.0+, the XSDT */
	bytes__put32(r + 20, RSDP_LEN);
	bytes__put64(r + 24, xsdt);
	r[8] = bytes__checksum(r, RSDP_V1_LEN);
	r[32] = bytes__checksum(r, RSDP_LEN);
}

long acpi__build(const struct acpi_cfg *cfg, uint64_t addr, uint8_t *buf, size_t size)
{
	struct tables t = { .buf = buf, .size = size, .addr = addr };
	long r, x, fadt, facs, madt, dsdt;

	if (cfg->nr_vcpus == 0 || cfg->nr_vcpus > MPTABLE_MAX_VCPUS ||
	    cfg->nr_virtio > ACPI_MAX_VIRTIO)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nr_virtio; i++)
		if (cfg->virtio[i].base + cfg->virtio[i].size > 1ULL << 32)
			return -EINVAL;
	r = place(&t, RSDP_LEN, 16);
	x = r < 0 ? r : place(&t, HDR_LEN + XSDT_ENTRIES * 8, 16);
	facs = x < 0 ? x : add_facs(&t);
	dsdt = facs < 0 ? facs : add_dsdt(&t, cfg);
	fadt = dsdt < 0 ? dsdt : add_fadt(&t, addr + (uint64_t)facs, addr + (uint64_t)dsdt);
	madt = fadt < 0 ? fadt : add_madt(&t, cfg->nr_vcpus);
	if (madt < 0)
		return madt;
	header(buf + x, "XSDT", HDR_LEN + XSDT_ENTRIES * 8, 1);
	bytes__put64(buf + x + HDR_LEN, addr + (uint64_t)fadt);
	bytes__put64(buf + x + HDR_LEN + 8, addr + (uint64_t)madt);
	finish(buf + x);
	rsdp(buf + r, addr + (uint64_t)x);
	return (long)t.len;
}

int acpi__write(struct vm_mem *mem, const struct acpi_cfg *cfg)
{
	uint8_t *buf = malloc(ACPI_TABLES_MAX);
	long len;
	int ret;

	if (!buf)
		return -ENOMEM;
	len = acpi__build(cfg, ACPI_TABLES_ADDR, buf, ACPI_TABLES_MAX);
	ret = len < 0 ? (int)len : mem__write(mem, ACPI_TABLES_ADDR, buf, (size_t)len);
	free(buf);
	return ret;
}
