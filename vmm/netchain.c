/* See netchain.h. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "vmm/netchain.h"

/* Every descriptor goes the same way (write: device-writable) and is in RAM. */
static int check_all(const struct virtq_chain *c, bool write)
{
	if (c->nr_bad)
		return -EINVAL;
	for (unsigned i = 0; i < c->nr; i++)
		if (c->seg[i].write != write)
			return -EINVAL;
	return 0;
}

int netchain__tx(const struct virtq_chain *c, uint8_t *frame)
{
	uint64_t skip = NETCHAIN_HDR_LEN;
	size_t len = 0;

	if (check_all(c, false) || c->total < NETCHAIN_HDR_LEN ||
	    c->total - NETCHAIN_HDR_LEN > NETCHAIN_MAX_FRAME)
		return -EINVAL;
	for (unsigned i = 0; i < c->nr; i++) {
		const struct virtq_seg *s = &c->seg[i];
		uint64_t n = s->len;
		const uint8_t *p = s->hva;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		/* Copied once: the guest may rewrite the buffer while we send it. */
		memcpy(frame + len, p + skip, n - skip);
		len += n - skip;
		skip = 0;
	}
	return (int)len;
}

/* Copy src to the chain from byte offset off on, marking what was written. */
static void put(const struct virtq_chain *c, const struct virtq_mem *m, uint64_t off,
		const uint8_t *src, size_t len)
{
	for (unsigned i = 0; i < c->nr && len; i++) {
		const struct virtq_seg *s = &c->seg[i];
		uint64_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off < len ? s->len - off : len;
		memcpy((uint8_t *)s->hva + off, src, n);
		if (m->dirty)
			m->dirty(m->opaque, s->gpa + off, n);
		src += n;
		len -= n;
		off = 0;
	}
}

int netchain__rx(const struct virtq_chain *c, const struct virtq_mem *m, const uint8_t *frame,
		 size_t len)
{
	/* flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers */
	static const uint8_t hdr[NETCHAIN_HDR_LEN] = { [10] = 1 };

	if (check_all(c, true))
		return -EINVAL;
	if (c->total < NETCHAIN_HDR_LEN + len)
		return -ENOSPC;
	put(c, m, 0, hdr, sizeof(hdr));
	put(c, m, NETCHAIN_HDR_LEN, frame, len);
	return (int)(NETCHAIN_HDR_LEN + len);
}
