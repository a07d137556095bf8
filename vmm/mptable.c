/*
 * MultiProcessor Specification 1.4 tables, built in a byte buffer with
 * explicit little-endian stores (no packed structs) and written to guest
 * memory in one go.  Linux reads them when it finds no ACPI MADT.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "vmm/bytes.h"
#include "vmm/mptable.h"

#define MPF_SIZE 16        /* floating pointer structure          */
#define MPC_HEADER_SIZE 44 /* configuration table header          */
#define MPC_CPU_SIZE 20
#define MPC_SHORT_SIZE 8   /* bus, IOAPIC, interrupt entries      */

enum mpc_entry_type {
	MPC_CPU = 0,
	MPC_BUS = 1,
	MPC_IOAPIC = 2,
	MPC_IOINT = 3,
	MPC_LOCALINT = 4,
};

enum mp_irq_type { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

#define MP_SPEC_REV 4 /* 1.4 */
#define CPU_ENABLED 0x01
#define CPU_BSP 0x02
#define LAPIC_VERSION 0x14
#define IOAPIC_VERSION 0x11
#define IOAPIC_ENABLED 0x01
#define CPU_SIGNATURE 0x600      /* family 6: informational only        */
#define CPU_FEATURES 0x201       /* FPU, APIC                           */
#define ISA_BUS_ID 0
#define ISA_IRQS 16
#define PIC_CASCADE_IRQ 2        /* the PIC cascade: not routed         */
/* KVM's default GSI routing sends GSI 0 (the PIT) to IOAPIC pin 0. */
#define TIMER_PIN 0
#define ALL_LAPICS 0xff

#define MPTABLE_MAX_SIZE (MPF_SIZE + MPC_HEADER_SIZE + MPTABLE_MAX_VCPUS * MPC_CPU_SIZE + \
			  (2 + ISA_IRQS + 2) * MPC_SHORT_SIZE)

struct mp_buf {
	uint8_t *p;
	size_t len; /* bytes of the configuration table so far */
	unsigned nr_entries;
};

static uint8_t *add_entry(struct mp_buf *b, size_t size, enum mpc_entry_type type)
{
	uint8_t *e = b->p + b->len;

	b->len += size;
	b->nr_entries++;
	e[0] = (uint8_t)type;
	return e;
}

static void add_cpu(struct mp_buf *b, unsigned id)
{
	uint8_t *e = add_entry(b, MPC_CPU_SIZE, MPC_CPU);

	e[1] = (uint8_t)id;
	e[2] = LAPIC_VERSION;
	e[3] = CPU_ENABLED | (id == 0 ? CPU_BSP : 0);
	bytes__put32(e + 4, CPU_SIGNATURE);
	bytes__put32(e + 8, CPU_FEATURES);
}

/* I/O (to an IOAPIC pin) or local (to a LAPIC LINT pin) interrupt entry. */
static void add_irq(struct mp_buf *b, enum mpc_entry_type type, enum mp_irq_type irq_type,
		    unsigned src_irq, unsigned dst_id, unsigned dst_pin)
{
	uint8_t *e = add_entry(b, MPC_SHORT_SIZE, type);

	e[1] = (uint8_t)irq_type;
	bytes__put16(e + 2, 0); /* polarity and trigger conform to the bus (ISA: edge, high) */
	e[4] = ISA_BUS_ID;
	e[5] = (uint8_t)src_irq;
	e[6] = (uint8_t)dst_id;
	e[7] = (uint8_t)dst_pin;
}

static void build_config_table(struct mp_buf *b, unsigned nr_vcpus)
{
	unsigned ioapic_id = nr_vcpus;
	uint8_t *h = b->p, *e;

	b->len = MPC_HEADER_SIZE;
	for (unsigned i = 0; i < nr_vcpus; i++)
		add_cpu(b, i);

	e = add_entry(b, MPC_SHORT_SIZE, MPC_BUS);
	e[1] = ISA_BUS_ID;
	memcpy(e + 2, "ISA   ", 6);

	e = add_entry(b, MPC_SHORT_SIZE, MPC_IOAPIC);
	e[1] = (uint8_t)ioapic_id;
	e[2] = IOAPIC_VERSION;
	e[3] = IOAPIC_ENABLED;
	bytes__put32(e + 4, MPTABLE_IOAPIC_ADDR);

	for (unsigned irq = 0; irq < ISA_IRQS; irq++) {
		if (irq == PIC_CASCADE_IRQ)
			continue;
		add_irq(b, MPC_IOINT, MP_INT, irq, ioapic_id, irq == 0 ? TIMER_PIN : irq);
	}
	/* Virtual wire: the 8259 reaches the CPUs through LINT0, NMI through LINT1. */
	add_irq(b, MPC_LOCALINT, MP_EXTINT, 0, ALL_LAPICS, 0);
	add_irq(b, MPC_LOCALINT, MP_NMI, 0, ALL_LAPICS, 1);

	memcpy(h, "PCMP", 4);
	bytes__put16(h + 4, (uint16_t)b->len);
	h[6] = MP_SPEC_REV;
	memcpy(h + 8, "HASVC   ", 8);
	memcpy(h + 16, "HASVC VMM   ", 12);
	bytes__put16(h + 34, (uint16_t)b->nr_entries);
	bytes__put32(h + 36, MPTABLE_LAPIC_ADDR);
	h[7] = bytes__checksum(h, b->len);
}

static void build_floating_pointer(uint8_t *f, uint32_t config_addr)
{
	memcpy(f, "_MP_", 4);
	bytes__put32(f + 4, config_addr);
	f[8] = 1; /* length in 16-byte paragraphs */
	f[9] = MP_SPEC_REV;
	/* Feature bytes stay 0: a configuration table is present, no IMCR. */
	f[10] = bytes__checksum(f, MPF_SIZE);
}

int mptable__write(struct vm_mem *mem, unsigned nr_vcpus)
{
	uint8_t buf[MPTABLE_MAX_SIZE] = { 0 };
	struct mp_buf b = { .p = buf + MPF_SIZE };

	if (nr_vcpus == 0 || nr_vcpus > MPTABLE_MAX_VCPUS)
		return -EINVAL;
	build_config_table(&b, nr_vcpus);
	build_floating_pointer(buf, MPTABLE_ADDR + MPF_SIZE);
	return mem__write(mem, MPTABLE_ADDR, buf, MPF_SIZE + b.len);
}
