/*
 * Split virtqueue parsing (vmm/virtq.c) on synthetic rings in a bare 4 MiB
 * struct vm_mem: queue checks, chains, every way a chain can be bad, the
 * used ring and its dirty reports.  No KVM.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/mem.h"
#include "vmm/virtq.h"

#define DESC 0x10000ULL
#define AVAIL 0x11000ULL
#define USED 0x12000ULL
#define BUF 0x20000ULL
#define QS 8

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static struct vm_mem mem;
static struct virtq vq;
static struct virtq_chain chain;
static struct virtq_mem vm;
static unsigned nr_marks;
static uint64_t mark_gpa[16], mark_len[16];

static void mark(void *opaque, uint64_t gpa, uint64_t len)
{
	if (nr_marks < 16) {
		mark_gpa[nr_marks] = gpa;
		mark_len[nr_marks] = len;
	}
	nr_marks++;
}

static void setup(void)
{
	ck_assert_int_eq(mem__init(&mem, 4ULL << 20), 0);
	vq = (struct virtq){ .size = QS, .desc = DESC, .avail = AVAIL, .used = USED };
	vm = (struct virtq_mem){ &mem, mark, NULL };
	nr_marks = 0;
	ck_assert_int_eq(virtq__check(&vq, &mem), 0);
	vq.ready = true;
}

static void teardown(void)
{
	mem__exit(&mem);
}

static void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct desc d = { addr, len, flags, next };

	ck_assert_int_eq(mem__write(&mem, DESC + 16ULL * i, &d, sizeof(d)), 0);
}

/* Offer head in the next available slot and bump avail->idx by `by`. */
static void offer(uint16_t head, uint16_t by)
{
	uint16_t idx;

	mem__read(&mem, AVAIL + 2, &idx, 2);
	mem__write(&mem, AVAIL + 4 + 2ULL * (idx % QS), &head, 2);
	idx += by;
	mem__write(&mem, AVAIL + 2, &idx, 2);
}

START_TEST(test_check_queue)
{
	struct virtq q = vq;

	q.size = 0;
	ck_assert_int_eq(virtq__check(&q, &mem), -EINVAL);
	q.size = 6;
	ck_assert_int_eq(virtq__check(&q, &mem), -EINVAL);
	q.size = 512;
	ck_assert_int_eq(virtq__check(&q, &mem), -EINVAL);
	q = vq;
	q.desc = DESC + 8;
	ck_assert_int_eq(virtq__check(&q, &mem), -EINVAL);
	q = vq;
	q.used = USED + 2;
	ck_assert_int_eq(virtq__check(&q, &mem), -EINVAL);
	q = vq;
	q.avail = (4ULL << 20) - 4; /* the ring runs past the end of RAM */
	ck_assert_int_eq(virtq__check(&q, &mem), -EINVAL);
	q = vq;
	q.desc = 1ULL << 40;
	ck_assert_int_eq(virtq__check(&q, &mem), -EINVAL);
	q = vq;
	q.size = 256;
	ck_assert_int_eq(virtq__check(&q, &mem), 0);
}
END_TEST

START_TEST(test_empty_and_not_ready)
{
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), 0);
	ck_assert(!virtq__has_work(&vq, &mem));
	offer(0, 1);
	set_desc(0, BUF, 16, 0, 0);
	vq.ready = false;
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), 0);
	vq.ready = true;
	ck_assert(virtq__has_work(&vq, &mem));
}
END_TEST

START_TEST(test_good_chain)
{
	set_desc(3, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(5, BUF + 0x1000, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set_desc(1, BUF + 0x3000, 1, VIRTQ_DESC_F_WRITE, 7 /* ignored: no NEXT */);
	offer(3, 1);
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), 1);
	ck_assert_uint_eq(chain.head, 3);
	ck_assert_uint_eq(chain.nr, 3);
	ck_assert_uint_eq(chain.nr_bad, 0);
	ck_assert_uint_eq(chain.total, 16 + 4096 + 1);
	ck_assert(!chain.seg[0].write && chain.seg[1].write && chain.seg[2].write);
	ck_assert_ptr_eq(chain.seg[1].hva, mem.host + BUF + 0x1000);
	ck_assert_uint_eq(vq.last_avail, 1);
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), 0);
}
END_TEST

START_TEST(test_chain_of_full_queue_length)
{
	for (uint16_t i = 0; i < QS; i++)
		set_desc(i, BUF + 512ULL * i, 512, i + 1 < QS ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	offer(0, 1);
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), 1);
	ck_assert_uint_eq(chain.nr, QS);
}
END_TEST

START_TEST(test_loop)
{
	set_desc(0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	offer(0, 1);
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), -EINVAL);
	/* Consumed: the next pop does not see it again. */
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), 0);
}
END_TEST

START_TEST(test_self_loop)
{
	set_desc(2, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	offer(2, 1);
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), -EINVAL);
}
END_TEST

START_TEST(test_next_out_of_table)
{
	set_desc(0, BUF, 16, VIRTQ_DESC_F_NEXT, QS);
	offer(0, 1);
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), -EINVAL);
}
END_TEST

START_TEST(test_indirect_refused)
{
	set_desc(0, BUF, 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0, 1);
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), -EINVAL);
}
END_TEST

START_TEST(test_head_out_of_table)
{
	offer(QS, 1);
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), -EPROTO);
	ck_assert_uint_eq(vq.last_avail, 0);
}
END_TEST

START_TEST(test_avail_index_too_far)
{
	set_desc(0, BUF, 16, 0, 0);
	offer(0, QS + 1);
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), -EPROTO);
}
END_TEST

START_TEST(test_avail_index_wraps)
{
	uint16_t used_idx;

	/* Both indexes near 65535: the distance is what counts. */
	vq.last_avail = vq.used_idx = 65534;
	mem__write(&mem, AVAIL + 2, &(uint16_t){ 65534 }, 2);
	set_desc(0, BUF, 16, 0, 0);
	for (int i = 0; i < 4; i++) {
		offer(0, 1);
		ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), 1);
		ck_assert_int_eq(virtq__push(&vq, &vm, chain.head, 0), 0);
	}
	ck_assert_uint_eq(vq.last_avail, 2);
	mem__read(&mem, USED + 2, &used_idx, 2);
	ck_assert_uint_eq(used_idx, 2);
}
END_TEST

START_TEST(test_buffer_outside_ram)
{
	set_desc(0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, (4ULL << 20) - 100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set_desc(2, ~0ULL - 10, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	set_desc(3, BUF + 100, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(0, 1);
	/* The walk goes on: the request fails, the status byte is still usable. */
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), 1);
	ck_assert_uint_eq(chain.nr, 4);
	ck_assert_uint_eq(chain.nr_bad, 2);
	ck_assert_ptr_null(chain.seg[1].hva);
	ck_assert_ptr_null(chain.seg[2].hva);
	ck_assert_ptr_nonnull(chain.seg[3].hva);
	/* Copies touching such a buffer are refused, the others not. */
	ck_assert_int_eq(virtq__chain_write(&chain, &vm, 16 + 512 + 100, "a", 1), 0);
	ck_assert_int_eq(virtq__chain_write(&chain, &vm, 16 + 511, "a", 1), -EINVAL);
}
END_TEST

START_TEST(test_push_marks_dirty)
{
	uint32_t elem[2];
	uint16_t idx;

	ck_assert_int_eq(virtq__push(&vq, &vm, 5, 513), 0);
	mem__read(&mem, USED + 4, elem, sizeof(elem));
	mem__read(&mem, USED + 2, &idx, 2);
	ck_assert_uint_eq(elem[0], 5);
	ck_assert_uint_eq(elem[1], 513);
	ck_assert_uint_eq(idx, 1);
	ck_assert_uint_eq(nr_marks, 2);
	ck_assert_uint_eq(mark_gpa[0], USED + 4);
	ck_assert_uint_eq(mark_len[0], 8);
	ck_assert_uint_eq(mark_gpa[1], USED + 2);
	/* The ring wraps at the queue size. */
	for (int i = 1; i < QS; i++)
		virtq__push(&vq, &vm, 0, 0);
	ck_assert_int_eq(virtq__push(&vq, &vm, 7, 9), 0);
	mem__read(&mem, USED + 4, elem, sizeof(elem));
	ck_assert_uint_eq(elem[0], 7);
}
END_TEST

/* The chain as one byte stream: read and write across segments, refusals. */
START_TEST(test_chain_copy)
{
	uint8_t in[16], out[7] = { 1, 2, 3, 4, 5, 6, 7 }, got[16];

	for (int i = 0; i < 16; i++)
		in[i] = (uint8_t)(100 + i);
	mem__write(&mem, BUF, in, sizeof(in));
	set_desc(3, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(5, BUF + 0x1000, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set_desc(1, BUF + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(3, 1);
	ck_assert_int_eq(virtq__pop(&vq, &vm, &chain), 1);
	ck_assert_int_eq(virtq__chain_read(&chain, 4, got, 12), 0);
	ck_assert_mem_eq(got, in + 4, 12);
	/* Into the device-writable part, or past the end: refused. */
	ck_assert_int_eq(virtq__chain_read(&chain, 10, got, 10), -EINVAL);
	ck_assert_int_eq(virtq__chain_write(&chain, &vm, 0, out, 1), -EINVAL);
	ck_assert_int_eq(virtq__chain_write(&chain, &vm, 16 + 4090, out, 8), -EINVAL);
	nr_marks = 0;
	/* The last 6 bytes of the second buffer and the 1-byte third. */
	ck_assert_int_eq(virtq__chain_write(&chain, &vm, 16 + 4090, out, 7), 0);
	ck_assert_mem_eq(mem.host + BUF + 0x1000 + 4090, out, 6);
	ck_assert_uint_eq(mem.host[BUF + 0x3000], 7);
	ck_assert_uint_eq(nr_marks, 2);
	ck_assert_uint_eq(mark_gpa[0], BUF + 0x1000 + 4090);
	ck_assert_uint_eq(mark_len[0], 6);
	ck_assert_uint_eq(mark_gpa[1], BUF + 0x3000);
	ck_assert_uint_eq(mark_len[1], 1);
}
END_TEST

static Suite *virtq_suite(void)
{
	Suite *s = suite_create("virtq");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_queue);
	tcase_add_test(tc, test_empty_and_not_ready);
	tcase_add_test(tc, test_good_chain);
	tcase_add_test(tc, test_chain_of_full_queue_length);
	tcase_add_test(tc, test_loop);
	tcase_add_test(tc, test_self_loop);
	tcase_add_test(tc, test_next_out_of_table);
	tcase_add_test(tc, test_indirect_refused);
	tcase_add_test(tc, test_head_out_of_table);
	tcase_add_test(tc, test_avail_index_too_far);
	tcase_add_test(tc, test_avail_index_wraps);
	tcase_add_test(tc, test_buffer_outside_ram);
	tcase_add_test(tc, test_push_marks_dirty);
	tcase_add_test(tc, test_chain_copy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(virtq_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
