/*
 * libFuzzer target: the migration destination and the checkpointing
 * standby as state machines, not one frame at a time.  The input is a
 * whole conversation: which connections a peer opens, in what order, and
 * every byte each of them sends (prelude, hello, data connections with
 * their DataHello, rounds of pages, zero lists, discards, the switch-over,
 * the final state; then, for a standby, checkpoints).  It is played into
 * migrate__incoming_fd over a local listening socket; a standby that takes
 * the sync then runs its checkpoint loop (checkpoint__standby_start) on the
 * stream that follows.
 *
 * Input: byte 0, bit 0: a standby (else a migration destination); bit 1:
 * the fence expects peer generation 1 exactly.  Then chunks of
 *   u8 connection (mod FUZZ_CONNS), u16 length (LE), the bytes
 * each appended to its connection; connections are opened in the order
 * they first appear, all before the receiver starts, so the receiver
 * takes them in that order (a stray, then the source, ...).  Every
 * connection's sending side is closed after its bytes, and the listening
 * socket is shut down: accepting beyond the last connection fails at once,
 * which ends the receiver.  Nothing here waits on a clock.
 *
 * KVM-free stand-ins (below) take the place of what needs a hypervisor:
 * guest RAM is a plain mapping of FUZZ_MEM bytes with no vCPU, applying a
 * state copies its pages into that RAM (vCPU and device records are
 * parsed and checked, not loaded), post-copy's userfaultfd side is a stub
 * that closes its connections, and the standby's main-thread calls run on
 * the calling thread.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "replication/checkpoint.h"
#include "replication/migrate.h"
#include "replication/postcopy.h"
#include "replication/wire.h"
#include "tests/fuzz/fuzzsock.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The state streams of tests/fuzz/corpus/state are for this VM. */
#define FUZZ_MEM (2ULL << 20)

/* --- KVM-free stand-ins --------------------------------------------------- */

int vm_state__apply_over(struct vm *vm, const struct vm_state_parsed *p, const char **err)
{
	if (p->virtio_blk || p->virtio_net || p->nr_disk) {
		*err = "the state stream has devices this VM lacks";
		return -EINVAL;
	}
	/* vm_state__check_config held the pages inside RAM: an overrun is a bug. */
	for (size_t i = 0; i < p->nr_pages_frames; i++) {
		if (p->pages[i].offset + (uint64_t)p->pages[i].npages * STREAM_PAGE_SIZE > vm->mem.size)
			abort();
		memcpy(vm->mem.host + p->pages[i].offset, p->pages[i].data,
		       (size_t)p->pages[i].npages * STREAM_PAGE_SIZE);
	}
	return 0;
}

size_t vm_state__staging_limit(const struct vm *vm)
{
	return (size_t)vm->mem.size + (size_t)vm->mem.size / 64 + (64u << 20);
}

/* The host's free memory is not the fuzzer's business: always room. */
int vm_state__stage_room(size_t staged, size_t *next, char *why, size_t whylen)
{
	(void)why, (void)whylen;
	*next = staged + (64u << 20);
	return 0;
}

/* The standby's undoable apply: the stand-in above, which cannot fail halfway. */
static int undo_dummy;

int vm_state__undo_new(struct vm_state_undo **out)
{
	*out = (struct vm_state_undo *)&undo_dummy;
	return 0;
}

void vm_state__undo_free(struct vm_state_undo *u)
{
	(void)u;
}

int vm_state__apply_over_undoable(struct vm *vm, struct vm_state_parsed *p,
				  struct vm_state_undo *u, bool *whole, const char **err)
{
	(void)u;
	*whole = true;
	return vm_state__apply_over(vm, p, err);
}

/* Post-copy: no userfaultfd here; the switch-over is taken, its links closed. */
static int pc_dummy;

int postcopy__dst_prepare(const struct vm_port *port, const struct dirty_bitmap *discard,
			  struct pc_dst **out, char *err, size_t errlen)
{
	(void)port, (void)discard, (void)err, (void)errlen;
	*out = (struct pc_dst *)&pc_dummy;
	return 0;
}

int postcopy__dst_run(struct pc_dst *d, struct chan *main, struct chan *req, const char *uri,
		      const struct mig_tls *tls, uint64_t session)
{
	(void)d, (void)uri, (void)tls, (void)session;
	channel__close(main);
	channel__close(req);
	return 0;
}

void postcopy__dst_abort(struct pc_dst *d)
{
	(void)d;
}

/* The standby's main thread is the caller's. */
int mainthread__call(struct mt_bridge *b, int (*fn)(void *), void *arg)
{
	(void)b;
	return fn(arg);
}

void mainthread__wake(struct mt_bridge *b)
{
	(void)b;
}

int checkpoint__activate(struct checkpoint *ck, bool force, uint64_t generation, char *err,
			 size_t errlen)
{
	(void)ck, (void)force, (void)generation, (void)err, (void)errlen;
	abort(); /* activate_on_loss is off */
}

void checkpoint__record_commit(struct checkpoint *ck, uint64_t now_ns)
{
	(void)ck, (void)now_ns;
}

uint64_t migrate__now_ns(void)
{
	return wire__now_ns();
}

void vm__request_stop(struct vm *vm, enum vm_stop_reason why, int status, const char *fmt, ...)
{
	(void)fmt;
	vm->stop_reason = why;
	vm->stop_status = status;
}

bool vm__is_guest_stop(unsigned reason)
{
	return reason == VM_STOP_POWEROFF || reason == VM_STOP_UCALL_DONE ||
	       reason == VM_STOP_ASSERT || reason == VM_STOP_CRASH;
}

/*
 * The receiver and the standby's checkpoint loop see the VM through its
 * port (vm_port.h); it has no disk, network device or UART.
 */
static uint64_t port_mem_size(void *vm)
{
	return ((struct vm *)vm)->mem.size;
}

static unsigned port_nr_vcpus(void *vm)
{
	return ((struct vm *)vm)->nr_vcpus;
}

static uint8_t *port_mem_host(void *vm)
{
	return ((struct vm *)vm)->mem.host;
}

static unsigned port_nr_devices(void *vm)
{
	(void)vm;
	return 0;
}

/* The receiver only takes holds on a VM that is not started: nothing to stop. */
static int port_hold(void *vm, unsigned holders)
{
	((struct vm *)vm)->hold.held |= holders;
	return 0;
}

static unsigned port_holders(void *vm)
{
	return ((struct vm *)vm)->hold.held;
}

static int port_apply(void *vm, const struct vm_state_parsed *p, const char **why)
{
	return vm_state__apply_over(vm, p, why);
}

static void port_disk(void *vm, const struct vm_disk_ops **ops, void **disk)
{
	(void)vm;
	*ops = NULL;
	*disk = NULL;
}

static bool port_is_guest_stop(void *vm, uint32_t reason)
{
	(void)vm;
	return vm__is_guest_stop(reason);
}

static void port_request_stop(void *vm, uint32_t reason, int32_t status, const char *message)
{
	vm__request_stop(vm, (enum vm_stop_reason)reason, status, "%s", message);
}

static size_t port_staging_limit(void *vm)
{
	return vm_state__staging_limit(vm);
}

static int port_apply_undoable(void *vm, struct vm_state_parsed *p, struct vm_state_undo *undo,
			       bool *whole, const char **why)
{
	return vm_state__apply_over_undoable(vm, p, undo, whole, why);
}

/* No disk, no output device. */
static int port_disk_digest(void *vm, uint8_t sha[32])
{
	(void)vm, (void)sha;
	return -ENODEV;
}

static void port_sink(void *vm, enum outbuf_kind k, const struct outbuf_sink_ops **ops,
		      void **dev)
{
	(void)vm, (void)k;
	*ops = NULL;
	*dev = NULL;
}

static void port_drop_output(void *vm, enum outbuf_kind k)
{
	(void)vm, (void)k;
}

static const struct vm_port_ops port_ops = {
	.mem_size = port_mem_size,
	.nr_vcpus = port_nr_vcpus,
	.mem_host = port_mem_host,
	.nr_devices = port_nr_devices,
	.hold = port_hold,
	.holders = port_holders,
	.apply = port_apply,
	.disk = port_disk,
	.is_guest_stop = port_is_guest_stop,
	.request_stop = port_request_stop,
	.staging_limit = port_staging_limit,
	.apply_undoable = port_apply_undoable,
	.disk_digest = port_disk_digest,
	.sink = port_sink,
	.drop_output = port_drop_output,
};

/* The standby's checkpoint loop on the stream the sync left (its own thread). */
static void standby(struct vm *vm, struct chan *c, const struct mig_fence *fence)
{
	static struct checkpoint ck;

	memset(&ck, 0, sizeof(ck));
	ck.port = (struct vm_port){ &port_ops, vm };
	pthread_mutex_init(&ck.lock, NULL);
	if (checkpoint__standby_start(&ck, c, fence, false)) {
		channel__close(c);
	} else {
		pthread_join(ck.thread, NULL);
		channel__close(ck.sc);
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "standby: committed %llu, refused %llu: %s\n",
				(unsigned long long)ck.st.committed_epoch,
				(unsigned long long)ck.st.refused, ck.error);
	}
	if (ck.stage)
		munmap(ck.stage, ck.stage_limit);
	pthread_mutex_destroy(&ck.lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm vm;
	static uint8_t *ram;
	struct mig_tls tls = { .none = true };
	struct mig_fence fence = { .generation = 2 };
	struct chan *keep = NULL;
	struct fuzz_conv cv;
	struct fuzz_fds fds;
	pthread_t drain;
	char err[256];
	bool sb;
	int ret;

	if (size < 1)
		return 0;
	if (!ram) {
		ram = mmap(NULL, FUZZ_MEM, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (ram == MAP_FAILED)
			abort();
	}
	memset(&vm, 0, sizeof(vm));
	vm.mem.host = ram;
	vm.mem.size = FUZZ_MEM;
	vm.nr_vcpus = 1;
	sb = data[0] & 1;
	fence.check_peer = data[0] & 2;
	fence.peer_generation = 1;
	if (fuzz__conv_play(&cv, data + 1, size - 1))
		abort();
	fds.n = FUZZ_CONNS;
	memcpy(fds.fd, cv.fd, sizeof(cv.fd));
	if (pthread_create(&drain, NULL, fuzz__drain_main, &fds))
		abort();
	err[0] = 0;
	ret = migrate__incoming_fd(&(struct vm_port){ &port_ops, &vm }, cv.lfd, NULL,
				   &(struct mig_incoming){ .uri = "tcp:fuzz:0", .tls = &tls,
							   .standby = sb, .fence = &fence },
				   sb ? &keep : NULL, err, sizeof(err));
	if (ret && !err[0])
		abort(); /* every failure says why */
	/* To see where a seed ends: FUZZ_VERBOSE=1 tests/fuzz/fuzz_incoming_replay FILE */
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "%s: %d %s%s\n", sb ? "standby" : "incoming", ret, err,
			!ret && keep ? " (checkpoints follow)" : "");
	if (!ret && keep)
		standby(&vm, keep, &fence);
	fuzz__conv_end(&cv);
	pthread_join(drain, NULL);
	fuzz__conv_close(&cv);
	/* Pages written this run: back to zero for the next (round 1 skips zeros). */
	madvise(ram, FUZZ_MEM, MADV_DONTNEED);
	return 0;
}
