/*
 * Save and load one vCPU.  The order is fixed and the same both ways; KVM's
 * ioctls are not independent of each other:
 *
 *  1. MP state first: KVM_GET_MP_STATE makes the LAPIC accept pending
 *     INIT/SIPI events, which changes registers; on load the run state must
 *     be in place before the rest refers to it.
 *  2. Regs, then sregs (KVM_GET_SREGS2 when the host has it, for the PAE
 *     PDPTRs): CR0/CR4/EFER decide how everything after is interpreted, and
 *     sregs carries the APIC base, which selects xAPIC or x2APIC mode.
 *  3. XSAVE (or the legacy FPU area), then XCRs, then debug registers.
 *  4. LAPIC after sregs (its mode comes from the APIC base) and before the
 *     MSRs: KVM ignores a TSC-deadline MSR write unless the LVT timer is in
 *     TSC-deadline mode already.
 *  5. MSRs, every one KVM_GET_MSR_INDEX_LIST names, in its order.  Writing
 *     MSR_IA32_TSC from the host sets KVM's TSC offset so that the guest's TSC
 *     continues from the saved value (it does not count the time between save
 *     and load).  The kvmclock MSRs (system time, PV EOI, async PF, steal
 *     time) are ordinary entries.  The wall-clock MSRs are left out: a host
 *     write to them makes KVM write the wall clock into guest memory at that
 *     address (address 0 when the guest never set it), clobbering restored
 *     RAM; the guest's copy of the wall clock is in RAM already.  Hyper-V's
 *     synthetic MSRs are left out too: the vmm offers no Hyper-V interface
 *     (CPUID 0x40000000 says KVM), so they are no guest state, and some of
 *     them are clocks that a KVM lists on one host and not on another (SVM
 *     KVM lists the reference time counter, 0x40000020, which moves by
 *     itself, and refuses host writes to it).
 *  6. vCPU events last: pending/injected exceptions, interrupts and NMIs
 *     must not be overwritten by side effects of the loads above (SET_SREGS
 *     queues the interrupt in its bitmap; this supersedes it).
 */
#include "config.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <qb/qblog.h>

#include "vmm/vcpu.h"
#include "vmm/vcpu_state.h"
#include "vmm/vcpu_state_pb.h"
#include "vmm/vm.h"

#define MSR_KVM_WALL_CLOCK 0x11
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_HYPERV_FIRST 0x40000000
#define MSR_HYPERV_LAST 0x400000ff

static int vm_cap(int vm_fd, long cap)
{
	int r = ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);

	return r > 0 ? r : 0;
}

/* This VM's answers (vcpu_state__probe). */
static const struct vcpu_state_kvm *kvm_of(const struct vcpu *vcpu)
{
	return &vcpu->vm->vstate;
}

/*
 * The vCPU's TSC frequency (kHz; 0: KVM does not say), asked once: only
 * KVM_SET_TSC_KHZ changes it, which forgets the answer (vcpu_state__load).
 */
static uint32_t tsc_khz(struct vcpu *vcpu)
{
	int khz;

	if (!vcpu->tsc_khz) {
		khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
		vcpu->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
	}
	return vcpu->tsc_khz;
}

static bool msr_saved(uint32_t index)
{
	if (index >= MSR_HYPERV_FIRST && index <= MSR_HYPERV_LAST)
		return false;
	return index != MSR_KVM_WALL_CLOCK && index != MSR_KVM_WALL_CLOCK_NEW;
}

/* Every MSR KVM lists, minus the ones left out on purpose (see above). */
static struct kvm_msrs *msr_template(int kvm_fd)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	struct kvm_msrs *m = NULL;

	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return NULL;
	list = malloc(sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list)
		return NULL;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0)
		goto out;
	m = calloc(1, sizeof(*m) + list->nmsrs * sizeof(struct kvm_msr_entry));
	if (!m)
		goto out;
	for (uint32_t i = 0; i < list->nmsrs; i++)
		if (msr_saved(list->indices[i]))
			m->entries[m->nmsrs++].index = list->indices[i];
out:
	free(list);
	return m;
}

int vcpu_state__probe(int kvm_fd, int vm_fd, struct vcpu_state_kvm *k)
{
	memset(k, 0, sizeof(*k));
	k->xsave2 = vm_cap(vm_fd, KVM_CAP_XSAVE2);
	k->xsave = vm_cap(vm_fd, KVM_CAP_XSAVE);
	k->sregs2 = vm_cap(vm_fd, KVM_CAP_SREGS2);
	k->xcrs = vm_cap(vm_fd, KVM_CAP_XCRS);
	k->debugregs = vm_cap(vm_fd, KVM_CAP_DEBUGREGS);
	k->events = vm_cap(vm_fd, KVM_CAP_VCPU_EVENTS);
	k->tsc_control = vm_cap(vm_fd, KVM_CAP_TSC_CONTROL);
	k->msrs = msr_template(kvm_fd);
	return k->msrs ? 0 : -EIO;
}

void vcpu_state__kvm_free(struct vcpu_state_kvm *k)
{
	free(k->msrs);
	k->msrs = NULL;
}

/* A copy of the template that a save fills (msrs_each changes it). */
static struct kvm_msrs *msr_list(const struct vcpu *vcpu)
{
	const struct kvm_msrs *t = kvm_of(vcpu)->msrs;
	size_t size = t ? sizeof(*t) + t->nmsrs * sizeof(t->entries[0]) : 0;
	struct kvm_msrs *m = t ? malloc(size) : NULL;

	if (m)
		memcpy(m, t, size);
	return m;
}

/*
 * KVM_GET_MSRS / KVM_SET_MSRS stop at the first MSR they refuse and return
 * how many they did: go on after it, one refusal at a time.  Refused indices
 * land in bad[] (room for all) and are dropped from all[].
 */
static int msrs_each(int fd, unsigned long req, struct kvm_msrs *all, uint32_t *bad,
		     size_t *nbad)
{
	size_t n = all->nmsrs, done = 0, kept = 0;
	struct kvm_msrs *tmp = malloc(sizeof(*tmp) + n * sizeof(struct kvm_msr_entry));

	*nbad = 0;
	if (!tmp)
		return -ENOMEM;
	while (done < n) {
		int r;

		memset(tmp, 0, sizeof(*tmp));
		tmp->nmsrs = (uint32_t)(n - done);
		memcpy(tmp->entries, &all->entries[done], tmp->nmsrs * sizeof(tmp->entries[0]));
		r = ioctl(fd, req, tmp);
		if (r < 0) {
			free(tmp);
			return -errno;
		}
		memcpy(&all->entries[kept], tmp->entries, (size_t)r * sizeof(tmp->entries[0]));
		kept += (size_t)r;
		done += (size_t)r;
		if (done < n)
			bad[(*nbad)++] = all->entries[done++].index;
	}
	all->nmsrs = (uint32_t)kept;
	free(tmp);
	return 0;
}

static int save_msrs(struct vcpu *vcpu, Vmm__State__VcpuState *st)
{
	struct kvm_msrs *m = msr_list(vcpu);
	uint32_t *bad = NULL;
	size_t nbad;
	int ret = -ENOMEM;

	if (!m)
		return -ENOMEM;
	bad = calloc(m->nmsrs + 1, sizeof(*bad));
	if (bad)
		ret = msrs_each(vcpu->fd, KVM_GET_MSRS, m, bad, &nbad);
	if (!ret)
		ret = vcpu_state_pb__msrs(m, bad, nbad, st);
	free(bad);
	free(m);
	return ret;
}

static int save_fpu(struct vcpu *vcpu, Vmm__State__VcpuState *st)
{
	int size = kvm_of(vcpu)->xsave2;
	struct kvm_fpu fpu;
	void *buf;
	int ret;

	if (size || kvm_of(vcpu)->xsave) {
		if (size < (int)sizeof(struct kvm_xsave))
			size = sizeof(struct kvm_xsave);
		buf = calloc(1, (size_t)size);
		if (!buf)
			return -ENOMEM;
		/* XSAVE2 fills the whole size; XSAVE the first 4096 bytes. */
		ret = ioctl(vcpu->fd, kvm_of(vcpu)->xsave2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
			    buf);
		ret = ret < 0 ? -errno : vcpu_state_pb__bytes(&st->xsave, buf, (size_t)size);
		free(buf);
		return ret;
	}
	if (ioctl(vcpu->fd, KVM_GET_FPU, &fpu) < 0)
		return -errno;
	return vcpu_state_pb__bytes(&st->fpu, &fpu, sizeof(fpu));
}

static int save_sregs(struct vcpu *vcpu, Vmm__State__VcpuState *st)
{
	if (kvm_of(vcpu)->sregs2) {
		struct kvm_sregs2 s2;

		if (ioctl(vcpu->fd, KVM_GET_SREGS2, &s2) < 0)
			return -errno;
		st->sregs = vcpu_state_pb__sregs2(&s2);
	} else {
		struct kvm_sregs s;

		if (ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0)
			return -errno;
		st->sregs = vcpu_state_pb__sregs(&s);
	}
	return st->sregs ? 0 : -ENOMEM;
}

/* The optional pieces: each only where the host KVM has it. */
static int save_extras(struct vcpu *vcpu, Vmm__State__VcpuState *st)
{
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	int ret;

	if (kvm_of(vcpu)->xcrs) {
		if (ioctl(vcpu->fd, KVM_GET_XCRS, &xcrs) < 0)
			return -errno;
		ret = vcpu_state_pb__xcrs(&xcrs, st);
		if (ret)
			return ret;
	}
	if (kvm_of(vcpu)->debugregs) {
		if (ioctl(vcpu->fd, KVM_GET_DEBUGREGS, &dbg) < 0)
			return -errno;
		st->debugregs = vcpu_state_pb__debugregs(&dbg);
		if (!st->debugregs)
			return -ENOMEM;
	}
	/* No in-kernel LAPIC (no irqchip): nothing to save. */
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) == 0) {
		ret = vcpu_state_pb__bytes(&st->lapic, &lapic, sizeof(lapic));
		if (ret)
			return ret;
	} else if (errno != ENXIO && errno != EINVAL) {
		return -errno;
	}
	return 0;
}

int vcpu_state__save(struct vcpu *vcpu, Vmm__State__VcpuState **out)
{
	Vmm__State__VcpuState *st = malloc(sizeof(*st));
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_vcpu_events ev;
	int ret;

	if (!st)
		return -ENOMEM;
	vmm__state__vcpu_state__init(st);
	st->id = vcpu->id;
	/* 1. */
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) < 0)
		goto err_errno;
	st->mp_state = mp.mp_state;
	/* 2. */
	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		goto err_errno;
	ret = -ENOMEM;
	st->regs = vcpu_state_pb__regs(&regs);
	if (!st->regs)
		goto err;
	ret = save_sregs(vcpu, st);
	/* 3., 4. */
	if (!ret)
		ret = save_fpu(vcpu, st);
	if (!ret)
		ret = save_extras(vcpu, st);
	/* 5. */
	if (!ret)
		ret = save_msrs(vcpu, st);
	if (ret)
		goto err;
	st->tsc_khz = tsc_khz(vcpu);
	/* 6. */
	if (kvm_of(vcpu)->events) {
		if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
			goto err_errno;
		ret = -ENOMEM;
		st->events = vcpu_state_pb__events(&ev);
		if (!st->events)
			goto err;
	}
	*out = st;
	return 0;
err_errno:
	ret = -errno;
err:
	vmm__state__vcpu_state__free_unpacked(st, NULL);
	return ret;
}

static int load_sregs(struct vcpu *vcpu, const Vmm__State__Sregs *m)
{
	if (m->pdptrs_valid && kvm_of(vcpu)->sregs2) {
		struct kvm_sregs2 s2;

		vcpu_state_pb__sregs2_to_kvm(m, &s2);
		return ioctl(vcpu->fd, KVM_SET_SREGS2, &s2) < 0 ? -errno : 0;
	} else {
		struct kvm_sregs s;

		vcpu_state_pb__sregs_to_kvm(m, &s);
		return ioctl(vcpu->fd, KVM_SET_SREGS, &s) < 0 ? -errno : 0;
	}
}

static int load_fpu(struct vcpu *vcpu, const Vmm__State__VcpuState *st)
{
	size_t size = (size_t)kvm_of(vcpu)->xsave2;
	void *buf;
	int ret;

	if (st->xsave.len) {
		/* KVM_SET_XSAVE reads as many bytes as this host's XSAVE2 size. */
		if (size < sizeof(struct kvm_xsave))
			size = sizeof(struct kvm_xsave);
		if (size < st->xsave.len)
			size = st->xsave.len;
		buf = calloc(1, size);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, st->xsave.data, st->xsave.len);
		ret = ioctl(vcpu->fd, KVM_SET_XSAVE, buf) < 0 ? -errno : 0;
		free(buf);
		return ret;
	}
	if (st->fpu.len == sizeof(struct kvm_fpu))
		return ioctl(vcpu->fd, KVM_SET_FPU, st->fpu.data) < 0 ? -errno : 0;
	return 0;
}

static int load_extras(struct vcpu *vcpu, const Vmm__State__VcpuState *st)
{
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dbg;

	if (st->n_xcrs) {
		vcpu_state_pb__xcrs_to_kvm(st, &xcrs);
		if (ioctl(vcpu->fd, KVM_SET_XCRS, &xcrs) < 0)
			return -errno;
	}
	if (st->debugregs) {
		vcpu_state_pb__debugregs_to_kvm(st->debugregs, &dbg);
		if (ioctl(vcpu->fd, KVM_SET_DEBUGREGS, &dbg) < 0)
			return -errno;
	}
	if (st->lapic.len == sizeof(struct kvm_lapic_state) &&
	    ioctl(vcpu->fd, KVM_SET_LAPIC, st->lapic.data) < 0)
		return -errno;
	return 0;
}

static int load_msrs(struct vcpu *vcpu, const Vmm__State__VcpuState *st, unsigned *refused)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + st->n_msrs * sizeof(m->entries[0]));
	uint32_t *bad = calloc(st->n_msrs + 1, sizeof(*bad));
	size_t nbad = 0;
	int ret = -ENOMEM;

	if (m && bad) {
		for (size_t i = 0; i < st->n_msrs; i++) {
			m->entries[i].index = st->msrs[i]->index;
			m->entries[i].data = st->msrs[i]->value;
		}
		m->nmsrs = (uint32_t)st->n_msrs;
		ret = msrs_each(vcpu->fd, KVM_SET_MSRS, m, bad, &nbad);
	}
	if (refused)
		*refused = (unsigned)nbad;
	free(m);
	free(bad);
	return ret;
}

/* Where a loaded vCPU resumes and what it has pending (vmm -v): the first
 * thing to know when a restored guest faults. */
static void log_loaded(struct vcpu *vcpu, const struct kvm_regs *r,
		       const struct kvm_vcpu_events *ev)
{
	qb_log(LOG_DEBUG, "vCPU %u loaded: rip 0x%llx rsp 0x%llx rflags 0x%llx; "
	       "exception %s%s nr %u error %s0x%x; interrupt %s nr %u; nmi %s%s; shadow %u",
	       vcpu->id, (unsigned long long)r->rip, (unsigned long long)r->rsp,
	       (unsigned long long)r->rflags,
	       ev->exception.injected ? "injected" : "-", ev->exception.pending ? " pending" : "",
	       ev->exception.nr, ev->exception.has_error_code ? "" : "(none) ",
	       ev->exception.error_code, ev->interrupt.injected ? "injected" : "-",
	       ev->interrupt.nr, ev->nmi.injected ? "injected" : "-",
	       ev->nmi.pending ? " pending" : "", ev->interrupt.shadow);
}

int vcpu_state__load(struct vcpu *vcpu, const Vmm__State__VcpuState *st,
		     unsigned *nr_msrs_refused)
{
	struct kvm_mp_state mp = { .mp_state = st->mp_state };
	struct kvm_regs regs;
	struct kvm_vcpu_events ev;
	int ret;

	if (nr_msrs_refused)
		*nr_msrs_refused = 0;
	/* 1. */
	if (ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0)
		return -errno;
	/* 2. */
	vcpu_state_pb__regs_to_kvm(st->regs, &regs);
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	ret = load_sregs(vcpu, st->sregs);
	/* 3., 4. */
	if (!ret)
		ret = load_fpu(vcpu, st);
	if (!ret)
		ret = load_extras(vcpu, st);
	if (ret)
		return ret;
	/* Without TSC scaling a different frequency stays different (logged by the caller). */
	if (st->tsc_khz && kvm_of(vcpu)->tsc_control && tsc_khz(vcpu) != st->tsc_khz) {
		vcpu->tsc_khz = 0;   /* asked again next time */
		if (ioctl(vcpu->fd, KVM_SET_TSC_KHZ, (unsigned long)st->tsc_khz) < 0)
			return -errno;
	}
	/* 5. */
	ret = load_msrs(vcpu, st, nr_msrs_refused);
	if (ret)
		return ret;
	/* 6. */
	if (st->events) {
		vcpu_state_pb__events_to_kvm(st->events, &ev);
		if (ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
			return -errno;
		log_loaded(vcpu, &regs, &ev);
	}
	return 0;
}
