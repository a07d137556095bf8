/*
 * The PVH ELF loader without KVM: ELF64 and ELF32 images are built in memory
 * (one PT_LOAD, one PT_NOTE), loaded into a bare struct vm_mem, and the
 * results read back from guest memory.  The hvm_start_info is read at the
 * byte offsets of Xen's ABI (start_info.h), not through the loader's struct.
 */
#include "config.h"

#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot.h"

#define MiB (1ULL << 20)
#define RAM_SIZE (64 * MiB)
#define HVM_START_MAGIC 0x336ec578
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* File layout of the built image. */
#define OFF_PHDR 0x40
#define OFF_NOTE 0x100
#define OFF_DATA 0x200
#define NOTE_SIZE 24 /* 12-byte header, "Xen\0", 8-byte descriptor */

/* What to build; tests start from good_spec() and spoil one thing. */
struct spec {
	bool is64;
	bool note;          /* a PT_NOTE segment at all            */
	bool other_note;    /* a GNU note before the Xen one       */
	const char *name;   /* note name, 4 bytes with the NUL     */
	uint32_t type;      /* note type                           */
	uint64_t entry;     /* note descriptor                     */
	uint64_t paddr;
	uint64_t filesz, memsz;
	uint64_t file_off;  /* p_offset of the PT_LOAD             */
};

struct elf_img {
	uint8_t *buf;
	size_t len;
	size_t note_off, note_len; /* the PT_NOTE segment in the file */
};

static struct vm_mem mem;
static struct boot_entry entry;
static const char *err;

static void setup(void)
{
	ck_assert_int_eq(mem__init(&mem, RAM_SIZE), 0);
	memset(&entry, 0, sizeof(entry));
	err = NULL;
}

static void teardown(void)
{
	mem__exit(&mem);
}

static struct spec good_spec(bool is64)
{
	return (struct spec){
		.is64 = is64, .note = true, .name = "Xen", .type = XEN_ELFNOTE_PHYS32_ENTRY,
		.entry = 0x100040, .paddr = 0x100000, .filesz = 0x1234, .memsz = 0x3000,
		.file_off = OFF_DATA,
	};
}

static uint8_t payload_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

static void put_note(uint8_t *p, const char *name, uint32_t type, uint64_t desc, bool is64)
{
	uint32_t hdr[3] = { 4, is64 ? 8 : 4, type };

	memcpy(p, hdr, sizeof(hdr));
	memcpy(p + 12, name, 4);
	memcpy(p + 16, &desc, is64 ? 8 : 4);
}

static struct elf_img build(const struct spec *s)
{
	size_t note_len = (s->other_note ? NOTE_SIZE : 0) + NOTE_SIZE;
	struct elf_img im = { .note_off = OFF_NOTE, .note_len = note_len };
	uint16_t phnum = s->note ? 2 : 1;

	im.len = OFF_DATA + s->filesz;
	im.buf = calloc(1, im.len);
	ck_assert_ptr_nonnull(im.buf);
	memcpy(im.buf, ELFMAG, SELFMAG);
	im.buf[EI_CLASS] = s->is64 ? ELFCLASS64 : ELFCLASS32;
	im.buf[EI_DATA] = ELFDATA2LSB;
	im.buf[EI_VERSION] = EV_CURRENT;
	if (s->is64) {
		Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64,
				  .e_version = EV_CURRENT, .e_entry = 0xdead0000,
				  .e_phoff = OFF_PHDR, .e_ehsize = sizeof(eh),
				  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = phnum };
		Elf64_Phdr ph[2] = {
			{ .p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X, .p_offset = s->file_off,
			  .p_vaddr = 0xffffffff80000000ULL + s->paddr, .p_paddr = s->paddr,
			  .p_filesz = s->filesz, .p_memsz = s->memsz, .p_align = 0x1000 },
			{ .p_type = PT_NOTE, .p_flags = PF_R, .p_offset = OFF_NOTE,
			  .p_filesz = note_len, .p_memsz = note_len, .p_align = 4 },
		};

		memcpy(eh.e_ident, im.buf, EI_NIDENT);
		memcpy(im.buf, &eh, sizeof(eh));
		memcpy(im.buf + OFF_PHDR, ph, phnum * sizeof(ph[0]));
	} else {
		Elf32_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_386,
				  .e_version = EV_CURRENT, .e_entry = 0xdead0000,
				  .e_phoff = OFF_PHDR, .e_ehsize = sizeof(eh),
				  .e_phentsize = sizeof(Elf32_Phdr), .e_phnum = phnum };
		Elf32_Phdr ph[2] = {
			{ .p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X,
			  .p_offset = (uint32_t)s->file_off, .p_vaddr = 0xc0000000u + (uint32_t)s->paddr,
			  .p_paddr = (uint32_t)s->paddr, .p_filesz = (uint32_t)s->filesz,
			  .p_memsz = (uint32_t)s->memsz, .p_align = 0x1000 },
			{ .p_type = PT_NOTE, .p_flags = PF_R, .p_offset = OFF_NOTE,
			  .p_filesz = (uint32_t)note_len, .p_memsz = (uint32_t)note_len, .p_align = 4 },
		};

		memcpy(eh.e_ident, im.buf, EI_NIDENT);
		memcpy(im.buf, &eh, sizeof(eh));
		memcpy(im.buf + OFF_PHDR, ph, phnum * sizeof(ph[0]));
	}
	if (s->note) {
		size_t off = OFF_NOTE;

		if (s->other_note) {
			put_note(im.buf + off, "GNU", NT_GNU_BUILD_ID, 0x1122334455667788ULL, true);
			off += NOTE_SIZE;
		}
		put_note(im.buf + off, s->name, s->type, s->entry, s->is64);
	}
	for (size_t i = 0; i < s->filesz; i++)
		im.buf[OFF_DATA + i] = payload_byte(i);
	return im;
}

/* p_filesz of the PT_NOTE program header (index 1), for either class. */
static void set_note_filesz(struct elf_img *im, bool is64, uint64_t v)
{
	if (is64) {
		size_t off = OFF_PHDR + sizeof(Elf64_Phdr) + offsetof(Elf64_Phdr, p_filesz);

		memcpy(im->buf + off, &v, 8);
	} else {
		uint32_t v32 = (uint32_t)v;
		size_t off = OFF_PHDR + sizeof(Elf32_Phdr) + offsetof(Elf32_Phdr, p_filesz);

		memcpy(im->buf + off, &v32, 4);
	}
}

static int load(const struct elf_img *im, const void *initrd, size_t initrd_len,
		const char *cmdline)
{
	struct boot_args args = { .kernel = im->buf, .kernel_len = im->len, .initrd = initrd,
				  .initrd_len = initrd_len, .cmdline = cmdline };

	return pvh__load(&mem, &args, &entry, &err);
}

static int load_spec(const struct spec *s)
{
	struct elf_img im = build(s);
	int ret = load(&im, NULL, 0, NULL);

	free(im.buf);
	return ret;
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

/* hvm_start_info field offsets (Xen public/arch-x86/hvm/start_info.h). */
#define SI_MAGIC 0
#define SI_VERSION 4
#define SI_NR_MODULES 12
#define SI_MODLIST 16
#define SI_CMDLINE 24
#define SI_RSDP 32
#define SI_MEMMAP 40
#define SI_MEMMAP_ENTRIES 48
#define SI(field) (BOOT_START_INFO_ADDR + (field))

static void check_memmap(void)
{
	struct mem_region want[8];
	unsigned n = mem__e820(&mem, want, 8);
	uint64_t mm = get64(SI(SI_MEMMAP));

	ck_assert_uint_eq(get32(SI(SI_MEMMAP_ENTRIES)), n);
	ck_assert_uint_ne(mm, 0);
	for (unsigned i = 0; i < n; i++) {
		/* struct hvm_memmap_entry: addr, size, type, reserved: 24 bytes. */
		ck_assert_uint_eq(get64(mm + 24 * i), want[i].addr);
		ck_assert_uint_eq(get64(mm + 24 * i + 8), want[i].size);
		ck_assert_uint_eq(get32(mm + 24 * i + 16), want[i].type);
	}
}

START_TEST(test_load_good)
{
	const bool is64 = _i;
	const char *cmdline = "console=ttyS0 count=3 hello";
	struct spec s = good_spec(is64);
	struct elf_img im = build(&s);
	char buf[64];
	uint8_t *seg;

	/* Garbage where the bss goes: the loader must clear it. */
	memset(mem.host + s.paddr, 0xcc, s.memsz + 0x1000);

	ck_assert_int_eq(load(&im, NULL, 0, cmdline), 0);
	ck_assert_int_eq(entry.mode, BOOT_PVH32);
	ck_assert_uint_eq(entry.rip, s.entry);
	ck_assert_uint_eq(entry.rbx, BOOT_START_INFO_ADDR);

	seg = mem__gpa_to_hva(&mem, s.paddr, s.memsz);
	ck_assert_ptr_nonnull(seg);
	for (size_t i = 0; i < s.filesz; i++)
		ck_assert_uint_eq(seg[i], payload_byte(i));
	for (size_t i = s.filesz; i < s.memsz; i++)
		ck_assert_uint_eq(seg[i], 0);
	/* Beyond memsz the loader wrote nothing. */
	ck_assert_uint_eq(seg[s.memsz], 0xcc);

	ck_assert_uint_eq(get32(SI(SI_MAGIC)), HVM_START_MAGIC);
	ck_assert_uint_ge(get32(SI(SI_VERSION)), 1);
	ck_assert_uint_eq(get32(SI(SI_NR_MODULES)), 0);
	ck_assert_uint_eq(get64(SI(SI_RSDP)), 0);
	ck_assert_uint_eq(get64(SI(SI_CMDLINE)), BOOT_CMDLINE_ADDR);
	ck_assert_int_eq(mem__read(&mem, get64(SI(SI_CMDLINE)), buf, strlen(cmdline) + 1), 0);
	ck_assert_str_eq(buf, cmdline);
	check_memmap();
	free(im.buf);
}
END_TEST

START_TEST(test_load_no_cmdline)
{
	struct spec s = good_spec(true);

	ck_assert_int_eq(load_spec(&s), 0);
	ck_assert_uint_eq(get64(SI(SI_CMDLINE)), 0);
	ck_assert_uint_eq(get32(SI(SI_MAGIC)), HVM_START_MAGIC);
}
END_TEST

START_TEST(test_note_after_other_note)
{
	struct spec s = good_spec(_i);

	s.other_note = true;
	ck_assert_int_eq(load_spec(&s), 0);
	ck_assert_uint_eq(entry.rip, s.entry);
}
END_TEST

START_TEST(test_not_elf)
{
	uint8_t junk[256];
	struct elf_img im = { .buf = junk, .len = sizeof(junk) };

	memset(junk, 0x90, sizeof(junk));
	ck_assert_int_eq(load(&im, NULL, 0, NULL), -ENOEXEC);
	ck_assert_ptr_nonnull(err);
	im.len = 3; /* shorter than the magic */
	memcpy(junk, ELFMAG, 3);
	ck_assert_int_eq(load(&im, NULL, 0, NULL), -ENOEXEC);
	im.len = 0;
	ck_assert_int_eq(load(&im, NULL, 0, NULL), -ENOEXEC);
}
END_TEST

START_TEST(test_truncated_header)
{
	struct spec s = good_spec(_i);
	struct elf_img im = build(&s);

	im.len = 40; /* the ELF identification, but not the whole header */
	ck_assert_int_lt(load(&im, NULL, 0, NULL), 0);
	ck_assert_ptr_nonnull(err);
	free(im.buf);
}
END_TEST

START_TEST(test_no_note)
{
	struct spec s = good_spec(_i);

	s.note = false;
	ck_assert_int_eq(load_spec(&s), -ENOEXEC);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(err, "PVH"));
}
END_TEST

START_TEST(test_wrong_note)
{
	struct spec s = good_spec(_i);

	s.type = 17; /* XEN_ELFNOTE_..., but not PHYS32_ENTRY */
	ck_assert_int_eq(load_spec(&s), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, "PVH"));
	s = good_spec(_i);
	s.name = "Xem";
	ck_assert_int_eq(load_spec(&s), -ENOEXEC);
}
END_TEST

START_TEST(test_segment_below_1m)
{
	struct spec s = good_spec(_i);

	s.paddr = 0x80000;
	s.entry = 0x80000;
	ck_assert_int_eq(load_spec(&s), -EINVAL);
	ck_assert_ptr_nonnull(err);
	/* Starting below 1 MiB and reaching above it is just as wrong. */
	s.paddr = BOOT_KERNEL_MIN - 0x1000;
	s.entry = BOOT_KERNEL_MIN;
	ck_assert_int_eq(load_spec(&s), -EINVAL);
	/* Boot data below 1 MiB is untouched. */
	ck_assert_uint_eq(mem.host[BOOT_KERNEL_MIN - 0x1000], 0);
}
END_TEST

START_TEST(test_segment_past_ram)
{
	struct spec s = good_spec(_i);

	s.paddr = RAM_SIZE - 0x1000; /* the bss runs off the end */
	s.entry = s.paddr;
	ck_assert_int_eq(load_spec(&s), -E2BIG);
	ck_assert_ptr_nonnull(err);
	s.paddr = RAM_SIZE + 0x100000; /* entirely outside */
	s.entry = 0x100000;
	ck_assert_int_eq(load_spec(&s), -E2BIG);
}
END_TEST

START_TEST(test_entry_outside_ram)
{
	struct spec s = good_spec(_i);

	s.entry = RAM_SIZE + 0x1000;
	ck_assert_int_lt(load_spec(&s), 0);
	ck_assert_ptr_nonnull(err);
	if (_i) {
		s.entry = 0x100000100000ULL; /* above 4 GiB: PVH enters in 32-bit mode */
		ck_assert_int_lt(load_spec(&s), 0);
	}
}
END_TEST

START_TEST(test_phdr_past_end)
{
	struct spec s = good_spec(_i);
	struct elf_img im = build(&s);
	uint64_t far = im.len - 8;

	if (_i)
		memcpy(im.buf + offsetof(Elf64_Ehdr, e_phoff), &far, 8);
	else
		memcpy(im.buf + offsetof(Elf32_Ehdr, e_phoff), &(uint32_t){ (uint32_t)far }, 4);
	ck_assert_int_eq(load(&im, NULL, 0, NULL), -EINVAL);
	ck_assert_ptr_nonnull(err);
	/* A huge e_phoff must not wrap around. */
	far = _i ? UINT64_MAX - 16 : 0xfffffff0u;
	if (_i)
		memcpy(im.buf + offsetof(Elf64_Ehdr, e_phoff), &far, 8);
	else
		memcpy(im.buf + offsetof(Elf32_Ehdr, e_phoff), &(uint32_t){ (uint32_t)far }, 4);
	ck_assert_int_eq(load(&im, NULL, 0, NULL), -EINVAL);
	free(im.buf);
}
END_TEST

START_TEST(test_segment_data_past_end)
{
	struct spec s = good_spec(_i);
	struct elf_img im = build(&s);

	im.len -= 1; /* the PT_LOAD's file bytes run one past the end */
	ck_assert_int_eq(load(&im, NULL, 0, NULL), -EINVAL);
	ck_assert_ptr_nonnull(err);
	free(im.buf);
	s.file_off = (uint64_t)-0x100 & (_i ? UINT64_MAX : 0xffffffffu);
	ck_assert_int_eq(load_spec(&s), -EINVAL);
}
END_TEST

START_TEST(test_filesz_gt_memsz)
{
	struct spec s = good_spec(_i);

	s.memsz = s.filesz - 1;
	ck_assert_int_eq(load_spec(&s), -EINVAL);
	ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_truncated_notes)
{
	static const uint64_t cuts[] = { 4, 12, 14, 16, 20 };
	struct spec s = good_spec(_i);

	for (unsigned i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct elf_img im;

		/* The 32-bit note is 20 bytes long: cut it short of that. */
		if (!s.is64 && cuts[i] >= 20)
			continue;
		im = build(&s);
		set_note_filesz(&im, s.is64, cuts[i]);
		ck_assert_int_lt(load(&im, NULL, 0, NULL), 0);
		ck_assert_ptr_nonnull(err);
		free(im.buf);
	}
}
END_TEST

START_TEST(test_note_sizes_lie)
{
	struct spec s = good_spec(_i);
	struct elf_img im = build(&s);
	uint32_t huge = 0xfffffffdu;

	/* namesz or descsz far past the segment, chosen to wrap 32-bit sums. */
	memcpy(im.buf + OFF_NOTE, &huge, 4);
	ck_assert_int_lt(load(&im, NULL, 0, NULL), 0);
	free(im.buf);
	im = build(&s);
	memcpy(im.buf + OFF_NOTE + 4, &huge, 4);
	ck_assert_int_lt(load(&im, NULL, 0, NULL), 0);
	free(im.buf);
	/* A note segment that lies outside the file. */
	im = build(&s);
	set_note_filesz(&im, s.is64, im.len);
	ck_assert_int_lt(load(&im, NULL, 0, NULL), 0);
	free(im.buf);
}
END_TEST

START_TEST(test_initrd)
{
	struct spec s = good_spec(_i);
	struct elf_img im = build(&s);
	size_t len = 3 * 4096 + 123;
	uint8_t *initrd = malloc(len);
	uint64_t modlist, paddr, size;

	ck_assert_ptr_nonnull(initrd);
	for (size_t i = 0; i < len; i++)
		initrd[i] = (uint8_t)(i * 13 + 1);
	ck_assert_int_eq(load(&im, initrd, len, "root=/dev/ram0"), 0);
	ck_assert_uint_eq(get32(SI(SI_NR_MODULES)), 1);
	modlist = get64(SI(SI_MODLIST));
	ck_assert_uint_ne(modlist, 0);
	/* struct hvm_modlist_entry: paddr, size, cmdline_paddr, reserved. */
	paddr = get64(modlist);
	size = get64(modlist + 8);
	ck_assert_uint_eq(size, len);
	ck_assert_uint_eq(paddr % 4096, 0);
	ck_assert_uint_ge(paddr, s.paddr + s.memsz);
	ck_assert_uint_le(paddr + size, RAM_SIZE);
	ck_assert_mem_eq(mem__gpa_to_hva(&mem, paddr, size), initrd, len);
	/* The module list itself does not overlap the start info or memory map. */
	ck_assert(modlist >= SI(56) || modlist + 32 <= BOOT_START_INFO_ADDR);
	ck_assert_uint_eq(get32(SI(SI_MAGIC)), HVM_START_MAGIC);
	check_memmap();
	free(initrd);
	free(im.buf);
}
END_TEST

START_TEST(test_initrd_too_big)
{
	struct spec s = good_spec(true);
	struct elf_img im = build(&s);
	size_t len = RAM_SIZE - s.paddr; /* would overlap the kernel */
	uint8_t *initrd = calloc(1, len);

	ck_assert_ptr_nonnull(initrd);
	ck_assert_int_eq(load(&im, initrd, len, NULL), -E2BIG);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(load(&im, initrd, RAM_SIZE + 4096, NULL), -E2BIG);
	free(initrd);
	free(im.buf);
}
END_TEST

START_TEST(test_cmdline_too_long)
{
	struct spec s = good_spec(true);
	struct elf_img im = build(&s);
	char *cl = malloc(BOOT_CMDLINE_MAX + 1);

	ck_assert_ptr_nonnull(cl);
	memset(cl, 'x', BOOT_CMDLINE_MAX);
	cl[BOOT_CMDLINE_MAX] = 0; /* one byte too many with the NUL */
	ck_assert_int_eq(load(&im, NULL, 0, cl), -E2BIG);
	cl[BOOT_CMDLINE_MAX - 1] = 0; /* exactly the maximum */
	ck_assert_int_eq(load(&im, NULL, 0, cl), 0);
	free(cl);
	free(im.buf);
}
END_TEST

static Suite *pvh_suite(void)
{
	Suite *s = suite_create("pvh");
	TCase *tc = tcase_create("load");

	tcase_add_checked_fixture(tc, setup, teardown);
	/* Loop tests run with _i = 0 (ELF32) and _i = 1 (ELF64). */
	tcase_add_loop_test(tc, test_load_good, 0, 2);
	tcase_add_test(tc, test_load_no_cmdline);
	tcase_add_loop_test(tc, test_note_after_other_note, 0, 2);
	tcase_add_test(tc, test_not_elf);
	tcase_add_loop_test(tc, test_truncated_header, 0, 2);
	tcase_add_loop_test(tc, test_no_note, 0, 2);
	tcase_add_loop_test(tc, test_wrong_note, 0, 2);
	tcase_add_loop_test(tc, test_segment_below_1m, 0, 2);
	tcase_add_loop_test(tc, test_segment_past_ram, 0, 2);
	tcase_add_loop_test(tc, test_entry_outside_ram, 0, 2);
	tcase_add_loop_test(tc, test_phdr_past_end, 0, 2);
	tcase_add_loop_test(tc, test_segment_data_past_end, 0, 2);
	tcase_add_loop_test(tc, test_filesz_gt_memsz, 0, 2);
	tcase_add_loop_test(tc, test_truncated_notes, 0, 2);
	tcase_add_loop_test(tc, test_note_sizes_lie, 0, 2);
	tcase_add_loop_test(tc, test_initrd, 0, 2);
	tcase_add_test(tc, test_initrd_too_big);
	tcase_add_test(tc, test_cmdline_too_long);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pvh_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
