/*
 * Dirty-page tracking through KVM's dirty log (per memory slot), in
 * manual-protect mode when the host has it.
 *
 * Why the dirty log and not the dirty ring: see docs/state-format.md,
 * "Dirty tracking" (measured with tests/bench/bench_dirty.c).  In short, a
 * harvest costs a bitmap copy per slot, independent of how many pages were
 * written; the ring needs enabling before the vCPUs exist, a reset ioctl
 * per harvest, and a vCPU exit whenever a ring fills.
 *
 * Why manual protect: plain KVM_GET_DIRTY_LOG write-protects the whole slot
 * again inside the ioctl, under the MMU lock, on every harvest.  With
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, GET only copies the bitmap and
 * KVM_CLEAR_DIRTY_LOG re-protects just the pages that were dirty.
 *
 * The tracker stays allocated from the first dirty__start until the VM is
 * destroyed: dirty__mark runs on vCPU threads without a lock and must never
 * see it freed.
 */
#include "config.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/dirty.h"
#include "vmm/vm.h"

struct dirty {
	bool active;                           /* atomic: marks are taken */
	bool manual;                           /* manual-protect mode on  */
	uint64_t nr_pages;
	uint64_t *marks;                       /* dirty__mark's pages     */
	uint64_t *slot_bits[MEM_MAX_SLOTS];    /* KVM_GET_DIRTY_LOG scratch */
};

static uint64_t words(uint64_t pages)
{
	return (pages + 63) / 64;
}

int dirty_bitmap__init(struct dirty_bitmap *b, uint64_t mem_size)
{
	b->nr_pages = mem_size / MEM_PAGE_SIZE;
	b->bits = calloc(words(b->nr_pages) ? words(b->nr_pages) : 1, sizeof(uint64_t));
	return b->bits ? 0 : -ENOMEM;
}

void dirty_bitmap__free(struct dirty_bitmap *b)
{
	free(b->bits);
	b->bits = NULL;
	b->nr_pages = 0;
}

void dirty_bitmap__clear(struct dirty_bitmap *b)
{
	memset(b->bits, 0, words(b->nr_pages) * sizeof(uint64_t));
}

uint64_t dirty_bitmap__count(const struct dirty_bitmap *b)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < words(b->nr_pages); i++)
		n += (uint64_t)__builtin_popcountll(b->bits[i]);
	return n;
}

static struct dirty *tracker(const struct vm *vm)
{
	return __atomic_load_n(&vm->dirty, __ATOMIC_ACQUIRE);
}

bool dirty__active(const struct vm *vm)
{
	struct dirty *d = tracker(vm);

	return d && __atomic_load_n(&d->active, __ATOMIC_ACQUIRE);
}

static struct dirty *alloc_tracker(struct vm *vm)
{
	struct dirty *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->nr_pages = vm->mem.size / MEM_PAGE_SIZE;
	d->marks = calloc(words(d->nr_pages), sizeof(uint64_t));
	if (!d->marks)
		goto err;
	for (unsigned i = 0; i < vm->mem.nr_slots; i++) {
		d->slot_bits[i] = calloc(words(vm->mem.slots[i].size / MEM_PAGE_SIZE),
					 sizeof(uint64_t));
		if (!d->slot_bits[i])
			goto err;
	}
	return d;
err:
	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++)
		free(d->slot_bits[i]);
	free(d->marks);
	free(d);
	return NULL;
}

int dirty__start(struct vm *vm)
{
	struct dirty *d = tracker(vm);
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
	};
	int ret;

	if (d && d->active)
		return -EALREADY;
	if (!d) {
		d = alloc_tracker(vm);
		if (!d)
			return -ENOMEM;
		__atomic_store_n(&vm->dirty, d, __ATOMIC_RELEASE);
	}
	/*
	 * The mode must be chosen before any slot logs: KVM decides at the
	 * moment KVM_MEM_LOG_DIRTY_PAGES is set whether to write-protect every
	 * page now (manual mode without INITIALLY_SET, as here) or never.
	 */
	d->manual = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0 &&
		    ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
	memset(d->marks, 0, words(d->nr_pages) * sizeof(uint64_t));
	__atomic_store_n(&d->active, true, __ATOMIC_RELEASE);
	ret = mem__set_dirty_logging(&vm->mem, vm->vm_fd, true);
	if (ret)
		__atomic_store_n(&d->active, false, __ATOMIC_RELEASE);
	return ret;
}

/* OR a slot's bitmap into the RAM-offset bitmap. */
static void merge_slot(uint64_t *out, const uint64_t *bits, const struct mem_slot *s)
{
	uint64_t first = s->offset / MEM_PAGE_SIZE, n = s->size / MEM_PAGE_SIZE;

	if (first % 64 == 0) {
		for (uint64_t w = 0; w < words(n); w++)
			out[first / 64 + w] |= bits[w];
		return;
	}
	for (uint64_t i = 0; i < n; i++)
		if ((bits[i / 64] >> (i % 64)) & 1)
			out[(first + i) / 64] |= 1ULL << ((first + i) % 64);
}

static bool any_set(const uint64_t *bits, uint64_t nwords)
{
	for (uint64_t i = 0; i < nwords; i++)
		if (bits[i])
			return true;
	return false;
}

static int harvest_slot(struct vm *vm, struct dirty *d, unsigned i, uint64_t *out)
{
	const struct mem_slot *s = &vm->mem.slots[i];
	uint64_t npages = s->size / MEM_PAGE_SIZE;
	struct kvm_dirty_log log = { .slot = s->id, .dirty_bitmap = d->slot_bits[i] };
	struct kvm_clear_dirty_log clear = {
		.slot = s->id, .first_page = 0, .num_pages = (uint32_t)npages,
		.dirty_bitmap = d->slot_bits[i],
	};

	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return -errno;
	if (!any_set(d->slot_bits[i], words(npages)))
		return 0;
	/* Re-protect exactly what we report: a write after this is in the next round. */
	if (d->manual && ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
		return -errno;
	merge_slot(out, d->slot_bits[i], s);
	return 0;
}

int dirty__harvest(struct vm *vm, struct dirty_bitmap *out)
{
	struct dirty *d = tracker(vm);
	int ret;

	if (!d || !d->active)
		return -EINVAL;
	if (out->nr_pages != d->nr_pages)
		return -EINVAL;
	for (unsigned i = 0; i < vm->mem.nr_slots; i++) {
		ret = harvest_slot(vm, d, i, out->bits);
		if (ret)
			return ret;
	}
	for (uint64_t w = 0; w < words(d->nr_pages); w++) {
		if (!__atomic_load_n(&d->marks[w], __ATOMIC_RELAXED))
			continue;
		out->bits[w] |= __atomic_exchange_n(&d->marks[w], 0, __ATOMIC_ACQ_REL);
	}
	return 0;
}

int dirty__stop(struct vm *vm)
{
	struct dirty *d = tracker(vm);

	if (!d || !d->active)
		return 0;
	__atomic_store_n(&d->active, false, __ATOMIC_RELEASE);
	return mem__set_dirty_logging(&vm->mem, vm->vm_fd, false);
}

void dirty__mark_offset(struct vm *vm, uint64_t offset, uint64_t len)
{
	struct dirty *d = tracker(vm);
	uint64_t first, last;

	if (!d || !len || !__atomic_load_n(&d->active, __ATOMIC_ACQUIRE))
		return;
	if (offset >= vm->mem.size || len > vm->mem.size - offset)
		return;
	first = offset / MEM_PAGE_SIZE;
	last = (offset + len - 1) / MEM_PAGE_SIZE;
	for (uint64_t w = first / 64; w <= last / 64; w++) {
		uint64_t lo = w * 64 > first ? 0 : first % 64;
		uint64_t hi = (w + 1) * 64 - 1 < last ? 63 : last % 64;
		uint64_t mask = (hi == 63 ? ~0ULL : (1ULL << (hi + 1)) - 1) & ~((1ULL << lo) - 1);

		__atomic_fetch_or(&d->marks[w], mask, __ATOMIC_RELEASE);
	}
}

void dirty__mark(struct vm *vm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < vm->mem.nr_slots && len; i++) {
		const struct mem_slot *s = &vm->mem.slots[i];
		uint64_t n;

		if (gpa < s->gpa || gpa - s->gpa >= s->size)
			continue;
		/* A range crossing the hole: mark the RAM part of each side. */
		n = s->size - (gpa - s->gpa);
		if (n > len)
			n = len;
		dirty__mark_offset(vm, s->offset + (gpa - s->gpa), n);
		gpa += n;
		len -= n;
	}
}

void dirty__free(struct vm *vm)
{
	struct dirty *d = tracker(vm);

	if (!d)
		return;
	for (unsigned i = 0; i < MEM_MAX_SLOTS; i++)
		free(d->slot_bits[i]);
	free(d->marks);
	free(d);
	vm->dirty = NULL;
}
