/*
 * virtio-blk inside a real (never started) KVM VM, driven from the host
 * through the VM's MMIO trap table: a completed request raises IRQ 5 on
 * the in-kernel IOAPIC and the ack lowers it; the pages the device wrote
 * (data, status byte, used ring) are reported by the dirty tracker.  The
 * test guests poll, so nothing else checks the interrupt line.  Needs
 * /dev/kvm (exit 77 without).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tests/unit/kvmtest.h"
#include "vmm/dirty.h"
#include "vmm/guest_abi.h"
#include "vmm/virtio_blk.h"
#include "vmm/virtio_mmio.h"
#include "vmm/vm.h"

#define MIB (1ULL << 20)
#define RINGS (16 * MIB)
#define HDR (RINGS + 0x3000)
#define DATA (17 * MIB)

static char kernel[512];
static char image[] = "/tmp/test_virtio_blk.XXXXXX";
static struct vm vm;

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static uint32_t rd(uint64_t off)
{
	uint32_t v;

	iotrap__dispatch(&vm.io, NULL, IOTRAP_MMIO, GUEST_ABI_VIRTIO_MMIO_BASE + off,
			 (uint8_t *)&v, 4, false);
	return v;
}

static void wr(uint64_t off, uint32_t v)
{
	iotrap__dispatch(&vm.io, NULL, IOTRAP_MMIO, GUEST_ABI_VIRTIO_MMIO_BASE + off,
			 (uint8_t *)&v, 4, true);
}

static bool ioapic_irr(unsigned pin)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };

	ck_assert_int_eq(ioctl(vm.vm_fd, KVM_GET_IRQCHIP, &chip), 0);
	return chip.chip.ioapic.irr & (1u << pin);
}

static void setup(void)
{
	struct vm_config cfg = {
		.mem_size = 64 * MIB, .nr_vcpus = 1, .kernel_path = kernel,
		.serial = { SERIAL_NONE, NULL }, .disk = { image, false },
	};
	const char *err = NULL;
	int fd = mkstemp(image);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	ck_assert_int_eq(pwrite(fd, "record", 6, 512), 6);
	close(fd);
	ck_assert_msg(vm__create(&vm, &cfg, &err) == 0, "vm__create: %s", err);
	wr(0x070, 3);
	wr(0x024, 1);
	wr(0x020, 1);
	wr(0x070, 11);
	wr(0x038, 8);
	wr(0x080, RINGS);
	wr(0x090, RINGS + 0x1000);
	wr(0x0a0, RINGS + 0x2000);
	wr(0x044, 1);
	wr(0x070, 15);
	ck_assert_uint_eq(rd(0x070), 15);
}

static void teardown(void)
{
	vm__destroy(&vm);
	unlink(image);
	strcpy(image, "/tmp/test_virtio_blk.XXXXXX");
}

/* One request of n sectors at sector from or into DATA; returns the status byte. */
static uint8_t request(uint32_t type, uint64_t sector, uint32_t n)
{
	uint32_t hdr[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	struct desc d[3] = {
		{ HDR, 16, 1, 1 }, { DATA, 512 * n, type ? 1 : 3, 2 }, { HDR + 64, 1, 2, 0 },
	};
	static uint16_t idx;
	uint16_t avail[3] = { 0, ++idx, 0 };
	uint8_t st = 0xff;

	mem__write(&vm.mem, HDR, hdr, sizeof(hdr));
	mem__write(&vm.mem, HDR + 64, &st, 1);
	mem__write(&vm.mem, RINGS, d, sizeof(d));
	mem__write(&vm.mem, RINGS + 0x1000, avail, sizeof(avail));
	wr(0x050, 0);
	mem__read(&vm.mem, HDR + 64, &st, 1);
	return st;
}

static uint8_t read_sector_1(void)
{
	return request(0, 1, 1);
}

static uint8_t write_sectors(uint64_t sector, uint32_t n)
{
	return request(1, sector, n);
}

/*
 * Dirty-block tracking: a write of sectors 7-8 marks blocks 0 and 1 (it
 * straddles them), only while tracking; harvest clears; the image API
 * reads back what the guest wrote, zero ranges read as zero, the digest
 * follows the contents, and nothing outside the image is accepted.
 */
START_TEST(test_written_blocks)
{
	struct dirty_bitmap b;
	uint8_t buf[1024], d0[32], d1[32];

	memset(vm.mem.host + DATA, 0xab, 1024);
	ck_assert_int_eq(virtio_blk__bitmap_init(vm.blk, &b), 0);
	ck_assert_uint_eq(b.nr_pages, (1 << 20) / VIRTIO_BLK_BLOCK);
	ck_assert_uint_eq(write_sectors(7, 2), 0);      /* not tracking yet */
	virtio_blk__track(vm.blk, true);
	virtio_blk__harvest(vm.blk, &b);
	ck_assert_uint_eq(dirty_bitmap__count(&b), 0);
	ck_assert_uint_eq(write_sectors(7, 2), 0);
	virtio_blk__harvest(vm.blk, &b);
	ck_assert_uint_eq(dirty_bitmap__count(&b), 2);
	ck_assert(dirty_bitmap__test(&b, 0) && dirty_bitmap__test(&b, 1));
	dirty_bitmap__clear(&b);
	virtio_blk__harvest(vm.blk, &b);
	ck_assert_uint_eq(dirty_bitmap__count(&b), 0);
	virtio_blk__track(vm.blk, false);
	ck_assert_uint_eq(write_sectors(100, 1), 0);
	virtio_blk__harvest(vm.blk, &b);
	ck_assert_uint_eq(dirty_bitmap__count(&b), 0);

	ck_assert_int_eq(virtio_blk__read(vm.blk, 7 * 512, buf, 1024), 0);
	ck_assert_mem_eq(buf, vm.mem.host + DATA, 1024);
	ck_assert_int_eq(virtio_blk__digest(vm.blk, d0), 0);
	ck_assert_int_eq(virtio_blk__write(vm.blk, 7 * 512, NULL, 1024), 0);
	ck_assert_int_eq(virtio_blk__read(vm.blk, 7 * 512, buf, 1024), 0);
	for (unsigned i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], 0);
	ck_assert_int_eq(virtio_blk__digest(vm.blk, d1), 0);
	ck_assert(memcmp(d0, d1, 32));
	ck_assert_int_eq(virtio_blk__write(vm.blk, 7 * 512, vm.mem.host + DATA, 1024), 0);
	ck_assert_int_eq(virtio_blk__sync(vm.blk), 0);
	ck_assert_int_eq(virtio_blk__digest(vm.blk, d1), 0);
	ck_assert_mem_eq(d0, d1, 32);
	ck_assert_int_eq(virtio_blk__read(vm.blk, (1 << 20) - 512, buf, 1024), -EINVAL);
	ck_assert_int_eq(virtio_blk__write(vm.blk, 1 << 20, buf, 512), -EINVAL);
	dirty_bitmap__free(&b);
}
END_TEST

START_TEST(test_interrupt_line)
{
	ck_assert(!ioapic_irr(GUEST_ABI_VIRTIO_BLK_IRQ));
	ck_assert_uint_eq(read_sector_1(), 0);
	ck_assert_mem_eq(vm.mem.host + DATA, "record", 6);
	ck_assert_uint_eq(rd(0x060), VIRTIO_MMIO_INT_VRING);
	ck_assert(ioapic_irr(GUEST_ABI_VIRTIO_BLK_IRQ));
	wr(0x064, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(rd(0x060), 0);
	ck_assert(!ioapic_irr(GUEST_ABI_VIRTIO_BLK_IRQ));
}
END_TEST

START_TEST(test_device_writes_are_dirty)
{
	struct dirty_bitmap b;

	ck_assert_int_eq(dirty_bitmap__init(&b, vm.mem.size), 0);
	ck_assert_int_eq(dirty__start(&vm), 0);
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	dirty_bitmap__clear(&b);
	ck_assert_uint_eq(read_sector_1(), 0);
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	ck_assert(dirty_bitmap__test(&b, DATA / MEM_PAGE_SIZE));
	ck_assert(dirty_bitmap__test(&b, HDR / MEM_PAGE_SIZE));            /* status */
	ck_assert(dirty_bitmap__test(&b, (RINGS + 0x2000) / MEM_PAGE_SIZE)); /* used */
	/* Only those: the header and rings the "driver" wrote are not the device's. */
	ck_assert_uint_eq(dirty_bitmap__count(&b), 3);
	ck_assert_int_eq(dirty__stop(&vm), 0);
	dirty_bitmap__free(&b);
}
END_TEST

static Suite *virtio_blk_suite(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_interrupt_line);
	tcase_add_test(tc, test_device_writes_are_dirty);
	tcase_add_test(tc, test_written_blocks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kvmtest__main("test_virtio_blk", "hello.elf", kernel, sizeof(kernel), virtio_blk_suite);
}
