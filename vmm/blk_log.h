/*
 * An epoch's written disk blocks, kept by virtio-blk as it writes them
 * (docs/checkpointing.md, "Disk capture at write time"), so that a
 * checkpoint's pause reads nothing back from the image.  Bounded: at most
 * max blocks; a block written again replaces its copy; past the bound the
 * log says so (overflow) and keeps what it has.  Not locked: the device
 * serialises its writers and the capture runs with the vCPUs paused.
 */
#ifndef VMM_BLK_LOG_H
#define VMM_BLK_LOG_H

#include <stdint.h>

#include "vmm/vm_port.h"

struct blk_log {
	struct vm_disk_log pub;       /* what the engine reads */
	uint64_t max;                 /* blocks it holds at most */
	uint32_t *table;              /* open addressing: index + 1 of a block, 0 free */
	uint64_t mask;                /* table size - 1 (a power of two, >= 2 max) */
	void *map;                    /* one mapping for all of it */
	size_t map_len;
};

/* max blocks of block_size bytes; 0 or -ENOMEM/-EINVAL. */
int blk_log__init(struct blk_log *l, uint64_t max, uint32_t block_size);
void blk_log__free(struct blk_log *l);
/* Forget every block (the epoch's log was taken). */
void blk_log__reset(struct blk_log *l);
/* Where block blk's data goes (new or the held copy); NULL when full (overflow set). */
uint8_t *blk_log__slot(struct blk_log *l, uint64_t blk, uint32_t block_size);
/*
 * After a write of [pos, pos + bytes) to the image fd of size bytes: keep
 * the blocks it covered, read whole from the image (the page cache: a
 * partial block needs the rest).  false when the log overflowed now.
 */
bool blk_log__keep(struct blk_log *l, int fd, uint64_t size, uint64_t pos, uint64_t bytes,
		   uint32_t block_size);

#endif
