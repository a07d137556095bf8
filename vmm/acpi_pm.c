/*
 * PM1a event block (status at +0, enable at +2, 16 bits each) and PM1a
 * control block, as the FADT of vmm/acpi.c declares them.  No SMI command
 * port: SCI_EN is always set.  Status bits are cleared by writing ones.
 */
#include "config.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <qb/qblog.h>

#include "vmm/acpi.h"
#include "vmm/acpi_pm.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define PM1_PWRBTN (1u << 8)
#define PM1_CNT_SCI_EN (1u << 0)
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN (1u << 13)
#define PM1_CNT_WRITABLE PM1_CNT_SLP_TYP_MASK

/* Called with the lock held. */
static void update_sci(struct acpi_pm *pm)
{
	int level = (pm->sts & pm->en & PM1_PWRBTN) != 0;
	struct kvm_irq_level irq = { .irq = ACPI_SCI_IRQ, .level = (uint32_t)level };

	if (level == pm->sci_level)
		return;
	pm->sci_level = level;
	if (ioctl(pm->vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		qb_log(LOG_WARNING, "cannot set the SCI line: %s", strerror(errno));
}

static uint16_t *reg(struct acpi_pm *pm, uint64_t off)
{
	switch (off) {
	case 0:
		return &pm->sts;
	case 2:
		return &pm->en;
	default:
		return &pm->cnt;
	}
}

/* One byte of a 16-bit register at off (even) + hi. */
static void write_byte(struct vcpu *vcpu, struct acpi_pm *pm, uint64_t off, unsigned hi,
		       uint8_t v)
{
	uint16_t val = (uint16_t)(v << (8 * hi)), mask = (uint16_t)(0xff << (8 * hi));

	if (off == 0) {
		pm->sts &= (uint16_t)~(val & mask);
	} else if (off == 2) {
		pm->en = (uint16_t)((pm->en & ~mask) | val);
	} else {
		pm->cnt = (uint16_t)((pm->cnt & ~mask) | (val & PM1_CNT_WRITABLE));
		if ((val & PM1_CNT_SLP_EN) &&
		    ((pm->cnt & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT) == ACPI_S5_SLP_TYP)
			vm__request_stop(vcpu->vm, VM_STOP_POWEROFF, 0,
					 "the guest powered off (ACPI S5)");
	}
}

static void pm_io(struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		  bool is_write, void *opaque)
{
	struct acpi_pm *pm = opaque;
	uint64_t base = addr >= ACPI_PM1A_CNT_PORT ? ACPI_PM1A_CNT_PORT : ACPI_PM1A_EVT_PORT;

	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t off = addr - base + i;
		uint64_t end = base == ACPI_PM1A_CNT_PORT ? ACPI_PM1_CNT_LEN : ACPI_PM1_EVT_LEN;

		if (off >= end) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (is_write)
			write_byte(vcpu, pm, off & ~1ULL, off & 1, data[i]);
		else
			data[i] = (uint8_t)((*reg(pm, off & ~1ULL) |
					     (base == ACPI_PM1A_CNT_PORT ? PM1_CNT_SCI_EN : 0)) >>
					    (8 * (off & 1)));
	}
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

int acpi_pm__create(struct acpi_pm **out, struct vm *vm)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int ret;

	if (!pm)
		return -ENOMEM;
	pm->vm = vm;
	pthread_mutex_init(&pm->lock, NULL);
	ret = iotrap__register(&vm->io, IOTRAP_PIO, ACPI_PM1A_EVT_PORT, ACPI_PM1_EVT_LEN, pm_io, pm);
	if (!ret)
		ret = iotrap__register(&vm->io, IOTRAP_PIO, ACPI_PM1A_CNT_PORT, ACPI_PM1_CNT_LEN,
				       pm_io, pm);
	if (ret) {
		acpi_pm__destroy(pm);
		return ret;
	}
	*out = pm;
	return 0;
}

void acpi_pm__destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

void acpi_pm__reset(struct acpi_pm *pm)
{
	if (!pm)
		return;
	pthread_mutex_lock(&pm->lock);
	pm->sts = pm->en = pm->cnt = 0;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm__press_power_button(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	pm->sts |= PM1_PWRBTN;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	qb_log(LOG_NOTICE, "power button pressed%s",
	       pm->en & PM1_PWRBTN ? "" : " (the guest has not enabled it: nothing happens yet)");
}
