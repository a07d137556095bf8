/* See netchain.h. */
#include "config.h"

#include <errno.h>

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
	if (check_all(c, false) || c->total < NETCHAIN_HDR_LEN ||
	    c->total - NETCHAIN_HDR_LEN > NETCHAIN_MAX_FRAME)
		return -EINVAL;
	/* Copied once: the guest may rewrite the buffer while we send it. */
	if (virtq__chain_read(c, NETCHAIN_HDR_LEN, frame, c->total - NETCHAIN_HDR_LEN))
		return -EINVAL;
	return (int)(c->total - NETCHAIN_HDR_LEN);
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
	/* Cannot fail: every buffer is writable and in RAM, and there is room. */
	virtq__chain_write(c, m, 0, hdr, sizeof(hdr));
	virtq__chain_write(c, m, NETCHAIN_HDR_LEN, frame, len);
	return (int)(NETCHAIN_HDR_LEN + len);
}
