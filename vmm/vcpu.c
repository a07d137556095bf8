/*
 * vCPU threads and the run loop.
 *
 * Pausing: the main thread sets vm->pause_requested, then for each vCPU sets
 * run->immediate_exit and signals its thread.  Whether the signal lands
 * before or inside KVM_RUN, the next KVM_RUN returns -EINTR at once; and
 * because that KVM_RUN is entered after the previous exit was handled, KVM
 * has completed any pending port/MMIO read by then.  The thread then parks
 * and counts itself in vm->nr_parked; vm__pause waits for all of them.
 */
#include "config.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

/* What KVM gives a new vCPU; a reset puts it back (KVM has no reset ioctl). */
struct vcpu_power_on {
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_lapic_state lapic;
};

static int save_power_on(struct vcpu *vcpu)
{
	struct vcpu_power_on *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	vcpu->power_on = p;
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &p->sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_FPU, &p->fpu) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_LAPIC, &p->lapic) < 0)
		return -errno;
	return 0;
}

static int load_power_on(struct vcpu *vcpu)
{
	const struct vcpu_power_on *p = vcpu->power_on;
	struct kvm_regs regs = { .rflags = 2, .rip = 0xfff0 };

	if (ioctl(vcpu->fd, KVM_SET_SREGS, &p->sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_FPU, &p->fpu) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_LAPIC, &p->lapic) < 0)
		return -errno;
	return 0;
}

int vcpu__create(struct vm *vm, struct vcpu *vcpu, unsigned id)
{
	uint32_t tsc_khz;
	int ret;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0)
		return -errno;
	vcpu->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = -errno;
		vcpu->run = NULL;
		goto err;
	}
	ret = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	tsc_khz = ret > 0 ? (uint32_t)ret : 0;
	ret = cpuid__apply(vm->cpuid, vcpu->fd, id, vm->nr_vcpus, tsc_khz);
	if (ret)
		goto err;
	ret = save_power_on(vcpu);
	if (ret)
		goto err;
	return 0;
err:
	vcpu__destroy(vcpu);
	return ret;
}

void vcpu__destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->run_size);
	if (vcpu->fd > 0)
		close(vcpu->fd);
	free(vcpu->power_on);
	vcpu->power_on = NULL;
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool l64)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = l64 ? 0 : 1, .s = 1, .l = l64, .g = 1,
	};
}

static int boot_regs(struct vcpu *vcpu)
{
	const struct boot_entry *e = &vcpu->vm->entry;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rflags = 2, .rip = e->rip, .rbx = e->rbx, .rsi = e->rsi };
	bool l64 = e->mode == BOOT_LINUX64;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	flat_seg(&sregs.cs, 0x10, 0xb, l64);
	flat_seg(&sregs.ds, 0x18, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	if (l64) {
		sregs.gdt.base = e->gdt;
		sregs.gdt.limit = e->gdt_limit;
		sregs.cr3 = e->cr3;
		sregs.cr4 = 1u << 5;                 /* PAE */
		sregs.cr0 = 0x80050033;              /* PG WP NE ET MP PE */
		sregs.efer = (1u << 8) | (1u << 10); /* LME LMA */
	} else {
		/* PVH: 32-bit protected mode, paging off (Xen's PVH ABI). */
		sregs.cr0 = 0x11; /* ET PE */
		sregs.cr4 = 0;
		sregs.efer = 0;
	}
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

int vcpu__reset(struct vcpu *vcpu)
{
	/* APs wait in KVM for INIT-SIPI from the guest, as on real hardware. */
	struct kvm_mp_state mp = {
		.mp_state = vcpu->id == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED,
	};
	int ret = load_power_on(vcpu);

	if (ret)
		return ret;
	if (ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0)
		return -errno;
	return vcpu->id == 0 ? boot_regs(vcpu) : 0;
}

static void park(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->lock);
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->cond);
	while (vm->pause_requested)
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->nr_parked--;
	vcpu->run->immediate_exit = 0;
	pthread_mutex_unlock(&vm->lock);
}

static bool pause_pending(struct vm *vm)
{
	bool p;

	pthread_mutex_lock(&vm->lock);
	p = vm->pause_requested;
	pthread_mutex_unlock(&vm->lock);
	return p;
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *r = vcpu->run;
	uint8_t *data = (uint8_t *)r + r->io.data_offset;
	bool wr = r->io.direction == KVM_EXIT_IO_OUT;

	vcpu->nr_io_exits++;
	for (uint32_t i = 0; i < r->io.count; i++) {
		iotrap__dispatch(&vcpu->vm->io, vcpu, IOTRAP_PIO, r->io.port, data,
				 r->io.size, wr);
		data += r->io.size;
	}
}

static void report_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *r = vcpu->run;
	struct kvm_regs regs;
	unsigned long long rip = 0;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) == 0)
		rip = regs.rip;
	vm__request_stop(vcpu->vm, VM_STOP_CRASH, 0,
			 "vCPU %u: KVM internal error (suberror %u%s) at rip 0x%llx",
			 vcpu->id, r->internal.suberror,
			 r->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			 ": the host KVM could not emulate an instruction" : "", rip);
}

/* Returns false when the vCPU must stop running. */
static bool handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *r = vcpu->run;
	struct vm *vm = vcpu->vm;

	switch (r->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		iotrap__dispatch(&vm->io, vcpu, IOTRAP_MMIO, r->mmio.phys_addr, r->mmio.data,
				 r->mmio.len, r->mmio.is_write);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		vm__request_stop(vm, VM_STOP_CRASH, 0,
				 "vCPU %u: the guest triple-faulted (shutdown)", vcpu->id);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		report_internal_error(vcpu);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vm__request_stop(vm, VM_STOP_CRASH, 0,
				 "vCPU %u: VM entry failed (reason 0x%llx)", vcpu->id,
				 (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (r->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vm__request_reset(vm);
			return true;
		}
		vm__request_stop(vm, VM_STOP_POWEROFF, 0, "vCPU %u: system event %u",
				 vcpu->id, r->system_event.type);
		return false;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; a halted, IRQ-less guest is done. */
		vm__request_stop(vm, VM_STOP_POWEROFF, 0, "vCPU %u halted", vcpu->id);
		return false;
	default:
		vm__request_stop(vm, VM_STOP_ERROR, 0, "vCPU %u: unhandled KVM exit %u",
				 vcpu->id, r->exit_reason);
		return false;
	}
}

static bool stopping(struct vm *vm)
{
	bool s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state == VM_STATE_STOPPED;
	pthread_mutex_unlock(&vm->lock);
	return s;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	sigset_t set;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	for (;;) {
		/* After a park, a stop may have been asked while immediate_exit was reset. */
		if (stopping(vm))
			break;
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno != EINTR && errno != EAGAIN) {
				vm__request_stop(vm, VM_STOP_ERROR, 0, "vCPU %u: KVM_RUN: %s",
						 vcpu->id, strerror(errno));
				break;
			}
			if (pause_pending(vm))
				park(vcpu);
			continue;
		}
		vcpu->nr_exits++;
		if (!handle_exit(vcpu))
			break;
	}
	/* A stopped vCPU still counts as parked so that vm__pause never waits on it. */
	pthread_mutex_lock(&vm->lock);
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN */
}

int vcpu__start(struct vcpu *vcpu)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	int ret;

	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL); /* no SA_RESTART: KVM_RUN must see EINTR */
	ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (ret)
		return -ret;
	vcpu->thread_started = true;
	return 0;
}

void vcpu__kick(struct vcpu *vcpu)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu__note_stopped(struct vcpu *vcpu)
{
	/*
	 * EINVAL: the guest has not turned kvmclock on (it has no watchdog
	 * that reads the flag); an older KVM without the ioctl: nothing to do.
	 */
	if (ioctl(vcpu->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL && errno != ENOTTY)
		qb_log(LOG_DEBUG, "vCPU %u: KVM_KVMCLOCK_CTRL: %s", vcpu->id, strerror(errno));
}

#define VCPU_REKICK_MS 100

void vcpu__join(struct vcpu *vcpu)
{
	struct timespec until;

	if (!vcpu->thread_started)
		return;
	/*
	 * A stopped VM's vCPU is kicked again until its thread ends: once in
	 * about 600 runs of a two-vCPU guest that stops itself (kvm-pvm,
	 * tests/vmm/bzimage.sh) the vmm never exited after the stop, waiting
	 * here; where that kick went is not known.  A kick more costs
	 * nothing: a stopped vCPU's KVM_RUN returns at once (immediate_exit
	 * stays set).
	 */
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += VCPU_REKICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_clockjoin_np(vcpu->thread, NULL, CLOCK_MONOTONIC, &until) != ETIMEDOUT)
			break;
		if (stopping(vcpu->vm))
			vcpu__kick(vcpu);
	}
	vcpu->thread_started = false;
}
