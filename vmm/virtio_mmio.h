/*
 * The virtio-mmio transport, version 2 (virtio 1.x "modern", spec 4.2):
 * one register window per device at a fixed guest-physical address
 * (vmm/guest_abi.h), feature negotiation, device status, split virtqueues
 * the guest places, the notify register, interrupt status and ack, and the
 * device's config space from offset 0x100.
 *
 * Each device (virtio_blk.c in slot 0, virtio_net.c in slot 1) has its own
 * instance: window, IRQ, up to VIRTIO_MMIO_MAX_QUEUES queues; it supplies
 * its id, features, config space and a notify handler.  Notifications are
 * handled synchronously on the vCPU thread that wrote the notify register,
 * under the transport's lock: when every vCPU is paused no request is in
 * flight, so the state below is the whole device state.  (virtio-net's
 * receive side runs on the main loop, under the same lock and only while
 * the VM runs: virtio_net.h.)
 */
#ifndef VMM_VIRTIO_MMIO_H
#define VMM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/ratelimit.h"
#include "vmm/state.pb-c.h"
#include "vmm/virtq.h"

struct vm;

#define VIRTIO_MMIO_MAX_QUEUES 2

/* Device status bits (spec 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

#define VIRTIO_F_VERSION_1 (1ULL << 32)

/* Interrupt status bits. */
#define VIRTIO_MMIO_INT_VRING 1
#define VIRTIO_MMIO_INT_CONFIG 2

struct virtio_mmio;

struct virtio_mmio_ops {
	uint32_t device_id;
	unsigned nr_queues;
	/* Config space: off and len are checked against config_len first. */
	uint32_t config_len;
	void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
	/* Queue q was notified and is ready; the transport's lock is held. */
	void (*notify)(void *dev, struct virtio_mmio *t, unsigned q);
	/* Optional: the driver wrote Status (not a reset); the lock is held. */
	void (*status)(void *dev, struct virtio_mmio *t);
};

struct virtio_mmio {
	struct vm *vm;           /* NULL in unit tests: no IRQ line, no dirty marks */
	struct virtq_mem mem;
	uint64_t base;
	unsigned irq;
	const struct virtio_mmio_ops *ops;
	void *dev;
	uint64_t features;       /* offered                             */
	pthread_mutex_t lock;

	uint32_t status;
	uint64_t driver_features;
	uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
	uint32_t isr;            /* InterruptStatus                     */
	uint32_t config_gen;
	struct virtq vq[VIRTIO_MMIO_MAX_QUEUES];
	int irq_level;           /* what the line was last set to; -1 unknown */
	struct ratelimit log;    /* "needs a reset": a broken driver repeats it */
};

/* Register the window at base and wire the IRQ; vm may be NULL (tests). */
int virtio_mmio__init(struct virtio_mmio *t, struct vm *vm, struct vm_mem *mem,
		      uint64_t base, unsigned irq, const struct virtio_mmio_ops *ops,
		      uint64_t features, void *dev);
void virtio_mmio__exit(struct virtio_mmio *t);

/* The MMIO handler (an iotrap_fn without the vCPU); exported for tests. */
void virtio_mmio__access(struct virtio_mmio *t, uint64_t off, uint8_t *data, uint32_t len,
			 bool is_write);

/* Back to the power-on state (a status write of 0, a guest reset). */
void virtio_mmio__reset(struct virtio_mmio *t);

/* For the device, lock held: a used buffer is ready; the driver broke the rules. */
void virtio_mmio__interrupt(struct virtio_mmio *t);
void virtio_mmio__needs_reset(struct virtio_mmio *t, const char *why);

/* Did the driver accept feature bit f? */
bool virtio_mmio__has_feature(const struct virtio_mmio *t, uint64_t f);

/*
 * State save/restore.  save fills st (queues allocated: free with
 * virtio_mmio__free_saved).  load applies a record whose shape the parser
 * checked (vm_state_parse.c) and sets the IRQ line; a ready queue whose
 * rings are not in RAM makes the device need a reset.
 */
int virtio_mmio__save(struct virtio_mmio *t, Vmm__State__VirtioMmioState *st);
void virtio_mmio__free_saved(Vmm__State__VirtioMmioState *st);
void virtio_mmio__load(struct virtio_mmio *t, const Vmm__State__VirtioMmioState *st);

#endif
