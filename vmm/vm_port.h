/*
 * What the replication engine needs from a VM, and nothing more: its
 * shape, its run state, the pause holders (vmm/vm_hold.h), the dirty log,
 * capture and apply of its state stream (docs/state-format.md), its disk
 * digest and its output sinks (outbuf.h).  The engine calls these instead
 * of reading `struct vm`, so it builds as its own library and runs over a
 * KVM-free VM in the unit tests (tests/unit/fakevm.c); vmm/vm_port.c is
 * the real VM's.  The interface lives here, with the VM, so that no vmm
 * module but the composition root (main.c) includes replication/.  The shape follows Cloud Hypervisor's Migratable traits
 * (pausable, snapshottable, dirty-logging), and outbuf.h's sink ops.
 *
 * Threads: every op runs on the VM's main thread (through mainthread.h
 * from the replication threads), except mem_size, nr_vcpus, mem_host, the
 * post-copy ops, the sinks' own ops, stop_info once the VM has
 * stopped, which any thread may call, and cow_save and cow_stop (below).
 */
#ifndef VMM_VM_PORT_H
#define VMM_VM_PORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

struct dirty_bitmap;
struct stream;
struct vm;
struct vm_state_parsed;
struct vm_state_undo;

/*
 * The guest's output paths as the engine holds them (replication/outbuf.h):
 * each sink counts what the guest produced (its mark) and lets out what
 * is before a mark.
 */
enum outbuf_kind { OUTBUF_SERIAL, OUTBUF_NET, OUTBUF_NR_KINDS };

struct outbuf_notify;

struct outbuf_sink_ops {
	void (*hold)(void *dev, bool on);
	uint64_t (*mark)(void *dev);
	void (*release)(void *dev, uint64_t upto);
	/* Optional: what the device dropped while holding (its buffer was full). */
	uint64_t (*dropped)(void *dev);
	/*
	 * Optional: from now on, output the device holds fires n (NULL: none);
	 * output-triggered epochs (docs/checkpointing.md) are woken by it.
	 */
	void (*notify)(void *dev, struct outbuf_notify *n);
};

/*
 * How a held sink wakes the engine: the engine arms it before it waits
 * and waits on fd (an eventfd); the first held output after that writes
 * fd once.  Arming first, then looking at the marks, loses no output.
 */
struct outbuf_notify {
	int fd;
	atomic_bool armed;
};

/* Any thread, from a device's output path (cheap when not armed). */
static inline void outbuf_notify__fire(struct outbuf_notify *n)
{
	uint64_t one = 1;

	if (n && atomic_exchange(&n->armed, false) && write(n->fd, &one, sizeof(one)) < 0) {
		/* A full eventfd counter already wakes the engine. */
	}
}

/* The run states the engine tells apart (vmm/vm.h has more). */
enum vm_port_run {
	VM_PORT_OTHER,    /* created, not started, or being torn down */
	VM_PORT_RUNNING,
	VM_PORT_PAUSED,
	VM_PORT_STOPPED,
};

/* How the guest stopped (vmm/vm.h enum vm_stop_reason, exit status, text). */
struct vm_port_stop {
	uint32_t reason;
	int32_t status;
	const char *message;   /* the VM's own buffer: valid while it lives */
};

/*
 * The VM's disk image (virtio-blk), for copying it with a migration or a
 * checkpoint: its size, reads and writes of the image, and the log of the
 * 4 KiB blocks the guest wrote (a dirty_bitmap of blocks).
 */
/*
 * An epoch's written blocks as the disk kept them while it wrote them
 * (capture): n blocks, their numbers in first-write order and their newest
 * data (VIRTIO_BLK_BLOCK bytes each; past the image's end, zeros).  With
 * overflow set the bound was reached and the log lacks some: that epoch
 * reads its blocks from the image instead.
 */
struct vm_disk_log {
	uint64_t n;
	uint64_t *blk;
	uint8_t *data;
	atomic_bool overflow;
};

struct vm_disk_ops {
	uint64_t (*size)(void *disk);
	bool (*readonly)(void *disk);
	int (*bitmap_init)(void *disk, struct dirty_bitmap *bm);
	void (*track)(void *disk, bool on);
	void (*harvest)(void *disk, struct dirty_bitmap *bm);
	int (*read)(void *disk, uint64_t off, void *buf, size_t len);
	int (*write)(void *disk, uint64_t off, const void *data, size_t len);
	/*
	 * Optional.  Keep the blocks written while tracking in a log of at most
	 * max_blocks (0: stop and free it); the first block past the bound
	 * fires n.  capture_take, with the VM held, hands over the log of the
	 * epoch that ends and starts an empty one; the log stays valid until
	 * the next capture_take.  capture_full: the current log overflowed.
	 */
	int (*capture)(void *disk, uint64_t max_blocks, struct outbuf_notify *n);
	const struct vm_disk_log *(*capture_take)(void *disk);
	bool (*capture_full)(void *disk);
	/*
	 * Make what was written durable (fdatasync), from any thread.  While a
	 * capture runs, saving the VM's state leaves this to the capture's
	 * owner (the checkpoint's pause does not wait for the disk).
	 */
	int (*sync)(void *disk);
	/*
	 * Optional advice: what is cached of [off, off + len) leaves the
	 * host's page cache (the clean part).  For a whole-image copy, read or
	 * written once: see migrate_disk.c.
	 */
	int (*drop_cache)(void *disk, uint64_t off, uint64_t len);
};

struct vm_port_ops {
	/* Shape. */
	uint64_t (*mem_size)(void *vm);
	unsigned (*nr_vcpus)(void *vm);
	/* Guest RAM, mem_size bytes, mapped in this process for the engine's reads. */
	uint8_t *(*mem_host)(void *vm);
	/*
	 * The first extent of RAM at or after off that may hold data, as
	 * [*data, *hole); *data == mem_size: none.  (A sparse RAM's holes are
	 * zero: round 1 of a migration skips them.)
	 */
	void (*mem_extent)(void *vm, uint64_t off, uint64_t *data, uint64_t *hole);
	/* The devices a migration's hello counts (the UART: 1, or 0). */
	unsigned (*nr_devices)(void *vm);

	/* Run state. */
	enum vm_port_run (*run_state)(void *vm);
	const char *(*run_state_name)(void *vm);
	void (*stop_info)(void *vm, struct vm_port_stop *out);
	/* The guest stopped itself (not the operator nor an error). */
	bool (*stopped_by_guest)(void *vm);
	/* Is reason one of the guest's own (a checkpoint may carry only those)? */
	bool (*is_guest_stop)(void *vm, uint32_t reason);
	void (*request_stop)(void *vm, uint32_t reason, int32_t status, const char *message);
	/* The engine ends this copy (a migration's source after success): the vmm quits. */
	void (*quit)(void *vm, const char *message);

	/* Pause holders: the vCPUs run only while none is held (vm_hold.h). */
	int (*hold)(void *vm, unsigned holders);
	int (*release)(void *vm, unsigned holders);
	unsigned (*holders)(void *vm);
	/* Stopped: wait until no vCPU thread is inside the guest. */
	void (*quiesce)(void *vm);

	/*
	 * Dirty log: start logging, harvest the pages written since the last
	 * harvest (or start) into bm, stop.
	 */
	int (*dirty_start)(void *vm);
	int (*dirty_harvest)(void *vm, struct dirty_bitmap *bm);
	void (*dirty_stop)(void *vm);

	/*
	 * State: write a whole state stream with the pages of `pages` (and the
	 * disk blocks of `blocks`, or none) to s; the VM is held.  apply puts
	 * a parsed stream over the VM, all or nothing (vm_state.h
	 * vm_state__apply_over_undoable: *whole false when a failure could
	 * not be undone).
	 */
	int (*save_pages)(void *vm, struct stream *s, const struct dirty_bitmap *pages,
			  const struct dirty_bitmap *blocks);
	/*
	 * save_pages in two parts (vm_state__save_head/tail): the head on the
	 * main thread, the tail (pages read from RAM, end frame) from another
	 * thread while the VM stays held.
	 */
	int (*save_head)(void *vm, struct stream *s, const struct dirty_bitmap *blocks);
	int (*save_tail)(void *vm, struct stream *s, const struct dirty_bitmap *pages);
	size_t (*staging_limit)(void *vm);
	int (*apply_undoable)(void *vm, struct vm_state_parsed *p, struct vm_state_undo *undo,
			      bool *whole, const char **why);
	/* What apply_undoable kept aside, loaded (vm_state__undo_settle). */
	int (*settle)(void *vm, struct vm_state_undo *undo, const char **why);
	/* A migration's final state over the RAM as received (vm_state__apply_over). */
	int (*apply)(void *vm, const struct vm_state_parsed *p, const char **why);
	/* All of RAM back to zero (a migration's round 1 skips zero pages). */
	int (*mem_discard)(void *vm);

	/*
	 * Post-copy's destination (replication/postcopy.h): drop len bytes of
	 * RAM at off (they become missing), and register all of RAM with a new
	 * userfaultfd (*uffd) so that a touch of a missing page waits for it,
	 * or unregister it once every page is here.  Optional: NULL refuses
	 * post-copy (-EOPNOTSUPP).
	 */
	int (*mem_drop)(void *vm, uint64_t off, uint64_t len);
	int (*mem_uffd_register)(void *vm, int *uffd);
	int (*mem_uffd_unregister)(void *vm, int uffd);

	/*
	 * Optional copy-on-write capture of RAM (vmm/mem_cow.h); NULL, or
	 * cow_start's -EOPNOTSUPP (the kernel lacks userfaultfd write
	 * protection of shared memory) or -EBUSY (post-copy's userfaultfd),
	 * leave the epochs copying their pages in the pause.  cow_start on the
	 * main thread with the VM held; cow_protect in an epoch's pause after
	 * its harvest; cow_save (the protected pages as of that pause into s,
	 * lifting the protection) and cow_stop from the replication thread,
	 * the guest running, never while the other or a capture runs.
	 */
	int (*cow_start)(void *vm);
	int (*cow_protect)(void *vm, const struct dirty_bitmap *pages);
	int (*cow_save)(void *vm, struct stream *s, const struct dirty_bitmap *pages);
	void (*cow_stop)(void *vm);

	/* The disk image's SHA-256; -ENODEV when the VM has no disk. */
	int (*disk_digest)(void *vm, uint8_t sha[32]);
	/* The disk image: *ops NULL when the VM has none. */
	void (*disk)(void *vm, const struct vm_disk_ops **ops, void **disk);

	/* Output: a sink of kind k (*ops NULL: no such device). */
	void (*sink)(void *vm, enum outbuf_kind k, const struct outbuf_sink_ops **ops,
		     void **dev);
	/* Drop what the sink of kind k buffered (another copy's output). */
	void (*drop_output)(void *vm, enum outbuf_kind k);
	/* The network's peers learn where the guest now runs (after activation). */
	void (*announce)(void *vm, const char *why);
};

struct vm_port {
	const struct vm_port_ops *ops;
	void *vm;
};

/* The calls the engine makes most, spelled short. */
static inline uint64_t vm_port__mem_size(const struct vm_port *p)
{
	return p->ops->mem_size(p->vm);
}

static inline uint8_t *vm_port__mem_host(const struct vm_port *p)
{
	return p->ops->mem_host(p->vm);
}

/* The VM's disk, or NULL (then *ops is NULL too). */
static inline void *vm_port__disk(const struct vm_port *p, const struct vm_disk_ops **ops)
{
	void *disk;

	p->ops->disk(p->vm, ops, &disk);
	return *ops ? disk : NULL;
}

static inline enum vm_port_run vm_port__run_state(const struct vm_port *p)
{
	return p->ops->run_state(p->vm);
}

static inline int vm_port__hold(const struct vm_port *p, unsigned holders)
{
	return p->ops->hold(p->vm, holders);
}

static inline int vm_port__release(const struct vm_port *p, unsigned holders)
{
	return p->ops->release(p->vm, holders);
}

static inline unsigned vm_port__holders(const struct vm_port *p)
{
	return p->ops->holders(p->vm);
}

/* The port of a real VM (vm_port.c). */
void vm_port__init(struct vm_port *port, struct vm *vm);

#endif
