/*
 * What the 64-bit Linux entry needs from the loader besides boot_params:
 * long mode with paging on, an identity map covering the kernel, the zero
 * page and the command line, and a GDT with flat __BOOT_CS (0x10) and
 * __BOOT_DS (0x18) descriptors (Documentation/arch/x86/boot.rst, "64-bit
 * Boot Protocol").  The vCPU code loads the segment registers with those
 * selectors; this file only writes the tables into guest memory.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "vmm/boot.h"

#define PTE_PRESENT 0x001ULL
#define PTE_WRITE 0x002ULL
#define PTE_LARGE 0x080ULL /* PS: a 2 MiB page in a PD entry */

#define PT_ENTRIES 512
#define NR_PDS 4 /* 4 x 1 GiB: the map covers 0-4 GiB, the PCI hole included */
#define LARGE_PAGE (2ULL << 20)

/*
 * Flat descriptors.  Accessed bits are preset so the CPU never writes to
 * the GDT, and the types match what the vCPU code puts in the hidden parts
 * of CS (0xb) and DS/SS (0x3).  Index 1 stays null, as in Linux's own
 * boot GDT, so the selectors come out as 0x10 and 0x18.
 */
#define GDT_CODE64 0x00af9b000000ffffULL /* P, DPL 0, code r/x, L, G */
#define GDT_DATA 0x00cf93000000ffffULL   /* P, DPL 0, data r/w, D/B, G */

int boot__setup_long_mode(struct vm_mem *mem, struct boot_entry *entry)
{
	/* Whole pages are written so stale memory (after a reset) cannot leak in. */
	uint64_t pml4[PT_ENTRIES] = { 0 };
	uint64_t pdpt[PT_ENTRIES] = { 0 };
	uint64_t pd[NR_PDS * PT_ENTRIES];
	const uint64_t gdt[4] = { 0, 0, GDT_CODE64, GDT_DATA };
	int ret;

	pml4[0] = BOOT_PDPT_ADDR | PTE_PRESENT | PTE_WRITE;
	for (unsigned i = 0; i < NR_PDS; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * MEM_PAGE_SIZE) | PTE_PRESENT | PTE_WRITE;
	for (unsigned i = 0; i < NR_PDS * PT_ENTRIES; i++)
		pd[i] = (uint64_t)i * LARGE_PAGE | PTE_PRESENT | PTE_WRITE | PTE_LARGE;

	ret = mem__write(mem, BOOT_PML4_ADDR, pml4, sizeof(pml4));
	if (ret == 0)
		ret = mem__write(mem, BOOT_PDPT_ADDR, pdpt, sizeof(pdpt));
	if (ret == 0)
		ret = mem__write(mem, BOOT_PD_ADDR, pd, sizeof(pd));
	if (ret == 0)
		ret = mem__write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt));
	if (ret)
		return ret;

	entry->cr3 = BOOT_PML4_ADDR;
	entry->gdt = BOOT_GDT_ADDR;
	entry->gdt_limit = sizeof(gdt) - 1;
	return 0;
}
