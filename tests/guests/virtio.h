/*
 * What the test guests' virtio drivers (block.c, net.c) share: the
 * virtio-mmio v2 register offsets and status bits (virtio 1.x, 4.2.2), the
 * split-ring descriptor, and register access to the one device a guest
 * drives (regs, set by the guest to its slot's window).
 */
#ifndef TESTS_GUESTS_VIRTIO_H
#define TESTS_GUESTS_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_DEV_FEAT 0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT 0x020
#define R_DRV_FEAT_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_STATUS 0x070
#define R_DESC 0x080
#define R_AVAIL 0x090
#define R_USED 0x0a0
#define R_CONFIG 0x100

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static volatile uint32_t *regs;

static inline uint32_t rd(unsigned off)
{
	return regs[off / 4];
}

static inline void wr(unsigned off, uint32_t v)
{
	regs[off / 4] = v;
}

static inline void wr64(unsigned off, uint64_t v)
{
	wr(off, (uint32_t)v);
	wr(off + 4, (uint32_t)(v >> 32));
}

/*
 * Reset the device and negotiate VERSION_1 plus those of the wanted low
 * feature bits the device offers; false when it refuses (no FEATURES_OK).
 */
static inline bool vio_negotiate(uint32_t wanted)
{
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DEV_FEAT_SEL, 1);
	if (!(rd(R_DEV_FEAT) & 1)) /* VIRTIO_F_VERSION_1 */
		return false;
	wr(R_DEV_FEAT_SEL, 0);
	wr(R_DRV_FEAT_SEL, 0);
	wr(R_DRV_FEAT, rd(R_DEV_FEAT) & wanted);
	wr(R_DRV_FEAT_SEL, 1);
	wr(R_DRV_FEAT, 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	return rd(R_STATUS) & S_FEATURES_OK;
}

#endif
