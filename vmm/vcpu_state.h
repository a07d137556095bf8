/*
 * One vCPU's architectural state as a plain-data record (Firecracker-style):
 * captured from KVM and put back, in one fixed order (see vcpu_state.c).
 */
#ifndef VMM_VCPU_STATE_H
#define VMM_VCPU_STATE_H

#include <stdbool.h>

#include "vmm/state.pb-c.h"

struct vcpu;
struct kvm_msrs;

/*
 * What this KVM offers for a vCPU's state, asked once for a VM: every
 * checkpoint saves (and every standby loads) each vCPU, and each question
 * is a syscall (KVM_CHECK_EXTENSION, KVM_GET_MSR_INDEX_LIST twice).
 */
struct vcpu_state_kvm {
	int xsave2;             /* KVM_CAP_XSAVE2: the xsave size; 0 without */
	bool xsave, sregs2, xcrs, debugregs, events, tsc_control;
	struct kvm_msrs *msrs;  /* the MSRs a save reads: KVM's list minus those left out */
};

/* Fill *k from the host's KVM (kvm_fd) and the VM (vm_fd); -errno. */
int vcpu_state__probe(int kvm_fd, int vm_fd, struct vcpu_state_kvm *k);
void vcpu_state__kvm_free(struct vcpu_state_kvm *k);

/* The version of the "vcpu" record this code writes and reads. */
#define VCPU_STATE_VERSION 1

/*
 * The vCPU must not be inside KVM_RUN (VM paused or never started).  *out is
 * allocated wholly with malloc: free it with
 * vmm__state__vcpu_state__free_unpacked(*out, NULL).
 */
int vcpu_state__save(struct vcpu *vcpu, Vmm__State__VcpuState **out);

/*
 * Put a record back.  The record must have passed vm_state__parse's shape
 * checks (byte-field sizes, counts).  MSRs
 * that KVM refuses are logged and skipped (*nr_msrs_refused counts them, may
 * be NULL); everything else that fails is an error and leaves the vCPU
 * partly loaded.
 */
int vcpu_state__load(struct vcpu *vcpu, const Vmm__State__VcpuState *st,
		     unsigned *nr_msrs_refused);

#endif
