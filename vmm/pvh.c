/*
 * PVH boot: an ELF kernel with a Xen PHYS32_ENTRY note is loaded at its
 * physical addresses and entered in 32-bit protected mode with EBX pointing
 * to an hvm_start_info (Xen's arch-x86/hvm/start_info.h ABI, version 1).
 * Every field of the image is untrusted.
 */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "vmm/boot.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578
#define PVH_MAX_MEMMAP 8
#define PVH_MODLIST_ADDR 0x6200

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};

/* ELF32 and ELF64 program headers reduced to what loading needs. */
struct seg {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};

static int get_seg(const uint8_t *img, size_t len, bool is64, unsigned i, struct seg *s)
{
	if (is64) {
		const Elf64_Ehdr *eh = (const void *)img;
		Elf64_Phdr ph;
		uint64_t off = eh->e_phoff + (uint64_t)i * sizeof(ph);

		if (eh->e_phentsize != sizeof(ph) || off > len || len - off < sizeof(ph))
			return -EINVAL;
		memcpy(&ph, img + off, sizeof(ph));
		*s = (struct seg){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
	} else {
		const Elf32_Ehdr *eh = (const void *)img;
		Elf32_Phdr ph;
		uint64_t off = eh->e_phoff + (uint64_t)i * sizeof(ph);

		if (eh->e_phentsize != sizeof(ph) || off > len || len - off < sizeof(ph))
			return -EINVAL;
		memcpy(&ph, img + off, sizeof(ph));
		*s = (struct seg){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
	}
	if (s->offset > len || s->filesz > len - s->offset)
		return -EINVAL;
	return 0;
}

/* Walk one PT_NOTE segment; 0 and *entry set when the PVH note is there. */
static int find_pvh_note(const uint8_t *img, const struct seg *s, uint64_t *entry)
{
	uint64_t pos = 0;

	while (s->filesz - pos >= sizeof(Elf32_Nhdr)) {
		Elf32_Nhdr nh;
		uint64_t name_off, desc_off, next;

		memcpy(&nh, img + s->offset + pos, sizeof(nh));
		name_off = pos + sizeof(nh);
		desc_off = name_off + (((uint64_t)nh.n_namesz + 3) & ~3ULL);
		next = desc_off + (((uint64_t)nh.n_descsz + 3) & ~3ULL);
		if (next > s->filesz)
			return -EINVAL;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    !memcmp(img + s->offset + name_off, "Xen", 4) &&
		    (nh.n_descsz == 4 || nh.n_descsz == 8)) {
			uint64_t v = 0;

			memcpy(&v, img + s->offset + desc_off, nh.n_descsz);
			*entry = v;
			return 0;
		}
		pos = next;
	}
	return -ENOENT;
}

static int check_header(const uint8_t *img, size_t len, bool *is64, unsigned *phnum,
			const char **err)
{
	if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG)) {
		*err = "not an ELF file (bad magic)";
		return -ENOEXEC;
	}
	*is64 = img[EI_CLASS] == ELFCLASS64;
	if ((!*is64 && img[EI_CLASS] != ELFCLASS32) || img[EI_DATA] != ELFDATA2LSB ||
	    len < (*is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
		*err = "ELF: not a little-endian ELF32/ELF64 file, or truncated header";
		return -ENOEXEC;
	}
	if (*is64) {
		const Elf64_Ehdr *eh = (const void *)img;

		*phnum = eh->e_phnum;
		if (eh->e_machine != EM_X86_64 && eh->e_machine != EM_386)
			goto bad_machine;
	} else {
		const Elf32_Ehdr *eh = (const void *)img;

		*phnum = eh->e_phnum;
		if (eh->e_machine != EM_386 && eh->e_machine != EM_X86_64)
			goto bad_machine;
	}
	if (*phnum == 0 || *phnum > 256) {
		*err = "ELF: no program headers, or an absurd number of them";
		return -EINVAL;
	}
	return 0;
bad_machine:
	*err = "ELF: not an x86 image";
	return -ENOEXEC;
}

static int load_segment(struct vm_mem *mem, const uint8_t *img, const struct seg *s,
			const char **err)
{
	uint8_t *dst;

	if (s->filesz > s->memsz) {
		*err = "ELF: a segment's file size exceeds its memory size";
		return -EINVAL;
	}
	if (s->paddr < BOOT_KERNEL_MIN) {
		*err = "ELF: a segment would load below 1 MiB (reserved for boot data)";
		return -EINVAL;
	}
	dst = mem__gpa_to_hva(mem, s->paddr, s->memsz);
	if (!dst) {
		*err = "ELF: a segment does not fit in guest RAM";
		return -E2BIG;
	}
	memcpy(dst, img + s->offset, s->filesz);
	memset(dst + s->filesz, 0, s->memsz - s->filesz);
	return 0;
}

/* The initrd becomes boot module 0, placed as high as possible below 3 GiB. */
static int place_initrd(struct vm_mem *mem, const struct boot_args *args, uint64_t kernel_end,
			struct hvm_start_info *si, const char **err)
{
	uint64_t top = mem->slots[0].size, addr;
	struct hvm_modlist_entry mod = { 0 };

	if (args->initrd_len > top || (top - args->initrd_len) < kernel_end) {
		*err = "PVH: the initrd does not fit in guest RAM above the kernel";
		return -E2BIG;
	}
	addr = (top - args->initrd_len) & ~(MEM_PAGE_SIZE - 1);
	mod.paddr = addr;
	mod.size = args->initrd_len;
	if (addr < kernel_end || mem__write(mem, addr, args->initrd, args->initrd_len) < 0 ||
	    mem__write(mem, PVH_MODLIST_ADDR, &mod, sizeof(mod)) < 0) {
		*err = "PVH: the initrd does not fit in guest RAM above the kernel";
		return -E2BIG;
	}
	si->nr_modules = 1;
	si->modlist_paddr = PVH_MODLIST_ADDR;
	return 0;
}

static int write_start_info(struct vm_mem *mem, const struct boot_args *args,
			    uint64_t kernel_end, const char **err)
{
	struct hvm_start_info si = { .magic = HVM_START_MAGIC, .version = 1 };
	struct hvm_memmap_entry mm[PVH_MAX_MEMMAP];
	struct mem_region r[PVH_MAX_MEMMAP];
	unsigned n = mem__e820(mem, r, PVH_MAX_MEMMAP);
	size_t cl = args->cmdline ? strlen(args->cmdline) + 1 : 0;

	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_entry){ r[i].addr, r[i].size, r[i].type, 0 };
	si.memmap_paddr = BOOT_MEMMAP_ADDR;
	si.memmap_entries = n;
	if (cl > BOOT_CMDLINE_MAX) {
		*err = "the kernel command line is too long (64 KiB at most)";
		return -E2BIG;
	}
	if (args->initrd) {
		int ret = place_initrd(mem, args, kernel_end, &si, err);

		if (ret)
			return ret;
	}
	if (cl) {
		si.cmdline_paddr = BOOT_CMDLINE_ADDR;
		if (mem__write(mem, BOOT_CMDLINE_ADDR, args->cmdline, cl) < 0)
			goto nofit;
	}
	if (mem__write(mem, BOOT_MEMMAP_ADDR, mm, n * sizeof(mm[0])) < 0 ||
	    mem__write(mem, BOOT_START_INFO_ADDR, &si, sizeof(si)) < 0)
		goto nofit;
	return 0;
nofit:
	*err = "guest RAM is too small for the boot information";
	return -E2BIG;
}

int pvh__load(struct vm_mem *mem, const struct boot_args *args,
	      struct boot_entry *entry, const char **err)
{
	const uint8_t *img = args->kernel;
	uint64_t pvh_entry = 0, kernel_end = 0;
	bool is64, found = false;
	unsigned phnum;
	struct seg s;
	int ret;

	ret = check_header(img, args->kernel_len, &is64, &phnum, err);
	for (unsigned i = 0; !ret && i < phnum; i++) {
		ret = get_seg(img, args->kernel_len, is64, i, &s);
		if (ret)
			*err = "ELF: a program header lies outside the file";
		else if (s.type == PT_NOTE && !found)
			found = find_pvh_note(img, &s, &pvh_entry) == 0;
	}
	if (ret)
		return ret;
	if (!found) {
		*err = "ELF: no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): not a PVH kernel";
		return -ENOEXEC;
	}
	if (pvh_entry > 0xffffffffULL || !mem__gpa_to_hva(mem, pvh_entry, 1)) {
		*err = "ELF: the PVH entry point is not in guest RAM below 4 GiB";
		return -EINVAL;
	}
	for (unsigned i = 0; i < phnum; i++) {
		get_seg(img, args->kernel_len, is64, i, &s);
		if (s.type != PT_LOAD || !s.memsz)
			continue;
		ret = load_segment(mem, img, &s, err);
		if (ret)
			return ret;
		if (s.paddr + s.memsz > kernel_end)
			kernel_end = s.paddr + s.memsz;
	}
	ret = write_start_info(mem, args, kernel_end, err);
	if (ret)
		return ret;
	*entry = (struct boot_entry){ .mode = BOOT_PVH32, .rip = pvh_entry,
				      .rbx = BOOT_START_INFO_ADDR };
	return 0;
}
