/* The VM: KVM setup, the boot image, the pause protocol, stop and reset. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "vmm/acpi.h"
#include "vmm/acpi_pm.h"
#include "vmm/dirty.h"
#include "vmm/guest_abi.h"
#include "vmm/image.h"
#include "vmm/mptable.h"
#include "vmm/rtc.h"
#include "vmm/serial.h"
#include "vmm/sysdev.h"
#include "vmm/timens.h"
#include "vmm/vcpu.h"
#include "vmm/virtio_blk.h"
#include "vmm/vm.h"

/* Where KVM on Intel keeps its real-mode TSS and identity map: just below 4 GiB. */
#define VM_TSS_ADDR 0xfffbd000ULL
#define VM_IDENTITY_MAP_ADDR 0xfffbc000ULL

const char *vm__state_name(enum vm_state state)
{
	static const char *const names[] = { "created", "running", "paused", "stopped" };

	return state <= VM_STATE_STOPPED ? names[state] : "unknown";
}

static int open_kvm(struct vm *vm, const char **err)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		*err = errno == ENOENT ? "/dev/kvm does not exist: KVM is not available here"
				       : "cannot open /dev/kvm (permission? KVM in use?)";
		return -errno;
	}
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		*err = "unsupported KVM API version";
		return -EINVAL;
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0) {
		*err = "the host KVM lacks KVM_CAP_IMMEDIATE_EXIT, needed to pause vCPUs";
		return -ENOTSUP;
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		*err = "KVM_GET_VCPU_MMAP_SIZE failed";
		return -EINVAL;
	}
	return 0;
}

static int create_machine(struct vm *vm, const char **err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		*err = "KVM_CREATE_VM failed";
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, VM_TSS_ADDR) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ VM_IDENTITY_MAP_ADDR }) < 0) {
		*err = "cannot place KVM's TSS and identity map";
		return -errno;
	}
	/* The in-kernel PIC/IOAPIC/LAPIC and PIT, where the host offers them. */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) > 0 &&
	    ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		*err = "KVM_CREATE_IRQCHIP failed";
		return -errno;
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_PIT2) > 0 &&
	    ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		*err = "KVM_CREATE_PIT2 failed";
		return -errno;
	}
	vm->cpuid = cpuid__supported(vm->kvm_fd);
	if (!vm->cpuid) {
		*err = "KVM_GET_SUPPORTED_CPUID failed";
		return -EIO;
	}
	if (vcpu_state__probe(vm->kvm_fd, vm->vm_fd, &vm->vstate)) {
		*err = "KVM_GET_MSR_INDEX_LIST failed";
		return -EIO;
	}
	return 0;
}

static int create_memory(struct vm *vm, const char **err)
{
	int ret = mem__init(&vm->mem, vm->cfg.mem_size);

	if (ret) {
		*err = ret == -EINVAL ? "guest memory must be at least 2 MiB and page-aligned"
				      : "cannot allocate guest memory";
		return ret;
	}
	ret = mem__register(&vm->mem, vm->vm_fd);
	if (ret)
		*err = "KVM refused the guest memory slots (too large for this host?)";
	return ret;
}

static int create_vcpus(struct vm *vm, const char **err)
{
	int ret;

	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		vm->vcpus[i].fd = -1;
		ret = vcpu__create(vm, &vm->vcpus[i], i);
		if (ret) {
			*err = "cannot create a vCPU";
			return ret;
		}
	}
	return 0;
}

/* The ACPI tables describe the devices this VM has. */
static int write_acpi(struct vm *vm)
{
	struct acpi_cfg cfg = { .nr_vcpus = vm->nr_vcpus };
	const struct { bool present; unsigned slot, irq; } virtio[] = {
		{ vm->blk != NULL, GUEST_ABI_VIRTIO_BLK_SLOT, GUEST_ABI_VIRTIO_BLK_IRQ },
		{ vm->net != NULL, GUEST_ABI_VIRTIO_NET_SLOT, GUEST_ABI_VIRTIO_NET_IRQ },
	};

	for (unsigned i = 0; i < sizeof(virtio) / sizeof(virtio[0]); i++) {
		if (!virtio[i].present)
			continue;
		cfg.virtio[cfg.nr_virtio++] = (struct acpi_virtio){
			.base = GUEST_ABI_VIRTIO_MMIO_BASE + virtio[i].slot * GUEST_ABI_VIRTIO_MMIO_STRIDE,
			.size = GUEST_ABI_VIRTIO_MMIO_SIZE, .irq = virtio[i].irq };
	}
	return acpi__write(&vm->mem, &cfg);
}

/* Load the kernel (and initrd) into RAM and reset every vCPU for the entry. */
static int load_and_reset(struct vm *vm, const char **err)
{
	int ret;

	if (!vm->image.kernel) {
		*err = "no kernel image to boot (a restored VM cannot reset)";
		return -ENOENT;
	}
	ret = image__load(&vm->image, &vm->mem, &vm->entry, err);
	if (ret)
		return ret;
	ret = mptable__write(&vm->mem, vm->nr_vcpus);
	if (ret) {
		*err = "cannot write the MP table";
		return ret;
	}
	ret = write_acpi(vm);
	if (ret) {
		*err = "cannot write the ACPI tables";
		return ret;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu__reset(&vm->vcpus[i]);
		if (ret) {
			*err = "cannot set the vCPU boot state";
			return ret;
		}
	}
	return 0;
}

/* A VM not started yet has no vCPU to stop or run: vm__start reads the holds. */
static int hold_stop(void *opaque)
{
	struct vm *vm = opaque;

	return vm->state == VM_STATE_CREATED ? 0 : vm__pause(vm);
}

static int hold_start(void *opaque)
{
	struct vm *vm = opaque;

	return vm->state == VM_STATE_CREATED ? 0 : vm__resume(vm);
}

static const struct vm_hold_ops vm_hold_ops = {
	.stop = hold_stop,
	.start = hold_start,
};

int vm__hold(struct vm *vm, unsigned holders)
{
	enum vm_state state;

	pthread_mutex_lock(&vm->lock);
	state = vm->state;
	pthread_mutex_unlock(&vm->lock);
	/* As vm__pause: a stopped VM cannot be paused, whoever holds it already. */
	return state == VM_STATE_STOPPED ? -EINVAL : vm_hold__take(&vm->hold, holders);
}

int vm__release(struct vm *vm, unsigned holders)
{
	return vm_hold__drop(&vm->hold, holders);
}

unsigned vm__holders(const struct vm *vm)
{
	return vm_hold__held(&vm->hold);
}

int vm__create(struct vm *vm, const struct vm_config *cfg, const char **err)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->event_fd = -1;
	vm->mem.memfd = -1;
	vm->cfg = *cfg;
	vm->nr_vcpus = cfg->nr_vcpus;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm_hold__init(&vm->hold, &vm_hold_ops, vm);
	ratelimit__init(&vm->log_ucall, RATELIMIT_GUEST_BURST, RATELIMIT_GUEST_PER_SEC);
	ratelimit__init(&vm->log_reset, RATELIMIT_GUEST_BURST, RATELIMIT_GUEST_PER_SEC);
	if (cfg->nr_vcpus < 1 || cfg->nr_vcpus > VM_MAX_VCPUS) {
		*err = "the number of vCPUs must be between 1 and 64";
		return -EINVAL;
	}
	vm->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->event_fd < 0) {
		*err = "eventfd failed";
		return -errno;
	}
	/* A VM about to be restored from a snapshot needs no kernel. */
	ret = cfg->kernel_path || !cfg->restoring ?
	      image__read(&vm->image, cfg->kernel_path, cfg->initrd_path, cfg->cmdline, err) : 0;
	if (!ret)
		ret = open_kvm(vm, err);
	if (!ret)
		ret = create_machine(vm, err);
	if (!ret)
		ret = create_memory(vm, err);
	if (!ret)
		ret = create_vcpus(vm, err);
	if (!ret && (ret = sysdev__register(vm)))
		*err = "cannot register the platform ports";
	if (!ret && (ret = acpi_pm__create(&vm->pm, vm)))
		*err = "cannot register the ACPI PM registers";
	if (!ret && (ret = rtc__create(&vm->rtc, vm)))
		*err = "cannot register the RTC";
	if (!ret && (ret = serial__create(&vm->serial, vm, &cfg->serial)))
		*err = "cannot open the serial backend";
	if (!ret && cfg->disk.path)
		ret = virtio_blk__create(&vm->blk, vm, &cfg->disk, err);
	if (!ret && (cfg->net.tap || cfg->net.use_fd))
		ret = virtio_net__create(&vm->net, vm, &cfg->net, err);
	if (!ret && !cfg->restoring)
		ret = load_and_reset(vm, err);
	return ret;
}

void vm__destroy(struct vm *vm)
{
	if (vm->vcpus) {
		for (unsigned i = 0; i < vm->nr_vcpus; i++)
			vcpu__join(&vm->vcpus[i]);
		for (unsigned i = 0; i < vm->nr_vcpus; i++)
			vcpu__destroy(&vm->vcpus[i]);
	}
	serial__destroy(vm->serial);
	acpi_pm__destroy(vm->pm);
	rtc__destroy(vm->rtc);
	virtio_blk__destroy(vm->blk);
	virtio_net__destroy(vm->net);
	dirty__free(vm); /* after the joins: vCPU threads mark pages lock-free */
	free(vm->vcpus);
	free(vm->cpuid);
	vcpu_state__kvm_free(&vm->vstate);
	mem__exit(&vm->mem);
	image__free(&vm->image);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->event_fd >= 0)
		close(vm->event_fd);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	ratelimit__destroy(&vm->log_ucall);
	ratelimit__destroy(&vm->log_reset);
	vm->vcpus = NULL;
	vm->serial = NULL;
	vm->pm = NULL;
	vm->rtc = NULL;
	vm->blk = NULL;
	vm->net = NULL;
}

static bool all_parked(struct vm *vm)
{
	return vm->nr_parked == vm->nr_vcpus;
}

int vm__start(struct vm *vm)
{
	bool start_paused = vm__holders(vm) != 0;
	int ret;

	/*
	 * Starting paused (a paused VM migrated or restored, a standby, run
	 * --paused: someone holds it): with immediate_exit set, each vCPU's first
	 * KVM_RUN returns before running a single guest instruction, and the
	 * thread parks.
	 */
	vm->state = start_paused ? VM_STATE_PAUSED : VM_STATE_RUNNING;
	vm->pause_requested = start_paused;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		if (start_paused)
			vm->vcpus[i].run->immediate_exit = 1;
		ret = vcpu__start(&vm->vcpus[i]);
		if (ret)
			return ret;
	}
	pthread_mutex_lock(&vm->lock);
	while (start_paused && !all_parked(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int vm__pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_STATE_RUNNING) {
		int ret = vm->state == VM_STATE_PAUSED ? 0 : -EINVAL;

		pthread_mutex_unlock(&vm->lock);
		return ret;
	}
	vm->pause_requested = true;
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu__kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->lock);
	while (!all_parked(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->state == VM_STATE_RUNNING)
		vm->state = VM_STATE_PAUSED;
	pthread_mutex_unlock(&vm->lock);
	vm->paused_at_ns = timens__now(CLOCK_MONOTONIC);
	return 0;
}

/*
 * A pause long enough to look like a lockup to the guest (Linux warns after
 * 20 s by default, well above this) is told to it; shorter ones, a
 * checkpoint epoch's, are not, so that a real lockup of a protected guest
 * is still reported.
 */
#define VM_PAUSE_NOTE_NS 1000000000ull

static void note_long_pause(struct vm *vm)
{
	if (timens__now(CLOCK_MONOTONIC) - vm->paused_at_ns >= VM_PAUSE_NOTE_NS)
		vm__note_stopped(vm);
}

void vm__note_stopped(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu__note_stopped(&vm->vcpus[i]);
}

void vm__quiesce(struct vm *vm)
{
	/* vCPU threads that never started (a failed start) have nothing to leave. */
	if (!vm->nr_vcpus || !vm->vcpus[0].thread_started)
		return;
	pthread_mutex_lock(&vm->lock);
	while (vm->state != VM_STATE_RUNNING && !all_parked(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

bool vm__quiescent(struct vm *vm)
{
	bool q;

	pthread_mutex_lock(&vm->lock);
	q = vm->state == VM_STATE_CREATED || vm->state == VM_STATE_PAUSED ||
	    (vm->state == VM_STATE_STOPPED && all_parked(vm));
	pthread_mutex_unlock(&vm->lock);
	return q;
}

bool vm__is_guest_stop(unsigned reason)
{
	return reason == VM_STOP_POWEROFF || reason == VM_STOP_UCALL_DONE ||
	       reason == VM_STOP_ASSERT || reason == VM_STOP_CRASH;
}

bool vm__stopped_by_guest(const struct vm *vm)
{
	return vm->state == VM_STATE_STOPPED && vm__is_guest_stop(vm->stop_reason);
}

int vm__resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_STATE_PAUSED) {
		int ret = vm->state == VM_STATE_RUNNING ? 0 : -EINVAL;

		pthread_mutex_unlock(&vm->lock);
		return ret;
	}
	pthread_mutex_unlock(&vm->lock);
	note_long_pause(vm);
	pthread_mutex_lock(&vm->lock);
	vm->pause_requested = false;
	vm->state = VM_STATE_RUNNING;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	/* Frames that arrived while paused wait in the tap: deliver them now. */
	virtio_net__kick(vm->net);
	return 0;
}

static void wake_main(struct vm *vm)
{
	uint64_t one = 1;

	if (write(vm->event_fd, &one, sizeof(one)) < 0)
		qb_log(LOG_ERR, "cannot wake the main loop: %s", strerror(errno));
}

void vm__request_stop(struct vm *vm, enum vm_stop_reason why, int status,
		      const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (vm->stop_reason != VM_STOP_NONE) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	vm->stop_reason = why;
	vm->stop_status = status;
	va_start(ap, fmt);
	vsnprintf(vm->stop_message, sizeof(vm->stop_message), fmt, ap);
	va_end(ap);
	vm->state = VM_STATE_STOPPED;
	/* Parked vCPUs must wake to see the stop. */
	vm->pause_requested = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu__kick(&vm->vcpus[i]);
	wake_main(vm);
}

void vm__request_reset(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->reset_requested = true;
	pthread_mutex_unlock(&vm->lock);
	wake_main(vm);
}

static int do_reset(struct vm *vm)
{
	const char *err = NULL;
	int ret;

	/* Its own hold: a guest the operator paused meanwhile stays paused after. */
	ret = vm__hold(vm, VM_HOLD_RESET);
	if (ret)
		return ret;
	ret = mem__discard_all(&vm->mem);
	/* Every page changed under the guest: replication must send them again. */
	dirty__mark_offset(vm, 0, vm->mem.size);
	if (!ret)
		ret = load_and_reset(vm, &err);
	if (ret) {
		vm__request_stop(vm, VM_STOP_ERROR, 0, "reset failed: %s",
				 err ? err : strerror(-ret));
		vm__release(vm, VM_HOLD_RESET);
		return ret;
	}
	serial__reset(vm->serial);
	acpi_pm__reset(vm->pm);
	rtc__reset(vm->rtc);
	virtio_blk__reset(vm->blk);
	virtio_net__reset(vm->net);
	vm->nr_resets++;
	ratelimit_log(&vm->log_reset, LOG_NOTICE, "the guest reset the machine (reset %llu)",
		      (unsigned long long)vm->nr_resets);
	return vm__release(vm, VM_HOLD_RESET);
}

int vm__handle_events(struct vm *vm)
{
	uint64_t v;
	bool reset;

	if (read(vm->event_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&vm->lock);
	reset = vm->reset_requested && vm->state != VM_STATE_STOPPED;
	vm->reset_requested = false;
	pthread_mutex_unlock(&vm->lock);
	return reset ? do_reset(vm) : 0;
}

int vm__exit_status(const struct vm *vm)
{
	switch (vm->stop_reason) {
	case VM_STOP_POWEROFF:
		return vm->stop_status;
	case VM_STOP_UCALL_DONE:
	case VM_STOP_QUIT:
		return 0;
	case VM_STOP_ASSERT:
		return VMM_EXIT_GUEST_ASSERT;
	case VM_STOP_CRASH:
		return VMM_EXIT_GUEST_CRASH;
	default:
		return VMM_EXIT_ERROR;
	}
}
