/*
 * The ACPI PM1 fixed-feature registers (ports in vmm/acpi.h): the power
 * button, whose press raises the SCI, and the sleep control through which
 * the guest enters S5, which ends the run like a power-off with status 0.
 */
#ifndef VMM_ACPI_PM_H
#define VMM_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/state.pb-c.h"

struct vm;

struct acpi_pm {
	struct vm *vm;
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	int sci_level;
};

/* vm NULL: no port trap and no SCI line (unit tests drive acpi_pm__io). */
int acpi_pm__create(struct acpi_pm **out, struct vm *vm);
void acpi_pm__destroy(struct acpi_pm *pm);
/* Power-on state (a reset). */
void acpi_pm__reset(struct acpi_pm *pm);
/*
 * Port I/O in 0x600-0x605 (any width): true when the guest wrote S5 to
 * PM1 control, which the caller turns into a power-off.
 */
bool acpi_pm__io(struct acpi_pm *pm, uint16_t port, uint8_t *data, unsigned len, bool is_write);
/*
 * Save/restore (vmm/vm_state.c).  acpi_pm__load refuses (-EINVAL) a
 * register wider than 16 bits, and sets the SCI line to the loaded level.
 */
void acpi_pm__save(struct acpi_pm *pm, Vmm__State__AcpiPmState *st);
int acpi_pm__load(struct acpi_pm *pm, const Vmm__State__AcpiPmState *st);
/* From any thread: a press of the power button (the guest decides what follows). */
void acpi_pm__press_power_button(struct acpi_pm *pm);

#endif
