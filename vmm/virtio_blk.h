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
struct dirty_bitmap;
struct outbuf_notify;
struct vm_disk_log;

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

/*
 * The image's contents, for replication and local-disk migration
 * (docs/virtio.md, "Replication").  The image is cut in 4 KiB blocks; the
 * last one may be shorter (the size is the capacity in bytes).  While
 * tracking is on, every completed write marks the blocks it covered;
 * harvest ORs them into out (indexed by block, out->nr_pages blocks) and
 * clears them, like dirty__harvest does for RAM.
 */
#define VIRTIO_BLK_BLOCK 4096u

uint64_t virtio_blk__size(const struct virtio_blk *b);   /* bytes */
uint64_t virtio_blk__nr_blocks(const struct virtio_blk *b);
bool virtio_blk__readonly(const struct virtio_blk *b);
/* A bitmap with one bit per block of the image. */
int virtio_blk__bitmap_init(const struct virtio_blk *b, struct dirty_bitmap *bm);
void virtio_blk__track(struct virtio_blk *b, bool on);
void virtio_blk__harvest(struct virtio_blk *b, struct dirty_bitmap *out);
/*
 * Capture at write time (vm_port.h vm_disk_ops.capture): while tracking,
 * keep each written block in a log of at most max_blocks (0: off; tracking
 * off stops it too); past the bound n fires.  take: with the VM held.
 */
int virtio_blk__capture(struct virtio_blk *b, uint64_t max_blocks, struct outbuf_notify *n);
const struct vm_disk_log *virtio_blk__capture_take(struct virtio_blk *b);
bool virtio_blk__capture_full(struct virtio_blk *b);
/* len bytes at byte offset off, inside the image. */
int virtio_blk__read(struct virtio_blk *b, uint64_t off, void *buf, size_t len);
/* The same the other way; data NULL: the range becomes zero (a hole if it can). */
int virtio_blk__write(struct virtio_blk *b, uint64_t off, const void *data, size_t len);
/* fdatasync when anything was written since the last. */
int virtio_blk__sync(struct virtio_blk *b);
/*
 * Advice: the clean page-cache pages of [off, off + len) are dropped (dirty
 * ones are queued for writeback and stay).  Nothing changes but speed.
 */
int virtio_blk__drop_cache(struct virtio_blk *b, uint64_t off, uint64_t len);
/* SHA-256 of the whole image (its capacity's bytes). */
int virtio_blk__digest(struct virtio_blk *b, uint8_t out[32]);
/*
 * An unnamed read-write file on the image's file system (gone when
 * closed): a fd, or a negative errno.
 */
int virtio_blk__scratch(const struct virtio_blk *b);

#endif
