/*
 * Whether a node has room for one more copy of a VM: the memory and vCPUs
 * every live copy on it takes (a standby too: it must be able to run the
 * VM after a failover) against what the node declares ([node] memory,
 * cpus) or, where it declares none, what its hasvcd reported its host has
 * (INVENTORY_DONE; not counted when neither), the nodes the VM is restricted to
 * ([vm] nodes), and, for a primary, no primary of a VM it is kept apart
 * from ([vm] avoid, either way round).  A standby promoted by a failover
 * is not checked again: its node already counted it, and running the VM
 * beats keeping it apart.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hasvc/fsm_internal.h"

static bool bit(const uint64_t *mask, int v)
{
	return mask[v / 64] >> (v % 64) & 1;
}

/* The VMs w and v keep their primaries apart. */
static bool apart(const struct fsm *f, int v, int w)
{
	return bit(f->vms[v].apart, w) || bit(f->vms[w].apart, v);
}

/* What the live copies of the other VMs take from node i. */
static void used(const struct fsm *f, int v, int i, uint64_t *mib, unsigned *cpus)
{
	*mib = 0;
	*cpus = 0;
	for (int w = 0; w < HASVC_MAX_VMS; w++) {
		const struct fsm_vm *o = &f->vms[w];
		const struct fsm_copy *c = &o->copies[i];

		if (w == v || !o->used || c->role == FSM_ROLE_NONE || !c->live)
			continue;
		*mib += o->mem_mib;
		*cpus += o->vcpus;
	}
}

void fsm__capacity(const struct fsm *f, int i, struct fsm_capacity *cap)
{
	const struct fsm_node *n = &f->nodes[i];
	uint64_t mib;

	cap->mem_declared = n->mem_mib != 0;
	cap->mem_mib = n->mem_mib ? n->mem_mib : n->rep_mem_mib;
	cap->cpus_declared = n->cpus != 0;
	cap->cpus = n->cpus ? n->cpus : n->rep_cpus;
	used(f, -1, i, &mib, &cap->used_cpus);
	cap->used_mem_mib = mib > UINT32_MAX ? UINT32_MAX : (uint32_t)mib;
}

static const char *source(bool declared)
{
	return declared ? "declared" : "reported";
}

/* A VM kept apart from vm whose primary (or migration destination) is on i, or -1. */
static int apart_on(const struct fsm *f, int v, int i)
{
	for (int w = 0; w < HASVC_MAX_VMS; w++) {
		const struct fsm_vm *o = &f->vms[w];

		if (w == v || !o->used || !apart(f, v, w))
			continue;
		if ((o->primary == i && o->copies[i].live) || o->migrate_to == i)
			return w;
	}
	return -1;
}

static bool refuse(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool refuse(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return false;
}

bool fsm__fits(const struct fsm *f, const struct fsm_vm *vm, int i, bool primary, char *why,
	       size_t len)
{
	const struct fsm_node *n = &f->nodes[i];
	int v = (int)(vm - f->vms), w;
	struct fsm_capacity cap;
	uint64_t mib;
	unsigned cpus;

	if (vm->nodes_mask && !(vm->nodes_mask >> i & 1))
		return refuse(why, len, "%s is not in the nodes of vm %s", n->name, vm->name);
	fsm__capacity(f, i, &cap);
	used(f, v, i, &mib, &cpus);
	if (cap.mem_mib && mib + vm->mem_mib > cap.mem_mib)
		return refuse(why, len, "%s has %llu of %u MiB of %s memory free, vm %s needs %u",
			      n->name,
			      (unsigned long long)(mib > cap.mem_mib ? 0 : cap.mem_mib - mib),
			      cap.mem_mib, source(cap.mem_declared), vm->name, vm->mem_mib);
	/* Only declared cpus limit: vCPUs time-share the host's CPUs (KVM runs
	 * more than there are) and a standby's do not run; what a node reports
	 * is shown, not enforced.  Memory cannot be shared that way. */
	if (cap.cpus_declared && cpus + vm->vcpus > cap.cpus)
		return refuse(why, len, "%s has %u of %u %s cpus free, vm %s needs %u", n->name,
			      cpus > cap.cpus ? 0 : cap.cpus - cpus, cap.cpus,
			      source(cap.cpus_declared), vm->name, vm->vcpus);
	if (primary && (w = apart_on(f, v, i)) >= 0)
		return refuse(why, len, "%s runs vm %s, which vm %s avoids", n->name,
			      f->vms[w].name, vm->name);
	return true;
}

bool fsm__can_take(const struct fsm *f, const struct fsm_vm *vm, int i, bool primary)
{
	return i >= 0 && fsm__node_candidate(f, i) && fsm__fits(f, vm, i, primary, NULL, 0);
}

/*
 * Why no node can take vm, a node per reason, in out.  Only whole reasons
 * go in; those that do not fit are counted at the end, so that a refusal
 * in a cluster of many nodes is never cut off in the middle of a sentence
 * (hactl status shows every node's room).
 */
void fsm__explain(const struct fsm *f, const struct fsm_vm *vm, bool primary, char *out,
		  size_t len)
{
	static const size_t tail = sizeof("; and 32 more nodes cannot take it");
	size_t k = 0, more = 0;

	out[0] = '\0';
	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		char why[192];

		if (!f->nodes[i].declared)
			continue;
		if (!fsm__node_candidate(f, i))
			snprintf(why, sizeof(why), "%s cannot take VMs now", f->nodes[i].name);
		else if (fsm__fits(f, vm, i, primary, why, sizeof(why)))
			continue;
		if (more || k + 2 + strlen(why) + tail > len) {
			more++;
			continue;
		}
		k += (size_t)snprintf(out + k, len - k, "%s%s", k ? "; " : "", why);
	}
	if (more && k + tail <= len)
		snprintf(out + k, len - k, "%s%zu more node%s cannot take it", k ? "; and " : "",
			 more, more == 1 ? "" : "s");
}

static int node_slot_of(const struct fsm *f, const char *name)
{
	int i = fsm__node_index(f, name);

	return i >= 0 && f->nodes[i].declared ? i : -1;
}

void fsm__config_placement(struct fsm *f, const struct config *c)
{
	for (size_t k = 0; k < c->n_vms; k++) {
		const struct config_vm *cv = &c->vms[k];
		int v = fsm__vm_index(f, cv->name), i, w;
		struct fsm_vm *vm;

		if (v < 0)
			continue;
		vm = &f->vms[v];
		vm->mem_mib = (uint32_t)((cv->memory + (1u << 20) - 1) >> 20);
		vm->vcpus = (uint16_t)cv->vcpus;
		vm->nodes_mask = 0;
		for (size_t j = 0; j < cv->n_nodes; j++)
			if ((i = node_slot_of(f, cv->nodes[j])) >= 0)
				vm->nodes_mask |= 1u << i;
		memset(vm->apart, 0, sizeof(vm->apart));
		for (size_t j = 0; j < cv->n_avoid; j++)
			if ((w = fsm__vm_index(f, cv->avoid[j])) >= 0)
				vm->apart[w / 64] |= 1ULL << (w % 64);
	}
	for (size_t k = 0; k < c->n_nodes; k++) {
		int i = node_slot_of(f, c->nodes[k].name);

		if (i < 0)
			continue;
		f->nodes[i].mem_mib = (uint32_t)((c->nodes[k].memory + (1u << 20) - 1) >> 20);
		f->nodes[i].cpus = (uint16_t)c->nodes[k].cpus;
	}
}
