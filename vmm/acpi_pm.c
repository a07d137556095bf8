/*
 * PM1a event block (status at +0, enable at +2, 16 bits each) and PM1a
 * control block, as the FADT of vmm/acpi.c declares them.  No SMI command
 * port: SCI_EN is always set.  Status bits are cleared by writing ones.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
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
/* The event and control blocks are adjacent: one trap serves both. */
#define PM1_STS_OFF 0
#define PM1_EN_OFF 2
#define PM1_TOTAL_LEN (ACPI_PM1_EVT_LEN + ACPI_PM1_CNT_LEN)
_Static_assert(ACPI_PM1A_CNT_PORT == ACPI_PM1A_EVT_PORT + ACPI_PM1_EVT_LEN,
	       "PM1 control follows the event block");

/* Called with the lock held. */
static void update_sci(struct acpi_pm *pm)
{
	int level = (pm->sts & pm->en & PM1_PWRBTN) != 0;
	struct kvm_irq_level irq = { .irq = ACPI_SCI_IRQ, .level = (uint32_t)level };

	if (level == pm->sci_level)
		return;
	pm->sci_level = level;
	if (pm->vm && ioctl(pm->vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		qb_log(LOG_WARNING, "cannot set the SCI line: %s", strerror(errno));
}

/*
 * One byte at off from ACPI_PM1A_EVT_PORT: status (0-1), enable (2-3),
 * control (4-5).  Returns true when the write enters S5.
 */
static bool write_byte(struct acpi_pm *pm, unsigned off, uint8_t v)
{
	unsigned shift = 8 * (off & 1);
	uint16_t val = (uint16_t)(v << shift), mask = (uint16_t)(0xff << shift);

	switch (off & ~1u) {
	case PM1_STS_OFF:
		pm->sts &= (uint16_t)~val;
		return false;
	case PM1_EN_OFF:
		pm->en = (uint16_t)((pm->en & ~mask) | val);
		return false;
	default:
		pm->cnt = (uint16_t)((pm->cnt & ~mask) | (val & PM1_CNT_WRITABLE));
		return (val & PM1_CNT_SLP_EN) &&
		       ((pm->cnt & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT) == ACPI_S5_SLP_TYP;
	}
}

static uint8_t read_byte(struct acpi_pm *pm, unsigned off)
{
	uint16_t r;

	switch (off & ~1u) {
	case PM1_STS_OFF:
		r = pm->sts;
		break;
	case PM1_EN_OFF:
		r = pm->en;
		break;
	default:
		r = pm->cnt | PM1_CNT_SCI_EN;
	}
	return (uint8_t)(r >> (8 * (off & 1)));
}

bool acpi_pm__io(struct acpi_pm *pm, uint16_t port, uint8_t *data, unsigned len, bool is_write)
{
	bool s5 = false;

	pthread_mutex_lock(&pm->lock);
	for (unsigned i = 0; i < len; i++) {
		unsigned off = (unsigned)(port - ACPI_PM1A_EVT_PORT) + i;

		if (off >= PM1_TOTAL_LEN) {
			if (!is_write)
				data[i] = 0xff;
		} else if (is_write) {
			s5 |= write_byte(pm, off, data[i]);
		} else {
			data[i] = read_byte(pm, off);
		}
	}
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return s5;
}

void acpi_pm__save(struct acpi_pm *pm, Vmm__State__AcpiPmState *st)
{
	vmm__state__acpi_pm_state__init(st);
	pthread_mutex_lock(&pm->lock);
	st->sts = pm->sts;
	st->en = pm->en;
	st->cnt = pm->cnt;
	pthread_mutex_unlock(&pm->lock);
}

int acpi_pm__load(struct acpi_pm *pm, const Vmm__State__AcpiPmState *st)
{
	if ((st->sts | st->en | st->cnt) > 0xffff)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->sts = (uint16_t)st->sts;
	pm->en = (uint16_t)st->en;
	pm->cnt = (uint16_t)(st->cnt & PM1_CNT_WRITABLE);
	pm->sci_level = -1; /* force the line to the loaded level */
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

static void pm_io(struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		  bool is_write, void *opaque)
{
	if (acpi_pm__io(opaque, (uint16_t)addr, data, len, is_write))
		vm__request_stop(vcpu->vm, VM_STOP_POWEROFF, 0, "the guest powered off (ACPI S5)");
}

int acpi_pm__create(struct acpi_pm **out, struct vm *vm)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int ret;

	if (!pm)
		return -ENOMEM;
	pm->vm = vm;
	pthread_mutex_init(&pm->lock, NULL);
	ret = vm ? iotrap__register(&vm->io, IOTRAP_PIO, ACPI_PM1A_EVT_PORT, PM1_TOTAL_LEN,
				    pm_io, pm) : 0;
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
