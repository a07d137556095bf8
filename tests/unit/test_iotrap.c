/*
 * The port-I/O / MMIO trap registry: registration rules and dispatch.  No
 * KVM and no vCPU: handlers get a NULL vcpu, which the table never touches.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/iotrap.h"

/* What the last handler call saw. */
struct call {
	unsigned count;
	uint64_t addr;
	uint32_t len;
	bool is_write;
	uint8_t data[8];
	void *opaque;
	int which;
};

static struct iotrap_table table;
static struct call calls;
static int tag_a = 1, tag_b = 2;

static void setup(void)
{
	memset(&table, 0, sizeof(table));
	memset(&calls, 0, sizeof(calls));
}

static void record(uint64_t addr, uint8_t *data, uint32_t len, bool is_write, void *opaque,
		   int which)
{
	calls.count++;
	calls.addr = addr;
	calls.len = len;
	calls.is_write = is_write;
	calls.opaque = opaque;
	calls.which = which;
	if (is_write) {
		memcpy(calls.data, data, len);
	} else {
		/* Reads answer the low byte of the address xor 0x5a, then 0x11 0x22 ... */
		for (uint32_t i = 0; i < len; i++)
			data[i] = i ? (uint8_t)(0x11 * i) : (uint8_t)(addr ^ 0x5a);
	}
}

static void handler_a(struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		      bool is_write, void *opaque)
{
	record(addr, data, len, is_write, opaque, 'a');
}

static void handler_b(struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		      bool is_write, void *opaque)
{
	record(addr, data, len, is_write, opaque, 'b');
}

START_TEST(test_register_rules)
{
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x3f8, 8, handler_a, &tag_a), 0);
	ck_assert_uint_eq(table.nr, 1);

	/* Any overlap is refused: inside, straddling either end, covering. */
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x3f8, 8, handler_b, NULL), -EEXIST);
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x3ff, 1, handler_b, NULL), -EEXIST);
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x3f0, 9, handler_b, NULL), -EEXIST);
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x3fc, 8, handler_b, NULL), -EEXIST);
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x300, 0x200, handler_b, NULL),
			 -EEXIST);
	ck_assert_uint_eq(table.nr, 1);

	/* Adjacent ranges touch but do not overlap. */
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x3f0, 8, handler_b, NULL), 0);
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x400, 4, handler_b, NULL), 0);
	/* The same numbers in the other address space are a different range. */
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_MMIO, 0x3f8, 8, handler_b, NULL), 0);
	ck_assert_uint_eq(table.nr, 4);

	/* Empty and wrapping ranges are malformed. */
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x1000, 0, handler_b, NULL), -EINVAL);
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_MMIO, UINT64_MAX - 1, 4, handler_b, NULL),
			 -EINVAL);
	ck_assert_uint_eq(table.nr, 4);
}
END_TEST

START_TEST(test_register_full)
{
	for (unsigned i = 0; i < IOTRAP_MAX; i++)
		ck_assert_int_eq(iotrap__register(&table, IOTRAP_MMIO, 0x10000000ULL + i * 0x1000,
						  0x1000, handler_a, NULL), 0);
	ck_assert_uint_eq(table.nr, IOTRAP_MAX);
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x80, 1, handler_a, NULL), -ENOSPC);
	/* An overlap is still reported as such when the table is full. */
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_MMIO, 0x10000000ULL, 1, handler_a, NULL),
			 -EEXIST);
	ck_assert_uint_eq(table.nr, IOTRAP_MAX);
}
END_TEST

START_TEST(test_dispatch)
{
	uint8_t data[8];

	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x3f8, 8, handler_a, &tag_a), 0);
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x500, 4, handler_b, &tag_b), 0);
	ck_assert_int_eq(iotrap__register(&table, IOTRAP_MMIO, 0xd0000000ULL, 0x200, handler_b,
					  &tag_b), 0);

	/* A write reaches the handler with the absolute address and its bytes. */
	memcpy(data, "\x41\x42\x43\x44", 4);
	ck_assert(iotrap__dispatch(&table, NULL, IOTRAP_PIO, 0x3f8, data, 1, true));
	ck_assert_uint_eq(calls.count, 1);
	ck_assert_int_eq(calls.which, 'a');
	ck_assert_uint_eq(calls.addr, 0x3f8);
	ck_assert_uint_eq(calls.len, 1);
	ck_assert(calls.is_write);
	ck_assert_uint_eq(calls.data[0], 0x41);
	ck_assert_ptr_eq(calls.opaque, &tag_a);

	/* The last port of a range is in it; the next one is not. */
	ck_assert(iotrap__dispatch(&table, NULL, IOTRAP_PIO, 0x3ff, data, 1, false));
	ck_assert_int_eq(calls.which, 'a');
	ck_assert_uint_eq(calls.addr, 0x3ff);
	ck_assert_uint_eq(data[0], 0xff ^ 0x5a);
	ck_assert(!iotrap__dispatch(&table, NULL, IOTRAP_PIO, 0x400, data, 1, false));
	ck_assert_uint_eq(data[0], 0xff);

	memcpy(data, "\x41\x42\x43\x44", 4);
	ck_assert(iotrap__dispatch(&table, NULL, IOTRAP_PIO, 0x503, data, 4, true));
	ck_assert_int_eq(calls.which, 'b');
	ck_assert_uint_eq(calls.addr, 0x503);
	ck_assert_uint_eq(calls.len, 4);
	ck_assert_mem_eq(calls.data, "\x41\x42\x43\x44", 4);
	ck_assert_ptr_eq(calls.opaque, &tag_b);

	/* Reads get what the handler filled in. */
	memset(data, 0, sizeof(data));
	ck_assert(iotrap__dispatch(&table, NULL, IOTRAP_MMIO, 0xd0000100ULL, data, 8, false));
	ck_assert_int_eq(calls.which, 'b');
	ck_assert(!calls.is_write);
	ck_assert_uint_eq(calls.addr, 0xd0000100ULL);
	ck_assert_mem_eq(data, "\x5a\x11\x22\x33\x44\x55\x66\x77", 8);

	/* Port 0x3f8 in the MMIO space is not the UART. */
	ck_assert(!iotrap__dispatch(&table, NULL, IOTRAP_MMIO, 0x3f8, data, 1, true));
	ck_assert_uint_eq(calls.count, 4);
}
END_TEST

START_TEST(test_unregistered)
{
	uint8_t data[8];

	ck_assert_int_eq(iotrap__register(&table, IOTRAP_PIO, 0x3f8, 8, handler_a, NULL), 0);
	for (uint32_t len = 1; len <= 8; len *= 2) {
		memset(data, 0, sizeof(data));
		ck_assert(!iotrap__dispatch(&table, NULL, IOTRAP_PIO, 0x400, data, len, false));
		for (uint32_t i = 0; i < len; i++)
			ck_assert_uint_eq(data[i], 0xff);
		/* Only len bytes are filled. */
		for (uint32_t i = len; i < sizeof(data); i++)
			ck_assert_uint_eq(data[i], 0);
	}
	ck_assert(!iotrap__dispatch(&table, NULL, IOTRAP_PIO, 0x3f7, data, 1, false));
	ck_assert_uint_eq(data[0], 0xff);
	memset(data, 0xff, sizeof(data));
	ck_assert(!iotrap__dispatch(&table, NULL, IOTRAP_MMIO, 0xfee00000ULL, data, 4, false));
	ck_assert_mem_eq(data, "\xff\xff\xff\xff", 4);

	/* Writes to nothing are dropped and leave the buffer alone. */
	memcpy(data, "\x01\x02\x03\x04", 4);
	ck_assert(!iotrap__dispatch(&table, NULL, IOTRAP_PIO, 0x80, data, 4, true));
	ck_assert_mem_eq(data, "\x01\x02\x03\x04", 4);
	ck_assert_uint_eq(calls.count, 0);
}
END_TEST

static Suite *iotrap_suite(void)
{
	Suite *s = suite_create("iotrap");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_register_rules);
	tcase_add_test(tc, test_register_full);
	tcase_add_test(tc, test_dispatch);
	tcase_add_test(tc, test_unregistered);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(iotrap_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
