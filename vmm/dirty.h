/*
 * Dirty-page tracking for replication: which pages of guest RAM changed
 * since the last look, whoever wrote them - the guest (KVM's dirty log) or
 * the VMM itself (device emulation, state restore: dirty__mark).
 *
 * Bitmaps are indexed by RAM offset (the memfd offset, see mem.h), one bit
 * per 4 KiB page, so one bitmap covers every memory slot.
 *
 * Protocol: dirty__start, then repeatedly dirty__harvest and copy the pages
 * it reported; then dirty__stop.  Read a page's contents only after the
 * harvest that reported it returned: a write that races with a harvest is
 * then either seen by that copy or reported by the next harvest.
 */
#ifndef VMM_DIRTY_H
#define VMM_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

struct dirty_bitmap {
	uint64_t *bits;
	uint64_t nr_pages;
};

int dirty_bitmap__init(struct dirty_bitmap *b, uint64_t mem_size);
void dirty_bitmap__free(struct dirty_bitmap *b);
void dirty_bitmap__clear(struct dirty_bitmap *b);
uint64_t dirty_bitmap__count(const struct dirty_bitmap *b);

static inline bool dirty_bitmap__test(const struct dirty_bitmap *b, uint64_t page)
{
	return page < b->nr_pages && (b->bits[page / 64] >> (page % 64)) & 1;
}

/*
 * Turn tracking on: KVM's manual-protect mode when the host has it
 * (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, enabled before the slots get their
 * dirty-log flag), then KVM_MEM_LOG_DIRTY_PAGES on every slot.  Main thread.
 */
int dirty__start(struct vm *vm);

/*
 * OR every page dirtied since the previous harvest (or dirty__start) into
 * out (sized for the VM's RAM) and clear the record: KVM_GET_DIRTY_LOG, then
 * KVM_CLEAR_DIRTY_LOG for what it reported (manual-protect mode), per slot;
 * plus the pages dirty__mark recorded.  Works with vCPUs running.
 */
int dirty__harvest(struct vm *vm, struct dirty_bitmap *out);

/* Turn tracking off and free its state. */
int dirty__stop(struct vm *vm);

bool dirty__active(const struct vm *vm);

/*
 * The VMM wrote [gpa, gpa + len) of guest RAM: report it at the next
 * harvest.  Call it after the write (see the protocol above).  Any thread,
 * lock-free; a no-op when tracking is off or the range is not RAM.
 */
void dirty__mark(struct vm *vm, uint64_t gpa, uint64_t len);
/* The same by RAM offset (for whole-RAM writers such as a state restore). */
void dirty__mark_offset(struct vm *vm, uint64_t offset, uint64_t len);

/* For vm__destroy: free the tracker without touching KVM. */
void dirty__free(struct vm *vm);

#endif
