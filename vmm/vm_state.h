/*
 * The whole state of a VM as one stream (docs/state-format.md): header,
 * vCPUs, in-kernel irqchip, PIT, clock, devices, then RAM as page ranges,
 * then the SHA-256 of it all.
 *
 * Loading is two steps.  vm_state__parse is pure (no KVM, no VM): it checks
 * every byte of a stream held in memory - framing, versions, digest, every
 * record's shape - and is what the fuzzer drives.  Only a stream that parsed
 * and matches the VM's configuration is applied.
 */
#ifndef VMM_VM_STATE_H
#define VMM_VM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/state.pb-c.h"

struct vm;
struct stream;

/* Stream format version (docs/state-format.md, "Versions"). */
#define VM_STATE_MAJOR 1
#define VM_STATE_MINOR 3  /* 1: the "virtio_blk" record; 2: "virtio_net", disk frames;
			   3: "rtc", "acpi_pm" */

/* Record versions this code writes and reads. */
#define VM_STATE_HEADER_VERSION 1
#define VM_STATE_IRQCHIP_VERSION 1
#define VM_STATE_PIT_VERSION 1
#define VM_STATE_CLOCK_VERSION 1
#define VM_STATE_SERIAL_VERSION 1
#define VM_STATE_RTC_VERSION 1
#define VM_STATE_ACPI_PM_VERSION 1
#define VM_STATE_VIRTIO_BLK_VERSION 1
#define VM_STATE_VIRTIO_NET_VERSION 1

/* Bounds the parser enforces (vm_state.c checks they match the VM's). */
#define VM_STATE_MAX_VCPUS 64

/* The most a serial record may carry: the UART's own buffers are this big. */
#define VM_STATE_SERIAL_RX_MAX 4096
#define VM_STATE_SERIAL_TX_MAX (64 * 1024)

/*
 * The CMOS RTC's RAM (RTC_NR_REGS, rtc.h), and the furthest its guest's
 * clock may be from the host's: ten thousand years, far beyond what its
 * century register can say, and far from overflowing a time_t.
 */
#define VM_STATE_RTC_CMOS_LEN 128
#define VM_STATE_RTC_OFFSET_MAX (10000LL * 366 * 86400)

/* The largest virtqueue a record may describe (VIRTQ_MAX_SIZE, virtq.h). */
#define VM_STATE_VIRTQ_MAX 256

struct vm_state_pages {
	uint64_t offset;      /* RAM offset (memfd offset), page-aligned */
	uint32_t npages;
	const uint8_t *data;  /* points into the parsed buffer */
};

struct vm_state_disk {
	uint64_t offset;      /* byte offset in the image, a multiple of 4096 */
	uint32_t length;      /* bytes, a multiple of 512 */
	const uint8_t *data;  /* into the parsed buffer; NULL: the range is zero */
};

struct vm_state_parsed {
	uint16_t major, minor;
	Vmm__State__Header *header;
	Vmm__State__VcpuState **vcpus;   /* [header->nr_vcpus], by id */
	Vmm__State__IrqchipState *irqchip; /* NULL: none saved */
	Vmm__State__PitState *pit;
	Vmm__State__ClockState *clock;
	Vmm__State__SerialState *serial;
	Vmm__State__RtcState *rtc;       /* NULL: saved before minor version 3 */
	Vmm__State__AcpiPmState *acpi_pm; /* NULL: saved before minor version 3 */
	Vmm__State__VirtioBlkState *virtio_blk; /* NULL: the VM had no disk */
	Vmm__State__VirtioNetState *virtio_net; /* NULL: the VM had no network device */
	struct vm_state_pages *pages;
	size_t nr_pages_frames, cap_pages_frames;
	uint64_t nr_pages;               /* pages stored, over all frames */
	struct vm_state_disk *disk;      /* disk frames, ascending, not overlapping */
	size_t nr_disk, cap_disk;
	uint64_t disk_bytes;             /* bytes of image they cover */
	unsigned nr_skipped;             /* records of unknown names */
};

/*
 * Save the VM, which must be paused (vm__pause) or not started, to s.  The
 * stream is flushed, not closed.
 */
int vm_state__save(struct vm *vm, struct stream *s);

/*
 * Read a whole stream from s (up to and including its end frame, nothing
 * after it), verify all of it, check it against the VM, and only then apply
 * it.  The VM must be paused or not started.  On a refused stream the VM is
 * untouched and *err says why; an error from KVM while applying (after
 * every check passed) leaves the VM partly loaded: destroy it.
 */
int vm_state__load(struct vm *vm, struct stream *s, const char **err);

/*
 * Pure: parse and verify len bytes at buf.  On success p holds the decoded
 * records and pointers into buf (which must outlive p); free with
 * vm_state__free_parsed (also after a failure).
 */
int vm_state__parse(const uint8_t *buf, size_t len, struct vm_state_parsed *p,
		    const char **err);
/*
 * vm_state__parse without its pass over the digest: for a stream read with
 * the digest on, whose end frame stream__read_frame checked as it arrived.
 */
int vm_state__parse_verified(const uint8_t *buf, size_t len, struct vm_state_parsed *p,
			     const char **err);
void vm_state__free_parsed(struct vm_state_parsed *p);

/* The prelude alone: magic and major version (a reader checks it first). */
int vm_state__check_prelude(const uint8_t *buf, size_t len, const char **err);

/* Does the parsed stream fit this VM (memory size, vCPU count)? */
int vm_state__check_config(const struct vm_state_parsed *p, uint64_t mem_size,
			   unsigned nr_vcpus, const char **err);

/*
 * Does the parsed stream's device set fit this VM (a disk on both sides or
 * on neither, of the same size)?  vm_state__apply and vm_state__apply_over
 * check this before they change anything.
 */
int vm_state__check_devices(const struct vm *vm, const struct vm_state_parsed *p,
			    const char **err);

/* How much a valid stream for this VM can take: the bound of a staging area. */
size_t vm_state__staging_limit(const struct vm *vm);
/*
 * Bytes of memory this process can still take now: the host's MemAvailable,
 * bounded by what its memory cgroup (v1 or v2) and their ancestors allow.
 * A staging area that fills as a stream arrives checks it, so that a
 * stream too large for the host is refused (ENOMEM) rather than left to the
 * OOM killer.  UINT64_MAX when nothing says.
 */
uint64_t vm_state__memory_room(void);
/*
 * For a staging area that has staged bytes: can the host still give it
 * memory while keeping VM_STATE_STAGE_RESERVE for itself?  0, with *next
 * the staged size at which to ask again; or -ENOMEM with the numbers in
 * why.
 */
#define VM_STATE_STAGE_RESERVE (64ULL << 20)
int vm_state__stage_room(size_t staged, size_t *next, char *why, size_t whylen);

/* Apply a parsed, checked stream. */
int vm_state__apply(struct vm *vm, const struct vm_state_parsed *p, const char **err);

struct dirty_bitmap;

/*
 * Migration: the same stream as vm_state__save, but with only the pages set
 * in only, zero ones too (NULL: no RAM at all), and the disk image's
 * blocks set in blocks (NULL: none; a bitmap of 4 KiB blocks of the
 * virtio-blk image) as disk frames.  The VM must be paused.  A reader
 * applies it with vm_state__apply_over onto RAM (and an image) that
 * already holds every other page (and block).
 */
int vm_state__save_pages(struct vm *vm, struct stream *s, const struct dirty_bitmap *only,
			 const struct dirty_bitmap *blocks);
/*
 * vm_state__save_pages in two parts, so that a sender can hash and send
 * the pages straight from RAM rather than from a copy: the head (prelude,
 * machine records, disk frames), then the tail (the pages, the end frame).
 * The tail's digest covers what passed on its stream since
 * stream__digest_begin: a head captured elsewhere is written through that
 * stream before it.  The VM stays paused until the tail is written.
 */
int vm_state__save_head(struct vm *vm, struct stream *s, const struct dirty_bitmap *blocks);
int vm_state__save_tail(struct vm *vm, struct stream *s, const struct dirty_bitmap *only);

/*
 * Apply a parsed, checked stream over the RAM as it is: its pages overwrite,
 * every other page keeps its contents (vm_state__apply discards them).  Its
 * disk frames are written into the image first, and the image made durable
 * (fdatasync) before it returns.
 */
int vm_state__apply_over(struct vm *vm, const struct vm_state_parsed *p, const char **err);

/*
 * A standby's checkpoint as a transaction (vm_state_undo.c): everything
 * vm_state__apply_over writes, or nothing.  Before the image is touched,
 * the blocks the stream overwrites are copied into an undo log (an unnamed
 * file beside the image, made durable first); the pages are swapped with
 * the RAM they replace, so that p's buffer (which must be writable: the
 * caller's staging area) then holds the previous pages; and the machine
 * state (vCPUs, irqchip, PIT, clock, devices) it replaces is kept: the
 * records of the last stream applied through u (so every change to the
 * VM's state must go through it), saved from KVM before the first one.
 * On a failure everything is put back.  *whole says whether the VM
 * is then exactly as before the call (true also on success); false only
 * when putting it back failed too: the VM then holds no state of either
 * checkpoint and must never run.
 * The machine state is loaded into KVM only by the first stream and then
 * at most once every vm_state__undo_settle_every (default 1000 ms); the
 * streams between keep theirs aside, for vm_state__undo_settle.
 */
struct vm_state_undo;

int vm_state__undo_new(struct vm_state_undo **out);
void vm_state__undo_free(struct vm_state_undo *u);
int vm_state__apply_over_undoable(struct vm *vm, struct vm_state_parsed *p,
				  struct vm_state_undo *u, bool *whole, const char **err);
/* 0: every stream loads its machine state (no deferral). */
void vm_state__undo_settle_every(struct vm_state_undo *u, unsigned ms);
/*
 * The machine records kept aside by the last streams into KVM and the
 * device models: before the VM runs or its state is read.  Nothing to do
 * when none is pending; on a failure (KVM refused a record: *err says
 * which) the VM holds part of them and must never run.
 */
int vm_state__undo_settle(struct vm *vm, struct vm_state_undo *u, const char **err);

/* Internal (vm_state*.c): every record but RAM and disk, in KVM's order. */
int vm_state__apply_machine(struct vm *vm, const struct vm_state_parsed *p, const char **err);
/* Are len bytes at p all zero? */
bool vm_state__all_zero(const uint8_t *p, size_t len);

#endif
