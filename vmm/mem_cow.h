/*
 * Copy-on-write capture of guest RAM for checkpoints (docs/checkpointing.md,
 * "Copy-on-write capture"): in the pause, the epoch's dirty pages are
 * write-protected with userfaultfd (UFFDIO_REGISTER_MODE_WP over the whole
 * mapping, UFFDIO_WRITEPROTECT on the dirty runs) and the guest runs again;
 * the replication thread then copies them into the checkpoint and lifts the
 * protection run by run.  A write to a page not copied yet - by a vCPU
 * through KVM, by KVM itself, or by a device thread through the mapping -
 * faults into this module's handler thread, which copies that page (and
 * the protected pages after it) into a pool allocated once, then lifts the
 * protection: the writer waits for its page only.
 *
 * Every page of the epoch reaches the checkpoint as it was at the pause.
 * Needs UFFD_FEATURE_PAGEFAULT_FLAG_WP and write protection of shmem
 * (UFFD_FEATURE_WP_HUGETLBFS_SHMEM); mem_cow__start says -EOPNOTSUPP
 * without them (the caller copies in the pause instead) and -EBUSY when
 * the mapping has a userfaultfd already (post-copy's).
 */
#ifndef VMM_MEM_COW_H
#define VMM_MEM_COW_H

#include <stdint.h>

#include "vmm/dirty.h"
#include "vmm/mem.h"

struct mem_cow;

/* Main thread, the VM held: register RAM, allocate, start the handler. */
int mem_cow__start(struct vm_mem *mem, struct mem_cow **out);
/* Lift every protection, unregister, stop the handler; any thread, no copy running. */
void mem_cow__stop(struct mem_cow *c);

/* Main thread, in the pause, the previous epoch copied: protect pages. */
int mem_cow__protect(struct mem_cow *c, const struct dirty_bitmap *pages);

/*
 * Replication thread, the guest running: every protected page, as of the
 * pause, to emit in ascending runs of at most max_run pages; each run's
 * protection is lifted after emit.  On failure every protection is lifted.
 */
typedef int (*mem_cow_emit)(void *arg, uint64_t off, const uint8_t *pages, uint32_t n);
int mem_cow__copy(struct mem_cow *c, const struct dirty_bitmap *pages, uint32_t max_run,
		  mem_cow_emit emit, void *arg);

#endif
