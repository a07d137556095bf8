/* The replication engine's view of a real VM (vm_port.h). */
#include "config.h"

#include <errno.h>
#include <unistd.h>

#include "vmm/dirty.h"
#include "vmm/mem_cow.h"
#include "vmm/serial.h"
#include "vmm/stream.h"
#include "vmm/virtio_blk.h"
#include "vmm/virtio_net.h"
#include "vmm/vm.h"
#include "vmm/vm_port.h"
#include "vmm/vm_state.h"

static uint64_t mem_size(void *vm)
{
	return ((struct vm *)vm)->mem.size;
}

static unsigned nr_vcpus(void *vm)
{
	return ((struct vm *)vm)->nr_vcpus;
}

static uint8_t *mem_host(void *vm)
{
	return ((struct vm *)vm)->mem.host;
}

static void mem_extent(void *opaque, uint64_t off, uint64_t *data, uint64_t *hole)
{
	struct vm *vm = opaque;
	off_t d = lseek(vm->mem.memfd, (off_t)off, SEEK_DATA), h;

	if (d < 0) {
		*data = *hole = vm->mem.size;
		return;
	}
	h = lseek(vm->mem.memfd, d, SEEK_HOLE);
	*data = (uint64_t)d;
	*hole = h < 0 || (uint64_t)h > vm->mem.size ? vm->mem.size : (uint64_t)h;
}

static unsigned nr_devices(void *vm)
{
	return ((struct vm *)vm)->serial ? 1 : 0;
}

static enum vm_port_run run_state(void *opaque)
{
	switch (((struct vm *)opaque)->state) {
	case VM_STATE_RUNNING: return VM_PORT_RUNNING;
	case VM_STATE_PAUSED: return VM_PORT_PAUSED;
	case VM_STATE_STOPPED: return VM_PORT_STOPPED;
	default: return VM_PORT_OTHER;
	}
}

static const char *run_state_name(void *vm)
{
	return vm__state_name(((struct vm *)vm)->state);
}

static void stop_info(void *opaque, struct vm_port_stop *out)
{
	struct vm *vm = opaque;

	out->reason = vm->stop_reason;
	out->status = vm->stop_status;
	out->message = vm->stop_message;
}

static bool stopped_by_guest(void *vm)
{
	return vm__stopped_by_guest(vm);
}

static bool is_guest_stop(void *vm, uint32_t reason)
{
	(void)vm;
	return vm__is_guest_stop(reason);
}

static void request_stop(void *vm, uint32_t reason, int32_t status, const char *message)
{
	vm__request_stop(vm, (enum vm_stop_reason)reason, status, "%s", message);
}

static void quit(void *vm, const char *message)
{
	vm__request_stop(vm, VM_STOP_QUIT, 0, "%s", message);
}

static int hold(void *vm, unsigned holders)
{
	return vm__hold(vm, holders);
}

static int release(void *vm, unsigned holders)
{
	return vm__release(vm, holders);
}

static unsigned holders(void *vm)
{
	return vm__holders(vm);
}

static void quiesce(void *vm)
{
	vm__quiesce(vm);
}

static int dirty_start(void *vm)
{
	return dirty__start(vm);
}

static int dirty_harvest(void *vm, struct dirty_bitmap *bm)
{
	return dirty__harvest(vm, bm);
}

static void dirty_stop(void *vm)
{
	dirty__stop(vm);
}

static int save_pages(void *vm, struct stream *s, const struct dirty_bitmap *pages,
		      const struct dirty_bitmap *blocks)
{
	return vm_state__save_pages(vm, s, pages, blocks);
}

static int save_head(void *vm, struct stream *s, const struct dirty_bitmap *blocks)
{
	return vm_state__save_head(vm, s, blocks);
}

static int save_tail(void *vm, struct stream *s, const struct dirty_bitmap *pages)
{
	return vm_state__save_tail(vm, s, pages);
}

static size_t staging_limit(void *vm)
{
	return vm_state__staging_limit(vm);
}

static int apply_undoable(void *vm, struct vm_state_parsed *p, struct vm_state_undo *undo,
			  bool *whole, const char **why)
{
	return vm_state__apply_over_undoable(vm, p, undo, whole, why);
}

static int settle(void *vm, struct vm_state_undo *undo, const char **why)
{
	return vm_state__undo_settle(vm, undo, why);
}

static int apply(void *vm, const struct vm_state_parsed *p, const char **why)
{
	return vm_state__apply_over(vm, p, why);
}

static int mem_discard(void *vm)
{
	return mem__discard_all(&((struct vm *)vm)->mem);
}

static int mem_drop(void *vm, uint64_t off, uint64_t len)
{
	return mem__discard(&((struct vm *)vm)->mem, off, len);
}

static int mem_uffd_register(void *vm, int *uffd)
{
	return mem__uffd_register(&((struct vm *)vm)->mem, uffd);
}

static int mem_uffd_unregister(void *vm, int uffd)
{
	return mem__uffd_unregister(&((struct vm *)vm)->mem, uffd);
}

static int cow_start(void *opaque)
{
	struct vm *vm = opaque;

	return vm->cow ? -EALREADY : mem_cow__start(&vm->mem, &vm->cow);
}

static int cow_protect(void *vm, const struct dirty_bitmap *pages)
{
	return mem_cow__protect(((struct vm *)vm)->cow, pages);
}

static int emit_pages(void *s, uint64_t off, const uint8_t *pages, uint32_t n)
{
	return stream__write_pages(s, off, pages, n) ? ((struct stream *)s)->error : 0;
}

static int cow_save(void *vm, struct stream *s, const struct dirty_bitmap *pages)
{
	return mem_cow__copy(((struct vm *)vm)->cow, pages, STREAM_BATCH_PAGES, emit_pages, s);
}

static void cow_stop(void *opaque)
{
	struct vm *vm = opaque;

	mem_cow__stop(vm->cow);
	vm->cow = NULL;
}

static int disk_digest(void *opaque, uint8_t sha[32])
{
	struct vm *vm = opaque;

	return vm->blk ? virtio_blk__digest(vm->blk, sha) : -ENODEV;
}

static uint64_t disk_size(void *disk) { return virtio_blk__size(disk); }
static bool disk_readonly(void *disk) { return virtio_blk__readonly(disk); }

static int disk_bitmap_init(void *disk, struct dirty_bitmap *bm)
{
	return virtio_blk__bitmap_init(disk, bm);
}

static void disk_track(void *disk, bool on) { virtio_blk__track(disk, on); }

static void disk_harvest(void *disk, struct dirty_bitmap *bm)
{
	virtio_blk__harvest(disk, bm);
}

static int disk_read(void *disk, uint64_t off, void *buf, size_t len)
{
	return virtio_blk__read(disk, off, buf, len);
}

static int disk_write(void *disk, uint64_t off, const void *data, size_t len)
{
	return virtio_blk__write(disk, off, data, len);
}

static int disk_capture(void *disk, uint64_t max, struct outbuf_notify *n)
{
	return virtio_blk__capture(disk, max, n);
}
static const struct vm_disk_log *disk_capture_take(void *disk)
{
	return virtio_blk__capture_take(disk);
}
static bool disk_capture_full(void *disk) { return virtio_blk__capture_full(disk); }
static int disk_sync(void *disk) { return virtio_blk__sync(disk); }
static int disk_drop_cache(void *disk, uint64_t off, uint64_t len)
{
	return virtio_blk__drop_cache(disk, off, len);
}

static const struct vm_disk_ops disk_ops = {
	.size = disk_size,
	.readonly = disk_readonly,
	.bitmap_init = disk_bitmap_init,
	.track = disk_track,
	.harvest = disk_harvest,
	.read = disk_read,
	.write = disk_write,
	.capture = disk_capture,
	.capture_take = disk_capture_take,
	.capture_full = disk_capture_full,
	.sync = disk_sync,
	.drop_cache = disk_drop_cache,
};

static void disk(void *opaque, const struct vm_disk_ops **ops, void **dev)
{
	struct vm *vm = opaque;

	*dev = vm->blk;
	*ops = vm->blk ? &disk_ops : NULL;
}

static void serial_hold(void *dev, bool on) { serial__hold(dev, on); }
static uint64_t serial_mark(void *dev) { return serial__tx_mark(dev); }
static void serial_release(void *dev, uint64_t upto) { serial__release(dev, upto); }

static void net_hold(void *dev, bool on) { virtio_net__hold(dev, on); }
static uint64_t net_mark(void *dev) { return virtio_net__tx_mark(dev); }
static void net_release(void *dev, uint64_t upto) { virtio_net__release(dev, upto); }

static uint64_t serial_dropped(void *dev) { return serial__held_dropped(dev); }
static void serial_notify(void *dev, struct outbuf_notify *n) { serial__notify(dev, n); }
static void net_notify(void *dev, struct outbuf_notify *n) { virtio_net__notify(dev, n); }

static uint64_t net_dropped(void *dev)
{
	struct net_counters c;

	virtio_net__counters(dev, &c);
	return c.hold_dropped;
}

static const struct outbuf_sink_ops serial_ops = {
	serial_hold, serial_mark, serial_release, serial_dropped, serial_notify
};
static const struct outbuf_sink_ops net_ops = {
	net_hold, net_mark, net_release, net_dropped, net_notify
};

static void sink(void *opaque, enum outbuf_kind k, const struct outbuf_sink_ops **ops,
		 void **dev)
{
	struct vm *vm = opaque;

	*dev = k == OUTBUF_SERIAL ? (void *)vm->serial : (void *)vm->net;
	*ops = !*dev ? NULL : k == OUTBUF_SERIAL ? &serial_ops : &net_ops;
}

static void drop_output(void *opaque, enum outbuf_kind k)
{
	struct vm *vm = opaque;

	if (k == OUTBUF_SERIAL && vm->serial)
		serial__drop_output(vm->serial);
	else if (k == OUTBUF_NET)
		virtio_net__drop_output(vm->net);
}

static void announce(void *vm, const char *why)
{
	virtio_net__announce(((struct vm *)vm)->net, why);
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
	.settle = settle,
	.apply = apply,
	.mem_discard = mem_discard,
	.mem_drop = mem_drop,
	.mem_uffd_register = mem_uffd_register,
	.mem_uffd_unregister = mem_uffd_unregister,
	.cow_start = cow_start,
	.cow_protect = cow_protect,
	.cow_save = cow_save,
	.cow_stop = cow_stop,
	.disk_digest = disk_digest,
	.disk = disk,
	.sink = sink,
	.drop_output = drop_output,
	.announce = announce,
};

void vm_port__init(struct vm_port *port, struct vm *vm)
{
	port->ops = &ops;
	port->vm = vm;
}
