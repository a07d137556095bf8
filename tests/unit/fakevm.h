/*
 * A VM without KVM behind the replication engine's port
 * (vmm/vm_port.h), for the unit tests: RAM is a malloc'd buffer,
 * the dirty log a bitmap the test sets by writing (fakevm__write_locked), the
 * device state an opaque blob (carried as the vCPU record's FPU area, so
 * the stream is one vm_state__parse accepts), and one output sink that
 * counts what the guest emitted and what was let out.
 *
 * Every op takes the fake's lock: the engine calls the sinks from its
 * replication thread, the rest from the loop thread.
 */
#ifndef TESTS_UNIT_FAKEVM_H
#define TESTS_UNIT_FAKEVM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/vm_port.h"
#include "vmm/dirty.h"

#define FAKEVM_BLOB_LEN 416   /* sizeof(struct kvm_fpu): the vCPU record's FPU area */

struct fakevm {
	pthread_mutex_t lock;
	uint8_t *mem;
	uint64_t mem_size;
	struct dirty_bitmap dirty;       /* pages written since the last harvest */
	bool logging;
	uint8_t blob[FAKEVM_BLOB_LEN];   /* the device state */
	enum vm_port_run run;
	unsigned holders;
	uint32_t stop_reason;
	int32_t stop_status;
	char stop_message[256];
	/* The output sink: marks are counts of what the guest emitted. */
	bool holding;
	uint64_t emitted, released;
	unsigned applies;                /* states applied over this VM */
	/*
	 * Called with the lock held after every change the engine makes
	 * (hold, release, harvest, apply, stop), and after every release of
	 * output: the test's hook (to run the guest, check an invariant, or
	 * end its loop).
	 */
	void (*on_change)(struct fakevm *f, const char *what, void *arg);
	void *arg;
};

int fakevm__init(struct fakevm *f, uint64_t mem_size);
void fakevm__free(struct fakevm *f);
void fakevm__port(struct fakevm *f, struct vm_port *port);
/* The guest writes RAM (the dirty log sees it); lock held by the caller or not. */
void fakevm__write_locked(struct fakevm *f, uint64_t off, const void *data, size_t len);
/* The guest emits one unit of output (its mark goes up by one). */
void fakevm__emit_locked(struct fakevm *f);

#endif
