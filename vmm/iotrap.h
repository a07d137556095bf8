/*
 * One registry and one handler signature for port I/O and MMIO, kept in the
 * struct vm (no global registry).
 */
#ifndef VMM_IOTRAP_H
#define VMM_IOTRAP_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;

enum iotrap_space { IOTRAP_PIO, IOTRAP_MMIO };

/*
 * addr is the absolute port or guest-physical address; data holds len bytes
 * (1, 2, 4 or 8), little-endian.  For reads the handler fills data.  Called
 * on the vCPU thread that trapped; handlers lock their own device.
 */
typedef void (*iotrap_fn)(struct vcpu *vcpu, uint64_t addr, uint8_t *data,
			  uint32_t len, bool is_write, void *opaque);

struct iotrap {
	enum iotrap_space space;
	uint64_t base, len;
	iotrap_fn fn;
	void *opaque;
};

#define IOTRAP_MAX 32

struct iotrap_table {
	unsigned nr;
	struct iotrap traps[IOTRAP_MAX];
};

/* -EEXIST when the range overlaps one already registered, -ENOSPC when full. */
int iotrap__register(struct iotrap_table *t, enum iotrap_space space, uint64_t base,
		     uint64_t len, iotrap_fn fn, void *opaque);
/* Returns false when nothing is registered there (reads then see all ones). */
bool iotrap__dispatch(struct iotrap_table *t, struct vcpu *vcpu, enum iotrap_space space,
		      uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
