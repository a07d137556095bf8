/*
 * Loading a state stream: stage, verify, check against the VM, then apply.
 *
 * Apply order: RAM first, because some loads below make KVM write into
 * guest memory (the kvmclock MSRs and KVM_SET_CLOCK schedule updates of the
 * guest's pvclock pages) and those writes must land on the restored RAM, not
 * be overwritten by it.  Then the irqchip and PIT, so that the LAPIC loaded
 * with each vCPU has the last word on pending interrupts; then the vCPUs;
 * then the clock (after the TSC MSRs: KVM_SET_CLOCK makes kvmclock read
 * the saved value now, and the pvclock updates it triggers use each vCPU's
 * restored TSC); the UART and virtio-blk last, as they raise their IRQ
 * lines into the restored irqchip.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <qb/qblog.h>

#include "vmm/acpi_pm.h"
#include "vmm/dirty.h"
#include "vmm/rtc.h"
#include "vmm/serial.h"
#include "vmm/stream.h"
#include "vmm/timens.h"
#include "vmm/vcpu.h"
#include "vmm/vcpu_state.h"
#include "vmm/virtio_blk.h"
#include "vmm/virtio_net.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/*
 * The most a valid stream for this VM can hold: every page once, with the
 * per-frame overhead, plus records (bounded each, and few), plus every
 * block of the disk image once.
 */
size_t vm_state__staging_limit(const struct vm *vm)
{
	size_t disk = vm->blk ? (size_t)virtio_blk__size(vm->blk) : 0;

	return (size_t)vm->mem.size + (size_t)vm->mem.size / 64 + disk + disk / 64 + (64u << 20);
}

/* A "key value kB" line of /proc/meminfo, in bytes; UINT64_MAX if absent. */
static uint64_t meminfo(const char *key)
{
	unsigned long long kb = 0;
	char line[128];
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");
	uint64_t v = UINT64_MAX;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':' &&
		    sscanf(line + n + 1, "%llu", &kb) == 1) {
			v = (uint64_t)kb * 1024;
			break;
		}
	if (f)
		fclose(f);
	return v;
}

/* One number from a cgroup file; UINT64_MAX for "max", absent or unreadable. */
static uint64_t cg_value(const char *dir, const char *file)
{
	unsigned long long v;
	char path[PATH_MAX];
	FILE *f;
	int ok;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path) ||
	    !(f = fopen(path, "re")))
		return UINT64_MAX;
	ok = fscanf(f, "%llu", &v) == 1;
	fclose(f);
	return ok ? (uint64_t)v : UINT64_MAX;
}

/* max - current of the cgroup at root + path and of each ancestor, the least. */
static uint64_t walk_room(const char *root, const char *path, bool v2)
{
	char dir[PATH_MAX];
	uint64_t room = UINT64_MAX;
	size_t top = strlen(root);

	if (snprintf(dir, sizeof(dir), "%s%s", root, path) >= (int)sizeof(dir))
		return UINT64_MAX;
	for (;;) {
		uint64_t max = cg_value(dir, v2 ? "memory.max" : "memory.limit_in_bytes");
		uint64_t cur = cg_value(dir, v2 ? "memory.current" : "memory.usage_in_bytes");
		char *slash = strrchr(dir, '/');

		if (max != UINT64_MAX && cur != UINT64_MAX)
			room = MIN(room, max > cur ? max - cur : 0);
		if (!slash || (size_t)(slash - dir) < top)
			return room;
		*slash = '\0';
	}
}

/*
 * What the memory cgroup of this process and its ancestors still allow:
 * "0::PATH" (v2) or "N:...memory...:PATH" (v1) in /proc/self/cgroup.
 */
static uint64_t cgroup_room(void)
{
	char line[PATH_MAX];
	uint64_t room = UINT64_MAX;
	FILE *f = fopen("/proc/self/cgroup", "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *path = ctl ? strchr(ctl + 1, ':') : NULL;
		bool v2;

		if (!path)
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		ctl++;
		v2 = !*ctl;
		if (v2)
			room = MIN(room, walk_room("/sys/fs/cgroup", path, true));
		else if (strstr(ctl, "memory"))
			room = MIN(room, walk_room("/sys/fs/cgroup/memory", path, false));
	}
	if (f)
		fclose(f);
	return room;
}

uint64_t vm_state__memory_room(void)
{
	return MIN(meminfo("MemAvailable"), cgroup_room());
}

#define MIB(x) ((unsigned long long)(x) >> 20)

/* Checked less often the more room there is: log(room) reads per stream. */
int vm_state__stage_room(size_t staged, size_t *next, char *why, size_t whylen)
{
	uint64_t room = vm_state__memory_room();

	if (room > VM_STATE_STAGE_RESERVE + STREAM_PAGES_FRAME_MAX) {
		*next = staged + (size_t)MIN((room - VM_STATE_STAGE_RESERVE) / 2,
					     (uint64_t)SIZE_MAX / 2);
		return 0;
	}
	snprintf(why, whylen, "staging it needs more memory than this host has available "
		 "(%llu MiB staged, %llu MiB available, %llu MiB kept for the host)", MIB(staged),
		 MIB(room), MIB(VM_STATE_STAGE_RESERVE));
	return -ENOMEM;
}

static const char *read_error(int ret)
{
	switch (ret) {
	case -ENODATA:
		return "the state stream is truncated (it ended before its end frame)";
	case -EBADMSG:
		return "the state stream has a malformed frame";
	case -EFBIG:
		return "the state stream is larger than any stream for this VM can be";
	default:
		return "cannot read the state stream";
	}
}

/* Read up to and including the end frame, never past it. */
static int stage(struct vm *vm, struct stream *s, uint8_t *buf, size_t limit, size_t *len,
		 const char **err)
{
	size_t total, next = 0;
	char why[160];
	uint32_t type;
	int ret;

	ret = stream__read(s, buf, STREAM_PRELUDE_LEN);
	if (ret) {
		*err = read_error(ret);
		return ret;
	}
	/* Refuse a wrong stream before waiting for more of it. */
	ret = vm_state__check_prelude(buf, STREAM_PRELUDE_LEN, err);
	if (ret)
		return ret;
	*len = STREAM_PRELUDE_LEN;
	do {
		if (*len >= next && (ret = vm_state__stage_room(*len, &next, why, sizeof(why)))) {
			qb_log(LOG_ERR, "state stream refused: %s", why);
			*err = "this host has not enough memory to stage the state stream";
			return ret;
		}
		ret = stream__read_frame(s, buf + *len, limit - *len, &type, &total);
		if (ret) {
			*err = read_error(ret);
			return ret;
		}
		*len += total;
	} while (type != STREAM_FRAME_END);
	return 0;
}

static void copy_pages(struct vm *vm, const struct vm_state_parsed *p)
{
	for (size_t i = 0; i < p->nr_pages_frames; i++)
		memcpy(vm->mem.host + p->pages[i].offset, p->pages[i].data,
		       (size_t)p->pages[i].npages * MEM_PAGE_SIZE);
}

static int apply_ram(struct vm *vm, const struct vm_state_parsed *p)
{
	int ret = mem__discard_all(&vm->mem);

	if (ret)
		return ret;
	copy_pages(vm, p);
	dirty__mark_offset(vm, 0, vm->mem.size);
	return 0;
}

static int apply_irqchip_pit(struct vm *vm, const struct vm_state_parsed *p)
{
	if (p->irqchip) {
		for (size_t i = 0; i < p->irqchip->n_chips; i++) {
			struct kvm_irqchip kc = { .chip_id = p->irqchip->chips[i]->id };

			memcpy(&kc.chip, p->irqchip->chips[i]->data.data, sizeof(kc.chip));
			if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &kc) < 0)
				return -errno;
		}
	}
	if (p->pit) {
		struct kvm_pit_state2 ps = { .flags = p->pit->flags };

		for (unsigned i = 0; i < 3; i++) {
			const Vmm__State__PitChannel *c = p->pit->channels[i];
			struct kvm_pit_channel_state *k = &ps.channels[i];

			k->count = c->count;
			k->latched_count = (uint16_t)c->latched_count;
			k->count_latched = (uint8_t)c->count_latched;
			k->status_latched = (uint8_t)c->status_latched;
			k->status = (uint8_t)c->status;
			k->read_state = (uint8_t)c->read_state;
			k->write_state = (uint8_t)c->write_state;
			k->write_latch = (uint8_t)c->write_latch;
			k->rw_mode = (uint8_t)c->rw_mode;
			k->mode = (uint8_t)c->mode;
			k->bcd = (uint8_t)c->bcd;
			k->gate = (uint8_t)c->gate;
			k->count_load_time = c->count_load_time;
		}
		if (ioctl(vm->vm_fd, KVM_SET_PIT2, &ps) < 0)
			return -errno;
	}
	return 0;
}

static int apply_vcpus(struct vm *vm, const struct vm_state_parsed *p)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		const Vmm__State__VcpuState *st = p->vcpus[i];
		int khz = ioctl(vm->vcpus[i].fd, KVM_GET_TSC_KHZ, 0);
		unsigned refused;
		int ret;

		ret = vcpu_state__load(&vm->vcpus[i], st, &refused);
		if (ret) {
			qb_log(LOG_ERR, "vCPU %u: loading its state failed: %s", i, strerror(-ret));
			return ret;
		}
		if (refused)
			qb_log(LOG_WARNING, "vCPU %u: KVM refused %u of %zu saved MSRs", i,
			       refused, st->n_msrs);
		if (st->tsc_khz && khz > 0 && (uint32_t)khz != st->tsc_khz)
			qb_log(LOG_WARNING, "vCPU %u: TSC runs at %d kHz here, %u kHz where saved",
			       i, khz, st->tsc_khz);
	}
	return 0;
}

/* Everything but RAM, in the order KVM needs (see the file comment). */
/*
 * The saved kvmclock moved on by the host's real time since the save: a
 * restored, migrated or activated guest's clock has gone on while it was
 * stopped, as a paused guest's does.  By hand rather than with KVM's own
 * KVM_CLOCK_REALTIME, which older KVMs refuse.  A record without the real
 * time (saved by an older vmm), or a real time ahead of this host's (clocks
 * of two hosts), leaves the clock where it was.
 */
static uint64_t clock_now(const Vmm__State__ClockState *saved)
{
	uint64_t real;

	if (!(saved->flags & KVM_CLOCK_REALTIME) || !saved->realtime)
		return saved->clock;
	real = timens__now(CLOCK_REALTIME);
	return real > saved->realtime ? saved->clock + (real - saved->realtime) : saved->clock;
}

int vm_state__apply_machine(struct vm *vm, const struct vm_state_parsed *p, const char **err)
{
	int ret = apply_irqchip_pit(vm, p);

	if (ret) {
		*err = "KVM refused the saved irqchip or PIT state";
		return ret;
	}
	ret = apply_vcpus(vm, p);
	if (ret) {
		*err = "KVM refused a saved vCPU state";
		return ret;
	}
	if (p->clock) {
		struct kvm_clock_data c = { .clock = clock_now(p->clock) };

		if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &c) < 0) {
			*err = "KVM refused the saved clock";
			return -errno;
		}
		/* However long it was stopped, the guest's watchdog is told. */
		vm__note_stopped(vm);
	}
	if (p->serial && vm->serial) {
		ret = serial__load(vm->serial, p->serial);
		if (ret) {
			*err = "the UART refused its saved state";
			return ret;
		}
	}
	if (p->rtc)
		rtc__load(vm->rtc, p->rtc); /* checked by the parser: cannot fail */
	if (p->acpi_pm)
		acpi_pm__load(vm->pm, p->acpi_pm);
	if (p->virtio_blk)
		virtio_blk__load(vm->blk, p->virtio_blk);
	if (p->virtio_net)
		virtio_net__load(vm->net, p->virtio_net);
	return 0;
}

int vm_state__check_devices(const struct vm *vm, const struct vm_state_parsed *p,
			    const char **err)
{
	if (!p->virtio_blk != !vm->blk) {
		*err = vm->blk ? "the state stream was saved from a VM without a disk (--disk)"
			       : "the state stream was saved from a VM with a disk: give --disk";
		return -EINVAL;
	}
	if (vm->blk && virtio_blk__check_saved(vm->blk, p->virtio_blk, err))
		return -EINVAL;
	if (p->nr_disk && vm->blk && virtio_blk__readonly(vm->blk)) {
		*err = "the state stream carries disk blocks but this VM's disk is read-only";
		return -EROFS;
	}
	if (!p->virtio_net != !vm->net) {
		*err = vm->net ? "the state stream was saved from a VM without a network device "
				 "(--net)"
			       : "the state stream was saved from a VM with a network device: "
				 "give --net";
		return -EINVAL;
	}
	return vm->net ? virtio_net__check_saved(vm->net, p->virtio_net, err) : 0;
}

/* The stream's disk frames into the image, then durable (before any ack). */
static int apply_disk(struct vm *vm, const struct vm_state_parsed *p, const char **err)
{
	int ret = 0;

	if (!vm->blk)
		return 0;
	for (size_t i = 0; i < p->nr_disk && !ret; i++)
		ret = virtio_blk__write(vm->blk, p->disk[i].offset, p->disk[i].data,
					p->disk[i].length);
	if (!ret)
		ret = virtio_blk__sync(vm->blk);
	if (ret)
		*err = "cannot write the state stream's disk blocks into the image";
	return ret;
}

int vm_state__apply(struct vm *vm, const struct vm_state_parsed *p, const char **err)
{
	int ret = vm_state__check_devices(vm, p, err);

	if (!ret)
		ret = apply_disk(vm, p, err);
	if (ret)
		return ret;
	ret = apply_ram(vm, p);
	if (ret) {
		*err = "cannot reset guest memory";
		return ret;
	}
	return vm_state__apply_machine(vm, p, err);
}

int vm_state__load(struct vm *vm, struct stream *s, const char **err)
{
	struct vm_state_parsed p;
	size_t limit = vm_state__staging_limit(vm), len = 0;
	uint8_t *buf;
	int ret;

	memset(&p, 0, sizeof(p));
	if (vm->state != VM_STATE_CREATED && vm->state != VM_STATE_PAUSED) {
		*err = "the VM must be paused (or not started) to load a state";
		return -EBUSY;
	}
	/* Reserved, not committed: pages cost memory as the stream fills them. */
	buf = mmap(NULL, limit, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (buf == MAP_FAILED) {
		*err = "cannot reserve memory to stage the state stream";
		return -ENOMEM;
	}
	ret = stage(vm, s, buf, limit, &len, err);
	if (!ret)
		ret = vm_state__parse(buf, len, &p, err);
	if (!ret) {
		ret = vm_state__check_config(&p, vm->mem.size, vm->nr_vcpus, err);
		if (ret)
			qb_log(LOG_ERR, "state stream: %llu MiB, %u vCPUs; this VM: %llu MiB, %u vCPUs",
			       (unsigned long long)(p.header->mem_size >> 20), p.header->nr_vcpus,
			       (unsigned long long)(vm->mem.size >> 20), vm->nr_vcpus);
	}
	if (!ret) {
		if (p.nr_skipped)
			qb_log(LOG_INFO, "state stream: skipped %u records of unknown names "
			       "(format %u.%u)", p.nr_skipped, p.major, p.minor);
		ret = vm_state__apply(vm, &p, err);
	}
	vm_state__free_parsed(&p);
	munmap(buf, limit);
	return ret;
}

int vm_state__apply_over(struct vm *vm, const struct vm_state_parsed *p, const char **err)
{
	int ret = vm_state__check_devices(vm, p, err);

	if (!ret)
		ret = apply_disk(vm, p, err);
	if (ret)
		return ret;
	copy_pages(vm, p);
	return vm_state__apply_machine(vm, p, err);
}
