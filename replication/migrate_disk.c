/*
 * Copying the disk image with a migration or checkpointing's initial sync
 * (docs/migration.md, "Local disks"): round 1 sends every block of the
 * image, later rounds the blocks written since the last harvest; the
 * switch-over's state stream carries the rest (vm_state__save_pages).
 * Blocks travel on the main connection, so the versions of a block arrive
 * in order, and before the final state.  Runs of zero blocks go as zero
 * ranges: a sparse image stays cheap on the wire and at the destination.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replication/migrate.h"
#include "replication/wire.h"
#include "vmm/virtio_blk.h"

#define RUN_BLOCKS (STREAM_DISK_MAX / VIRTIO_BLK_BLOCK)
/* The kernel drops only folios wholly inside the range; readahead's are up to 2 MiB. */
#define DROP_GRAIN (32ull << 20)

int migrate__disk_start(struct migrate *m)
{
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&m->port, &ops);
	int ret;

	if (!m->p.copy_disk || !disk)
		return 0;
	if (!m->dbm.bits && (ret = ops->bitmap_init(disk, &m->dbm)))
		return ret;
	dirty_bitmap__clear(&m->dbm);
	ops->track(disk, true);
	m->disk_tracking = true;
	return 0;
}

void migrate__disk_stop(struct migrate *m)
{
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&m->port, &ops);

	if (m->disk_tracking)
		ops->track(disk, false);
	m->disk_tracking = false;
}

void migrate__disk_harvest(struct migrate *m)
{
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&m->port, &ops);

	if (m->disk_tracking)
		ops->harvest(disk, &m->dbm);
}

uint64_t migrate__disk_dirty(const struct migrate *m)
{
	return m->disk_tracking ? dirty_bitmap__count(&m->dbm) : 0;
}

static bool zero_bytes(const uint8_t *p, size_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

/* Blocks [first, first + n): read now, sent as data or as a zero range. */
static int send_run(struct migrate *m, uint8_t *buf, uint64_t first, uint64_t n,
		    uint64_t *bytes)
{
	uint64_t off = first * VIRTIO_BLK_BLOCK, end = (first + n) * VIRTIO_BLK_BLOCK;
	uint64_t before = *bytes;
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&m->port, &ops);
	uint32_t len;
	int ret;

	if (end > ops->size(disk))
		end = ops->size(disk);
	len = (uint32_t)(end - off);
	ret = ops->read(disk, off, buf, len);
	if (!ret)
		ret = wire__write_disk(&m->main->s, off, zero_bytes(buf, len) ? NULL : buf, len,
				       bytes);
	atomic_fetch_add(&m->a_bytes, *bytes - before);
	atomic_fetch_add(&m->a_disk, len);
	return ret;
}

/*
 * Round 1 reads the whole image once: what it read leaves the host's page
 * cache behind it, as with dd's iflag=nocache, up to upto (rounded down to
 * DROP_GRAIN unless last).  Kept, it would push out what the host caches
 * for others, and where ext4 gives files large folios (Linux 6.x: the
 * readahead of a sequential read builds them) the guest's later 4 KiB
 * writes land in them: random writes measured 2-3 times slower after such
 * a read (docs/performance.md, "Block I/O").
 */
static void drop_behind(struct migrate *m, uint64_t *dropped, uint64_t upto, bool last)
{
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&m->port, &ops);
	uint64_t end = last ? upto : upto / DROP_GRAIN * DROP_GRAIN;

	if (!ops->drop_cache || end <= *dropped)
		return;
	ops->drop_cache(disk, *dropped, end - *dropped); /* advice: failing costs only speed */
	*dropped = end;
}

int migrate__send_disk(struct migrate *m, bool all, uint64_t *bytes)
{
	uint64_t nr, run = 0, n = 0, start = migrate__now_ns(), sent = 0, dropped = 0;
	const struct vm_disk_ops *ops;
	void *disk = vm_port__disk(&m->port, &ops);
	uint8_t *buf;
	int ret = 0;

	*bytes = 0;
	if (!m->disk_tracking)
		return 0;
	nr = (ops->size(disk) + VIRTIO_BLK_BLOCK - 1) / VIRTIO_BLK_BLOCK;
	buf = malloc(STREAM_DISK_MAX);
	if (!buf)
		return -ENOMEM;
	for (uint64_t blk = 0; blk <= nr && !ret; blk++) {
		bool take = blk < nr && (all || dirty_bitmap__test(&m->dbm, blk));

		if (take && n && run + n == blk && n < RUN_BLOCKS) {
			n++;
			continue;
		}
		if (n) {
			ret = send_run(m, buf, run, n, &sent);
			if (all)
				drop_behind(m, &dropped, (run + n) * VIRTIO_BLK_BLOCK, blk == nr);
			migrate__pace(start, sent, (uint64_t)m->p.bandwidth_mibs << 20);
			if (!ret && atomic_load(&m->cancel))
				ret = -ECANCELED;
		}
		n = 0;
		if (take) {
			run = blk;
			n = 1;
		}
	}
	free(buf);
	dirty_bitmap__clear(&m->dbm);
	*bytes = sent;
	return ret ? ret : channel__flush(m->main);
}
