/*
 * The contract between the vmm and the project's test guests (and any guest
 * that wants to power off cleanly).  Shared by host and guest code, so it uses
 * only fixed-width types and no host headers beyond <stdint.h>.
 */
#ifndef VMM_GUEST_ABI_H
#define VMM_GUEST_ABI_H

#include <stdint.h>

/* COM1, a 16550A; IRQ 4 on the in-kernel PIC/IOAPIC. */
#define GUEST_ABI_COM1_PORT 0x3f8
#define GUEST_ABI_COM1_IRQ 4

/*
 * Test call: a 32-bit `out` to this port whose value is the guest-physical
 * address of a struct guest_ucall (below 4 GiB).  The host reads the record,
 * acts on it, and the guest continues after the `out`.
 */
#define GUEST_ABI_UCALL_PORT 0x0500

/*
 * Power off: a 32-bit `out` to this port; the low 8 bits are the status the
 * vmm exits with.
 */
#define GUEST_ABI_POWEROFF_PORT 0x0504

/* Reset, as on a PC: 0x06 or 0x0e to the reset control register at 0xcf9, or
 * 0xfe to the keyboard controller's command port 0x64 (what Linux does). */
#define GUEST_ABI_RESET_PORT 0x0cf9
#define GUEST_ABI_I8042_CMD_PORT 0x0064

/*
 * virtio-mmio devices (version 2, virtio 1.x; docs/virtio.md): device n's
 * register window is GUEST_ABI_VIRTIO_MMIO_SIZE bytes at
 * GUEST_ABI_VIRTIO_MMIO_BASE + n * GUEST_ABI_VIRTIO_MMIO_STRIDE, in the
 * hole below 4 GiB where there is no RAM.  Slot 0 is virtio-blk (when
 * `vmm run --disk` is given), level-triggered on IRQ/GSI
 * GUEST_ABI_VIRTIO_BLK_IRQ; slot 1 is virtio-net (when `vmm run --net` is
 * given) on IRQ/GSI GUEST_ABI_VIRTIO_NET_IRQ.  A Linux guest would take
 * virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6.
 * An absent device reads as all ones.
 */
#define GUEST_ABI_VIRTIO_MMIO_BASE 0xd0000000ULL
#define GUEST_ABI_VIRTIO_MMIO_SIZE 0x1000
#define GUEST_ABI_VIRTIO_MMIO_STRIDE 0x1000
#define GUEST_ABI_VIRTIO_BLK_SLOT 0
#define GUEST_ABI_VIRTIO_BLK_IRQ 5
#define GUEST_ABI_VIRTIO_NET_SLOT 1
#define GUEST_ABI_VIRTIO_NET_IRQ 6

enum guest_ucall_cmd {
	UCALL_NONE = 0,
	UCALL_SYNC = 1,   /* args[0]: stage; the host logs "sync <stage>"        */
	UCALL_ASSERT = 2, /* args[0]: line, args[1], args[2]: values; text = "file: expr" */
	UCALL_DONE = 3,   /* the test passed: the vmm exits with status 0         */
	UCALL_REPORT = 4, /* args[0]: value; text = key; host logs "report key=value" */
};

#define GUEST_UCALL_TEXT 240

struct guest_ucall {
	uint64_t cmd;
	uint64_t args[4];
	char text[GUEST_UCALL_TEXT]; /* NUL-terminated; the host bounds it anyway */
};

/* Exit statuses of `vmm run` besides the guest's own power-off status. */
#define VMM_EXIT_ERROR 1        /* the vmm could not start or run the VM     */
#define VMM_EXIT_USAGE 2        /* bad command line                          */
#define VMM_EXIT_GUEST_ASSERT 3 /* a guest test assertion failed             */
#define VMM_EXIT_GUEST_CRASH 4  /* triple fault or an instruction KVM cannot emulate */

#endif
