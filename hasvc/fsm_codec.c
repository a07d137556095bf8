/*
 * struct fsm to and from the Replica message (hasvc/fsm_codec.h).  The
 * decoder is the only way a state from another member enters a replica: it
 * checks every index, enum and string before narrowing it into the struct,
 * then the invariants, because the machine indexes its arrays with what the
 * state holds.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/fsm_codec.h"
#include "hasvc/fsm_internal.h"

/* The whole message in one block: r first, so that its address frees it. */
struct enc {
	Hasvc__Cluster__Replica r;
	Hasvc__Cluster__ReplicaNode nodes[HASVC_MAX_NODES];
	Hasvc__Cluster__ReplicaNode *np[HASVC_MAX_NODES];
	Hasvc__Cluster__ReplicaVm vms[HASVC_MAX_VMS];
	Hasvc__Cluster__ReplicaVm *vp[HASVC_MAX_VMS];
	Hasvc__Cluster__ReplicaCopy copies[HASVC_MAX_VMS][HASVC_MAX_NODES];
	Hasvc__Cluster__ReplicaCopy *cp[HASVC_MAX_VMS][HASVC_MAX_NODES];
	uint32_t preferred[HASVC_MAX_VMS][HASVC_MAX_NODES];
	Hasvc__Cluster__ReplicaPlacement place[HASVC_MAX_VMS];
};

#define APART_WORDS ((HASVC_MAX_VMS + 63) / 64)

static void encode_node(const struct fsm_node *n, Hasvc__Cluster__ReplicaNode *m)
{
	hasvc__cluster__replica_node__init(m);
	m->name = (char *)n->name;
	m->declared = n->declared;
	m->has_fence = n->has_fence;
	m->member = n->member;
	m->ready = n->ready;
	m->gone = n->gone;
	m->evacuating = n->evacuating;
	m->fence = n->fence;
	m->maintenance = n->maintenance;
	m->mem_mib = n->mem_mib;
	m->cpus = n->cpus;
	m->reported_mem_mib = n->rep_mem_mib;
	m->reported_cpus = n->rep_cpus;
	m->restarting = n->restarting;
	m->restart_deadline_ms = n->restart_deadline_ms;
}

static void encode_copy(const struct fsm_copy *c, Hasvc__Cluster__ReplicaCopy *m)
{
	hasvc__cluster__replica_copy__init(m);
	m->role = c->role;
	m->state = c->state;
	m->live = c->live;
	m->incoming = c->incoming;
	m->reported = c->reported;
	m->generation = c->generation;
	m->epoch = c->epoch;
}

/* Most copies are: a node holds nothing of most VMs. */
static bool copy_empty(const struct fsm_copy *c)
{
	return !c->role && !c->state && !c->live && !c->incoming && !c->reported &&
	       !c->generation && !c->epoch;
}

/*
 * A slot is left out when every field but its number is at the default:
 * then it packs to nothing, which is what protobuf leaves out anyway.
 * Empty copies are skipped before they are filled in, which keeps most of
 * struct enc untouched: writing all of it took most of an encoding's time.
 */
static void encode_copies(const struct fsm_vm *vm, struct enc *e, int v,
			  Hasvc__Cluster__ReplicaVm *m)
{
	m->copies = e->cp[v];
	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		Hasvc__Cluster__ReplicaCopy *c = &e->copies[v][i];

		if (copy_empty(&vm->copies[i]))
			continue;
		encode_copy(&vm->copies[i], c);
		if (!hasvc__cluster__replica_copy__get_packed_size(c))
			continue;
		c->node = (uint32_t)i;
		m->copies[m->n_copies++] = c;
	}
}

/* Trailing zero words of apart are left out: one encoding per state. */
static void encode_placement(const struct fsm_vm *vm, Hasvc__Cluster__ReplicaPlacement *p,
			     Hasvc__Cluster__ReplicaVm *m)
{
	size_t n = APART_WORDS;

	hasvc__cluster__replica_placement__init(p);
	p->mem_mib = vm->mem_mib;
	p->vcpus = vm->vcpus;
	p->nodes = vm->nodes_mask;
	p->wait_room = vm->wait_room;
	while (n && !vm->apart[n - 1])
		n--;
	p->apart = (uint64_t *)vm->apart;
	p->n_apart = n;
	if (hasvc__cluster__replica_placement__get_packed_size(p))
		m->placement = p;
}

static void encode_vm(const struct fsm_vm *vm, struct enc *e, int v,
		      Hasvc__Cluster__ReplicaVm *m)
{
	hasvc__cluster__replica_vm__init(m);
	m->used = vm->used;
	m->name = (char *)vm->name;
	m->priority = vm->priority;
	m->protect = vm->protect;
	m->conf_protect = vm->conf_protect;
	m->preferred = e->preferred[v];
	m->n_preferred = vm->n_preferred;
	for (int k = 0; k < vm->n_preferred; k++)
		m->preferred[k] = (uint32_t)vm->preferred[k];
	m->generation = vm->generation;
	m->issued = vm->issued;
	m->primary = vm->primary;
	m->standby = vm->standby;
	m->migrate_to = vm->migrate_to;
	m->avoid = vm->avoid;
	m->migrate_gen = vm->migrate_gen;
	m->handover = vm->handover;
	m->failover_asked = vm->failover_asked;
	m->waiting = vm->waiting;
	m->request = vm->request;
	m->error = vm->error;
	m->max_restart = vm->max_restart;
	m->max_relocate = vm->max_relocate;
	m->restarts = vm->restarts;
	m->relocations = vm->relocations;
	/* +1: the default (0) is none, also for a replica from an older hasvcd. */
	m->home = vm->used && vm->home >= 0 ? (uint32_t)vm->home + 1 : 0;
	m->stop_timeout_s = vm->stop_timeout_s;
	m->shutdown_gen = vm->shutdown_gen;
	encode_placement(vm, &e->place[v], m);
	encode_copies(vm, e, v, m);
}

static bool zero_digest(const uint8_t *d)
{
	for (int i = 0; i < HASVC_DIGEST_LEN; i++)
		if (d[i])
			return false;
	return true;
}

Hasvc__Cluster__Replica *fsm_codec__encode(const struct fsm *f)
{
	struct enc *e = malloc(sizeof(*e));
	Hasvc__Cluster__Replica *r;

	if (!e)
		return NULL;
	r = &e->r;
	hasvc__cluster__replica__init(r);
	r->configured = f->configured;
	/* The digest of no configuration is left out, as a default is. */
	if (!zero_digest(f->digest)) {
		r->config_digest.data = (uint8_t *)f->digest;
		r->config_digest.len = HASVC_DIGEST_LEN;
	}
	r->have_view = f->have_view;
	r->quorate = f->quorate;
	r->quorate_events = f->quorate_events;
	r->nodes = e->np;
	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		encode_node(&f->nodes[i], &e->nodes[i]);
		if (!hasvc__cluster__replica_node__get_packed_size(&e->nodes[i]))
			continue;
		e->nodes[i].slot = (uint32_t)i;
		r->nodes[r->n_nodes++] = &e->nodes[i];
	}
	r->vms = e->vp;
	for (int v = 0; v < HASVC_MAX_VMS; v++) {
		encode_vm(&f->vms[v], e, v, &e->vms[v]);
		if (!hasvc__cluster__replica_vm__get_packed_size(&e->vms[v]))
			continue;
		e->vms[v].slot = (uint32_t)v;
		r->vms[r->n_vms++] = &e->vms[v];
	}
	return r;
}

void fsm_codec__free(Hasvc__Cluster__Replica *r)
{
	free(r); /* the struct enc it starts */
}

int fsm_codec__pack(const struct fsm *f, uint8_t **buf, size_t *len)
{
	Hasvc__Cluster__Replica *r = fsm_codec__encode(f);
	int ret = -ENOMEM;

	if (!r)
		return -ENOMEM;
	*len = hasvc__cluster__replica__get_packed_size(r);
	/* +1: an empty replica packs to 0 bytes, and malloc(0) may be NULL. */
	*buf = malloc(*len + 1);
	if (*buf) {
		hasvc__cluster__replica__pack(r, *buf);
		ret = 0;
	}
	fsm_codec__free(r);
	return ret;
}

/* ---- decoding: every value checked before it is narrowed ---- */

/* "Replica.vms[127].copies[31].state" and the like, with room to spare. */
#define FIELD_MAX 128
#define AT_MAX 96

static int name_into(char *dst, const char *src, const char *field, char *why, size_t len)
{
	size_t n = strlen(src);

	if (n >= HASVC_NAME_MAX)
		return fsm__broken(why, len, "%s: %zu bytes, at most %d", field, n,
				   HASVC_NAME_MAX - 1);
	memcpy(dst, src, n + 1);
	return 0;
}

/* A node slot, or -1 where none is allowed. */
static int slot_into(int8_t *dst, int64_t v, bool none_ok, const char *field, char *why,
		     size_t len)
{
	if (v < (none_ok ? -1 : 0) || v >= HASVC_MAX_NODES)
		return fsm__broken(why, len, "%s: %lld is not a node slot (%s..%d)", field,
				   (long long)v, none_ok ? "-1" : "0", HASVC_MAX_NODES - 1);
	*dst = (int8_t)v;
	return 0;
}

static int enum_into(uint8_t *dst, uint32_t v, uint32_t max, const char *field, char *why,
		     size_t len)
{
	if (v > max)
		return fsm__broken(why, len, "%s: %u is out of range (0..%u)", field, v, max);
	*dst = (uint8_t)v;
	return 0;
}

/* Slots must come in ascending order: one encoding per state, no duplicates. */
static int order_ok(uint32_t slot, int prev, int max, const char *field, char *why, size_t len)
{
	if (slot >= (uint32_t)max)
		return fsm__broken(why, len, "%s: slot %u out of range (0..%d)", field, slot,
				   max - 1);
	if ((int64_t)slot <= prev)
		return fsm__broken(why, len, "%s: slot %u after slot %d (ascending order)", field,
				   slot, prev);
	return 0;
}

static int decode_node(const Hasvc__Cluster__ReplicaNode *m, struct fsm_node *n, size_t k,
		       char *why, size_t len)
{
	char field[FIELD_MAX];
	int ret;

	snprintf(field, sizeof(field), "Replica.nodes[%zu].name", k);
	ret = name_into(n->name, m->name, field, why, len);
	snprintf(field, sizeof(field), "Replica.nodes[%zu].fence", k);
	if (!ret)
		ret = enum_into(&n->fence, m->fence, FSM_FENCE_DONE, field, why, len);
	n->declared = m->declared;
	n->has_fence = m->has_fence;
	n->member = m->member;
	n->ready = m->ready;
	n->gone = m->gone;
	n->evacuating = m->evacuating;
	n->maintenance = m->maintenance;
	snprintf(field, sizeof(field), "Replica.nodes[%zu].cpus", k);
	if (!ret && m->cpus > UINT16_MAX)
		ret = fsm__broken(why, len, "%s: %u is out of range (0..%u)", field, m->cpus,
				  UINT16_MAX);
	n->mem_mib = m->mem_mib;
	n->cpus = (uint16_t)m->cpus;
	snprintf(field, sizeof(field), "Replica.nodes[%zu].reported_cpus", k);
	if (!ret && m->reported_cpus > UINT16_MAX)
		ret = fsm__broken(why, len, "%s: %u is out of range (0..%u)", field,
				  m->reported_cpus, UINT16_MAX);
	n->rep_mem_mib = m->reported_mem_mib;
	n->rep_cpus = (uint16_t)m->reported_cpus;
	n->restarting = m->restarting;
	n->restart_deadline_ms = m->restart_deadline_ms;
	return ret;
}

static int decode_copy(const Hasvc__Cluster__ReplicaCopy *m, struct fsm_copy *c,
		       const char at[AT_MAX], char *why, size_t len)
{
	char field[FIELD_MAX];
	int ret;

	snprintf(field, sizeof(field), "%s.role", at);
	ret = enum_into(&c->role, m->role, FSM_ROLE_STANDBY, field, why, len);
	snprintf(field, sizeof(field), "%s.state", at);
	if (!ret)
		ret = enum_into(&c->state, m->state, FSM_VM_FAILED, field, why, len);
	c->live = m->live;
	c->incoming = m->incoming;
	c->reported = m->reported;
	c->generation = m->generation;
	c->epoch = m->epoch;
	return ret;
}

static int decode_copies(const Hasvc__Cluster__ReplicaVm *m, struct fsm_vm *vm, size_t k,
			 char *why, size_t len)
{
	char field[AT_MAX];
	int prev = -1, ret = 0;

	for (size_t j = 0; j < m->n_copies && !ret; j++) {
		const Hasvc__Cluster__ReplicaCopy *c = m->copies[j];

		snprintf(field, sizeof(field), "Replica.vms[%zu].copies[%zu]", k, j);
		ret = order_ok(c->node, prev, HASVC_MAX_NODES, field, why, len);
		if (!ret)
			ret = decode_copy(c, &vm->copies[c->node], field, why, len);
		prev = (int)c->node;
	}
	return ret;
}

static int decode_preferred(const Hasvc__Cluster__ReplicaVm *m, struct fsm_vm *vm, size_t k,
			    char *why, size_t len)
{
	char field[FIELD_MAX];
	int ret = 0;

	if (m->n_preferred > HASVC_MAX_NODES)
		return fsm__broken(why, len, "Replica.vms[%zu].preferred: %zu nodes, at most %d",
				   k, m->n_preferred, HASVC_MAX_NODES);
	vm->n_preferred = (uint8_t)m->n_preferred;
	for (size_t j = 0; j < m->n_preferred && !ret; j++) {
		snprintf(field, sizeof(field), "Replica.vms[%zu].preferred[%zu]", k, j);
		ret = slot_into(&vm->preferred[j], m->preferred[j], false, field, why, len);
	}
	return ret;
}

/* The VM's node fields, each named in an error. */
static int decode_vm_nodes(const Hasvc__Cluster__ReplicaVm *m, struct fsm_vm *vm, size_t k,
			   char *why, size_t len)
{
	const struct {
		const char *name;
		int32_t v;
		int8_t *dst;
	} f[] = {
		{ "primary", m->primary, &vm->primary },
		{ "standby", m->standby, &vm->standby },
		{ "migrate_to", m->migrate_to, &vm->migrate_to },
		{ "avoid", m->avoid, &vm->avoid },
	};
	char field[FIELD_MAX];
	int ret = 0;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && !ret; i++) {
		snprintf(field, sizeof(field), "Replica.vms[%zu].%s", k, f[i].name);
		ret = slot_into(f[i].dst, f[i].v, true, field, why, len);
	}
	return ret;
}

static int decode_placement(const Hasvc__Cluster__ReplicaPlacement *p, struct fsm_vm *vm,
			    size_t k, char *why, size_t len)
{
	if (!p)
		return 0;
	if (p->vcpus > UINT16_MAX)
		return fsm__broken(why, len, "Replica.vms[%zu].placement.vcpus: %u is out of range "
				   "(0..%u)", k, p->vcpus, UINT16_MAX);
	if (p->n_apart > APART_WORDS)
		return fsm__broken(why, len, "Replica.vms[%zu].placement.apart: %zu words, at "
				   "most %d", k, p->n_apart, APART_WORDS);
	vm->mem_mib = p->mem_mib;
	vm->vcpus = (uint16_t)p->vcpus;
	vm->nodes_mask = p->nodes;
	vm->wait_room = p->wait_room;
	if (p->n_apart) /* apart is NULL when empty */
		memcpy(vm->apart, p->apart, p->n_apart * sizeof(*p->apart));
	return 0;
}

/* The lifecycle fields (ReplicaVm 40..48), each named in an error. */
static int decode_lifecycle(const Hasvc__Cluster__ReplicaVm *m, struct fsm_vm *vm, size_t k,
			    char *why, size_t len)
{
	const struct {
		const char *name;
		uint32_t v, max;
		uint8_t *dst;
	} f[] = {
		{ "request", m->request, FSM_REQ_DISABLED, &vm->request },
		{ "max_restart", m->max_restart, UINT8_MAX, &vm->max_restart },
		{ "max_relocate", m->max_relocate, UINT8_MAX, &vm->max_relocate },
		{ "restarts", m->restarts, UINT8_MAX, &vm->restarts },
		{ "relocations", m->relocations, UINT8_MAX, &vm->relocations },
	};
	char field[FIELD_MAX];
	int ret = 0;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && !ret; i++) {
		snprintf(field, sizeof(field), "Replica.vms[%zu].%s", k, f[i].name);
		ret = enum_into(f[i].dst, f[i].v, f[i].max, field, why, len);
	}
	snprintf(field, sizeof(field), "Replica.vms[%zu].home", k);
	if (!ret)
		ret = slot_into(&vm->home, (int64_t)m->home - 1, true, field, why, len);
	vm->error = m->error;
	vm->stop_timeout_s = m->stop_timeout_s;
	vm->shutdown_gen = m->shutdown_gen;
	return ret;
}

static int decode_vm(const Hasvc__Cluster__ReplicaVm *m, struct fsm_vm *vm, size_t k,
		     char *why, size_t len)
{
	char field[FIELD_MAX];
	int ret;

	snprintf(field, sizeof(field), "Replica.vms[%zu].name", k);
	ret = name_into(vm->name, m->name, field, why, len);
	snprintf(field, sizeof(field), "Replica.vms[%zu].waiting", k);
	if (!ret)
		ret = enum_into(&vm->waiting, m->waiting, FSM_WAIT_FROZEN, field,
				why, len);
	if (!ret)
		ret = decode_preferred(m, vm, k, why, len);
	if (!ret)
		ret = decode_vm_nodes(m, vm, k, why, len);
	if (!ret)
		ret = decode_lifecycle(m, vm, k, why, len);
	if (!ret)
		ret = decode_placement(m->placement, vm, k, why, len);
	vm->used = m->used;
	vm->priority = m->priority;
	vm->protect = m->protect;
	vm->conf_protect = m->conf_protect;
	vm->generation = m->generation;
	vm->issued = m->issued;
	vm->migrate_gen = m->migrate_gen;
	vm->handover = m->handover;
	vm->failover_asked = m->failover_asked;
	return ret ? ret : decode_copies(m, vm, k, why, len);
}

static int decode_top(const Hasvc__Cluster__Replica *r, struct fsm *f, char *why, size_t len)
{
	if (r->config_digest.len && r->config_digest.len != HASVC_DIGEST_LEN)
		return fsm__broken(why, len, "Replica.config_digest: %zu bytes, not %d",
				   r->config_digest.len, HASVC_DIGEST_LEN);
	if (r->config_digest.len)
		memcpy(f->digest, r->config_digest.data, HASVC_DIGEST_LEN);
	f->configured = r->configured;
	f->have_view = r->have_view;
	f->quorate = r->quorate;
	f->quorate_events = r->quorate_events;
	return 0;
}

int fsm_codec__decode(const Hasvc__Cluster__Replica *r, struct fsm *f, char *why, size_t len)
{
	int prev = -1, ret;

	fsm__init(f);
	ret = decode_top(r, f, why, len);
	for (size_t k = 0; k < r->n_nodes && !ret; k++) {
		ret = order_ok(r->nodes[k]->slot, prev, HASVC_MAX_NODES, "Replica.nodes", why,
			       len);
		if (!ret)
			ret = decode_node(r->nodes[k], &f->nodes[r->nodes[k]->slot], k, why, len);
		prev = (int)r->nodes[k]->slot;
	}
	prev = -1;
	for (size_t k = 0; k < r->n_vms && !ret; k++) {
		ret = order_ok(r->vms[k]->slot, prev, HASVC_MAX_VMS, "Replica.vms", why, len);
		if (!ret)
			ret = decode_vm(r->vms[k], &f->vms[r->vms[k]->slot], k, why, len);
		prev = (int)r->vms[k]->slot;
	}
	return ret ? ret : fsm__check_invariants(f, why, len);
}

size_t fsm_codec__unknown(const Hasvc__Cluster__Replica *r)
{
	size_t n = r->base.n_unknown_fields;

	for (size_t k = 0; k < r->n_nodes; k++)
		n += r->nodes[k]->base.n_unknown_fields;
	for (size_t k = 0; k < r->n_vms; k++) {
		n += r->vms[k]->base.n_unknown_fields;
		if (r->vms[k]->placement)
			n += r->vms[k]->placement->base.n_unknown_fields;
		for (size_t j = 0; j < r->vms[k]->n_copies; j++)
			n += r->vms[k]->copies[j]->base.n_unknown_fields;
	}
	return n;
}
