/*
 * virtio-blk (virtio 1.x, 5.2) on a raw image file, over virtio-mmio slot
 * GUEST_ABI_VIRTIO_BLK_SLOT.  Requests IN, OUT, FLUSH (fdatasync) and
 * GET_ID, one queue, done synchronously on the notifying vCPU's thread.
 */
#ifndef VMM_VIRTIO_BLK_H
#define VMM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/state.pb-c.h"

struct vm;
struct virtio_blk;

struct disk_cfg {
	const char *path;  /* NULL: no disk */
	bool readonly;
};

/* "PATH" or "PATH,readonly"; the path points into spec (kept by the caller). */
int virtio_blk__parse(char *spec, struct disk_cfg *cfg, const char **err);

/* Open the image and register the device with the VM. */
int virtio_blk__create(struct virtio_blk **out, struct vm *vm, const struct disk_cfg *cfg,
		       const char **err);
void virtio_blk__destroy(struct virtio_blk *b);

/* The guest reset the machine. */
void virtio_blk__reset(struct virtio_blk *b);

/*
 * State.  save makes written data durable first (fdatasync), so that a
 * peer opening the same image after this state sees every write the guest
 * was told had completed.  check refuses a record that does not fit this
 * device (capacity, read-only, queues) before anything is applied.
 */
int virtio_blk__save(struct virtio_blk *b, Vmm__State__VirtioBlkState *st);
void virtio_blk__free_saved(Vmm__State__VirtioBlkState *st);
int virtio_blk__check_saved(const struct virtio_blk *b, const Vmm__State__VirtioBlkState *st,
			    const char **err);
void virtio_blk__load(struct virtio_blk *b, const Vmm__State__VirtioBlkState *st);

#endif
