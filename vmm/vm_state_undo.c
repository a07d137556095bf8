/*
 * A standby's checkpoint applied as a transaction (vm_state.h,
 * vm_state__apply_over_undoable).  A checkpoint that fails halfway (the
 * image's file system full, an I/O error, KVM refusing a vCPU state) must
 * not leave the disk of epoch N+1 under the RAM and vCPUs of epoch N: a
 * guest activated from that mix corrupts its file system silently.
 *
 * What each part keeps to be put back:
 *  - the disk: the old contents of every range the stream overwrites, in
 *    an undo log (an unnamed file on the image's file system), written and
 *    made durable before the first block of the image changes.  A range
 *    that held zeros costs no log space: it is undone by punching it again.
 *    A full file system therefore fails while logging, before the image
 *    changed, or while writing the image, with the log complete.
 *  - RAM: each page of the stream is swapped with the page it replaces, so
 *    the staging buffer holds the old pages: no second copy of the epoch.
 *  - the machine (vCPUs, irqchip, PIT, clock, devices): the records of the
 *    last checkpoint applied, kept from its parse (a pointer swap, nothing
 *    copied); before the first checkpoint, whose predecessor came another
 *    way (the initial sync), saved from KVM once.
 * Undo runs in the reverse order of apply: machine, RAM, disk.
 *
 * The machine is loaded into KVM and the device models only by the first
 * checkpoint and then by one at least settle_ms (default 1 s) after the
 * last load; the others leave their records in u->machine, pending, as
 * Remus's restore keeps the last checkpoint's vCPU context aside until
 * failover.  vm_state__undo_settle loads them before the standby runs or
 * its state is read.  A standby's vCPUs never run before that, and every
 * load cost its main thread about 110 us on this host's KVM, on the path
 * of every ack (docs/performance.md, "virtio-net").  The periodic load
 * still finds within a second a state KVM refuses, while it can be undone.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "vmm/stream.h"
#include "vmm/timens.h"
#include "vmm/virtio_blk.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"

/* One disk range the stream overwrites, as it was. */
struct undo_extent {
	uint64_t offset;     /* in the image */
	uint32_t length;
	bool zero;           /* it held zeros: undone by zeroing (a hole) */
	uint64_t log_off;    /* else its old bytes are here in the log */
};

struct vm_state_undo {
	int log_fd;                  /* -1: not opened yet (opened on first need) */
	struct undo_extent *ext;
	size_t nr_ext, cap_ext;
	uint8_t *buf;                /* STREAM_DISK_MAX bytes of scratch */
	bool have_machine;
	bool pending;                /* machine is newer than what KVM holds */
	struct vm_state_parsed machine; /* the last checkpoint's machine records */
	unsigned settle_ms;          /* load the machine at most this often */
	uint64_t loaded_ms;          /* CLOCK_MONOTONIC of the last load */
};

#define SETTLE_MS_DEFAULT 1000

int vm_state__undo_new(struct vm_state_undo **out)
{
	struct vm_state_undo *u = calloc(1, sizeof(*u));

	*out = NULL;
	if (!u || !(u->buf = malloc(STREAM_DISK_MAX))) {
		free(u);
		return -ENOMEM;
	}
	u->log_fd = -1;
	u->settle_ms = SETTLE_MS_DEFAULT;
	*out = u;
	return 0;
}

void vm_state__undo_free(struct vm_state_undo *u)
{
	if (!u)
		return;
	if (u->log_fd >= 0)
		close(u->log_fd);
	free(u->ext);
	free(u->buf);
	vm_state__free_parsed(&u->machine);
	free(u);
}

/* All of len bytes at off of the log: read into dst, or written from src. */
static int log_io(int fd, uint64_t off, uint8_t *dst, const uint8_t *src, size_t len)
{
	while (len) {
		ssize_t n = dst ? pread(fd, dst, len, (off_t)off) : pwrite(fd, src, len, (off_t)off);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		if (dst)
			dst += n;
		else
			src += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Room for every disk frame of p. */
static int reserve_extents(struct vm_state_undo *u, size_t n)
{
	struct undo_extent *e;

	u->nr_ext = 0;
	if (n <= u->cap_ext)
		return 0;
	e = realloc(u->ext, n * sizeof(*e));
	if (!e)
		return -ENOMEM;
	u->ext = e;
	u->cap_ext = n;
	return 0;
}

/* One range's old contents into the log (nothing for zeros). */
static int log_extent(struct vm_state_undo *u, struct virtio_blk *b,
		      const struct vm_state_disk *d, uint64_t *log_len)
{
	struct undo_extent *e = &u->ext[u->nr_ext];
	int ret = virtio_blk__read(b, d->offset, u->buf, d->length);

	if (ret)
		return ret;
	*e = (struct undo_extent){ d->offset, d->length, vm_state__all_zero(u->buf, d->length),
				   *log_len };
	if (!e->zero) {
		if (u->log_fd < 0 && (u->log_fd = virtio_blk__scratch(b)) < 0) {
			ret = u->log_fd;
			u->log_fd = -1;
			return ret;
		}
		ret = log_io(u->log_fd, *log_len, NULL, u->buf, d->length);
		if (ret)
			return ret;
		*log_len += d->length;
	}
	u->nr_ext++;
	return 0;
}

/* The undo log of p's disk frames, durable before the image is touched. */
static int log_disk(struct vm_state_undo *u, struct vm *vm, const struct vm_state_parsed *p)
{
	uint64_t log_len = 0;
	int ret = reserve_extents(u, p->nr_disk);

	for (size_t i = 0; !ret && i < p->nr_disk; i++)
		ret = log_extent(u, vm->blk, &p->disk[i], &log_len);
	if (!ret && log_len && fdatasync(u->log_fd))
		ret = -errno;
	return ret;
}

/* Every logged range back into the image, made durable. */
static int undo_disk(struct vm_state_undo *u, struct vm *vm)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < u->nr_ext; i++) {
		const struct undo_extent *e = &u->ext[i];

		if (!e->zero)
			ret = log_io(u->log_fd, e->log_off, u->buf, NULL, e->length);
		if (!ret)
			ret = virtio_blk__write(vm->blk, e->offset, e->zero ? NULL : u->buf,
						e->length);
	}
	return ret ? ret : virtio_blk__sync(vm->blk);
}

/* The log's space back to the file system once a checkpoint committed. */
static void drop_log(struct vm_state_undo *u)
{
	u->nr_ext = 0;
	if (u->log_fd >= 0 && ftruncate(u->log_fd, 0))
		qb_log(LOG_WARNING, "standby: cannot truncate the disk undo log: %s",
		       strerror(errno));
}

static int write_disk(struct vm *vm, const struct vm_state_parsed *p)
{
	int ret = 0;

	for (size_t i = 0; i < p->nr_disk && !ret; i++)
		ret = virtio_blk__write(vm->blk, p->disk[i].offset, p->disk[i].data,
					p->disk[i].length);
	return ret ? ret : virtio_blk__sync(vm->blk);
}

/*
 * Exchange the stream's pages with guest RAM through the scratch buffer:
 * done twice, it puts RAM back.  The page data is the caller's writable
 * staging area (vm_state.h), parsed into const pointers.
 */
static void swap_pages(struct vm_state_undo *u, struct vm *vm, const struct vm_state_parsed *p)
{
	for (size_t i = 0; i < p->nr_pages_frames; i++) {
		uint8_t *ram = vm->mem.host + p->pages[i].offset;
		uint8_t *data = (uint8_t *)(uintptr_t)p->pages[i].data;
		size_t left = (size_t)p->pages[i].npages * MEM_PAGE_SIZE;

		while (left) {
			size_t n = left < STREAM_DISK_MAX ? left : STREAM_DISK_MAX;

			memcpy(u->buf, ram, n);
			memcpy(ram, data, n);
			memcpy(data, u->buf, n);
			ram += n;
			data += n;
			left -= n;
		}
	}
}

/* The machine state as it is now, parsed into u->machine. */
static int save_machine(struct vm_state_undo *u, struct vm *vm, const char **err)
{
	struct stream s;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	stream__init_mem(&s);
	ret = vm_state__save_pages(vm, &s, NULL, NULL);
	if (!ret && !(buf = stream__mem_take(&s, &len)))
		ret = -ENOMEM;
	stream__close(&s);
	/* Records only: nothing in u->machine points into buf. */
	if (!ret)
		ret = vm_state__parse(buf, len, &u->machine, err);
	free(buf);
	if (ret) {
		vm_state__free_parsed(&u->machine);
		*err = "cannot save the standby's machine state before applying";
	}
	u->have_machine = !ret;
	return ret;
}

#define SWAP(a, b) do { __typeof__(a) t_ = (a); (a) = (b); (b) = t_; } while (0)

/*
 * p applied: its records are now the machine state, u->machine's go to p
 * (freed with it).  A record p lacks was not changed: the old one stays.
 * Called twice, it puts both back: every record p has then is an old one
 * (u->machine has every record the VM has, saved from KVM at the first).
 */
static void keep_machine(struct vm_state_undo *u, struct vm_state_parsed *p)
{
	struct vm_state_parsed *m = &u->machine;

	SWAP(m->header, p->header);
	SWAP(m->vcpus, p->vcpus);
	if (p->irqchip)
		SWAP(m->irqchip, p->irqchip);
	if (p->pit)
		SWAP(m->pit, p->pit);
	if (p->clock)
		SWAP(m->clock, p->clock);
	if (p->serial)
		SWAP(m->serial, p->serial);
	if (p->rtc)
		SWAP(m->rtc, p->rtc);
	if (p->acpi_pm)
		SWAP(m->acpi_pm, p->acpi_pm);
	if (p->virtio_blk)
		SWAP(m->virtio_blk, p->virtio_blk);
	if (p->virtio_net)
		SWAP(m->virtio_net, p->virtio_net);
}

/* Undo after the machine part failed: machine (RAM's first, see load), disk. */
static bool undo_all(struct vm_state_undo *u, struct vm *vm, const struct vm_state_parsed *p)
{
	const char *why = NULL;
	int ret;

	swap_pages(u, vm, p);
	ret = vm_state__apply_machine(vm, &u->machine, &why);
	if (ret)
		qb_log(LOG_ERR, "standby: cannot restore the previous machine state: %s: %s", why,
		       strerror(-ret));
	if (vm->blk) {
		int dret = undo_disk(u, vm);

		if (dret)
			qb_log(LOG_ERR, "standby: cannot put the disk image back: %s",
			       strerror(-dret));
		ret = ret ? ret : dret;
	}
	return !ret;
}

void vm_state__undo_settle_every(struct vm_state_undo *u, unsigned ms)
{
	u->settle_ms = ms;
}

static uint64_t now_ms(void)
{
	return timens__now(CLOCK_MONOTONIC) / 1000000;
}

/* Is this checkpoint's machine to be loaded now (see the file comment)? */
static bool load_due(const struct vm_state_undo *u)
{
	return !u->have_machine || now_ms() - u->loaded_ms >= u->settle_ms;
}

int vm_state__undo_settle(struct vm *vm, struct vm_state_undo *u, const char **err)
{
	int ret;

	if (!u->pending)
		return 0;
	ret = vm_state__apply_machine(vm, &u->machine, err);
	if (!ret) {
		u->pending = false;
		u->loaded_ms = now_ms();
	}
	return ret;
}

int vm_state__apply_over_undoable(struct vm *vm, struct vm_state_parsed *p,
				  struct vm_state_undo *u, bool *whole, const char **err)
{
	int ret = vm_state__check_devices(vm, p, err);
	int uret;

	*whole = true;
	if (!ret && !u->have_machine)
		ret = save_machine(u, vm, err);
	if (!ret && vm->blk && (ret = log_disk(u, vm, p)))
		*err = "cannot write the disk undo log (the image is untouched)";
	if (ret)
		goto out;
	if (vm->blk && (ret = write_disk(vm, p))) {
		*err = "cannot write the checkpoint's disk blocks into the image";
		uret = undo_disk(u, vm);
		if (uret)
			qb_log(LOG_ERR, "standby: cannot put the disk image back: %s",
			       strerror(-uret));
		*whole = !uret;
		goto out;
	}
	swap_pages(u, vm, p);
	/*
	 * u->machine: this checkpoint's records merged over the last ones (a
	 * record it lacks may come from a checkpoint kept aside); p: those
	 * they replaced, swapped back if the load fails.
	 */
	keep_machine(u, p);
	if (!load_due(u)) {
		u->pending = true;
		goto out;
	}
	ret = vm_state__apply_machine(vm, &u->machine, err);
	if (ret) {
		keep_machine(u, p);
		*whole = undo_all(u, vm, p);
		if (*whole)
			u->pending = false;   /* undone: KVM holds all of u->machine */
	} else {
		u->pending = false;
		u->loaded_ms = now_ms();
	}
out:
	/* The log's space is kept only while it is all that holds the old blocks. */
	if (*whole)
		drop_log(u);
	return ret;
}
