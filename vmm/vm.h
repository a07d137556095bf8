/*
 * struct vm: one KVM virtual machine and everything it owns.  No globals, so
 * two VMs can live in one process (tests do this).
 */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/boot.h"
#include "vmm/image.h"
#include "vmm/iotrap.h"
#include "vmm/mem.h"
#include "vmm/ratelimit.h"
#include "vmm/serial.h"
#include "vmm/vcpu_state.h"
#include "vmm/virtio_blk.h"
#include "vmm/virtio_net.h"
#include "vmm/vm_hold.h"

#define VM_MAX_VCPUS 64

struct vcpu;
struct serial;
struct dirty;
struct mem_cow;
struct acpi_pm;
struct rtc;
struct qb_loop;

enum vm_state {
	VM_STATE_CREATED,  /* built, vCPUs not started yet            */
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,
	VM_STATE_STOPPED,  /* powered off, crashed, or asked to quit  */
};

/* Why the VM stopped; set once, by the first event that stops it. */
enum vm_stop_reason {
	VM_STOP_NONE,
	VM_STOP_POWEROFF,   /* the guest powered off: status = its status   */
	VM_STOP_UCALL_DONE, /* a test guest reported success                */
	VM_STOP_ASSERT,     /* a test guest assertion failed                */
	VM_STOP_CRASH,      /* triple fault, emulation failure, entry failure */
	VM_STOP_QUIT,       /* the operator asked (control, signal)         */
	VM_STOP_ERROR,      /* the vmm failed (KVM_RUN error and the like)  */
};

struct vm_config {
	uint64_t mem_size;
	unsigned nr_vcpus;
	const char *kernel_path;
	const char *initrd_path;
	const char *cmdline;
	struct serial_cfg serial;
	struct disk_cfg disk;  /* virtio-blk; path NULL: none */
	struct net_cfg net;    /* virtio-net; tap NULL and !use_fd: none */
	bool restoring; /* state comes from a snapshot: the kernel is optional */
	bool test_port; /* the test guests' test-call port (guest_abi.h): tests only */
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int run_size;          /* mmap size of struct kvm_run       */
	struct vm_config cfg;
	struct vm_mem mem;
	struct image image;
	struct iotrap_table io;
	struct boot_entry entry;
	unsigned nr_vcpus;
	struct vcpu *vcpus;
	struct serial *serial;
	struct virtio_blk *blk; /* NULL without --disk */
	struct virtio_net *net; /* NULL without --net */
	struct acpi_pm *pm;     /* PM1 registers: power button, S5 */
	struct rtc *rtc;        /* CMOS RTC */
	struct kvm_cpuid2 *cpuid;
	struct vcpu_state_kvm vstate; /* what KVM offers for vCPU state (vcpu_state.h) */
	struct dirty *dirty;   /* dirty-page tracking while on (vmm/dirty.c) */
	struct mem_cow *cow;   /* copy-on-write capture while protected (vmm/mem_cow.c) */

	/* Pause protocol: see vcpu.c. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool pause_requested;
	unsigned nr_parked;
	uint64_t paused_at_ns;     /* CLOCK_MONOTONIC, when the vCPUs last stopped */
	enum vm_state state;
	/* Who holds the guest paused (vm_hold.h); held at vm__start: it starts paused. */
	struct vm_hold hold;

	/* Stop and reset requests from vCPU threads reach the main loop here. */
	int event_fd;
	enum vm_stop_reason stop_reason;
	int stop_status;
	char stop_message[256];
	bool reset_requested;
	uint64_t nr_resets;

	/* The guest can trigger these log lines at will: rate-limited. */
	struct ratelimit log_ucall;
	struct ratelimit log_reset;
};

/* Create the VM: KVM fds, RAM, irqchip, PIT, vCPUs, devices, boot image. */
int vm__create(struct vm *vm, const struct vm_config *cfg, const char **err);
void vm__destroy(struct vm *vm);

/* Start every vCPU thread. */
int vm__start(struct vm *vm);

/*
 * Pause every vCPU and wait until each has acknowledged: when this returns no
 * vCPU is inside KVM_RUN and pending I/O has been completed, so vCPU state can
 * be read.  Idempotent.  Called from the main thread only.
 */
int vm__pause(struct vm *vm);
int vm__resume(struct vm *vm);
/* Tells every vCPU's guest it was stopped (vcpu__note_stopped); vCPUs parked. */
void vm__note_stopped(struct vm *vm);

/*
 * Main thread: take or release holds (enum vm_holder bits) on the guest's
 * pause; the vCPUs run only when no holder remains.  Engines use these, never
 * vm__pause/vm__resume, so that none resumes a guest another still holds
 * (vm_hold.h says what each holder is).  Before vm__start a hold only makes
 * it start paused.  vm__hold fails as vm__pause does (a stopped VM) and then
 * records nothing.
 */
int vm__hold(struct vm *vm, unsigned holders);
int vm__release(struct vm *vm, unsigned holders);
unsigned vm__holders(const struct vm *vm);

/* From any thread: stop the VM (the first reason wins) and wake the main loop. */
void vm__request_stop(struct vm *vm, enum vm_stop_reason why, int status,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void vm__request_reset(struct vm *vm);

/*
 * Main thread, on a stopped (or paused) VM: wait until no vCPU thread is
 * inside KVM_RUN, so that the vCPUs' state can be read (a final checkpoint).
 */
void vm__quiesce(struct vm *vm);
/* No vCPU can run: created, paused, or stopped with every vCPU thread out. */
bool vm__quiescent(struct vm *vm);
/* The guest itself ended the run (power-off, crash, a test's verdict). */
bool vm__stopped_by_guest(const struct vm *vm);
bool vm__is_guest_stop(unsigned reason);

/* Main thread, when event_fd is readable: carry out a pending reset. */
int vm__handle_events(struct vm *vm);

/* Stopped VMs: the exit status `vmm run` should return. */
int vm__exit_status(const struct vm *vm);

const char *vm__state_name(enum vm_state state);

#endif
