/*
 * Kernel loaders.  A loader reads an image from a byte buffer (never trusting
 * it), writes the kernel, its boot information and any tables it needs into
 * guest memory, and says how the boot vCPU must start.  Loaders need no KVM,
 * so the fuzzers run them against a bare struct vm_mem.
 */
#ifndef VMM_BOOT_H
#define VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/mem.h"

/* Fixed guest-physical layout below 1 MiB used by the loaders. */
#define BOOT_GDT_ADDR 0x0500        /* flat GDT for the 64-bit Linux entry    */
#define BOOT_START_INFO_ADDR 0x6000 /* PVH hvm_start_info                     */
#define BOOT_MEMMAP_ADDR 0x6100     /* PVH memory map entries                 */
#define BOOT_PARAMS_ADDR 0x7000     /* Linux boot_params ("zero page")        */
#define BOOT_PML4_ADDR 0x9000       /* identity page tables for 64-bit entry  */
#define BOOT_PDPT_ADDR 0xa000
#define BOOT_PD_ADDR 0xb000         /* four PDs: 0-4 GiB in 2 MiB pages       */
#define BOOT_CMDLINE_ADDR 0x20000
#define BOOT_CMDLINE_MAX 0x10000    /* including the NUL                      */
#define BOOT_KERNEL_MIN 0x100000    /* nothing is loaded below 1 MiB          */

enum boot_mode {
	BOOT_PVH32,   /* 32-bit protected mode, paging off, ebx = start_info   */
	BOOT_LINUX64, /* long mode, identity paging, rsi = boot_params         */
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rbx;    /* PVH: address of hvm_start_info */
	uint64_t rsi;    /* Linux: address of boot_params  */
	uint64_t cr3;    /* Linux: PML4                    */
	uint64_t gdt;    /* Linux: GDT base                */
	uint16_t gdt_limit;
};

struct boot_args {
	const void *kernel;
	size_t kernel_len;
	const void *initrd; /* may be NULL */
	size_t initrd_len;
	const char *cmdline; /* may be NULL */
};

/*
 * Load a PVH ELF kernel (ELF64 or ELF32 with a XEN_ELFNOTE_PHYS32_ENTRY note).
 * Errors: -ENOEXEC not an ELF / no PVH note (message through *err), -EINVAL
 * malformed, -E2BIG does not fit in RAM.  *err points to a static string.
 */
int pvh__load(struct vm_mem *mem, const struct boot_args *args,
	      struct boot_entry *entry, const char **err);

/* Load a Linux bzImage through the 64-bit boot protocol (2.12+). */
int bzimage__load(struct vm_mem *mem, const struct boot_args *args,
		  struct boot_entry *entry, const char **err);

/* Does this image look like a bzImage (the "HdrS" magic at 0x202)? */
int bzimage__probe(const void *image, size_t len);

/* Write the identity page tables and flat GDT used by BOOT_LINUX64. */
int boot__setup_long_mode(struct vm_mem *mem, struct boot_entry *entry);

#endif
