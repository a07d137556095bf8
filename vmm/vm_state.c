/*
 * Whole-VM save and load (docs/state-format.md).  Record order in a stream:
 * header, vcpu 0..N-1, irqchip, pit, clock, serial, rtc, acpi_pm, virtio_blk,
 * virtio_net, RAM page frames, end.
 *
 * Load reads the whole stream into a staging area, verifies all of it
 * (vm_state_parse.c) and checks it against the VM before the first change
 * to the VM, so a refused stream leaves the VM as it was.
 */
#include "config.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "vmm/acpi_pm.h"
#include "vmm/dirty.h"
#include "vmm/rtc.h"
#include "vmm/serial.h"
#include "vmm/stream.h"
#include "vmm/timens.h"
#include "vmm/vcpu.h"
#include "vmm/vcpu_state.h"
#include "vmm/virtio_blk.h"
#include "vmm/virtio_net.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"

_Static_assert(VM_STATE_MAX_VCPUS == VM_MAX_VCPUS, "the parser's vCPU bound must be the VM's");
_Static_assert(MEM_PAGE_SIZE == STREAM_PAGE_SIZE, "pages are pages");
_Static_assert(VM_STATE_RTC_CMOS_LEN == RTC_NR_REGS, "the parser's CMOS size must be the RTC's");

static int save_header(struct vm *vm, struct stream *s)
{
	Vmm__State__Header h = VMM__STATE__HEADER__INIT;

	h.mem_size = vm->mem.size;
	h.nr_vcpus = vm->nr_vcpus;
	h.producer = PACKAGE_NAME " " PACKAGE_VERSION;
	h.created_unix_ns = timens__now(CLOCK_REALTIME);
	return stream__write_record(s, "header", VM_STATE_HEADER_VERSION, 0, &h.base);
}

static int save_vcpus(struct vm *vm, struct stream *s)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		Vmm__State__VcpuState *st;
		int ret = vcpu_state__save(&vm->vcpus[i], &st);

		if (ret)
			return ret;
		ret = stream__write_record(s, "vcpu", VCPU_STATE_VERSION, i, &st->base);
		vmm__state__vcpu_state__free_unpacked(st, NULL);
		if (ret)
			return ret;
	}
	return 0;
}

/* PIC master, PIC slave, IOAPIC; nothing when the VM has no in-kernel irqchip. */
static int save_irqchip(struct vm *vm, struct stream *s)
{
	Vmm__State__IrqchipState m = VMM__STATE__IRQCHIP_STATE__INIT;
	Vmm__State__IrqchipState__Chip chips[3], *ptrs[3];
	struct kvm_irqchip kc[3];

	for (unsigned i = 0; i < 3; i++) {
		memset(&kc[i], 0, sizeof(kc[i]));
		kc[i].chip_id = i;
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &kc[i]) < 0)
			return errno == ENXIO ? 0 : -errno;
		vmm__state__irqchip_state__chip__init(&chips[i]);
		chips[i].id = i;
		chips[i].data.data = (uint8_t *)&kc[i].chip;
		chips[i].data.len = sizeof(kc[i].chip);
		ptrs[i] = &chips[i];
	}
	m.chips = ptrs;
	m.n_chips = 3;
	return stream__write_record(s, "irqchip", VM_STATE_IRQCHIP_VERSION, 0, &m.base);
}

static int save_pit(struct vm *vm, struct stream *s)
{
	Vmm__State__PitState m = VMM__STATE__PIT_STATE__INIT;
	Vmm__State__PitChannel ch[3], *ptrs[3];
	struct kvm_pit_state2 ps;

	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &ps) < 0)
		return errno == ENXIO ? 0 : -errno;
	for (unsigned i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *k = &ps.channels[i];

		vmm__state__pit_channel__init(&ch[i]);
		ch[i].count = k->count;
		ch[i].latched_count = k->latched_count;
		ch[i].count_latched = k->count_latched;
		ch[i].status_latched = k->status_latched;
		ch[i].status = k->status;
		ch[i].read_state = k->read_state;
		ch[i].write_state = k->write_state;
		ch[i].write_latch = k->write_latch;
		ch[i].rw_mode = k->rw_mode;
		ch[i].mode = k->mode;
		ch[i].bcd = k->bcd;
		ch[i].gate = k->gate;
		ch[i].count_load_time = k->count_load_time;
		ptrs[i] = &ch[i];
	}
	m.channels = ptrs;
	m.n_channels = 3;
	m.flags = ps.flags;
	return stream__write_record(s, "pit", VM_STATE_PIT_VERSION, 0, &m.base);
}

static int save_clock(struct vm *vm, struct stream *s)
{
	Vmm__State__ClockState m = VMM__STATE__CLOCK_STATE__INIT;
	struct kvm_clock_data c = { 0 };

	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &c) < 0)
		return -errno;
	m.clock = c.clock;
	m.flags = c.flags;
	m.realtime = c.realtime;
	m.host_tsc = c.host_tsc;
	/*
	 * KVM gives the host's real time with the clock only where the host's
	 * clocksource is the TSC: elsewhere it is read here, a few microseconds
	 * later.  A restore moves the guest's clock on by the time since.
	 */
	if (!(c.flags & KVM_CLOCK_REALTIME)) {
		m.realtime = timens__now(CLOCK_REALTIME);
		m.flags |= KVM_CLOCK_REALTIME;
	}
	return stream__write_record(s, "clock", VM_STATE_CLOCK_VERSION, 0, &m.base);
}

static int save_serial(struct vm *vm, struct stream *s)
{
	Vmm__State__SerialState m = VMM__STATE__SERIAL_STATE__INIT;
	int ret;

	if (!vm->serial)
		return 0;
	ret = serial__save(vm->serial, &m);
	if (ret)
		return ret;
	ret = stream__write_record(s, "serial", VM_STATE_SERIAL_VERSION, 0, &m.base);
	serial__free_saved(&m);
	return ret;
}

/* The CMOS RTC and the PM1 registers: small, and every VM has both. */
static int save_platform(struct vm *vm, struct stream *s)
{
	Vmm__State__RtcState rtc;
	Vmm__State__AcpiPmState pm;
	uint8_t cmos[RTC_NR_REGS];
	int ret;

	rtc__save(vm->rtc, &rtc, cmos);
	ret = stream__write_record(s, "rtc", VM_STATE_RTC_VERSION, 0, &rtc.base);
	if (ret)
		return ret;
	acpi_pm__save(vm->pm, &pm);
	return stream__write_record(s, "acpi_pm", VM_STATE_ACPI_PM_VERSION, 0, &pm.base);
}

static int save_virtio_blk(struct vm *vm, struct stream *s)
{
	Vmm__State__VirtioBlkState m;
	int ret;

	if (!vm->blk)
		return 0;
	ret = virtio_blk__save(vm->blk, &m);
	if (ret)
		return ret;
	ret = stream__write_record(s, "virtio_blk", VM_STATE_VIRTIO_BLK_VERSION, 0, &m.base);
	virtio_blk__free_saved(&m);
	return ret;
}

static int save_virtio_net(struct vm *vm, struct stream *s)
{
	Vmm__State__VirtioNetState m;
	int ret;

	if (!vm->net)
		return 0;
	ret = virtio_net__save(vm->net, &m);
	if (ret)
		return ret;
	ret = stream__write_record(s, "virtio_net", VM_STATE_VIRTIO_NET_VERSION, 0, &m.base);
	virtio_net__free_saved(&m);
	return ret;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	/* Eight words at a time: a non-zero page usually shows it early. */
	for (unsigned i = 0; i < MEM_PAGE_SIZE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

/* Non-zero pages of [start, end) as runs of at most STREAM_BATCH_PAGES. */
static int save_extent(struct vm *vm, struct stream *s, uint64_t start, uint64_t end)
{
	uint64_t run = 0, n = 0;

	for (uint64_t off = start; off < end; off += MEM_PAGE_SIZE) {
		if (page_is_zero(vm->mem.host + off)) {
			if (n && stream__write_pages(s, run, vm->mem.host + run, (uint32_t)n))
				return s->error;
			n = 0;
			continue;
		}
		if (!n)
			run = off;
		if (++n == STREAM_BATCH_PAGES) {
			if (stream__write_pages(s, run, vm->mem.host + run, (uint32_t)n))
				return s->error;
			n = 0;
		}
	}
	if (n && stream__write_pages(s, run, vm->mem.host + run, (uint32_t)n))
		return s->error;
	return 0;
}

/*
 * Holes of the memfd (pages never touched) are skipped with SEEK_DATA: even
 * reading them through the mapping would allocate shmem pages.
 */
static int save_ram(struct vm *vm, struct stream *s)
{
	off_t size = (off_t)vm->mem.size, data = 0, hole;

	for (;;) {
		data = lseek(vm->mem.memfd, data, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		hole = lseek(vm->mem.memfd, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		data &= ~(off_t)(MEM_PAGE_SIZE - 1);
		hole = (hole + (off_t)MEM_PAGE_SIZE - 1) & ~(off_t)(MEM_PAGE_SIZE - 1);
		if (save_extent(vm, s, (uint64_t)data, (uint64_t)hole))
			return s->error;
		if (hole >= size)
			return 0;
		data = hole;
	}
}

/* Everything but RAM, after the prelude: the part every stream shares. */
static int save_machine(struct vm *vm, struct stream *s)
{
	int ret;

	if (!vm__quiescent(vm))
		return -EBUSY;
	ret = stream__digest_begin(s);
	if (!ret)
		ret = stream__write_prelude(s, VM_STATE_MAJOR, VM_STATE_MINOR);
	if (!ret)
		ret = save_header(vm, s);
	if (!ret)
		ret = save_vcpus(vm, s);
	if (!ret)
		ret = save_irqchip(vm, s);
	if (!ret)
		ret = save_pit(vm, s);
	if (!ret)
		ret = save_clock(vm, s);
	if (!ret)
		ret = save_serial(vm, s);
	if (!ret)
		ret = save_platform(vm, s);
	if (!ret)
		ret = save_virtio_blk(vm, s);
	if (!ret)
		ret = save_virtio_net(vm, s);
	return ret;
}

int vm_state__save(struct vm *vm, struct stream *s)
{
	int ret = save_machine(vm, s);

	if (!ret)
		ret = save_ram(vm, s);
	if (!ret)
		ret = stream__write_end(s);
	return ret;
}

/*
 * Runs of the pages set in only, in ascending order, zero ones included:
 * the reader applies them over RAM that holds an older copy of each (a
 * page the guest zeroed must reach it as zero).
 */
static int save_ram_only(struct vm *vm, struct stream *s, const struct dirty_bitmap *only)
{
	uint64_t run = 0, n = 0, limit = vm->mem.size / MEM_PAGE_SIZE;

	if (only->nr_pages < limit)
		limit = only->nr_pages;
	for (uint64_t pg = 0; pg < limit; pg++) {
		uint64_t off = pg * MEM_PAGE_SIZE;
		bool take;

		/*
		 * 64 clean pages at once: the guest is paused while this runs, and
		 * a page at a time over 4 GiB costs milliseconds (1M tests) here.
		 */
		if (!(pg % 64) && !only->bits[pg / 64]) {
			if (n && stream__write_pages(s, run, vm->mem.host + run, (uint32_t)n))
				return s->error;
			n = 0;
			pg += 63;
			continue;
		}
		take = dirty_bitmap__test(only, pg);

		if (take && n && run + n * MEM_PAGE_SIZE == off && n < STREAM_BATCH_PAGES) {
			n++;
			continue;
		}
		if (n && stream__write_pages(s, run, vm->mem.host + run, (uint32_t)n))
			return s->error;
		n = 0;
		if (take) {
			run = off;
			n = 1;
		}
	}
	if (n && stream__write_pages(s, run, vm->mem.host + run, (uint32_t)n))
		return s->error;
	return 0;
}

bool vm_state__all_zero(const uint8_t *p, size_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

/* Blocks [first, first + n) of the image as one disk frame (zero: no data). */
static int save_disk_run(struct vm *vm, struct stream *s, uint8_t *buf, uint64_t first,
			 uint64_t n)
{
	uint64_t off = first * VIRTIO_BLK_BLOCK, end = (first + n) * VIRTIO_BLK_BLOCK;
	uint32_t len;
	int ret;

	if (end > virtio_blk__size(vm->blk))
		end = virtio_blk__size(vm->blk);
	len = (uint32_t)(end - off);
	ret = virtio_blk__read(vm->blk, off, buf, len);
	if (ret)
		return ret;
	return stream__write_disk(s, off, vm_state__all_zero(buf, len) ? NULL : buf, len);
}

/* The image's blocks set in blocks, read now (the vCPUs are paused). */
static int save_disk(struct vm *vm, struct stream *s, const struct dirty_bitmap *blocks)
{
	uint64_t nr = virtio_blk__nr_blocks(vm->blk), run = 0, n = 0;
	uint8_t *buf = malloc(STREAM_DISK_MAX);
	int ret = buf ? 0 : -ENOMEM;

	for (uint64_t blk = 0; blk < nr && !ret; blk++) {
		if (dirty_bitmap__test(blocks, blk) && n && run + n == blk &&
		    n < STREAM_DISK_MAX / VIRTIO_BLK_BLOCK) {
			n++;
			continue;
		}
		if (n)
			ret = save_disk_run(vm, s, buf, run, n);
		n = 0;
		if (dirty_bitmap__test(blocks, blk)) {
			run = blk;
			n = 1;
		}
	}
	if (!ret && n)
		ret = save_disk_run(vm, s, buf, run, n);
	free(buf);
	return ret;
}

int vm_state__save_head(struct vm *vm, struct stream *s, const struct dirty_bitmap *blocks)
{
	int ret = save_machine(vm, s);

	if (!ret && blocks && vm->blk)
		ret = save_disk(vm, s, blocks);
	return ret;
}

int vm_state__save_tail(struct vm *vm, struct stream *s, const struct dirty_bitmap *only)
{
	int ret = only ? save_ram_only(vm, s, only) : 0;

	return ret ? ret : stream__write_end(s);
}

int vm_state__save_pages(struct vm *vm, struct stream *s, const struct dirty_bitmap *only,
			 const struct dirty_bitmap *blocks)
{
	int ret = vm_state__save_head(vm, s, blocks);

	return ret ? ret : vm_state__save_tail(vm, s, only);
}
