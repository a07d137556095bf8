/* vCPUs: one thread each, the KVM_RUN loop, and the pause handshake. */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct kvm_run;
struct vcpu_power_on;

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	uint64_t nr_exits;
	uint64_t nr_io_exits;
	struct vcpu_power_on *power_on; /* state right after creation, for reset */
	uint32_t tsc_khz;       /* KVM_GET_TSC_KHZ, once asked (vcpu_state.c); 0: not yet */
};

int vcpu__create(struct vm *vm, struct vcpu *vcpu, unsigned id);
void vcpu__destroy(struct vcpu *vcpu);

/* Registers for the boot entry (BSP) or the wait-for-SIPI state (APs). */
int vcpu__reset(struct vcpu *vcpu);

int vcpu__start(struct vcpu *vcpu);
/* Ask the thread to leave KVM_RUN (it then checks for pause or stop). */
void vcpu__kick(struct vcpu *vcpu);
/*
 * Tells a parked vCPU's guest that it was stopped (kvmclock's "guest
 * stopped" flag): Linux's soft-lockup watchdog then takes the time jump
 * for what it is instead of reporting a lockup.
 */
void vcpu__note_stopped(struct vcpu *vcpu);
void vcpu__join(struct vcpu *vcpu);

/* CPUID from KVM_GET_SUPPORTED_CPUID with a consistent topology per vCPU. */
struct kvm_cpuid2 *cpuid__supported(int kvm_fd);
int cpuid__apply(const struct kvm_cpuid2 *base, int vcpu_fd, unsigned id,
		 unsigned nr_vcpus, uint32_t tsc_khz);

#endif
