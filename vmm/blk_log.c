/* See blk_log.h. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/blk_log.h"

int blk_log__init(struct blk_log *l, uint64_t max, uint32_t block_size)
{
	uint64_t slots = 2;
	size_t data_len, blk_len, table_len;
	uint8_t *m;

	memset(l, 0, sizeof(*l));
	if (!max || max > UINT32_MAX / 4)
		return -EINVAL;
	while (slots < 2 * max)
		slots *= 2;
	data_len = max * block_size;
	blk_len = max * sizeof(uint64_t);
	table_len = slots * sizeof(uint32_t);
	/*
	 * Allocated once, never grown.  Not faulted in ahead: only writes (on
	 * the vCPU thread, never in a pause) touch it, and a guest that
	 * writes little per epoch keeps little of it resident.
	 */
	m = mmap(NULL, data_len + blk_len + table_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	l->map = m;
	l->map_len = data_len + blk_len + table_len;
	l->pub.data = m;
	l->pub.blk = (uint64_t *)(m + data_len);
	l->table = (uint32_t *)(m + data_len + blk_len);
	l->mask = slots - 1;
	l->max = max;
	atomic_init(&l->pub.overflow, false);
	return 0;
}

void blk_log__free(struct blk_log *l)
{
	if (l->map)
		munmap(l->map, l->map_len);
	memset(l, 0, sizeof(*l));
}

void blk_log__reset(struct blk_log *l)
{
	/* Only the slots in use: the table is sparse. */
	for (uint64_t i = 0; i < l->pub.n; i++) {
		uint64_t h = (l->pub.blk[i] * 0x9e3779b97f4a7c15ULL) & l->mask;

		while (l->table[h])
			l->table[h] = 0, h = (h + 1) & l->mask;
	}
	l->pub.n = 0;
	atomic_store(&l->pub.overflow, false);
}

uint8_t *blk_log__slot(struct blk_log *l, uint64_t blk, uint32_t block_size)
{
	uint64_t h = (blk * 0x9e3779b97f4a7c15ULL) & l->mask;

	for (; l->table[h]; h = (h + 1) & l->mask)
		if (l->pub.blk[l->table[h] - 1] == blk)
			return l->pub.data + (uint64_t)(l->table[h] - 1) * block_size;
	if (l->pub.n == l->max) {
		atomic_store(&l->pub.overflow, true);
		return NULL;
	}
	l->pub.blk[l->pub.n] = blk;
	l->table[h] = (uint32_t)++l->pub.n;
	return l->pub.data + (l->pub.n - 1) * block_size;
}

/* Block blk whole into dst (zeros past the image's end); false on a read error. */
static bool read_block(int fd, uint64_t size, uint64_t blk, uint8_t *dst, uint32_t block_size)
{
	uint64_t off = blk * block_size;
	size_t want = size - off < block_size ? (size_t)(size - off) : block_size;
	size_t done = 0;

	while (done < want) {
		ssize_t n = pread(fd, dst + done, want - done, (off_t)(off + done));

		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	memset(dst + want, 0, block_size - want);
	return true;
}

bool blk_log__keep(struct blk_log *l, int fd, uint64_t size, uint64_t pos, uint64_t bytes,
		   uint32_t block_size)
{
	bool was = atomic_load(&l->pub.overflow);

	for (uint64_t blk = pos / block_size; bytes && blk <= (pos + bytes - 1) / block_size;
	     blk++) {
		uint8_t *slot = blk_log__slot(l, blk, block_size);

		/* A block the log cannot hold whole: the capture reads the image. */
		if (!slot || !read_block(fd, size, blk, slot, block_size)) {
			atomic_store(&l->pub.overflow, true);
			break;
		}
	}
	return was || !atomic_load(&l->pub.overflow);
}
