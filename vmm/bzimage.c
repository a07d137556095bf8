/*
 * Linux bzImage loader: the x86 64-bit boot protocol (2.12 and later), as
 * described in the kernel's Documentation/arch/x86/boot.rst.
 *
 * Only the protected-mode part of the image goes into guest memory; the
 * real-mode setup code is never run, because we enter the kernel's 64-bit
 * entry point directly with a boot_params we build ourselves.
 *
 * Every field of the image is untrusted: the whole plan (where the kernel,
 * initrd and command line go) is checked before anything is written, so a
 * refused image leaves guest memory untouched.  Header fields are read by
 * offset with explicit little-endian helpers instead of a packed struct, so
 * a short or odd file can never be read past its end by accident.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "vmm/boot.h"

/* Setup header fields, as offsets into the image (and into boot_params). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP_OFFSET 0x201 /* second byte of the jump: header length - 0x202 */
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_VID_MODE 0x1fa
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_EXT_LOADER_VER 0x226
#define HDR_EXT_LOADER_TYPE 0x227
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_SETUP_DATA 0x250
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_MIN_END 0x264 /* a 2.12 header reaches at least past init_size */

#define BOOT_FLAG_MAGIC 0xaa55
#define HDR_MAGIC_VALUE 0x53726448 /* "HdrS" */
#define PROTOCOL_MIN 0x020c        /* 2.12: xloadflags, 64-bit entry */

#define LOADFLAG_LOADED_HIGH 0x01
#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01

#define SECTOR 512
#define SETUP_SECTS_DEFAULT 4 /* setup_sects == 0 means 4, for old images */
#define ENTRY64_OFFSET 0x200  /* startup_64 in the protected-mode part    */

/* boot_params ("zero page") layout. */
#define BP_SIZE 4096
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR_LIMIT 0x290 /* the setup header area ends where edd_mbr_sig_buffer starts */
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_E820_ENTRY_SIZE 20

#define RELOC_BASE 0x1000000ULL      /* where a relocatable kernel goes otherwise */
#define INITRD_ADDR_MAX_DEFAULT 0x37ffffffU /* boot.rst: for kernels that leave it 0 */
/*
 * Offset (from the real-mode base) of the end of the setup heap, minus 0x200
 * as the protocol asks.  The 64-bit entry never uses the heap, but the flag
 * and pointer tell the kernel the loader is a modern one.
 */
#define HEAP_END_PTR (0xe000 - 0x200)
#define VID_MODE_NORMAL 0xffff

/* Everything decided about an image before a byte is written. */
struct bz_plan {
	const uint8_t *image;
	size_t hdr_end;     /* end of the setup header in the image (bounded) */
	const uint8_t *pm;  /* protected-mode part                           */
	size_t pm_len;
	uint64_t load;      /* guest-physical address of the protected part   */
	uint64_t kernel_end;
	uint64_t initrd_addr;
	size_t cmdline_len; /* without the NUL                                */
};

static uint16_t get16(const uint8_t *p, size_t off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	return (uint32_t)get16(p, off) | (uint32_t)get16(p, off + 2) << 16;
}

static uint64_t get64(const uint8_t *p, size_t off)
{
	return (uint64_t)get32(p, off) | (uint64_t)get32(p, off + 4) << 32;
}

static void put16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	put16(p, off, (uint16_t)v);
	put16(p, off + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	put32(p, off, (uint32_t)v);
	put32(p, off + 4, (uint32_t)(v >> 32));
}

int bzimage__probe(const void *image, size_t len)
{
	return image && len >= HDR_MAGIC + 4 && get32(image, HDR_MAGIC) == HDR_MAGIC_VALUE;
}

/* RAM the kernel may use: [0, low_top).  Linux wants its image below 4 GiB. */
static uint64_t low_ram_top(const struct vm_mem *mem)
{
	return mem->size < MEM_LOW_LIMIT ? mem->size : MEM_LOW_LIMIT;
}

static bool fits_low(const struct vm_mem *mem, uint64_t addr, uint64_t len)
{
	uint64_t top = low_ram_top(mem);

	return addr >= BOOT_KERNEL_MIN && addr <= top && len <= top - addr;
}

/* The header: magic, version, capabilities, and where the parts are. */
static int check_header(const uint8_t *img, size_t len, struct bz_plan *plan,
			const char **err)
{
	size_t setup_sects, setup_len;

	if (len < HDR_MIN_END) {
		*err = "bzImage: file too short to hold a 2.12 setup header (needs 0x264 bytes)";
		return -ENOEXEC;
	}
	if (get16(img, HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC) {
		*err = "bzImage: boot_flag at 0x1fe is not 0xAA55";
		return -ENOEXEC;
	}
	if (get32(img, HDR_MAGIC) != HDR_MAGIC_VALUE) {
		*err = "bzImage: no \"HdrS\" magic at 0x202";
		return -ENOEXEC;
	}
	if (get16(img, HDR_VERSION) < PROTOCOL_MIN) {
		*err = "bzImage: boot protocol older than 2.12 (no 64-bit entry)";
		return -ENOEXEC;
	}
	if (!(img[HDR_LOADFLAGS] & LOADFLAG_LOADED_HIGH)) {
		*err = "bzImage: loadflags lack LOADED_HIGH (a zImage, which loads at 0x10000)";
		return -ENOEXEC;
	}
	if (!(get16(img, HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
		*err = "bzImage: xloadflags lack XLF_KERNEL_64 (no 64-bit entry point)";
		return -ENOEXEC;
	}

	/* The jump at 0x200 skips the header: its target says how long it is. */
	plan->hdr_end = 0x202 + (size_t)img[HDR_JUMP_OFFSET];
	if (plan->hdr_end < HDR_MIN_END) {
		*err = "bzImage: setup header length (jump at 0x200) is shorter than protocol 2.12 needs";
		return -EINVAL;
	}
	if (plan->hdr_end > BP_HDR_LIMIT)
		plan->hdr_end = BP_HDR_LIMIT; /* a newer header: we know only this much */

	setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : SETUP_SECTS_DEFAULT;
	/* At least 2 sectors (0x400), so the header (<= 0x301) is inside them. */
	setup_len = (setup_sects + 1) * SECTOR;
	if (setup_len >= len) {
		*err = "bzImage: setup_sects runs past the end of the file (no protected-mode part)";
		return -EINVAL;
	}
	plan->pm = img + setup_len;
	plan->pm_len = len - setup_len;
	if (plan->pm_len <= ENTRY64_OFFSET) {
		*err = "bzImage: protected-mode part ends before the 64-bit entry at offset 0x200";
		return -EINVAL;
	}
	return 0;
}

/*
 * Where the protected-mode kernel goes.  init_size is what the kernel needs
 * from its load address while it decompresses and relocates itself, so that
 * whole range must be RAM below the hole.
 */
static int place_kernel(const struct vm_mem *mem, const uint8_t *img,
			struct bz_plan *plan, const char **err)
{
	uint64_t pref = get64(img, HDR_PREF_ADDRESS);
	uint64_t align = get32(img, HDR_KERNEL_ALIGNMENT);
	uint64_t extent = get32(img, HDR_INIT_SIZE);

	if (extent < plan->pm_len)
		extent = plan->pm_len;

	if (pref >= BOOT_KERNEL_MIN && fits_low(mem, pref, extent)) {
		plan->load = pref;
	} else if (!img[HDR_RELOCATABLE]) {
		/* A non-relocatable kernel runs only where it was linked. */
		if (pref < BOOT_KERNEL_MIN) {
			*err = "bzImage: non-relocatable kernel wants to load below 1 MiB";
			return -EINVAL;
		}
		*err = "bzImage: non-relocatable kernel (init_size) does not fit in RAM at pref_address";
		return -E2BIG;
	} else {
		if (align == 0 || (align & (align - 1))) {
			*err = "bzImage: kernel_alignment is not a power of two";
			return -EINVAL;
		}
		plan->load = (RELOC_BASE + align - 1) & ~(align - 1);
		if (!fits_low(mem, plan->load, extent)) {
			*err = "bzImage: kernel (init_size) does not fit in RAM below 3 GiB";
			return -E2BIG;
		}
	}
	plan->kernel_end = plan->load + extent;
	return 0;
}

/* The initrd goes as high as the kernel allows, page-aligned, above the kernel. */
static int place_initrd(const struct vm_mem *mem, const uint8_t *img,
			const struct boot_args *args, struct bz_plan *plan,
			const char **err)
{
	uint64_t max = get32(img, HDR_INITRD_ADDR_MAX);
	uint64_t limit = low_ram_top(mem);

	plan->initrd_addr = 0;
	if (!args->initrd || args->initrd_len == 0)
		return 0;
	if (max == 0)
		max = INITRD_ADDR_MAX_DEFAULT;
	/* initrd_addr_max is the highest address the initrd may occupy. */
	if (max + 1 < limit)
		limit = max + 1;
	if (args->initrd_len > limit) {
		*err = "bzImage: initrd is larger than the RAM below initrd_addr_max";
		return -E2BIG;
	}
	plan->initrd_addr = (limit - args->initrd_len) & ~(MEM_PAGE_SIZE - 1);
	if (plan->initrd_addr < plan->kernel_end) {
		*err = "bzImage: initrd does not fit between the kernel's init_size end and initrd_addr_max";
		return -E2BIG;
	}
	return 0;
}

static int check_cmdline(const uint8_t *img, const struct boot_args *args,
			 struct bz_plan *plan, const char **err)
{
	plan->cmdline_len = args->cmdline ? strnlen(args->cmdline, BOOT_CMDLINE_MAX) : 0;
	if (plan->cmdline_len >= BOOT_CMDLINE_MAX) {
		*err = "bzImage: command line longer than the loader's 64 KiB buffer";
		return -E2BIG;
	}
	/* cmdline_size is the longest line the kernel accepts, without the NUL. */
	if (plan->cmdline_len > get32(img, HDR_CMDLINE_SIZE)) {
		*err = "bzImage: command line longer than the kernel's cmdline_size";
		return -E2BIG;
	}
	return 0;
}

static void fill_e820(const struct vm_mem *mem, uint8_t *bp)
{
	struct mem_region r[BP_E820_MAX];
	unsigned n = mem__e820(mem, r, BP_E820_MAX);

	for (unsigned i = 0; i < n; i++) {
		size_t off = BP_E820_TABLE + (size_t)i * BP_E820_ENTRY_SIZE;

		put64(bp, off, r[i].addr);
		put64(bp, off + 8, r[i].size);
		put32(bp, off + 16, r[i].type);
	}
	bp[BP_E820_ENTRIES] = (uint8_t)n;
}

/*
 * The zero page: the image's own setup header, then the fields a boot
 * loader owns.  Fields we do not use (setup_data, ext_*) are cleared so a
 * hostile image cannot hand the kernel pointers of its own choosing.
 */
static void build_boot_params(const struct vm_mem *mem, const struct boot_args *args,
			      const struct bz_plan *plan, uint8_t *bp)
{
	memset(bp, 0, BP_SIZE);
	memcpy(bp + HDR_SETUP_SECTS, plan->image + HDR_SETUP_SECTS,
	       plan->hdr_end - HDR_SETUP_SECTS);

	put16(bp, HDR_VID_MODE, VID_MODE_NORMAL);
	bp[HDR_TYPE_OF_LOADER] = 0xff; /* "undefined" loader: no registered id */
	bp[HDR_EXT_LOADER_VER] = 0;
	bp[HDR_EXT_LOADER_TYPE] = 0;
	bp[HDR_LOADFLAGS] |= LOADFLAG_CAN_USE_HEAP;
	put16(bp, HDR_HEAP_END_PTR, HEAP_END_PTR);
	put32(bp, HDR_CMD_LINE_PTR, BOOT_CMDLINE_ADDR);
	put32(bp, HDR_RAMDISK_IMAGE, (uint32_t)plan->initrd_addr);
	put32(bp, HDR_RAMDISK_SIZE, plan->initrd_addr ? (uint32_t)args->initrd_len : 0);
	put64(bp, HDR_SETUP_DATA, 0);
	fill_e820(mem, bp);
}

static int write_all(struct vm_mem *mem, const struct boot_args *args,
		     const struct bz_plan *plan, const char **err)
{
	static const char empty[1];
	uint8_t bp[BP_SIZE];
	int ret;

	ret = mem__write(mem, plan->load, plan->pm, plan->pm_len);
	if (ret)
		goto fail;
	if (plan->initrd_addr) {
		ret = mem__write(mem, plan->initrd_addr, args->initrd, args->initrd_len);
		if (ret)
			goto fail;
	}
	/* Always hand the kernel a command line, empty if none was given. */
	ret = mem__write(mem, BOOT_CMDLINE_ADDR, args->cmdline ? args->cmdline : empty,
			 plan->cmdline_len);
	if (ret == 0)
		ret = mem__write(mem, BOOT_CMDLINE_ADDR + plan->cmdline_len, empty, 1);
	if (ret)
		goto fail;
	build_boot_params(mem, args, plan, bp);
	ret = mem__write(mem, BOOT_PARAMS_ADDR, bp, sizeof(bp));
	if (ret)
		goto fail;
	return 0;

fail:
	*err = "bzImage: guest RAM too small for the boot parameters, command line or kernel";
	return ret;
}

int bzimage__load(struct vm_mem *mem, const struct boot_args *args,
		  struct boot_entry *entry, const char **err)
{
	struct bz_plan plan = { .image = args->kernel };
	const char *unused;
	int ret;

	if (!err)
		err = &unused;
	*err = NULL;
	if (!args->kernel) {
		*err = "bzImage: no kernel image";
		return -EINVAL;
	}
	ret = check_header(args->kernel, args->kernel_len, &plan, err);
	if (ret)
		return ret;
	ret = place_kernel(mem, args->kernel, &plan, err);
	if (ret)
		return ret;
	ret = place_initrd(mem, args->kernel, args, &plan, err);
	if (ret)
		return ret;
	ret = check_cmdline(args->kernel, args, &plan, err);
	if (ret)
		return ret;

	ret = write_all(mem, args, &plan, err);
	if (ret)
		return ret;
	ret = boot__setup_long_mode(mem, entry);
	if (ret) {
		*err = "bzImage: guest RAM too small for the boot page tables";
		return ret;
	}
	entry->mode = BOOT_LINUX64;
	entry->rip = plan.load + ENTRY64_OFFSET;
	entry->rsi = BOOT_PARAMS_ADDR;
	entry->rbx = 0;
	return 0;
}
