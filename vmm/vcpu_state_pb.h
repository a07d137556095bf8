/* Conversions between KVM's vCPU structs and the VcpuState messages. */
#ifndef VMM_VCPU_STATE_PB_H
#define VMM_VCPU_STATE_PB_H

#include <linux/kvm.h>

#include "vmm/state.pb-c.h"

/* Builders return malloc'd messages (NULL: out of memory). */
Vmm__State__Regs *vcpu_state_pb__regs(const struct kvm_regs *k);
Vmm__State__Sregs *vcpu_state_pb__sregs(const struct kvm_sregs *k);
Vmm__State__Sregs *vcpu_state_pb__sregs2(const struct kvm_sregs2 *k);
Vmm__State__VcpuEvents *vcpu_state_pb__events(const struct kvm_vcpu_events *k);
Vmm__State__DebugRegs *vcpu_state_pb__debugregs(const struct kvm_debugregs *k);
int vcpu_state_pb__xcrs(const struct kvm_xcrs *k, Vmm__State__VcpuState *st);
int vcpu_state_pb__msrs(const struct kvm_msrs *k, const uint32_t *unreadable, size_t n_unreadable,
			Vmm__State__VcpuState *st);
int vcpu_state_pb__bytes(ProtobufCBinaryData *b, const void *src, size_t len);

/* The reverse: fill a zeroed KVM struct from a (checked) message. */
void vcpu_state_pb__regs_to_kvm(const Vmm__State__Regs *m, struct kvm_regs *k);
void vcpu_state_pb__sregs_to_kvm(const Vmm__State__Sregs *m, struct kvm_sregs *k);
void vcpu_state_pb__sregs2_to_kvm(const Vmm__State__Sregs *m, struct kvm_sregs2 *k);
void vcpu_state_pb__events_to_kvm(const Vmm__State__VcpuEvents *m, struct kvm_vcpu_events *k);
void vcpu_state_pb__debugregs_to_kvm(const Vmm__State__DebugRegs *m, struct kvm_debugregs *k);
void vcpu_state_pb__xcrs_to_kvm(const Vmm__State__VcpuState *st, struct kvm_xcrs *k);

#endif
