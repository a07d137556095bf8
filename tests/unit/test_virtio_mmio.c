/*
 * The virtio-mmio transport's registers (vmm/virtio_mmio.c) driven
 * directly, without KVM (no vm: no IRQ line, no dirty marks), with a fake
 * device: identification, feature negotiation, queue setup, notify, the
 * ways a driver gets DEVICE_NEEDS_RESET, config space bounds, and a
 * save/load round trip.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/mem.h"
#include "vmm/virtio_mmio.h"

static struct vm_mem mem;
static struct virtio_mmio t;
static unsigned notified, notified_q;
static const uint8_t config[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static void fake_config(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	memcpy(data, config + off, len);
}

static void fake_notify(void *dev, struct virtio_mmio *tr, unsigned q)
{
	notified++;
	notified_q = q;
}

static const struct virtio_mmio_ops ops = {
	.device_id = 42, .nr_queues = 1, .config_len = sizeof(config),
	.config_read = fake_config, .notify = fake_notify,
};

static uint32_t rd(uint64_t off)
{
	uint32_t v;

	virtio_mmio__access(&t, off, (uint8_t *)&v, 4, false);
	return v;
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_mmio__access(&t, off, (uint8_t *)&v, 4, true);
}

static void setup(void)
{
	ck_assert_int_eq(mem__init(&mem, 4ULL << 20), 0);
	ck_assert_int_eq(virtio_mmio__init(&t, NULL, &mem, 0xd0000000, 5, &ops, 1ULL << 9, NULL),
			 0);
	notified = 0;
}

static void teardown(void)
{
	virtio_mmio__exit(&t);
	mem__exit(&mem);
}

/* Negotiate VERSION_1 and set up queue 0 of size n at 64 KiB. */
static void bring_up(uint32_t n)
{
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(0x024, 1);
	wr(0x020, 1);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	wr(0x030, 0);
	wr(0x038, n);
	wr(0x080, 0x10000);
	wr(0x090, 0x11000);
	wr(0x0a0, 0x12000);
	wr(0x044, 1);
	wr(0x070, 0x0f);
}

START_TEST(test_identity)
{
	ck_assert_uint_eq(rd(0x000), 0x74726976);
	ck_assert_uint_eq(rd(0x004), 2);
	ck_assert_uint_eq(rd(0x008), 42);
	wr(0x014, 0);
	ck_assert_uint_eq(rd(0x010), 1u << 9);
	wr(0x014, 1);
	ck_assert_uint_eq(rd(0x010), 1); /* VERSION_1 */
	wr(0x014, 2);
	ck_assert_uint_eq(rd(0x010), 0);
}
END_TEST

START_TEST(test_features_ok_needs_version_1)
{
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	ck_assert_uint_eq(rd(0x070) & VIRTIO_STATUS_FEATURES_OK, 0);
	/* A bit that was not offered. */
	wr(0x024, 1);
	wr(0x020, 1);
	wr(0x024, 0);
	wr(0x020, 1u << 3);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	ck_assert_uint_eq(rd(0x070) & VIRTIO_STATUS_FEATURES_OK, 0);
	wr(0x020, 1u << 9);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	ck_assert_uint_ne(rd(0x070) & VIRTIO_STATUS_FEATURES_OK, 0);
	ck_assert(virtio_mmio__has_feature(&t, 1ULL << 9));
	/* Frozen after FEATURES_OK. */
	wr(0x020, 0);
	ck_assert(virtio_mmio__has_feature(&t, 1ULL << 9));
}
END_TEST

START_TEST(test_queue_and_notify)
{
	ck_assert_uint_eq(rd(0x034), VIRTQ_MAX_SIZE);
	bring_up(16);
	ck_assert_uint_eq(rd(0x044), 1);
	ck_assert_uint_eq(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* Queue registers are frozen while ready. */
	wr(0x038, 4);
	ck_assert_uint_eq(t.vq[0].size, 16);
	wr(0x050, 0);
	ck_assert_uint_eq(notified, 1);
	ck_assert_uint_eq(notified_q, 0);
	/* A queue that does not exist. */
	wr(0x030, 1);
	ck_assert_uint_eq(rd(0x034), 0);
	wr(0x050, 1);
	ck_assert_uint_ne(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* No more notifications until a reset. */
	wr(0x050, 0);
	ck_assert_uint_eq(notified, 1);
	wr(0x070, 0);
	ck_assert_uint_eq(rd(0x070), 0);
	ck_assert_uint_eq(t.vq[0].ready, 0);
	bring_up(16);
	wr(0x050, 0);
	ck_assert_uint_eq(notified, 2);
}
END_TEST

START_TEST(test_bad_queues_need_reset)
{
	static const uint32_t sizes[] = { 0, 3, 512, 65536 };

	for (unsigned i = 0; i < 4; i++) {
		wr(0x070, 0);
		bring_up(sizes[i]);
		ck_assert_uint_eq(rd(0x044), 0);
		ck_assert_uint_ne(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
	}
	wr(0x070, 0);
	wr(0x038, 8);
	wr(0x0a4, 0x100); /* used ring far beyond RAM */
	wr(0x044, 1);
	ck_assert_uint_eq(rd(0x044), 0);
	ck_assert_uint_ne(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
	/* The driver cannot clear it by writing the status. */
	wr(0x070, 0x0f);
	ck_assert_uint_ne(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
}
END_TEST

START_TEST(test_access_widths_and_config)
{
	uint8_t b[8];

	memset(b, 0xaa, sizeof(b));
	virtio_mmio__access(&t, 0x000, b, 2, false); /* registers: 32 bits only */
	ck_assert_uint_eq(b[0] | b[1], 0);
	virtio_mmio__access(&t, 0x002, b, 4, false);
	ck_assert_uint_eq(b[0] | b[1] | b[2] | b[3], 0);
	virtio_mmio__access(&t, 0x102, b, 2, false);
	ck_assert_uint_eq(b[0], 3);
	ck_assert_uint_eq(b[1], 4);
	virtio_mmio__access(&t, 0x100, b, 8, false);
	ck_assert_mem_eq(b, config, 8);
	memset(b, 0xaa, sizeof(b));
	virtio_mmio__access(&t, 0x104, b, 8, false); /* runs past the config */
	ck_assert_uint_eq(b[0] | b[7], 0);
	virtio_mmio__access(&t, 0xff8, b, 8, false);
	ck_assert_uint_eq(b[0] | b[7], 0);
	virtio_mmio__access(&t, 0x100, b, 4, true); /* read-only: dropped */
	virtio_mmio__access(&t, 0x100, b, 8, false);
	ck_assert_mem_eq(b, config, 8);
}
END_TEST

START_TEST(test_save_load)
{
	Vmm__State__VirtioMmioState st;
	struct virtio_mmio u;

	bring_up(16);
	t.vq[0].last_avail = 7;
	t.vq[0].used_idx = 6;
	virtio_mmio__interrupt(&t);
	ck_assert_int_eq(virtio_mmio__save(&t, &st), 0);
	ck_assert_int_eq(virtio_mmio__init(&u, NULL, &mem, 0xd0000000, 5, &ops, 1ULL << 9, NULL),
			 0);
	virtio_mmio__load(&u, &st);
	ck_assert_uint_eq(u.status, t.status);
	ck_assert_uint_eq(u.driver_features, t.driver_features);
	ck_assert_uint_eq(u.isr, VIRTIO_MMIO_INT_VRING);
	ck_assert_mem_eq(&u.vq[0], &t.vq[0], sizeof(struct virtq));
	/* A ready queue whose rings are not in RAM: the device needs a reset. */
	st.queues[0]->used = 1ULL << 40;
	virtio_mmio__load(&u, &st);
	ck_assert_uint_eq(u.vq[0].ready, 0);
	ck_assert_uint_ne(u.status & VIRTIO_STATUS_NEEDS_RESET, 0);
	virtio_mmio__free_saved(&st);
	virtio_mmio__exit(&u);
}
END_TEST

static Suite *virtio_mmio_suite(void)
{
	Suite *s = suite_create("virtio_mmio");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_identity);
	tcase_add_test(tc, test_features_ok_needs_version_1);
	tcase_add_test(tc, test_queue_and_notify);
	tcase_add_test(tc, test_bad_queues_need_reset);
	tcase_add_test(tc, test_access_widths_and_config);
	tcase_add_test(tc, test_save_load);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(virtio_mmio_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
