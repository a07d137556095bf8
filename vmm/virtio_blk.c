/*
 * virtio-blk on a raw image (see virtio_blk.h).  A request is a chain:
 * a 16-byte header the device reads {type le32, reserved le32, sector le64},
 * the data buffers, and a final device-writable status byte.  Anything
 * malformed fails that request with VIRTIO_BLK_S_IOERR when its status
 * byte is usable; a broken ring makes the device need a reset.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <qb/qblog.h>

#include "vmm/blk_log.h"
#include "vmm/dirty.h"
#include "vmm/guest_abi.h"
#include "vmm/virtio_blk.h"
#include "vmm/virtio_mmio.h"
#include "vmm/vm.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_F_SEG_MAX (1ULL << 2)
#define VIRTIO_BLK_F_RO (1ULL << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ULL << 6)
#define VIRTIO_BLK_F_FLUSH (1ULL << 9)

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR 512
#define ID_LEN 20
#define HDR_LEN 16
#define SEG_MAX (VIRTQ_MAX_SIZE - 2)  /* a chain less its header and status */

/* The config space fields we offer (5.2.4), little-endian as laid out. */
struct blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint8_t geometry[4];
	uint32_t blk_size;
} __attribute__((packed));

struct virtio_blk {
	struct virtio_mmio t;
	struct vm *vm;
	int fd;
	bool readonly;
	atomic_bool unsynced;   /* written since the last fdatasync */
	uint64_t capacity;      /* sectors */
	char id[ID_LEN];
	char *dir;              /* where scratch files go: the image's file system */
	struct blk_config config;
	struct virtq_chain chain; /* large: kept here, not on a vCPU stack */
	/* Blocks written while tracking (atomic OR from vCPU threads). */
	struct dirty_bitmap written;
	atomic_bool tracking;
	/* Capture at write time (blk_log.h): logs[cur] fills, the other was taken. */
	pthread_mutex_t log_lock;
	bool capturing;
	unsigned cur;
	struct blk_log logs[2];
	struct outbuf_notify *notify;  /* the log's bound was reached */
};

int virtio_blk__parse(char *spec, struct disk_cfg *cfg, const char **err)
{
	char *comma = strrchr(spec, ',');

	*cfg = (struct disk_cfg){ spec, false };
	if (comma && !strcmp(comma + 1, "readonly")) {
		*comma = 0;
		cfg->readonly = true;
	}
	if (!*spec) {
		*err = "want PATH or PATH,readonly";
		return -EINVAL;
	}
	return 0;
}

static void config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_blk *b = dev;

	memcpy(data, (uint8_t *)&b->config + off, len);
}

struct io_ctx {
	struct virtio_blk *b;
	bool to_guest;
	uint64_t pos;           /* where in the image the next piece goes */
};

static int io_piece(void *opaque, uint8_t *p, uint64_t gpa, uint64_t len)
{
	struct io_ctx *io = opaque;

	for (uint64_t done = 0; done < len;) {
		ssize_t n = io->to_guest ? pread(io->b->fd, p + done, len - done, (off_t)io->pos)
					 : pwrite(io->b->fd, p + done, len - done, (off_t)io->pos);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		if (io->to_guest)
			dirty__mark(io->b->vm, gpa + done, n);
		done += n;
		io->pos += n;
	}
	return 0;
}

/*
 * Move the data part, [HDR_LEN, total - 1) of the chain, to or from the
 * image at pos.  Every buffer in it must go the right way and be in RAM.
 */
static int chain_io(struct virtio_blk *b, const struct virtq_chain *c, bool to_guest,
		    uint64_t pos)
{
	struct io_ctx io = { b, to_guest, pos };

	return virtq__chain_walk(c, HDR_LEN, c->total - 1 - HDR_LEN, to_guest, io_piece, &io);
}

/* After the write (a harvest that sees the mark then reads the new data). */
static void mark_written(struct virtio_blk *b, uint64_t pos, uint64_t bytes)
{
	atomic_store(&b->unsynced, true);
	if (!bytes || !atomic_load(&b->tracking))
		return;
	for (uint64_t blk = pos / VIRTIO_BLK_BLOCK; blk <= (pos + bytes - 1) / VIRTIO_BLK_BLOCK;
	     blk++)
		atomic_fetch_or((_Atomic uint64_t *)&b->written.bits[blk / 64], 1ULL << (blk % 64));
	pthread_mutex_lock(&b->log_lock);
	if (b->capturing && !blk_log__keep(&b->logs[b->cur], b->fd, virtio_blk__size(b), pos,
					   bytes, VIRTIO_BLK_BLOCK))
		outbuf_notify__fire(b->notify);
	pthread_mutex_unlock(&b->log_lock);
}

static uint8_t do_rw(struct virtio_blk *b, const struct virtq_chain *c, uint32_t type,
		     uint64_t sector, uint32_t *written)
{
	uint64_t bytes = c->total - HDR_LEN - 1;

	if (bytes % SECTOR || sector > b->capacity || bytes / SECTOR > b->capacity - sector)
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_OUT && b->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (chain_io(b, c, type == VIRTIO_BLK_T_IN, sector * SECTOR))
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_IN)
		*written += (uint32_t)bytes;
	else
		mark_written(b, sector * SECTOR, bytes);
	return VIRTIO_BLK_S_OK;
}

/* The id goes into the first data buffer, which must be device-writable. */
static uint8_t do_get_id(struct virtio_blk *b, const struct virtq_chain *c, uint32_t *written)
{
	uint64_t off = 0;

	for (unsigned i = 0; i < c->nr; i++) {
		const struct virtq_seg *s = &c->seg[i];
		uint64_t n;

		off += s->len;
		if (off <= HDR_LEN)
			continue;
		if (!s->write || !s->hva || off - s->len < HDR_LEN || i == c->nr - 1)
			return VIRTIO_BLK_S_IOERR;
		n = s->len < ID_LEN ? s->len : ID_LEN;
		memcpy(s->hva, b->id, n);
		dirty__mark(b->vm, s->gpa, n);
		*written += (uint32_t)n;
		return VIRTIO_BLK_S_OK;
	}
	return VIRTIO_BLK_S_IOERR;
}

static uint8_t do_request(struct virtio_blk *b, const struct virtq_chain *c, uint32_t *written)
{
	struct { uint32_t type, reserved; uint64_t sector; } hdr;

	if (c->nr_bad || c->total < HDR_LEN + 1 || c->total > UINT32_MAX ||
	    virtq__chain_read(c, 0, &hdr, sizeof(hdr)))
		return VIRTIO_BLK_S_IOERR;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return do_rw(b, c, hdr.type, hdr.sector, written);
	case VIRTIO_BLK_T_FLUSH:
		return virtio_blk__sync(b) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		return do_get_id(b, c, written);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* The status byte: the last byte of the last buffer, which must be writable. */
static struct virtq_seg *status_seg(struct virtq_chain *c)
{
	struct virtq_seg *s = c->nr ? &c->seg[c->nr - 1] : NULL;

	return s && s->write && s->hva && s->len ? s : NULL;
}

static void complete(struct virtio_blk *b, struct virtq_chain *c, uint8_t status,
		     uint32_t written)
{
	struct virtq_seg *s = status_seg(c);

	if (s) {
		((uint8_t *)s->hva)[s->len - 1] = status;
		dirty__mark(b->vm, s->gpa + s->len - 1, 1);
		written++;
	}
	if (virtq__push(&b->t.vq[0], &b->t.mem, c->head, written))
		virtio_mmio__needs_reset(&b->t, "the used ring is not in RAM");
}

static void notify(void *dev, struct virtio_mmio *t, unsigned q)
{
	struct virtio_blk *b = dev;
	struct virtq_chain *c = &b->chain;
	bool done = false;
	int r;

	while (!(t->status & VIRTIO_STATUS_NEEDS_RESET) &&
	       (r = virtq__pop(&t->vq[q], &t->mem, c)) != 0) {
		uint32_t written = 0;

		if (r < 0) {
			virtio_mmio__needs_reset(t, r == -EPROTO ? "the available ring is corrupt"
						 : "a descriptor chain is malformed (index, loop, "
						   "indirect)");
			break;
		}
		if (!status_seg(c)) {
			virtio_mmio__needs_reset(t, "a request has no writable status byte in RAM");
			break;
		}
		complete(b, c, do_request(b, c, &written), written);
		done = true;
	}
	if (done)
		virtio_mmio__interrupt(t);
}

static const struct virtio_mmio_ops blk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.nr_queues = 1,
	.config_len = sizeof(struct blk_config),
	.config_read = config_read,
	.notify = notify,
};

/*
 * The directory of a regular image, whose file system then also holds what
 * replaces its blocks; a block device's scratch goes to /var/tmp.
 */
static char *scratch_dir(const char *path, int fd)
{
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return strdup("/var/tmp");
	if (!slash)
		return strdup(".");
	return slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
}

static int open_image(struct virtio_blk *b, const struct disk_cfg *cfg, const char **err)
{
	off_t size;
	const char *base = strrchr(cfg->path, '/');

	b->fd = open(cfg->path, (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		*err = "cannot open the disk image";
		return -errno;
	}
	size = lseek(b->fd, 0, SEEK_END); /* works for block devices too */
	if (size < SECTOR) {
		*err = "the disk image is smaller than one 512-byte sector";
		return size < 0 ? -errno : -EINVAL;
	}
	b->capacity = (uint64_t)size / SECTOR;
	b->dir = scratch_dir(cfg->path, b->fd);
	if (!b->dir) {
		*err = "out of memory";
		return -ENOMEM;
	}
	/* The id: the image's file name, cut to 20 bytes (not NUL-terminated then). */
	base = base ? base + 1 : cfg->path;
	memcpy(b->id, base, strnlen(base, ID_LEN));
	return 0;
}

int virtio_blk__create(struct virtio_blk **out, struct vm *vm, const struct disk_cfg *cfg,
		       const char **err)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	uint64_t features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH;
	int ret;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->vm = vm;
	b->readonly = cfg->readonly;
	pthread_mutex_init(&b->log_lock, NULL);
	ret = open_image(b, cfg, err);
	if (ret)
		goto fail;
	ret = virtio_blk__bitmap_init(b, &b->written);
	if (ret)
		goto fail;
	b->config = (struct blk_config){ .capacity = b->capacity, .seg_max = SEG_MAX,
					 .blk_size = SECTOR };
	ret = virtio_mmio__init(&b->t, vm, &vm->mem, GUEST_ABI_VIRTIO_MMIO_BASE +
				GUEST_ABI_VIRTIO_BLK_SLOT * GUEST_ABI_VIRTIO_MMIO_STRIDE,
				GUEST_ABI_VIRTIO_BLK_IRQ, &blk_ops,
				features | (cfg->readonly ? VIRTIO_BLK_F_RO : 0), b);
	if (ret) {
		*err = "cannot register the virtio-blk window";
		goto fail_mmio;
	}
	*out = b;
	return 0;
fail_mmio:
	virtio_mmio__exit(&b->t);
fail:
	if (b->fd >= 0)
		close(b->fd);
	dirty_bitmap__free(&b->written);
	free(b->dir);
	free(b);
	return ret;
}

void virtio_blk__destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	if (virtio_blk__sync(b))
		qb_log(LOG_ERR, "virtio-blk: fdatasync of the image failed: %s", strerror(errno));
	virtio_mmio__exit(&b->t);
	close(b->fd);
	virtio_blk__capture(b, 0, NULL);
	pthread_mutex_destroy(&b->log_lock);
	dirty_bitmap__free(&b->written);
	free(b->dir);
	free(b);
}

void virtio_blk__reset(struct virtio_blk *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->t.lock);
	virtio_mmio__reset(&b->t);
	pthread_mutex_unlock(&b->t.lock);
}

int virtio_blk__save(struct virtio_blk *b, Vmm__State__VirtioBlkState *st)
{
	bool capturing;
	int ret;

	vmm__state__virtio_blk_state__init(st);
	st->transport = malloc(sizeof(*st->transport));
	if (!st->transport)
		return -ENOMEM;
	/*
	 * Whoever loads this state may open the image next: make it durable.
	 * Not in a checkpoint's pause: its engine, which keeps the log
	 * (capturing), syncs after the guest runs again, before the epoch's
	 * output leaves (vm_disk_ops.sync).
	 */
	pthread_mutex_lock(&b->log_lock);
	capturing = b->capturing;
	pthread_mutex_unlock(&b->log_lock);
	ret = capturing ? 0 : virtio_blk__sync(b);
	pthread_mutex_lock(&b->t.lock);
	if (!ret)
		ret = virtio_mmio__save(&b->t, st->transport);
	pthread_mutex_unlock(&b->t.lock);
	if (ret) {
		free(st->transport);
		st->transport = NULL;
		return ret;
	}
	st->capacity = b->capacity;
	st->readonly = b->readonly;
	return 0;
}

void virtio_blk__free_saved(Vmm__State__VirtioBlkState *st)
{
	if (!st->transport)
		return;
	virtio_mmio__free_saved(st->transport);
	free(st->transport);
	st->transport = NULL;
}

int virtio_blk__check_saved(const struct virtio_blk *b, const Vmm__State__VirtioBlkState *st,
			    const char **err)
{
	if (st->capacity != b->capacity) {
		*err = "the state stream was saved with a disk of another size";
		return -EINVAL;
	}
	if (st->readonly != b->readonly) {
		*err = "the state stream's disk differs in being read-only";
		return -EINVAL;
	}
	return 0;
}

void virtio_blk__load(struct virtio_blk *b, const Vmm__State__VirtioBlkState *st)
{
	virtio_mmio__load(&b->t, st->transport);
}

/* --- the image's contents (replication, local-disk migration) --------- */

uint64_t virtio_blk__size(const struct virtio_blk *b)
{
	return b->capacity * SECTOR;
}

uint64_t virtio_blk__nr_blocks(const struct virtio_blk *b)
{
	return (virtio_blk__size(b) + VIRTIO_BLK_BLOCK - 1) / VIRTIO_BLK_BLOCK;
}

bool virtio_blk__readonly(const struct virtio_blk *b)
{
	return b->readonly;
}

int virtio_blk__bitmap_init(const struct virtio_blk *b, struct dirty_bitmap *bm)
{
	_Static_assert(VIRTIO_BLK_BLOCK == MEM_PAGE_SIZE, "a block bitmap is a page bitmap");
	return dirty_bitmap__init(bm, virtio_blk__nr_blocks(b) * VIRTIO_BLK_BLOCK);
}

void virtio_blk__track(struct virtio_blk *b, bool on)
{
	if (on)
		dirty_bitmap__clear(&b->written);
	atomic_store(&b->tracking, on);
	/* The log keeps what tracking marks: no tracking, no log. */
	if (!on)
		virtio_blk__capture(b, 0, NULL);
}

static void capture_off(struct virtio_blk *b)
{
	b->capturing = false;
	b->notify = NULL;
	blk_log__free(&b->logs[0]);
	blk_log__free(&b->logs[1]);
}

int virtio_blk__capture(struct virtio_blk *b, uint64_t max_blocks, struct outbuf_notify *n)
{
	int ret = 0;

	/* Never more than the image has. */
	if (max_blocks > virtio_blk__nr_blocks(b))
		max_blocks = virtio_blk__nr_blocks(b);
	pthread_mutex_lock(&b->log_lock);
	capture_off(b);
	if (max_blocks && !(ret = blk_log__init(&b->logs[0], max_blocks, VIRTIO_BLK_BLOCK)) &&
	    (ret = blk_log__init(&b->logs[1], max_blocks, VIRTIO_BLK_BLOCK)))
		blk_log__free(&b->logs[0]);
	if (max_blocks && !ret) {
		b->cur = 0;
		b->notify = n;
		b->capturing = true;
	}
	pthread_mutex_unlock(&b->log_lock);
	return ret;
}

const struct vm_disk_log *virtio_blk__capture_take(struct virtio_blk *b)
{
	const struct vm_disk_log *taken = NULL;

	pthread_mutex_lock(&b->log_lock);
	if (b->capturing) {
		taken = &b->logs[b->cur].pub;
		b->cur ^= 1;
		blk_log__reset(&b->logs[b->cur]);
	}
	pthread_mutex_unlock(&b->log_lock);
	return taken;
}

bool virtio_blk__capture_full(struct virtio_blk *b)
{
	bool full;

	pthread_mutex_lock(&b->log_lock);
	full = b->capturing && atomic_load(&b->logs[b->cur].pub.overflow);
	pthread_mutex_unlock(&b->log_lock);
	return full;
}

void virtio_blk__harvest(struct virtio_blk *b, struct dirty_bitmap *out)
{
	uint64_t words = (b->written.nr_pages + 63) / 64;

	for (uint64_t i = 0; i < words && i * 64 < out->nr_pages; i++)
		out->bits[i] |= atomic_exchange((_Atomic uint64_t *)&b->written.bits[i], 0);
}

static bool in_image(const struct virtio_blk *b, uint64_t off, size_t len)
{
	return off <= virtio_blk__size(b) && len <= virtio_blk__size(b) - off;
}

/* All of len bytes at off, in as many calls as it takes; src NULL: zeros. */
static int image_io(struct virtio_blk *b, uint64_t off, void *dst, const void *src,
		    size_t len)
{
	static const uint8_t zero[VIRTIO_BLK_BLOCK];

	while (len) {
		size_t want = src || dst || len < sizeof(zero) ? len : sizeof(zero);
		ssize_t n = dst ? pread(b->fd, dst, want, (off_t)off)
				: pwrite(b->fd, src ? src : zero, want, (off_t)off);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		if (dst)
			dst = (uint8_t *)dst + n;
		if (src)
			src = (const uint8_t *)src + n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int virtio_blk__read(struct virtio_blk *b, uint64_t off, void *buf, size_t len)
{
	return in_image(b, off, len) ? image_io(b, off, buf, NULL, len) : -EINVAL;
}

int virtio_blk__write(struct virtio_blk *b, uint64_t off, const void *data, size_t len)
{
	if (b->readonly)
		return -EROFS;
	if (!in_image(b, off, len))
		return -EINVAL;
	atomic_store(&b->unsynced, true);
	/* A hole keeps a sparse image sparse; a block device gets zeros written. */
	if (!data && !fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				(off_t)len))
		return 0;
	return image_io(b, off, NULL, data, len);
}

int virtio_blk__sync(struct virtio_blk *b)
{
	/* Cleared first: a write during the fdatasync marks it again. */
	if (!atomic_exchange(&b->unsynced, false))
		return 0;
	if (!fdatasync(b->fd))
		return 0;
	atomic_store(&b->unsynced, true);
	return -errno;
}

int virtio_blk__drop_cache(struct virtio_blk *b, uint64_t off, uint64_t len)
{
	return -posix_fadvise(b->fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

int virtio_blk__digest(struct virtio_blk *b, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint64_t off = 0, size = virtio_blk__size(b);
	size_t chunk = 1u << 20;
	uint8_t *buf = malloc(chunk);
	unsigned n = 0;
	int ret = md && buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;

	while (!ret && off < size) {
		size_t len = size - off < chunk ? (size_t)(size - off) : chunk;

		ret = virtio_blk__read(b, off, buf, len);
		if (!ret && EVP_DigestUpdate(md, buf, len) != 1)
			ret = -EIO;
		off += len;
	}
	if (!ret && (EVP_DigestFinal_ex(md, out, &n) != 1 || n != 32))
		ret = -EIO;
	EVP_MD_CTX_free(md);
	free(buf);
	return ret;
}

int virtio_blk__scratch(const struct virtio_blk *b)
{
	char tmpl[PATH_MAX];
	int fd = open(b->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd >= 0 ? fd : -errno;
	/* A file system without O_TMPFILE: a named file, unlinked at once. */
	if (snprintf(tmpl, sizeof(tmpl), "%s/.vmm-scratch-XXXXXX", b->dir) >= (int)sizeof(tmpl))
		return -ENAMETOOLONG;
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(tmpl);
	return fd;
}
