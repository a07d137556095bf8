/*
 * virtio-mmio version 2 (see virtio_mmio.h).  Register offsets are the
 * spec's (4.2.2).  Registers are 32 bits wide and accessed aligned; the
 * config space takes any width.  A driver that breaks the protocol (a bad
 * queue, a bad notify index) gets DEVICE_NEEDS_RESET, never a crash.
 */
#include "config.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <qb/qblog.h>

#include "vmm/dirty.h"
#include "vmm/guest_abi.h"
#include "vmm/iotrap.h"
#include "vmm/virtio_mmio.h"
#include "vmm/vm.h"

#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_VENDOR_ID 0x00c
#define REG_DEV_FEATURES 0x010
#define REG_DEV_FEATURES_SEL 0x014
#define REG_DRV_FEATURES 0x020
#define REG_DRV_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INT_STATUS 0x060
#define REG_INT_ACK 0x064
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LO 0x080
#define REG_QUEUE_DESC_HI 0x084
#define REG_QUEUE_AVAIL_LO 0x090
#define REG_QUEUE_AVAIL_HI 0x094
#define REG_QUEUE_USED_LO 0x0a0
#define REG_QUEUE_USED_HI 0x0a4
#define REG_CONFIG_GEN 0x0fc
#define REG_CONFIG 0x100

#define MMIO_MAGIC 0x74726976 /* "virt" */
#define MMIO_VERSION 2
#define VENDOR_ID 0x48415356  /* "VSAH": this project's */

static void set_irq_line(struct virtio_mmio *t)
{
	int level = t->isr != 0;
	struct kvm_irq_level irq = { .irq = t->irq, .level = (uint32_t)level };

	if (level == t->irq_level || !t->vm)
		return;
	t->irq_level = level;
	/* No in-kernel irqchip (ENXIO): the guest can only poll, which is fine. */
	ioctl(t->vm->vm_fd, KVM_IRQ_LINE, &irq);
}

void virtio_mmio__interrupt(struct virtio_mmio *t)
{
	t->isr |= VIRTIO_MMIO_INT_VRING;
	set_irq_line(t);
}

void virtio_mmio__needs_reset(struct virtio_mmio *t, const char *why)
{
	/* Once per reset of the device, and a guest may reset it in a loop. */
	if (!(t->status & VIRTIO_STATUS_NEEDS_RESET))
		ratelimit_log(&t->log, LOG_WARNING, "virtio device %u at 0x%llx needs a reset: %s",
			      t->ops->device_id, (unsigned long long)t->base, why);
	t->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (t->status & VIRTIO_STATUS_DRIVER_OK) {
		t->isr |= VIRTIO_MMIO_INT_CONFIG;
		set_irq_line(t);
	}
}

bool virtio_mmio__has_feature(const struct virtio_mmio *t, uint64_t f)
{
	return (t->driver_features & f) == f;
}

void virtio_mmio__reset(struct virtio_mmio *t)
{
	t->status = 0;
	t->driver_features = 0;
	t->dev_feat_sel = t->drv_feat_sel = t->queue_sel = 0;
	t->isr = 0;
	memset(t->vq, 0, sizeof(t->vq));
	set_irq_line(t);
}

static void mark_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
	dirty__mark(opaque, gpa, len);
}

/* The config space is read-only for the features we offer: writes are dropped. */
static void config_access(struct virtio_mmio *t, uint64_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	if (is_write)
		return;
	if (off < t->ops->config_len && len <= t->ops->config_len - off)
		t->ops->config_read(t->dev, (uint32_t)off, data, len);
	else
		memset(data, 0, len);
}

static void mmio_io(struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		    bool is_write, void *opaque)
{
	struct virtio_mmio *t = opaque;

	virtio_mmio__access(t, addr - t->base, data, len, is_write);
}

int virtio_mmio__init(struct virtio_mmio *t, struct vm *vm, struct vm_mem *mem,
		      uint64_t base, unsigned irq, const struct virtio_mmio_ops *ops,
		      uint64_t features, void *dev)
{
	memset(t, 0, sizeof(*t));
	t->vm = vm;
	t->mem = (struct virtq_mem){ mem, vm ? mark_dirty : NULL, vm };
	t->base = base;
	t->irq = irq;
	t->ops = ops;
	t->dev = dev;
	t->features = features | VIRTIO_F_VERSION_1;
	t->irq_level = -1;
	pthread_mutex_init(&t->lock, NULL);
	ratelimit__init(&t->log, RATELIMIT_GUEST_BURST, RATELIMIT_GUEST_PER_SEC);
	if (!vm)
		return 0;
	return iotrap__register(&vm->io, IOTRAP_MMIO, base, GUEST_ABI_VIRTIO_MMIO_SIZE, mmio_io,
				t);
}

void virtio_mmio__exit(struct virtio_mmio *t)
{
	pthread_mutex_destroy(&t->lock);
	ratelimit__destroy(&t->log);
}

static struct virtq *cur_queue(struct virtio_mmio *t)
{
	return t->queue_sel < t->ops->nr_queues ? &t->vq[t->queue_sel] : NULL;
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtq *vq = cur_queue(t);

	switch (off) {
	case REG_MAGIC: return MMIO_MAGIC;
	case REG_VERSION: return MMIO_VERSION;
	case REG_DEVICE_ID: return t->ops->device_id;
	case REG_VENDOR_ID: return VENDOR_ID;
	case REG_DEV_FEATURES:
		return t->dev_feat_sel < 2 ? (uint32_t)(t->features >> (32 * t->dev_feat_sel)) : 0;
	case REG_QUEUE_NUM_MAX: return vq ? VIRTQ_MAX_SIZE : 0;
	case REG_QUEUE_READY: return vq ? vq->ready : 0;
	case REG_INT_STATUS: return t->isr;
	case REG_STATUS: return t->status;
	case REG_CONFIG_GEN: return t->config_gen;
	default: return 0; /* write-only or reserved */
	}
}

/* FEATURES_OK sticks only for a subset of what we offer that includes VERSION_1. */
static void write_status(struct virtio_mmio *t, uint32_t v)
{
	if (!v) {
		virtio_mmio__reset(t);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(t->status & VIRTIO_STATUS_FEATURES_OK) &&
	    ((t->driver_features & ~t->features) || !(t->driver_features & VIRTIO_F_VERSION_1)))
		v &= ~VIRTIO_STATUS_FEATURES_OK;
	/* NEEDS_RESET is the device's to set, and only a reset clears it. */
	t->status = (v & 0xff & ~VIRTIO_STATUS_NEEDS_RESET) |
		    (t->status & VIRTIO_STATUS_NEEDS_RESET);
	if (t->ops->status)
		t->ops->status(t->dev, t);
}

static void set_half(uint64_t *v, bool high, uint32_t x)
{
	*v = high ? (*v & 0xffffffffULL) | ((uint64_t)x << 32) : (*v & ~0xffffffffULL) | x;
}

static void write_queue_ready(struct virtio_mmio *t, struct virtq *vq, uint32_t v)
{
	if (!v) {
		vq->ready = false;
		return;
	}
	if (virtq__check(vq, t->mem.mem)) {
		virtio_mmio__needs_reset(t, "a queue was made ready with a bad size or rings "
					    "outside RAM");
		return;
	}
	vq->ready = true;
}

static void notify(struct virtio_mmio *t, uint32_t q)
{
	if (q >= t->ops->nr_queues) {
		virtio_mmio__needs_reset(t, "notify names a queue that does not exist");
		return;
	}
	if (!(t->status & VIRTIO_STATUS_DRIVER_OK) || (t->status & VIRTIO_STATUS_NEEDS_RESET) ||
	    !t->vq[q].ready)
		return;
	t->ops->notify(t->dev, t, q);
}

/* Queue registers take writes only while the queue is not ready (spec 4.2.2.3). */
static void write_queue_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtq *vq = cur_queue(t);

	if (!vq || (vq->ready && off != REG_QUEUE_READY))
		return;
	switch (off) {
	case REG_QUEUE_NUM: vq->size = v > 0xffff ? 0 : (uint16_t)v; break;
	case REG_QUEUE_READY: write_queue_ready(t, vq, v); break;
	case REG_QUEUE_DESC_LO: case REG_QUEUE_DESC_HI:
		set_half(&vq->desc, off == REG_QUEUE_DESC_HI, v); break;
	case REG_QUEUE_AVAIL_LO: case REG_QUEUE_AVAIL_HI:
		set_half(&vq->avail, off == REG_QUEUE_AVAIL_HI, v); break;
	case REG_QUEUE_USED_LO: case REG_QUEUE_USED_HI:
		set_half(&vq->used, off == REG_QUEUE_USED_HI, v); break;
	}
}

static void write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	switch (off) {
	case REG_DEV_FEATURES_SEL: t->dev_feat_sel = v; break;
	case REG_DRV_FEATURES_SEL: t->drv_feat_sel = v; break;
	case REG_DRV_FEATURES:
		if (t->drv_feat_sel < 2 && !(t->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&t->driver_features, t->drv_feat_sel == 1, v);
		break;
	case REG_QUEUE_SEL: t->queue_sel = v; break;
	case REG_QUEUE_NOTIFY: notify(t, v); break;
	case REG_INT_ACK:
		t->isr &= ~v;
		set_irq_line(t);
		break;
	case REG_STATUS: write_status(t, v); break;
	default: write_queue_reg(t, off, v); break;
	}
}

void virtio_mmio__access(struct virtio_mmio *t, uint64_t off, uint8_t *data, uint32_t len,
			 bool is_write)
{
	uint32_t v = 0;

	pthread_mutex_lock(&t->lock);
	if (off >= REG_CONFIG) {
		config_access(t, off - REG_CONFIG, data, len, is_write);
	} else if (len != 4 || off % 4) {
		if (!is_write) /* the spec allows only aligned 32-bit register access */
			memset(data, 0, len);
	} else if (is_write) {
		memcpy(&v, data, 4);
		write_reg(t, off, v);
	} else {
		v = read_reg(t, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&t->lock);
}

int virtio_mmio__save(struct virtio_mmio *t, Vmm__State__VirtioMmioState *st)
{
	unsigned n = t->ops->nr_queues;

	vmm__state__virtio_mmio_state__init(st);
	st->queues = calloc(n, sizeof(*st->queues));
	if (!st->queues)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		Vmm__State__VirtqState *q = calloc(1, sizeof(*q));

		if (!q) {
			virtio_mmio__free_saved(st);
			return -ENOMEM;
		}
		vmm__state__virtq_state__init(q);
		q->size = t->vq[i].size;
		q->ready = t->vq[i].ready;
		q->desc = t->vq[i].desc;
		q->avail = t->vq[i].avail;
		q->used = t->vq[i].used;
		q->last_avail = t->vq[i].last_avail;
		q->used_idx = t->vq[i].used_idx;
		st->queues[st->n_queues++] = q;
	}
	st->status = t->status;
	st->driver_features = t->driver_features;
	st->device_features_sel = t->dev_feat_sel;
	st->driver_features_sel = t->drv_feat_sel;
	st->queue_sel = t->queue_sel;
	st->interrupt_status = t->isr;
	st->config_generation = t->config_gen;
	return 0;
}

void virtio_mmio__free_saved(Vmm__State__VirtioMmioState *st)
{
	for (size_t i = 0; i < st->n_queues; i++)
		free(st->queues[i]);
	free(st->queues);
	st->queues = NULL;
	st->n_queues = 0;
}

void virtio_mmio__load(struct virtio_mmio *t, const Vmm__State__VirtioMmioState *st)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < st->n_queues && i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		const Vmm__State__VirtqState *q = st->queues[i];

		t->vq[i] = (struct virtq){ .size = (uint16_t)q->size, .ready = q->ready,
					   .desc = q->desc, .avail = q->avail, .used = q->used,
					   .last_avail = (uint16_t)q->last_avail,
					   .used_idx = (uint16_t)q->used_idx };
	}
	t->status = st->status;
	t->driver_features = st->driver_features;
	t->dev_feat_sel = st->device_features_sel;
	t->drv_feat_sel = st->driver_features_sel;
	t->queue_sel = st->queue_sel;
	t->isr = st->interrupt_status;
	t->config_gen = st->config_generation;
	/* A ready queue whose rings are not in this VM's RAM cannot be used. */
	for (unsigned i = 0; i < t->ops->nr_queues; i++) {
		if (t->vq[i].ready && virtq__check(&t->vq[i], t->mem.mem)) {
			t->vq[i].ready = false;
			virtio_mmio__needs_reset(t, "a restored queue's rings are not in RAM");
		}
	}
	t->irq_level = -1; /* force the line to the restored level */
	set_irq_line(t);
	pthread_mutex_unlock(&t->lock);
}
