/*
 * One vCPU's architectural state as a plain-data record (Firecracker-style):
 * captured from KVM and put back, in one fixed order (see vcpu_state.c).
 */
#ifndef VMM_VCPU_STATE_H
#define VMM_VCPU_STATE_H

#include "vmm/state.pb-c.h"

struct vcpu;

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
