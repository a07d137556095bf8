/*
 * Who holds the guest paused.  Each part of the vmm that needs the vCPUs
 * stopped takes a hold of its own and releases only that one; the vCPUs
 * run only when no holder remains.  So a checkpoint epoch or a failed
 * migration, releasing its own hold, can never run a guest the operator
 * (or the standby-loss policy, or a standby's role) still holds, and no
 * engine has to be told about the others' pauses.
 *
 * Only the decision lives here, apart from KVM so that a unit test covers
 * it (tests/unit/test_vm_hold.c); stopping and starting the vCPUs are the
 * callbacks (vm.c: vm__pause and vm__resume).  Main thread only, like them.
 */
#ifndef VMM_VM_HOLD_H
#define VMM_VM_HOLD_H

#include <stddef.h>

enum vm_holder {
	VM_HOLD_OPERATOR  = 1u << 0, /* vmm ctl pause, run --paused, save then pause,
					an offline migration's arrival; until resume
					or an activation */
	VM_HOLD_EPOCH     = 1u << 1, /* a checkpoint epoch's capture */
	VM_HOLD_MIGRATION = 1u << 2, /* a migration's switch-over, until it fails */
	VM_HOLD_SYNC      = 1u << 3, /* protection's initial sync's switch-over,
					until the standby acknowledged it */
	VM_HOLD_THROTTLE  = 1u << 4, /* auto-converge's paused share of a period */
	VM_HOLD_POLICY    = 1u << 5, /* --on-standby-loss pause: output is held */
	VM_HOLD_STANDBY   = 1u << 6, /* a standby: runs only once activated */
	VM_HOLD_SAVE      = 1u << 7, /* a snapshot being written */
	VM_HOLD_RESET     = 1u << 8, /* the guest's reset being carried out */
};
#define VM_HOLD_ALL ((1u << 9) - 1)

struct vm_hold_ops {
	int (*stop)(void *opaque);  /* the first holder came: stop the vCPUs */
	int (*start)(void *opaque); /* the last holder left: run them again */
};

struct vm_hold {
	unsigned held;              /* enum vm_holder bits */
	const struct vm_hold_ops *ops;
	void *opaque;
};

void vm_hold__init(struct vm_hold *h, const struct vm_hold_ops *ops, void *opaque);

/*
 * Add holders (enum vm_holder bits).  A holder that holds already is not
 * counted twice: holds do not nest within one holder, one release ends it.
 * 0, or the stop callback's error, and then none of them is recorded.
 */
int vm_hold__take(struct vm_hold *h, unsigned holders);

/*
 * Remove holders.  Releasing a holder that does not hold is a no-op (logged
 * at debug level): engines release what they may have taken on every path
 * (cancel, failure), and must not end another holder's hold.  0, or the
 * start callback's error when the last holder left (the holders are gone
 * all the same).
 */
int vm_hold__drop(struct vm_hold *h, unsigned holders);

unsigned vm_hold__held(const struct vm_hold *h);

/* "operator,epoch" or "none": for status and logs. */
void vm_hold__format(unsigned holders, char *buf, size_t len);

#endif
