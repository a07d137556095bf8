/* See fakevm.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/fakevm.h"
#include "vmm/state.pb-c.h"
#include "vmm/stream.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm_state.h"

#define FAKE(v) ((struct fakevm *)(v))

static void changed(struct fakevm *f, const char *what)
{
	if (f->on_change)
		f->on_change(f, what, f->arg);
}

static uint64_t mem_size(void *vm)
{
	return FAKE(vm)->mem_size;
}

static unsigned nr_vcpus(void *vm)
{
	(void)vm;
	return 1;
}

static uint8_t *mem_host(void *vm)
{
	return FAKE(vm)->mem;
}

/* All of RAM may hold data (a malloc'd buffer has no holes to skip). */
static void mem_extent(void *vm, uint64_t off, uint64_t *data, uint64_t *hole)
{
	*data = off;
	*hole = FAKE(vm)->mem_size;
}

static unsigned nr_devices(void *vm)
{
	(void)vm;
	return 1;   /* its one output sink stands for the UART */
}

static enum vm_port_run run_state(void *vm)
{
	return FAKE(vm)->run;
}

static const char *run_state_name(void *vm)
{
	static const char *const names[] = { "other", "running", "paused", "stopped" };

	return names[FAKE(vm)->run];
}

static void stop_info(void *vm, struct vm_port_stop *out)
{
	out->reason = FAKE(vm)->stop_reason;
	out->status = FAKE(vm)->stop_status;
	out->message = FAKE(vm)->stop_message;
}

static bool stopped_by_guest(void *vm)
{
	return FAKE(vm)->run == VM_PORT_STOPPED && FAKE(vm)->stop_reason != 0;
}

static bool is_guest_stop(void *vm, uint32_t reason)
{
	(void)vm;
	return reason != 0;
}

static void request_stop(void *vm, uint32_t reason, int32_t status, const char *message)
{
	struct fakevm *f = vm;

	pthread_mutex_lock(&f->lock);
	f->run = VM_PORT_STOPPED;
	f->stop_reason = reason;
	f->stop_status = status;
	snprintf(f->stop_message, sizeof(f->stop_message), "%s", message);
	changed(f, "stop");
	pthread_mutex_unlock(&f->lock);
}

static void quit(void *vm, const char *message)
{
	request_stop(vm, 0, 0, message);
}

/* A stopped VM cannot be held, as vm__hold refuses it. */
static int hold(void *vm, unsigned holders)
{
	struct fakevm *f = vm;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	if (f->run == VM_PORT_STOPPED)
		ret = -EINVAL;
	else
		f->holders |= holders;
	if (!ret && f->run == VM_PORT_RUNNING)
		f->run = VM_PORT_PAUSED;
	changed(f, "hold");
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static int release(void *vm, unsigned holders)
{
	struct fakevm *f = vm;

	pthread_mutex_lock(&f->lock);
	f->holders &= ~holders;
	if (!f->holders && f->run == VM_PORT_PAUSED)
		f->run = VM_PORT_RUNNING;
	changed(f, "release");
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static unsigned holders(void *vm)
{
	return FAKE(vm)->holders;
}

static void quiesce(void *vm)
{
	(void)vm;
}

static int dirty_start(void *vm)
{
	FAKE(vm)->logging = true;
	return 0;
}

static int dirty_harvest(void *vm, struct dirty_bitmap *bm)
{
	struct fakevm *f = vm;

	pthread_mutex_lock(&f->lock);
	/* The hook is the guest's run up to now: its writes are in this harvest. */
	changed(f, "harvest");
	for (uint64_t i = 0; i < (f->dirty.nr_pages + 63) / 64; i++)
		bm->bits[i] |= f->dirty.bits[i];
	dirty_bitmap__clear(&f->dirty);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void dirty_stop(void *vm)
{
	FAKE(vm)->logging = false;
}

/* The one vCPU record: empty registers, the blob as its FPU area. */
static int save_vcpu(struct fakevm *f, struct stream *s)
{
	Vmm__State__VcpuState st = VMM__STATE__VCPU_STATE__INIT;
	Vmm__State__Regs regs = VMM__STATE__REGS__INIT;
	Vmm__State__Sregs sregs = VMM__STATE__SREGS__INIT;
	Vmm__State__Segment seg = VMM__STATE__SEGMENT__INIT;
	Vmm__State__DTable dt = VMM__STATE__DTABLE__INIT;

	sregs.cs = sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = &seg;
	sregs.tr = sregs.ldt = &seg;
	sregs.gdt = sregs.idt = &dt;
	st.regs = &regs;
	st.sregs = &sregs;
	st.fpu.data = f->blob;
	st.fpu.len = sizeof(f->blob);
	return stream__write_record(s, "vcpu", VCPU_STATE_VERSION, 0, &st.base);
}

static int save_head(void *vm, struct stream *s, const struct dirty_bitmap *blocks)
{
	Vmm__State__Header h = VMM__STATE__HEADER__INIT;
	struct fakevm *f = vm;
	int ret;

	(void)blocks;
	h.mem_size = f->mem_size;
	h.nr_vcpus = 1;
	h.producer = "fakevm";
	pthread_mutex_lock(&f->lock);
	ret = stream__digest_begin(s);
	if (!ret)
		ret = stream__write_prelude(s, VM_STATE_MAJOR, VM_STATE_MINOR);
	if (!ret)
		ret = stream__write_record(s, "header", VM_STATE_HEADER_VERSION, 0, &h.base);
	if (!ret)
		ret = save_vcpu(f, s);
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static int save_tail(void *vm, struct stream *s, const struct dirty_bitmap *pages)
{
	struct fakevm *f = vm;
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	for (uint64_t pg = 0; !ret && pages && pg < pages->nr_pages; pg++)
		if (dirty_bitmap__test(pages, pg))
			ret = stream__write_pages(s, pg * STREAM_PAGE_SIZE,
						  f->mem + pg * STREAM_PAGE_SIZE, 1);
	if (!ret)
		ret = stream__write_end(s);
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static int save_pages(void *vm, struct stream *s, const struct dirty_bitmap *pages,
		      const struct dirty_bitmap *blocks)
{
	int ret = save_head(vm, s, blocks);

	return ret ? ret : save_tail(vm, s, pages);
}

static size_t staging_limit(void *vm)
{
	return FAKE(vm)->mem_size + (1u << 20);
}

static int apply_undoable(void *vm, struct vm_state_parsed *p, struct vm_state_undo *undo,
			  bool *whole, const char **why)
{
	struct fakevm *f = vm;

	(void)undo, (void)why;
	*whole = true;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < p->nr_pages_frames; i++)
		memcpy(f->mem + p->pages[i].offset, p->pages[i].data,
		       (size_t)p->pages[i].npages * STREAM_PAGE_SIZE);
	memcpy(f->blob, p->vcpus[0]->fpu.data, sizeof(f->blob));
	f->applies++;
	changed(f, "apply");
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int apply(void *vm, const struct vm_state_parsed *p, const char **why)
{
	bool whole;

	return apply_undoable(vm, (struct vm_state_parsed *)p, NULL, &whole, why);
}

static int mem_discard(void *vm)
{
	struct fakevm *f = vm;

	pthread_mutex_lock(&f->lock);
	memset(f->mem, 0, f->mem_size);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int disk_digest(void *vm, uint8_t sha[32])
{
	(void)vm, (void)sha;
	return -ENODEV;
}

/* The sink: its device is the fake itself. */
static void sink_hold(void *dev, bool on)
{
	struct fakevm *f = dev;

	pthread_mutex_lock(&f->lock);
	/* What is buffered leaves either way (outbuf.h): it was not held. */
	f->holding = on;
	f->released = f->emitted;
	pthread_mutex_unlock(&f->lock);
}

static uint64_t sink_mark(void *dev)
{
	return FAKE(dev)->emitted;
}

static void sink_release(void *dev, uint64_t upto)
{
	struct fakevm *f = dev;

	pthread_mutex_lock(&f->lock);
	if (upto > f->released)
		f->released = upto;
	changed(f, "output");
	pthread_mutex_unlock(&f->lock);
}

static const struct outbuf_sink_ops sink_ops = { sink_hold, sink_mark, sink_release, NULL, NULL };

static void sink(void *vm, enum outbuf_kind k, const struct outbuf_sink_ops **ops, void **dev)
{
	*ops = k == OUTBUF_SERIAL ? &sink_ops : NULL;
	*dev = k == OUTBUF_SERIAL ? vm : NULL;
}

static void disk(void *vm, const struct vm_disk_ops **ops, void **dev)
{
	(void)vm;
	*ops = NULL;
	*dev = NULL;
}

static void drop_output(void *vm, enum outbuf_kind k)
{
	struct fakevm *f = vm;

	pthread_mutex_lock(&f->lock);
	if (k == OUTBUF_SERIAL)
		f->released = f->emitted;
	pthread_mutex_unlock(&f->lock);
}

static void announce(void *vm, const char *why)
{
	(void)vm, (void)why;
}

static const struct vm_port_ops ops = {
	.mem_size = mem_size,
	.nr_vcpus = nr_vcpus,
	.mem_host = mem_host,
	.mem_extent = mem_extent,
	.nr_devices = nr_devices,
	.run_state = run_state,
	.run_state_name = run_state_name,
	.stop_info = stop_info,
	.stopped_by_guest = stopped_by_guest,
	.is_guest_stop = is_guest_stop,
	.request_stop = request_stop,
	.quit = quit,
	.hold = hold,
	.release = release,
	.holders = holders,
	.quiesce = quiesce,
	.dirty_start = dirty_start,
	.dirty_harvest = dirty_harvest,
	.dirty_stop = dirty_stop,
	.save_pages = save_pages,
	.save_head = save_head,
	.save_tail = save_tail,
	.staging_limit = staging_limit,
	.apply_undoable = apply_undoable,
	.apply = apply,
	.mem_discard = mem_discard,
	.disk_digest = disk_digest,
	.disk = disk,
	.sink = sink,
	.drop_output = drop_output,
	.announce = announce,
};

int fakevm__init(struct fakevm *f, uint64_t mem_size)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->mem_size = mem_size;
	f->run = VM_PORT_RUNNING;
	f->mem = calloc(1, mem_size);
	if (!f->mem)
		return -ENOMEM;
	return dirty_bitmap__init(&f->dirty, mem_size);
}

void fakevm__free(struct fakevm *f)
{
	free(f->mem);
	dirty_bitmap__free(&f->dirty);
	pthread_mutex_destroy(&f->lock);
}

void fakevm__port(struct fakevm *f, struct vm_port *port)
{
	port->ops = &ops;
	port->vm = f;
}

void fakevm__write_locked(struct fakevm *f, uint64_t off, const void *data, size_t len)
{
	memcpy(f->mem + off, data, len);
	for (uint64_t pg = off / STREAM_PAGE_SIZE; pg * STREAM_PAGE_SIZE < off + len; pg++)
		f->dirty.bits[pg / 64] |= 1ULL << (pg % 64);
}

void fakevm__emit_locked(struct fakevm *f)
{
	f->emitted++;
}
