/*
 * Guest RAM: one memfd mapped shared, split around the PCI hole into at most
 * two KVM memory slots.  Sparse: pages the guest never touches cost nothing.
 *
 *   guest-physical                   memfd offset
 *   [0, min(size, 3 GiB))            [0, ...)
 *   [4 GiB, 4 GiB + size - 3 GiB)    [3 GiB, size)
 */
#ifndef VMM_MEM_H
#define VMM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEM_PAGE_SIZE 4096ULL
#define MEM_LOW_LIMIT (3ULL << 30)   /* RAM below the hole ends here         */
#define MEM_HIGH_START (4ULL << 30)  /* RAM above the hole starts here       */
#define MEM_MAX_SLOTS 2

struct mem_slot {
	uint32_t id;
	uint64_t gpa;    /* guest-physical start                */
	uint64_t size;   /* bytes                               */
	uint64_t offset; /* offset in the memfd and the mapping */
};

struct vm_mem {
	int memfd;
	uint8_t *host;   /* the whole memfd, mapped MAP_SHARED   */
	uint64_t size;   /* bytes of RAM                         */
	unsigned nr_slots;
	struct mem_slot slots[MEM_MAX_SLOTS];
	bool dirty_logging;
};

/* Create the memfd and map it; no KVM involved (the fuzzers use this too). */
int mem__init(struct vm_mem *mem, uint64_t size);
void mem__exit(struct vm_mem *mem);

/* Register (or re-register with new flags) every slot with the KVM VM. */
int mem__register(struct vm_mem *mem, int vm_fd);
/* Turn KVM dirty-page logging on or off for every slot. */
int mem__set_dirty_logging(struct vm_mem *mem, int vm_fd, bool on);

/*
 * Host pointer for [gpa, gpa + len), or NULL when any byte of it is not RAM
 * or the range crosses the hole.  Every guest-supplied address goes through
 * this: the guest is untrusted.
 */
void *mem__gpa_to_hva(const struct vm_mem *mem, uint64_t gpa, uint64_t len);

/* Copy into / out of guest memory; -EFAULT when the range is not RAM. */
int mem__write(struct vm_mem *mem, uint64_t gpa, const void *src, uint64_t len);
int mem__read(const struct vm_mem *mem, uint64_t gpa, void *dst, uint64_t len);

/* Give every page back (contents read as zero afterwards): used on reset. */
int mem__discard_all(struct vm_mem *mem);

/* Give back the pages of [offset, offset + len) of the memfd. */
int mem__discard(struct vm_mem *mem, uint64_t offset, uint64_t len);

/*
 * Post-copy's destination: a userfaultfd (non-blocking) with the whole
 * mapping registered for missing pages, so that every touch of a page the
 * memfd lacks - by a vCPU through KVM or by the vmm - waits for it to be
 * placed (UFFDIO_COPY).  Unregistering wakes every waiter.
 */
int mem__uffd_register(struct vm_mem *mem, int *uffd);
int mem__uffd_unregister(struct vm_mem *mem, int uffd);

/* Fill an e820-style map of RAM and the legacy hole; returns entries used. */
struct mem_region {
	uint64_t addr, size;
	uint32_t type; /* MEM_E820_RAM or MEM_E820_RESERVED */
};
#define MEM_E820_RAM 1
#define MEM_E820_RESERVED 2
unsigned mem__e820(const struct vm_mem *mem, struct mem_region *out, unsigned max);

#endif
