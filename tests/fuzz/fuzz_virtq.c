/*
 * libFuzzer target: the split-virtqueue walker (vmm/virtq.c) on rings the
 * input fills.  Input: byte 0 picks the queue size (a power of 2 up to 256),
 * bytes 1-2 the device's last_avail and used index, byte 3 how many
 * requests to take; the rest is copied over the descriptor table, the
 * available ring and the used ring, laid out back to back in a bare 2 MiB
 * struct vm_mem.  Every segment the walker accepts must lie in RAM.
 * Every chain taken is also parsed as a virtio-net transmit chain and
 * filled as a receive buffer (vmm/netchain.c): a frame taken from it is
 * never longer than the limit, and a fill never writes outside RAM.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/mem.h"
#include "vmm/netchain.h"
#include "vmm/virtq.h"

#define MEM_SIZE (2ULL << 20)
#define RINGS 0x1000ULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vm_mem mem;
static struct virtq_chain chain;
static uint8_t frame[NETCHAIN_MAX_FRAME];

/* The network parsers on the same chain: bounded, and only into RAM. */
static void check_net(const struct virtq_chain *c, const struct virtq_mem *m)
{
	int len = netchain__tx(c, frame);
	int w;

	if (len > NETCHAIN_MAX_FRAME || (len >= 0 && (uint64_t)len + NETCHAIN_HDR_LEN != c->total))
		abort();
	w = netchain__rx(c, m, frame, len > 0 ? (size_t)len % 1600 : 60);
	if (w > 0 && (uint64_t)w > c->total)
		abort();
}

static void check_chain(const struct virtq *vq, const struct virtq_chain *c)
{
	if (c->nr > vq->size || c->head >= vq->size)
		abort();
	for (unsigned i = 0; i < c->nr; i++) {
		const uint8_t *p = c->seg[i].hva;

		if (p && (p < mem.host || p + c->seg[i].len > mem.host + MEM_SIZE))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtq vq = { 0 };
	struct virtq_mem m = { &mem, NULL, NULL };
	uint64_t room;

	if (!mem.host && mem__init(&mem, MEM_SIZE))
		abort();
	if (size < 4)
		return 0;
	vq.size = (uint16_t)(1u << (data[0] % 9));
	vq.desc = RINGS;
	vq.avail = RINGS + 16ULL * vq.size;
	vq.used = (vq.avail + 6 + 2ULL * vq.size + 3) & ~3ULL;
	vq.last_avail = vq.used_idx = (uint16_t)(data[1] | data[2] << 8);
	if (virtq__check(&vq, &mem))
		abort(); /* the layout above is always valid */
	vq.ready = true;
	room = MEM_SIZE - RINGS;
	memset(mem.host + RINGS, 0, 64 * 1024);
	memcpy(mem.host + RINGS, data + 4, size - 4 < room ? size - 4 : room);
	for (unsigned n = 0; n < data[3]; n++) {
		int r = virtq__pop(&vq, &m, &chain);

		if (r <= 0)
			break;
		check_chain(&vq, &chain);
		check_net(&chain, &m);
		if (virtq__push(&vq, &m, chain.head, (uint32_t)chain.total))
			abort();
	}
	return 0;
}
