/*
 * bzImage loader, long-mode tables and MP table, without KVM: images are
 * built in memory, loaded into a bare struct vm_mem, and the results read
 * back from guest memory.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot.h"
#include "vmm/mptable.h"

#define RAM_SIZE (64ULL << 20)
#define IMG_SETUP_SECTS 1
#define IMG_PM_OFFSET ((IMG_SETUP_SECTS + 1) * 512)
#define IMG_PM_LEN 0x1000
#define IMG_LEN (IMG_PM_OFFSET + IMG_PM_LEN)
#define IMG_PREF 0x1000000ULL
#define IMG_INIT_SIZE 0x200000U
#define CMDLINE "console=ttyS0 bootparams expect=hello-linux"

static struct vm_mem mem;
static uint8_t img[IMG_LEN];
static uint8_t initrd[3 * 4096 + 17];

static void put16(uint8_t *p, size_t off, uint16_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static uint8_t get8(uint64_t gpa)
{
	uint8_t v;

	ck_assert_int_eq(mem__read(&mem, gpa, &v, sizeof(v)), 0);
	return v;
}

static uint16_t get16(uint64_t gpa)
{
	uint16_t v;

	ck_assert_int_eq(mem__read(&mem, gpa, &v, sizeof(v)), 0);
	return v;
}

static uint32_t get32(uint64_t gpa)
{
	uint32_t v;

	ck_assert_int_eq(mem__read(&mem, gpa, &v, sizeof(v)), 0);
	return v;
}

static uint64_t get64(uint64_t gpa)
{
	uint64_t v;

	ck_assert_int_eq(mem__read(&mem, gpa, &v, sizeof(v)), 0);
	return v;
}

/* A minimal but well-formed 2.15 image: one setup sector, 4 KiB payload. */
static void make_image(void)
{
	memset(img, 0, sizeof(img));
	img[0x1f1] = IMG_SETUP_SECTS;
	put16(img, 0x1fe, 0xaa55);
	img[0x200] = 0xeb;              /* jmp short over the header */
	img[0x201] = 0x6a;              /* header ends at 0x26c      */
	memcpy(img + 0x202, "HdrS", 4);
	put16(img, 0x206, 0x020f);
	img[0x211] = 0x01;              /* LOADED_HIGH               */
	put32(img, 0x22c, 0x7fffffff);  /* initrd_addr_max           */
	put32(img, 0x230, 0x200000);    /* kernel_alignment          */
	img[0x234] = 1;                 /* relocatable               */
	put16(img, 0x236, 0x0001);      /* XLF_KERNEL_64             */
	put32(img, 0x238, 2048);        /* cmdline_size              */
	put64(img, 0x250, 0xdeadbeef);  /* setup_data: must be cleared */
	put64(img, 0x258, IMG_PREF);
	put32(img, 0x260, IMG_INIT_SIZE);
	for (size_t i = 0; i < IMG_PM_LEN; i++)
		img[IMG_PM_OFFSET + i] = (uint8_t)(i * 7 + 1);
}

static void setup(void)
{
	ck_assert_int_eq(mem__init(&mem, RAM_SIZE), 0);
	make_image();
	memset(initrd, 0x5a, sizeof(initrd));
	memcpy(initrd, "INITRD-MAGIC", 12);
}

static void teardown(void)
{
	mem__exit(&mem);
}

static int load(const char *cmdline, bool with_initrd, struct boot_entry *e, const char **err)
{
	struct boot_args args = {
		.kernel = img, .kernel_len = sizeof(img), .cmdline = cmdline,
		.initrd = with_initrd ? initrd : NULL,
		.initrd_len = with_initrd ? sizeof(initrd) : 0,
	};

	*err = NULL;
	return bzimage__load(&mem, &args, e, err);
}

/* A refused image must say why and must not have written boot_params. */
static void expect_refused(int want, bool with_initrd)
{
	struct boot_entry e = { 0 };
	const char *err;

	ck_assert_int_eq(load(CMDLINE, with_initrd, &e, &err), want);
	ck_assert_ptr_nonnull(err);
	ck_assert_uint_eq(get32(BOOT_PARAMS_ADDR + 0x202), 0);
}

START_TEST(test_good_image)
{
	struct boot_entry e = { 0 };
	const char *err;
	char line[sizeof(CMDLINE)];
	uint32_t rd, rd_size;
	uint8_t head[12];

	ck_assert_int_eq(load(CMDLINE, true, &e, &err), 0);
	ck_assert_ptr_null(err);

	ck_assert_int_eq(e.mode, BOOT_LINUX64);
	ck_assert_uint_eq(e.rip, IMG_PREF + 0x200);
	ck_assert_uint_eq(e.rsi, BOOT_PARAMS_ADDR);
	ck_assert_uint_eq(e.cr3, BOOT_PML4_ADDR);
	ck_assert_uint_eq(e.gdt, BOOT_GDT_ADDR);
	ck_assert_uint_eq(e.gdt_limit, 31);

	/* The protected-mode part, byte for byte, at pref_address. */
	ck_assert_mem_eq(mem__gpa_to_hva(&mem, IMG_PREF, IMG_PM_LEN), img + IMG_PM_OFFSET,
			 IMG_PM_LEN);

	/* The setup header was copied, and the loader's fields filled in. */
	ck_assert_uint_eq(get16(BOOT_PARAMS_ADDR + 0x1fe), 0xaa55);
	ck_assert_uint_eq(get32(BOOT_PARAMS_ADDR + 0x202), 0x53726448);
	ck_assert_uint_eq(get16(BOOT_PARAMS_ADDR + 0x206), 0x020f);
	ck_assert_uint_eq(get32(BOOT_PARAMS_ADDR + 0x260), IMG_INIT_SIZE);
	ck_assert_uint_eq(get8(BOOT_PARAMS_ADDR + 0x210), 0xff);
	ck_assert_uint_eq(get8(BOOT_PARAMS_ADDR + 0x211), 0x81);
	ck_assert_uint_ne(get16(BOOT_PARAMS_ADDR + 0x224), 0);
	ck_assert_uint_eq(get64(BOOT_PARAMS_ADDR + 0x250), 0);

	ck_assert_uint_eq(get32(BOOT_PARAMS_ADDR + 0x228), BOOT_CMDLINE_ADDR);
	ck_assert_int_eq(mem__read(&mem, BOOT_CMDLINE_ADDR, line, sizeof(line)), 0);
	ck_assert_str_eq(line, CMDLINE);

	/* e820: what mem__e820 says, RAM from 1 MiB covering the kernel. */
	{
		struct mem_region r[8];
		unsigned n = mem__e820(&mem, r, 8);
		bool covered = false;

		ck_assert_uint_gt(n, 0);
		ck_assert_uint_eq(get8(BOOT_PARAMS_ADDR + 0x1e8), n);
		for (unsigned i = 0; i < n; i++) {
			uint64_t a = get64(BOOT_PARAMS_ADDR + 0x2d0 + i * 20);
			uint64_t s = get64(BOOT_PARAMS_ADDR + 0x2d0 + i * 20 + 8);
			uint32_t t = get32(BOOT_PARAMS_ADDR + 0x2d0 + i * 20 + 16);

			ck_assert_uint_eq(a, r[i].addr);
			ck_assert_uint_eq(s, r[i].size);
			ck_assert_uint_eq(t, r[i].type);
			if (t == 1 && a <= IMG_PREF && a + s >= IMG_PREF + IMG_INIT_SIZE)
				covered = true;
		}
		ck_assert(covered);
	}

	/* The initrd: high, page-aligned, above the kernel, intact. */
	rd = get32(BOOT_PARAMS_ADDR + 0x218);
	rd_size = get32(BOOT_PARAMS_ADDR + 0x21c);
	ck_assert_uint_eq(rd_size, sizeof(initrd));
	ck_assert_uint_eq(rd % 4096, 0);
	ck_assert_uint_ge(rd, IMG_PREF + IMG_INIT_SIZE);
	ck_assert_uint_le((uint64_t)rd + rd_size, RAM_SIZE);
	ck_assert_uint_gt((uint64_t)rd + rd_size, RAM_SIZE - 4096);
	ck_assert_int_eq(mem__read(&mem, rd, head, sizeof(head)), 0);
	ck_assert_mem_eq(head, "INITRD-MAGIC", 12);
}
END_TEST

START_TEST(test_no_initrd_no_cmdline)
{
	struct boot_entry e = { 0 };
	const char *err;

	put32(img, 0x218, 0x1234000); /* stale values from the file are not kept */
	put32(img, 0x21c, 0x1000);
	ck_assert_int_eq(load(NULL, false, &e, &err), 0);
	ck_assert_uint_eq(get32(BOOT_PARAMS_ADDR + 0x218), 0);
	ck_assert_uint_eq(get32(BOOT_PARAMS_ADDR + 0x21c), 0);
	ck_assert_uint_eq(get32(BOOT_PARAMS_ADDR + 0x228), BOOT_CMDLINE_ADDR);
	ck_assert_uint_eq(get8(BOOT_CMDLINE_ADDR), 0);
}
END_TEST

START_TEST(test_initrd_addr_max)
{
	struct boot_entry e = { 0 };
	const char *err;
	uint32_t rd;

	put32(img, 0x22c, 0x1800000 - 1); /* the initrd must end by 24 MiB */
	ck_assert_int_eq(load(CMDLINE, true, &e, &err), 0);
	rd = get32(BOOT_PARAMS_ADDR + 0x218);
	ck_assert_uint_eq(rd % 4096, 0);
	ck_assert_uint_le((uint64_t)rd + sizeof(initrd) - 1, 0x1800000 - 1);
	ck_assert_uint_ge(rd, 0x1800000 - sizeof(initrd) - 4096);
}
END_TEST

START_TEST(test_relocated)
{
	struct boot_entry e = { 0 };
	const char *err;

	/* pref_address beyond RAM: a relocatable kernel goes to 16 MiB, aligned. */
	put64(img, 0x258, 0x40000000);
	put32(img, 0x230, 0x2000000);
	ck_assert_int_eq(load(CMDLINE, false, &e, &err), 0);
	ck_assert_uint_eq(e.rip, 0x2000000 + 0x200);
}
END_TEST

START_TEST(test_setup_sects_zero_means_four)
{
	static uint8_t big[5 * 512 + 0x400];
	struct boot_args args = { .kernel = big, .kernel_len = sizeof(big) };
	struct boot_entry e = { 0 };
	const char *err;

	memcpy(big, img, 0x400);
	big[0x1f1] = 0;
	big[5 * 512 + 0x200] = 0xc3;
	ck_assert_int_eq(bzimage__load(&mem, &args, &e, &err), 0);
	ck_assert_uint_eq(get8(IMG_PREF + 0x200), 0xc3);
}
END_TEST

START_TEST(test_probe)
{
	ck_assert(bzimage__probe(img, sizeof(img)));
	ck_assert(!bzimage__probe(img, 0x205));
	ck_assert(!bzimage__probe("\x7f" "ELF", 4));
	img[0x202] = 'X';
	ck_assert(!bzimage__probe(img, sizeof(img)));
}
END_TEST

START_TEST(test_too_short)
{
	struct boot_args args = { .kernel = img, .kernel_len = 0x263 };
	struct boot_entry e = { 0 };
	const char *err = NULL;

	ck_assert_int_eq(bzimage__load(&mem, &args, &e, &err), -ENOEXEC);
	ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_bad_boot_flag)
{
	put16(img, 0x1fe, 0x55aa);
	expect_refused(-ENOEXEC, false);
}
END_TEST

START_TEST(test_bad_magic)
{
	memcpy(img + 0x202, "HdrZ", 4);
	expect_refused(-ENOEXEC, false);
}
END_TEST

START_TEST(test_old_version)
{
	put16(img, 0x206, 0x020b);
	expect_refused(-ENOEXEC, false);
}
END_TEST

START_TEST(test_no_kernel64)
{
	put16(img, 0x236, 0x0002);
	expect_refused(-ENOEXEC, false);
}
END_TEST

START_TEST(test_not_loaded_high)
{
	img[0x211] = 0;
	expect_refused(-ENOEXEC, false);
}
END_TEST

START_TEST(test_setup_sects_past_end)
{
	img[0x1f1] = 40;
	expect_refused(-EINVAL, false);
}
END_TEST

START_TEST(test_short_header_length)
{
	img[0x201] = 0x20;
	expect_refused(-EINVAL, false);
}
END_TEST

START_TEST(test_huge_init_size)
{
	put32(img, 0x260, 0xfffff000);
	expect_refused(-E2BIG, false);
}
END_TEST

START_TEST(test_init_size_past_ram)
{
	/* Fits at neither pref_address nor 16 MiB in 64 MiB of RAM. */
	put32(img, 0x260, 60 << 20);
	expect_refused(-E2BIG, false);
}
END_TEST

START_TEST(test_pref_wraps)
{
	/* pref_address + init_size overflows 64 bits; not relocatable. */
	put64(img, 0x258, 0xfffffffffffff000ULL);
	img[0x234] = 0;
	expect_refused(-E2BIG, false);
}
END_TEST

START_TEST(test_nonrelocatable_low)
{
	put64(img, 0x258, 0x10000);
	img[0x234] = 0;
	expect_refused(-EINVAL, false);
}
END_TEST

START_TEST(test_bad_alignment)
{
	put64(img, 0x258, 0);
	put32(img, 0x230, 0x300000);
	expect_refused(-EINVAL, false);
}
END_TEST

START_TEST(test_cmdline_too_long)
{
	put32(img, 0x238, 10);
	expect_refused(-E2BIG, false);
}
END_TEST

START_TEST(test_initrd_does_not_fit)
{
	/* initrd_addr_max inside the kernel's init_size range. */
	put32(img, 0x22c, IMG_PREF + 0x1000);
	expect_refused(-E2BIG, true);
}
END_TEST

START_TEST(test_long_mode_tables)
{
	struct boot_entry e = { 0 };

	ck_assert_int_eq(boot__setup_long_mode(&mem, &e), 0);
	ck_assert_uint_eq(get64(BOOT_PML4_ADDR) & ~0xfffULL, BOOT_PDPT_ADDR);
	for (unsigned i = 0; i < 4; i++)
		ck_assert_uint_eq(get64(BOOT_PDPT_ADDR + 8 * i) & ~0xfffULL, BOOT_PD_ADDR + 4096 * i);
	/* The last 2 MiB page below 4 GiB maps itself, present, writable, large. */
	ck_assert_uint_eq(get64(BOOT_PD_ADDR + 4 * 4096 - 8), 0xffe00000ULL | 0x83);
	ck_assert_uint_eq(get64(BOOT_GDT_ADDR + 0x10), 0x00af9b000000ffffULL);
	ck_assert_uint_eq(get64(BOOT_GDT_ADDR + 0x18), 0x00cf93000000ffffULL);
}
END_TEST

static uint8_t sum(uint64_t gpa, size_t len)
{
	const uint8_t *p = mem__gpa_to_hva(&mem, gpa, len);
	uint8_t s = 0;

	ck_assert_ptr_nonnull(p);
	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

START_TEST(test_mptable)
{
	const unsigned cpus = 3;
	uint32_t cfg;
	uint16_t len, count;
	unsigned seen_cpus = 0, ioints = 0;
	uint64_t at;

	ck_assert_int_eq(mptable__write(&mem, cpus), 0);
	ck_assert_uint_eq(get32(MPTABLE_ADDR), 0x5f504d5f); /* "_MP_" */
	ck_assert_uint_eq(sum(MPTABLE_ADDR, 16), 0);
	cfg = get32(MPTABLE_ADDR + 4);
	ck_assert_uint_eq(get32(cfg), 0x504d4350); /* "PCMP" */
	len = get16(cfg + 4);
	count = get16(cfg + 34);
	ck_assert_uint_eq(sum(cfg, len), 0);
	ck_assert_uint_eq(get32(cfg + 36), MPTABLE_LAPIC_ADDR);

	at = cfg + 44;
	for (unsigned i = 0; i < count; i++) {
		uint8_t type = get8(at);

		ck_assert_uint_le(type, 4);
		if (type == 0) {
			ck_assert_uint_eq(get8(at + 1), seen_cpus);
			ck_assert_uint_eq(get8(at + 3), seen_cpus == 0 ? 3 : 1);
			seen_cpus++;
		} else if (type == 2) {
			ck_assert_uint_eq(get8(at + 1), cpus);
			ck_assert_uint_eq(get32(at + 4), MPTABLE_IOAPIC_ADDR);
		} else if (type == 3) {
			/* IRQ n to pin n, the timer too (KVM's default routing). */
			ck_assert_uint_eq(get8(at + 7), get8(at + 5));
			ioints++;
		}
		at += type == 0 ? 20 : 8;
	}
	ck_assert_uint_eq(at, cfg + len);
	ck_assert_uint_eq(seen_cpus, cpus);
	ck_assert_uint_eq(ioints, 15);
	ck_assert_int_eq(mptable__write(&mem, 0), -EINVAL);
	ck_assert_int_eq(mptable__write(&mem, 255), -EINVAL);
	ck_assert_int_eq(mptable__write(&mem, 254), 0);
}
END_TEST

static Suite *bzimage_suite(void)
{
	Suite *s = suite_create("bzimage");
	TCase *good = tcase_create("good"), *bad = tcase_create("bad");
	TCase *tables = tcase_create("tables");

	tcase_add_checked_fixture(good, setup, teardown);
	tcase_add_test(good, test_good_image);
	tcase_add_test(good, test_no_initrd_no_cmdline);
	tcase_add_test(good, test_initrd_addr_max);
	tcase_add_test(good, test_relocated);
	tcase_add_test(good, test_setup_sects_zero_means_four);
	tcase_add_test(good, test_probe);
	suite_add_tcase(s, good);

	tcase_add_checked_fixture(bad, setup, teardown);
	tcase_add_test(bad, test_too_short);
	tcase_add_test(bad, test_bad_boot_flag);
	tcase_add_test(bad, test_bad_magic);
	tcase_add_test(bad, test_old_version);
	tcase_add_test(bad, test_no_kernel64);
	tcase_add_test(bad, test_not_loaded_high);
	tcase_add_test(bad, test_setup_sects_past_end);
	tcase_add_test(bad, test_short_header_length);
	tcase_add_test(bad, test_huge_init_size);
	tcase_add_test(bad, test_init_size_past_ram);
	tcase_add_test(bad, test_pref_wraps);
	tcase_add_test(bad, test_nonrelocatable_low);
	tcase_add_test(bad, test_bad_alignment);
	tcase_add_test(bad, test_cmdline_too_long);
	tcase_add_test(bad, test_initrd_does_not_fit);
	suite_add_tcase(s, bad);

	tcase_add_checked_fixture(tables, setup, teardown);
	tcase_add_test(tables, test_long_mode_tables);
	tcase_add_test(tables, test_mptable);
	suite_add_tcase(s, tables);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bzimage_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
