/*
 * KVM's vCPU structs <-> the VcpuState fields (no ioctls here).  Messages
 * are built wholly with malloc so that protobuf-c's free_unpacked with the
 * default allocator frees them.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vcpu_state_pb.h"

#define PB_NEW(type, init)                          \
	({                                          \
		type *m_ = malloc(sizeof(type));    \
		if (m_)                             \
			init(m_);                   \
		m_;                                 \
	})

Vmm__State__Regs *vcpu_state_pb__regs(const struct kvm_regs *k)
{
	Vmm__State__Regs *m = PB_NEW(Vmm__State__Regs, vmm__state__regs__init);

	if (!m)
		return NULL;
	m->rax = k->rax; m->rbx = k->rbx; m->rcx = k->rcx; m->rdx = k->rdx;
	m->rsi = k->rsi; m->rdi = k->rdi; m->rsp = k->rsp; m->rbp = k->rbp;
	m->r8 = k->r8;   m->r9 = k->r9;   m->r10 = k->r10; m->r11 = k->r11;
	m->r12 = k->r12; m->r13 = k->r13; m->r14 = k->r14; m->r15 = k->r15;
	m->rip = k->rip; m->rflags = k->rflags;
	return m;
}

void vcpu_state_pb__regs_to_kvm(const Vmm__State__Regs *m, struct kvm_regs *k)
{
	memset(k, 0, sizeof(*k));
	k->rax = m->rax; k->rbx = m->rbx; k->rcx = m->rcx; k->rdx = m->rdx;
	k->rsi = m->rsi; k->rdi = m->rdi; k->rsp = m->rsp; k->rbp = m->rbp;
	k->r8 = m->r8;   k->r9 = m->r9;   k->r10 = m->r10; k->r11 = m->r11;
	k->r12 = m->r12; k->r13 = m->r13; k->r14 = m->r14; k->r15 = m->r15;
	k->rip = m->rip; k->rflags = m->rflags;
}

static Vmm__State__Segment *seg_pb(const struct kvm_segment *k)
{
	Vmm__State__Segment *m = PB_NEW(Vmm__State__Segment, vmm__state__segment__init);

	if (!m)
		return NULL;
	m->base_addr = k->base;
	m->limit = k->limit;
	m->selector = k->selector;
	m->type = k->type;
	m->present = k->present;
	m->dpl = k->dpl;
	m->db = k->db;
	m->s = k->s;
	m->l = k->l;
	m->g = k->g;
	m->avl = k->avl;
	m->unusable = k->unusable;
	return m;
}

/* A missing segment (never written by us) loads as zero: KVM validates it. */
static void seg_kvm(const Vmm__State__Segment *m, struct kvm_segment *k)
{
	memset(k, 0, sizeof(*k));
	if (!m)
		return;
	k->base = m->base_addr;
	k->limit = m->limit;
	k->selector = (uint16_t)m->selector;
	k->type = (uint8_t)m->type;
	k->present = m->present;
	k->dpl = (uint8_t)m->dpl;
	k->db = m->db;
	k->s = m->s;
	k->l = m->l;
	k->g = m->g;
	k->avl = m->avl;
	k->unusable = m->unusable;
}

static Vmm__State__DTable *dt_pb(const struct kvm_dtable *k)
{
	Vmm__State__DTable *m = PB_NEW(Vmm__State__DTable, vmm__state__dtable__init);

	if (m) {
		m->base_addr = k->base;
		m->limit = k->limit;
	}
	return m;
}

static void dt_kvm(const Vmm__State__DTable *m, struct kvm_dtable *k)
{
	memset(k, 0, sizeof(*k));
	if (m) {
		k->base = m->base_addr;
		k->limit = (uint16_t)m->limit;
	}
}

static uint64_t *u64_array(const void *src, size_t n)
{
	uint64_t *a = malloc(n * sizeof(*a));

	if (a)
		memcpy(a, src, n * sizeof(*a));
	return a;
}

/* kvm_sregs and kvm_sregs2 share these members by name. */
#define SREGS_TO_PB(k, m)                                                            \
	do {                                                                         \
		m->cs = seg_pb(&k->cs); m->ds = seg_pb(&k->ds); m->es = seg_pb(&k->es); \
		m->fs = seg_pb(&k->fs); m->gs = seg_pb(&k->gs); m->ss = seg_pb(&k->ss); \
		m->tr = seg_pb(&k->tr); m->ldt = seg_pb(&k->ldt);                    \
		m->gdt = dt_pb(&k->gdt); m->idt = dt_pb(&k->idt);                    \
		m->cr0 = k->cr0; m->cr2 = k->cr2; m->cr3 = k->cr3; m->cr4 = k->cr4; \
		m->cr8 = k->cr8; m->efer = k->efer; m->apic_base = k->apic_base;     \
	} while (0)

#define SREGS_TO_KVM(m, k)                                                           \
	do {                                                                         \
		seg_kvm(m->cs, &k->cs); seg_kvm(m->ds, &k->ds); seg_kvm(m->es, &k->es); \
		seg_kvm(m->fs, &k->fs); seg_kvm(m->gs, &k->gs); seg_kvm(m->ss, &k->ss); \
		seg_kvm(m->tr, &k->tr); seg_kvm(m->ldt, &k->ldt);                    \
		dt_kvm(m->gdt, &k->gdt); dt_kvm(m->idt, &k->idt);                    \
		k->cr0 = m->cr0; k->cr2 = m->cr2; k->cr3 = m->cr3; k->cr4 = m->cr4; \
		k->cr8 = m->cr8; k->efer = m->efer; k->apic_base = m->apic_base;     \
	} while (0)

static bool sregs_complete(const Vmm__State__Sregs *m)
{
	return m->cs && m->ds && m->es && m->fs && m->gs && m->ss && m->tr && m->ldt &&
	       m->gdt && m->idt;
}

Vmm__State__Sregs *vcpu_state_pb__sregs(const struct kvm_sregs *k)
{
	Vmm__State__Sregs *m = PB_NEW(Vmm__State__Sregs, vmm__state__sregs__init);

	if (!m)
		return NULL;
	SREGS_TO_PB(k, m);
	m->interrupt_bitmap = u64_array(k->interrupt_bitmap, 4);
	m->n_interrupt_bitmap = m->interrupt_bitmap ? 4 : 0;
	if (!sregs_complete(m) || !m->interrupt_bitmap) {
		vmm__state__sregs__free_unpacked(m, NULL);
		return NULL;
	}
	return m;
}

Vmm__State__Sregs *vcpu_state_pb__sregs2(const struct kvm_sregs2 *k)
{
	Vmm__State__Sregs *m = PB_NEW(Vmm__State__Sregs, vmm__state__sregs__init);

	if (!m)
		return NULL;
	SREGS_TO_PB(k, m);
	if (k->flags & KVM_SREGS2_FLAGS_PDPTRS_VALID) {
		m->pdptrs_valid = true;
		m->pdptrs = u64_array(k->pdptrs, 4);
		m->n_pdptrs = m->pdptrs ? 4 : 0;
	}
	if (!sregs_complete(m) || (m->pdptrs_valid && !m->pdptrs)) {
		vmm__state__sregs__free_unpacked(m, NULL);
		return NULL;
	}
	return m;
}

void vcpu_state_pb__sregs_to_kvm(const Vmm__State__Sregs *m, struct kvm_sregs *k)
{
	memset(k, 0, sizeof(*k));
	SREGS_TO_KVM(m, k);
	for (size_t i = 0; i < m->n_interrupt_bitmap && i < 4; i++)
		k->interrupt_bitmap[i] = m->interrupt_bitmap[i];
}

void vcpu_state_pb__sregs2_to_kvm(const Vmm__State__Sregs *m, struct kvm_sregs2 *k)
{
	memset(k, 0, sizeof(*k));
	SREGS_TO_KVM(m, k);
	if (m->pdptrs_valid && m->n_pdptrs == 4) {
		k->flags = KVM_SREGS2_FLAGS_PDPTRS_VALID;
		memcpy(k->pdptrs, m->pdptrs, sizeof(k->pdptrs));
	}
}

Vmm__State__VcpuEvents *vcpu_state_pb__events(const struct kvm_vcpu_events *k)
{
	Vmm__State__VcpuEvents *m = PB_NEW(Vmm__State__VcpuEvents,
					   vmm__state__vcpu_events__init);

	if (!m)
		return NULL;
	m->flags = k->flags;
	m->exception_injected = k->exception.injected;
	m->exception_nr = k->exception.nr;
	m->exception_has_error_code = k->exception.has_error_code;
	m->exception_pending = k->exception.pending;
	m->exception_error_code = k->exception.error_code;
	m->exception_has_payload = k->exception_has_payload;
	m->exception_payload = k->exception_payload;
	m->interrupt_injected = k->interrupt.injected;
	m->interrupt_nr = k->interrupt.nr;
	m->interrupt_soft = k->interrupt.soft;
	m->interrupt_shadow = k->interrupt.shadow;
	m->nmi_injected = k->nmi.injected;
	m->nmi_pending = k->nmi.pending;
	m->nmi_masked = k->nmi.masked;
	m->sipi_vector = k->sipi_vector;
	m->smi_smm = k->smi.smm;
	m->smi_pending = k->smi.pending;
	m->smi_inside_nmi = k->smi.smm_inside_nmi;
	m->smi_latched_init = k->smi.latched_init;
	m->triple_fault_pending = k->triple_fault.pending;
	return m;
}

void vcpu_state_pb__events_to_kvm(const Vmm__State__VcpuEvents *m, struct kvm_vcpu_events *k)
{
	memset(k, 0, sizeof(*k));
	k->flags = m->flags;
	k->exception.injected = m->exception_injected;
	k->exception.nr = (uint8_t)m->exception_nr;
	k->exception.has_error_code = m->exception_has_error_code;
	k->exception.pending = m->exception_pending;
	k->exception.error_code = m->exception_error_code;
	k->exception_has_payload = m->exception_has_payload;
	k->exception_payload = m->exception_payload;
	k->interrupt.injected = m->interrupt_injected;
	k->interrupt.nr = (uint8_t)m->interrupt_nr;
	k->interrupt.soft = m->interrupt_soft;
	k->interrupt.shadow = (uint8_t)m->interrupt_shadow;
	k->nmi.injected = m->nmi_injected;
	k->nmi.pending = m->nmi_pending;
	k->nmi.masked = m->nmi_masked;
	k->sipi_vector = m->sipi_vector;
	k->smi.smm = m->smi_smm;
	k->smi.pending = m->smi_pending;
	k->smi.smm_inside_nmi = m->smi_inside_nmi;
	k->smi.latched_init = m->smi_latched_init;
	k->triple_fault.pending = m->triple_fault_pending;
}

Vmm__State__DebugRegs *vcpu_state_pb__debugregs(const struct kvm_debugregs *k)
{
	Vmm__State__DebugRegs *m = PB_NEW(Vmm__State__DebugRegs,
					  vmm__state__debug_regs__init);

	if (!m)
		return NULL;
	m->db = u64_array(k->db, 4);
	if (!m->db) {
		free(m);
		return NULL;
	}
	m->n_db = 4;
	m->dr6 = k->dr6;
	m->dr7 = k->dr7;
	m->flags = k->flags;
	return m;
}

void vcpu_state_pb__debugregs_to_kvm(const Vmm__State__DebugRegs *m, struct kvm_debugregs *k)
{
	memset(k, 0, sizeof(*k));
	for (size_t i = 0; i < m->n_db && i < 4; i++)
		k->db[i] = m->db[i];
	k->dr6 = m->dr6;
	k->dr7 = m->dr7;
	k->flags = m->flags;
}

int vcpu_state_pb__xcrs(const struct kvm_xcrs *k, Vmm__State__VcpuState *st)
{
	uint32_t n = k->nr_xcrs < KVM_MAX_XCRS ? k->nr_xcrs : KVM_MAX_XCRS;

	st->xcrs = calloc(n ? n : 1, sizeof(*st->xcrs));
	if (!st->xcrs)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		Vmm__State__Xcr *x = PB_NEW(Vmm__State__Xcr, vmm__state__xcr__init);

		if (!x)
			return -ENOMEM;
		x->index = k->xcrs[i].xcr;
		x->value = k->xcrs[i].value;
		st->xcrs[st->n_xcrs++] = x;
	}
	return 0;
}

void vcpu_state_pb__xcrs_to_kvm(const Vmm__State__VcpuState *st, struct kvm_xcrs *k)
{
	memset(k, 0, sizeof(*k));
	for (size_t i = 0; i < st->n_xcrs && i < KVM_MAX_XCRS; i++) {
		k->xcrs[i].xcr = st->xcrs[i]->index;
		k->xcrs[i].value = st->xcrs[i]->value;
		k->nr_xcrs++;
	}
}

int vcpu_state_pb__bytes(ProtobufCBinaryData *b, const void *src, size_t len)
{
	b->data = malloc(len ? len : 1);
	if (!b->data)
		return -ENOMEM;
	memcpy(b->data, src, len);
	b->len = len;
	return 0;
}

int vcpu_state_pb__msrs(const struct kvm_msrs *k, const uint32_t *unreadable, size_t n_unreadable,
			Vmm__State__VcpuState *st)
{
	st->msrs = calloc(k->nmsrs ? k->nmsrs : 1, sizeof(*st->msrs));
	st->msrs_unreadable = calloc(n_unreadable ? n_unreadable : 1, sizeof(uint32_t));
	if (!st->msrs || !st->msrs_unreadable)
		return -ENOMEM;
	for (uint32_t i = 0; i < k->nmsrs; i++) {
		Vmm__State__Msr *m = PB_NEW(Vmm__State__Msr, vmm__state__msr__init);

		if (!m)
			return -ENOMEM;
		m->index = k->entries[i].index;
		m->value = k->entries[i].data;
		st->msrs[st->n_msrs++] = m;
	}
	memcpy(st->msrs_unreadable, unreadable, n_unreadable * sizeof(uint32_t));
	st->n_msrs_unreadable = n_unreadable;
	return 0;
}
