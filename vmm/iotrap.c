/* Port I/O and MMIO dispatch: a small table, searched linearly (few devices). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "vmm/iotrap.h"

int iotrap__register(struct iotrap_table *t, enum iotrap_space space, uint64_t base,
		     uint64_t len, iotrap_fn fn, void *opaque)
{
	if (!len || base + len < base)
		return -EINVAL;
	for (unsigned i = 0; i < t->nr; i++) {
		const struct iotrap *o = &t->traps[i];

		if (o->space == space && base < o->base + o->len && o->base < base + len)
			return -EEXIST;
	}
	if (t->nr == IOTRAP_MAX)
		return -ENOSPC;
	t->traps[t->nr++] = (struct iotrap){ space, base, len, fn, opaque };
	return 0;
}

bool iotrap__dispatch(struct iotrap_table *t, struct vcpu *vcpu, enum iotrap_space space,
		      uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	for (unsigned i = 0; i < t->nr; i++) {
		const struct iotrap *o = &t->traps[i];

		if (o->space == space && addr >= o->base && addr - o->base < o->len) {
			o->fn(vcpu, addr, data, len, is_write, o->opaque);
			return true;
		}
	}
	/* Nothing there: reads float high, as on an empty bus. */
	if (!is_write)
		memset(data, 0xff, len);
	return false;
}
