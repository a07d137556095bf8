/*
 * The test guests' polling virtio-blk driver (block.c, counter.c with
 * disk=1): one queue of QSIZE entries whose rings, request header and
 * status byte live at fixed guest-physical addresses, one request at a
 * time.  The includer sets regs to the device's window (virtio.h) and
 * vblk_map() the rings before dev_init().
 */
#ifndef TESTS_GUESTS_VBLK_H
#define TESTS_GUESTS_VBLK_H

#include "guest.h"
#include "virtio.h"

#define MiB (1ULL << 20)
#define QSIZE 16
#define RINGS (16 * MiB)             /* desc, avail +4K, used +8K     */
#define HDRS (RINGS + 0x3000)        /* request header and status     */
#define DATA (17 * MiB)              /* data buffers: a 16 MiB window  */

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8

struct hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static struct desc *dtab;
static volatile uint16_t *avail; /* flags, idx, ring[QSIZE] */
static volatile uint16_t *used;  /* flags, idx, then {id, len} pairs as u32 */
static uint16_t avail_idx, used_seen;

/* The device of slot in regs, its rings at RINGS. */
static inline void vblk_map(unsigned slot)
{
	regs = (volatile uint32_t *)(uintptr_t)(GUEST_ABI_VIRTIO_MMIO_BASE +
						 slot * GUEST_ABI_VIRTIO_MMIO_STRIDE);
	dtab = (struct desc *)(uintptr_t)RINGS;
	avail = (volatile uint16_t *)(uintptr_t)(RINGS + 0x1000);
	used = (volatile uint16_t *)(uintptr_t)(RINGS + 0x2000);
}

/* Reset and bring the device up with one queue of qsize entries at rings. */
static bool dev_init(uint32_t qsize, uint64_t rings)
{
	if (!vio_negotiate(1u << 9)) /* VIRTIO_BLK_F_FLUSH */
		return false;
	wr(R_QUEUE_SEL, 0);
	if (rd(R_QUEUE_NUM_MAX) < QSIZE)
		return false;
	wr(R_QUEUE_NUM, qsize);
	wr64(R_DESC, rings);
	wr64(R_AVAIL, rings + 0x1000);
	wr64(R_USED, rings + 0x2000);
	if (mem_range_is_ram(rings, 0x3000)) /* the bad cases give rings outside RAM */
		memset((void *)(uintptr_t)rings, 0, 0x3000);
	wr(R_QUEUE_READY, 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	avail_idx = used_seen = 0;
	return rd(R_QUEUE_READY) == 1 && !(rd(R_STATUS) & S_NEEDS_RESET);
}

/* Publish head and notify; the vmm completes it before the write returns. */
static void kick(uint16_t head)
{
	avail[2 + avail_idx % QSIZE] = head;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	avail[1] = ++avail_idx;
	wr(R_QUEUE_NOTIFY, 0);
}

/* Wait (poll) for the used ring to move; false after 1 s. */
static bool wait_used(uint32_t *len)
{
	uint64_t end = rdtsc() + us_to_tsc(1000000);

	while (used[1] == used_seen) {
		if (rdtsc() > end)
			return false;
		cpu_relax();
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	*len = ((volatile uint32_t *)(used + 2))[2 * (used_seen % QSIZE) + 1];
	used_seen++;
	return true;
}

/* A well-formed 3-descriptor request; returns the status byte (0xff: none). */
static uint8_t request(uint32_t type, uint64_t sector, uint64_t buf, uint32_t len)
{
	struct hdr *h = (struct hdr *)(uintptr_t)HDRS;
	volatile uint8_t *st = (uint8_t *)(uintptr_t)(HDRS + 64);
	uint32_t ulen;

	*h = (struct hdr){ type, 0, sector };
	*st = 0xff;
	dtab[0] = (struct desc){ HDRS, sizeof(*h), F_NEXT, 1 };
	dtab[1] = (struct desc){ buf, len, F_NEXT | (type == T_OUT ? 0 : F_WRITE), 2 };
	dtab[2] = (struct desc){ HDRS + 64, 1, F_WRITE, 0 };
	kick(0);
	if (!wait_used(&ulen))
		return 0xfe;
	return *st;
}

#endif
