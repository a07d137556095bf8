/*
 * Guest RAM without KVM: sizes, the layout around the PCI hole, address
 * translation bounds (every guest-supplied address goes through it), the
 * e820 map, sparseness and discarding.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/mem.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static struct vm_mem mem;

static void teardown(void)
{
	mem__exit(&mem);
}

START_TEST(test_sizes)
{
	ck_assert_int_eq(mem__init(&mem, 2 * MiB - MEM_PAGE_SIZE), -EINVAL);
	ck_assert_int_eq(mem__init(&mem, 0), -EINVAL);
	ck_assert_int_eq(mem__init(&mem, 2 * MiB + 1), -EINVAL);
	ck_assert_int_eq(mem__init(&mem, 64 * MiB + 512), -EINVAL);
	ck_assert_int_eq(mem__init(&mem, 2 * MiB), 0);
	ck_assert_uint_eq(mem.size, 2 * MiB);
	ck_assert_ptr_nonnull(mem.host);
	ck_assert_int_ge(mem.memfd, 0);
	mem__exit(&mem);
	ck_assert_int_eq(mem.memfd, -1);
	ck_assert_ptr_null(mem.host);
	/* A page more than the minimum is fine: only page alignment is required. */
	ck_assert_int_eq(mem__init(&mem, 2 * MiB + MEM_PAGE_SIZE), 0);
}
END_TEST

START_TEST(test_layout_small)
{
	ck_assert_int_eq(mem__init(&mem, 64 * MiB), 0);
	ck_assert_uint_eq(mem.nr_slots, 1);
	ck_assert_uint_eq(mem.slots[0].gpa, 0);
	ck_assert_uint_eq(mem.slots[0].size, 64 * MiB);
	ck_assert_uint_eq(mem.slots[0].offset, 0);
}
END_TEST

START_TEST(test_layout_exactly_low)
{
	ck_assert_int_eq(mem__init(&mem, 3 * GiB), 0);
	ck_assert_uint_eq(mem.nr_slots, 1);
	ck_assert_uint_eq(mem.slots[0].size, 3 * GiB);
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 4 * GiB, 1));
}
END_TEST

START_TEST(test_layout_4g)
{
	ck_assert_int_eq(mem__init(&mem, 4 * GiB), 0);
	ck_assert_uint_eq(mem.nr_slots, 2);
	ck_assert_uint_eq(mem.slots[0].gpa, 0);
	ck_assert_uint_eq(mem.slots[0].size, 3 * GiB);
	ck_assert_uint_eq(mem.slots[0].offset, 0);
	ck_assert_uint_eq(mem.slots[1].gpa, 4 * GiB);
	ck_assert_uint_eq(mem.slots[1].size, 1 * GiB);
	ck_assert_uint_eq(mem.slots[1].offset, 3 * GiB);
	ck_assert_uint_ne(mem.slots[0].id, mem.slots[1].id);

	/* gpa 4 GiB is offset 3 GiB of the memfd mapping. */
	ck_assert_ptr_eq(mem__gpa_to_hva(&mem, 4 * GiB, 1), mem.host + 3 * GiB);
	ck_assert_ptr_eq(mem__gpa_to_hva(&mem, 3 * GiB - 1, 1), mem.host + 3 * GiB - 1);
	ck_assert_ptr_eq(mem__gpa_to_hva(&mem, 5 * GiB - 1, 1), mem.host + 4 * GiB - 1);

	/* Nothing in the hole, nothing past the end. */
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 3 * GiB, 1));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 4 * GiB - 1, 1));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 5 * GiB, 1));
}
END_TEST

START_TEST(test_layout_odd_high)
{
	/* One page above the hole. */
	ck_assert_int_eq(mem__init(&mem, 3 * GiB + MEM_PAGE_SIZE), 0);
	ck_assert_uint_eq(mem.nr_slots, 2);
	ck_assert_uint_eq(mem.slots[1].size, MEM_PAGE_SIZE);
	ck_assert_ptr_nonnull(mem__gpa_to_hva(&mem, 4 * GiB, MEM_PAGE_SIZE));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 4 * GiB, MEM_PAGE_SIZE + 1));
}
END_TEST

START_TEST(test_gpa_bounds)
{
	const uint64_t size = 64 * MiB;

	ck_assert_int_eq(mem__init(&mem, size), 0);
	ck_assert_ptr_eq(mem__gpa_to_hva(&mem, 0, size), mem.host);
	ck_assert_ptr_eq(mem__gpa_to_hva(&mem, size - 1, 1), mem.host + size - 1);
	ck_assert_ptr_eq(mem__gpa_to_hva(&mem, size - 8, 8), mem.host + size - 8);
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, size, 1));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, size - 1, 2));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 0, size + 1));
	/* Lengths and addresses chosen to wrap a careless gpa + len. */
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 0, UINT64_MAX));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 4096, UINT64_MAX - 4095));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, size - 1, UINT64_MAX));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, UINT64_MAX, 1));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, UINT64_MAX - 4095, 4096));
}
END_TEST

START_TEST(test_gpa_cross_hole)
{
	ck_assert_int_eq(mem__init(&mem, 8 * GiB), 0);
	ck_assert_ptr_nonnull(mem__gpa_to_hva(&mem, 3 * GiB - 4096, 4096));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 3 * GiB - 4096, 4097));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 3 * GiB - 1, 2));
	/* A range from low RAM to high RAM is not contiguous in the guest. */
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 3 * GiB - 1, 1 * GiB + 2));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 4 * GiB - 1, 2));
	ck_assert_ptr_nonnull(mem__gpa_to_hva(&mem, 4 * GiB, 5 * GiB));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 4 * GiB, 5 * GiB + 1));
	ck_assert_ptr_null(mem__gpa_to_hva(&mem, 9 * GiB - 1, UINT64_MAX));
}
END_TEST

START_TEST(test_read_write)
{
	const uint64_t size = 4 * GiB;
	uint8_t buf[16], out[16];

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0xa0 + i);
	ck_assert_int_eq(mem__init(&mem, size), 0);

	ck_assert_int_eq(mem__write(&mem, 4 * GiB + 100, buf, sizeof(buf)), 0);
	ck_assert_mem_eq(mem.host + 3 * GiB + 100, buf, sizeof(buf));
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(mem__read(&mem, 4 * GiB + 100, out, sizeof(out)), 0);
	ck_assert_mem_eq(out, buf, sizeof(buf));

	ck_assert_int_eq(mem__write(&mem, 3 * GiB - 8, buf, sizeof(buf)), -EFAULT);
	ck_assert_int_eq(mem__read(&mem, 3 * GiB - 8, out, sizeof(out)), -EFAULT);
	ck_assert_int_eq(mem__write(&mem, 3 * GiB + 4096, buf, 1), -EFAULT);
	ck_assert_int_eq(mem__read(&mem, 5 * GiB - 8, out, sizeof(out)), -EFAULT);
	ck_assert_int_eq(mem__read(&mem, UINT64_MAX - 3, out, 8), -EFAULT);
	ck_assert_int_eq(mem__write(&mem, 5 * GiB, buf, 1), -EFAULT);
	/* A refused write leaves the bytes before the hole alone. */
	ck_assert_uint_eq(mem.host[3 * GiB - 8], 0);
}
END_TEST

static void check_region(const struct mem_region *r, uint64_t addr, uint64_t size,
			 uint32_t type)
{
	ck_assert_uint_eq(r->addr, addr);
	ck_assert_uint_eq(r->size, size);
	ck_assert_uint_eq(r->type, type);
}

START_TEST(test_e820_64m)
{
	struct mem_region r[8];
	unsigned n;

	ck_assert_int_eq(mem__init(&mem, 64 * MiB), 0);
	n = mem__e820(&mem, r, 8);
	ck_assert_uint_eq(n, 3);
	check_region(&r[0], 0, 0x9fc00, MEM_E820_RAM);
	check_region(&r[1], 0x9fc00, 0x100000 - 0x9fc00, MEM_E820_RESERVED);
	check_region(&r[2], 0x100000, 63 * MiB, MEM_E820_RAM);
	/* Truncated to what the caller has room for. */
	ck_assert_uint_eq(mem__e820(&mem, r, 2), 2);
	ck_assert_uint_eq(mem__e820(&mem, r, 0), 0);
}
END_TEST

START_TEST(test_e820_8g)
{
	struct mem_region r[8];
	uint64_t ram = 0;
	unsigned n;

	ck_assert_int_eq(mem__init(&mem, 8 * GiB), 0);
	n = mem__e820(&mem, r, 8);
	ck_assert_uint_eq(n, 4);
	check_region(&r[0], 0, 0x9fc00, MEM_E820_RAM);
	check_region(&r[1], 0x9fc00, 0x100000 - 0x9fc00, MEM_E820_RESERVED);
	check_region(&r[2], 0x100000, 3 * GiB - 0x100000, MEM_E820_RAM);
	check_region(&r[3], 4 * GiB, 5 * GiB, MEM_E820_RAM);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			ck_assert_uint_ge(r[i].addr, r[i - 1].addr + r[i - 1].size);
		if (r[i].type == MEM_E820_RAM)
			ram += r[i].size;
	}
	/* Everything but the legacy hole below 1 MiB is usable RAM. */
	ck_assert_uint_eq(ram, 8 * GiB - (0x100000 - 0x9fc00));
}
END_TEST

/* Resident pages of this process, in bytes (from /proc/self/statm). */
static uint64_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t memfd_bytes(void)
{
	struct stat st;

	ck_assert_int_eq(fstat(mem.memfd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

START_TEST(test_sparse_64g)
{
	const uint64_t size = 64 * GiB;
	uint64_t rss0 = rss_bytes();
	uint8_t *lo, *hi;

	ck_assert_int_eq(mem__init(&mem, size), 0);
	ck_assert_uint_eq(mem.nr_slots, 2);
	ck_assert_uint_eq(memfd_bytes(), 0);
	lo = mem__gpa_to_hva(&mem, 1 * MiB, 1);
	hi = mem__gpa_to_hva(&mem, 4 * GiB + size - 3 * GiB - 1, 1);
	ck_assert_ptr_nonnull(lo);
	ck_assert_ptr_nonnull(hi);
	*lo = 1;
	*hi = 2;
	/* Two pages touched; allow for a huge page should shmem use them. */
	ck_assert_uint_le(memfd_bytes(), 2 * 2 * MiB);
	ck_assert_uint_le(rss_bytes(), rss0 + 2 * 2 * MiB + 1 * MiB);
	ck_assert_uint_eq(*lo, 1);
	ck_assert_uint_eq(*hi, 2);
}
END_TEST

START_TEST(test_discard_all)
{
	const uint64_t size = 16 * MiB;
	uint8_t pat[4096], out[4096], zero[4096] = { 0 };

	memset(pat, 0x5a, sizeof(pat));
	ck_assert_int_eq(mem__init(&mem, size), 0);
	ck_assert_int_eq(mem__write(&mem, 0, pat, sizeof(pat)), 0);
	ck_assert_int_eq(mem__write(&mem, 8 * MiB + 123, pat, sizeof(pat)), 0);
	ck_assert_int_eq(mem__write(&mem, size - sizeof(pat), pat, sizeof(pat)), 0);
	ck_assert_uint_gt(memfd_bytes(), 0);

	ck_assert_int_eq(mem__discard_all(&mem), 0);
	ck_assert_uint_eq(memfd_bytes(), 0);
	ck_assert_int_eq(mem__read(&mem, 0, out, sizeof(out)), 0);
	ck_assert_mem_eq(out, zero, sizeof(out));
	ck_assert_int_eq(mem__read(&mem, 8 * MiB + 123, out, sizeof(out)), 0);
	ck_assert_mem_eq(out, zero, sizeof(out));
	ck_assert_int_eq(mem__read(&mem, size - sizeof(out), out, sizeof(out)), 0);
	ck_assert_mem_eq(out, zero, sizeof(out));
	/* The size and the mapping survive: RAM is usable again at once. */
	ck_assert_uint_eq(mem.size, size);
	ck_assert_int_eq(mem__write(&mem, 0, pat, sizeof(pat)), 0);
	ck_assert_uint_eq(mem.host[0], 0x5a);
}
END_TEST

static Suite *mem_suite(void)
{
	Suite *s = suite_create("mem");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_layout_small);
	tcase_add_test(tc, test_layout_exactly_low);
	tcase_add_test(tc, test_layout_4g);
	tcase_add_test(tc, test_layout_odd_high);
	tcase_add_test(tc, test_gpa_bounds);
	tcase_add_test(tc, test_gpa_cross_hole);
	tcase_add_test(tc, test_read_write);
	tcase_add_test(tc, test_e820_64m);
	tcase_add_test(tc, test_e820_8g);
	tcase_add_test(tc, test_sparse_64g);
	tcase_add_test(tc, test_discard_all);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mem_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
