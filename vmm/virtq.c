/*
 * Split virtqueue parsing (see virtq.h).  The host is x86-64, so the rings'
 * little-endian fields are read as they are.
 *
 * Layout (virtio 1.x, 2.7): descriptor table of size x 16 bytes
 * {addr le64, len le32, flags le16, next le16}; available ring
 * {flags, idx, ring[size], used_event} of le16; used ring {flags le16,
 * idx le16, {id le32, len le32}[size], avail_event le16}.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "vmm/mem.h"
#include "vmm/virtq.h"

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static uint64_t avail_bytes(uint16_t size)
{
	return 4 + 2ULL * size + 2;
}

static uint64_t used_bytes(uint16_t size)
{
	return 4 + 8ULL * size + 2;
}

int virtq__check(const struct virtq *vq, const struct vm_mem *mem)
{
	uint16_t n = vq->size;

	if (!n || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return -EINVAL;
	if (vq->desc % 16 || vq->avail % 2 || vq->used % 4)
		return -EINVAL;
	if (!mem__gpa_to_hva(mem, vq->desc, 16ULL * n) ||
	    !mem__gpa_to_hva(mem, vq->avail, avail_bytes(n)) ||
	    !mem__gpa_to_hva(mem, vq->used, used_bytes(n)))
		return -EINVAL;
	return 0;
}

/* The rings were checked by virtq__check; RAM does not shrink. */
static void *ring(const struct vm_mem *mem, uint64_t gpa, uint64_t off, uint64_t len)
{
	return mem__gpa_to_hva(mem, gpa + off, len);
}

static uint16_t avail_idx(const struct virtq *vq, const struct vm_mem *mem)
{
	uint16_t *p = ring(mem, vq->avail, 2, 2);

	/* Acquire: the entries and descriptors are read after the index. */
	return p ? __atomic_load_n(p, __ATOMIC_ACQUIRE) : vq->last_avail;
}

bool virtq__has_work(const struct virtq *vq, const struct vm_mem *mem)
{
	return vq->ready && avail_idx(vq, mem) != vq->last_avail;
}

static int read_desc(const struct virtq *vq, const struct vm_mem *mem, uint16_t i,
		     struct vdesc *d)
{
	/* One copy: the guest may rewrite the descriptor while we look at it. */
	return mem__read(mem, vq->desc + 16ULL * i, d, sizeof(*d));
}

static int add_seg(struct virtq_chain *c, const struct vm_mem *mem, const struct vdesc *d)
{
	struct virtq_seg *s = &c->seg[c->nr];

	if (d->flags & VIRTQ_DESC_F_INDIRECT)
		return -EINVAL; /* VIRTIO_F_INDIRECT_DESC is not offered */
	s->hva = mem__gpa_to_hva(mem, d->addr, d->len);
	if (!s->hva)
		c->nr_bad++;
	s->gpa = d->addr;
	s->len = d->len;
	s->write = d->flags & VIRTQ_DESC_F_WRITE;
	c->total += d->len;
	c->nr++;
	return 0;
}

/*
 * Follow the chain from c->head.  With at most size distinct descriptors,
 * a chain longer than the queue must revisit one: that is the loop check.
 */
static int walk(const struct virtq *vq, const struct vm_mem *mem, struct virtq_chain *c)
{
	uint16_t i = c->head;
	struct vdesc d;

	for (;;) {
		if (i >= vq->size || c->nr >= vq->size)
			return -EINVAL;
		if (read_desc(vq, mem, i, &d) || add_seg(c, mem, &d))
			return -EINVAL;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

int virtq__pop(struct virtq *vq, const struct virtq_mem *m, struct virtq_chain *c)
{
	uint16_t idx, *slot;

	if (!vq->ready)
		return 0;
	idx = avail_idx(vq, m->mem);
	if (idx == vq->last_avail)
		return 0;
	if ((uint16_t)(idx - vq->last_avail) > vq->size)
		return -EPROTO;
	slot = ring(m->mem, vq->avail, 4 + 2ULL * (vq->last_avail % vq->size), 2);
	if (!slot)
		return -EPROTO;
	c->head = __atomic_load_n(slot, __ATOMIC_RELAXED);
	c->nr = 0;
	c->nr_bad = 0;
	c->total = 0;
	if (c->head >= vq->size)
		return -EPROTO;
	vq->last_avail++;
	return walk(vq, m->mem, c) ? -EINVAL : 1;
}

int virtq__push(struct virtq *vq, const struct virtq_mem *m, uint16_t head, uint32_t len)
{
	uint64_t off = 4 + 8ULL * (vq->used_idx % vq->size);
	uint32_t elem[2] = { head, len };
	uint16_t *idx = ring(m->mem, vq->used, 2, 2);
	void *e = ring(m->mem, vq->used, off, sizeof(elem));

	if (!idx || !e)
		return -EFAULT;
	memcpy(e, elem, sizeof(elem));
	vq->used_idx++;
	/* Release: a guest polling used->idx then sees the element. */
	__atomic_store_n(idx, vq->used_idx, __ATOMIC_RELEASE);
	if (m->dirty) {
		m->dirty(m->opaque, vq->used + off, sizeof(elem));
		m->dirty(m->opaque, vq->used + 2, 2);
	}
	return 0;
}

int virtq__chain_walk(const struct virtq_chain *c, uint64_t off, uint64_t len, bool write,
		      virtq_piece_fn *fn, void *opaque)
{
	for (unsigned i = 0; i < c->nr && len; i++) {
		const struct virtq_seg *s = &c->seg[i];
		uint64_t n;
		int ret;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		if (s->write != write || !s->hva)
			return -EINVAL;
		n = s->len - off < len ? s->len - off : len;
		ret = fn(opaque, (uint8_t *)s->hva + off, s->gpa + off, n);
		if (ret)
			return ret;
		len -= n;
		off = 0;
	}
	return len ? -EINVAL : 0;
}

static int read_piece(void *opaque, uint8_t *p, uint64_t gpa, uint64_t n)
{
	uint8_t **dst = opaque;

	(void)gpa;
	memcpy(*dst, p, n);
	*dst += n;
	return 0;
}

int virtq__chain_read(const struct virtq_chain *c, uint64_t off, void *dst, uint64_t len)
{
	uint8_t *d = dst;

	return virtq__chain_walk(c, off, len, false, read_piece, &d);
}

struct write_ctx {
	const struct virtq_mem *m;
	const uint8_t *src;
};

static int write_piece(void *opaque, uint8_t *p, uint64_t gpa, uint64_t n)
{
	struct write_ctx *w = opaque;

	memcpy(p, w->src, n);
	if (w->m->dirty)
		w->m->dirty(w->m->opaque, gpa, n);
	w->src += n;
	return 0;
}

int virtq__chain_write(const struct virtq_chain *c, const struct virtq_mem *m, uint64_t off,
		       const void *src, uint64_t len)
{
	struct write_ctx w = { m, src };

	return virtq__chain_walk(c, off, len, true, write_piece, &w);
}
