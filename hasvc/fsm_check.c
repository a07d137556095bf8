/*
 * The rules no event order may break, checked by the tests after every
 * event (and cheap enough for the daemon to check in debug builds).
 * The first is the one that matters: a VM never has two primaries the
 * machine regards as entitled to run, outside the source/destination pair
 * of a live migration, which the vmm switches over atomically.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hasvc/fsm_internal.h"

int fsm__broken(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

static bool in_range(int i)
{
	return i >= -1 && i < HASVC_MAX_NODES;
}

static int check_nodes(const struct fsm *f, char *why, size_t len)
{
	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		const struct fsm_node *n = &f->nodes[i];

		if (n->ready && !n->member)
			return fsm__broken(why, len, "node %s ready but not a member", n->name);
		if (n->gone && n->member)
			return fsm__broken(why, len, "node %s both gone and a member", n->name);
		if (n->evacuating && !n->member)
			return fsm__broken(why, len, "node %s evacuating but not a member",
					   n->name);
		if (n->restarting && n->gone)
			return fsm__broken(why, len, "node %s both restarting and gone", n->name);
		if (n->fence != FSM_FENCE_NONE && !n->gone)
			return fsm__broken(why, len, "node %s fenced but not gone", n->name);
	}
	return 0;
}

/* A copy on a node that was lost, and fenced or not fenceable, is dead. */
static bool surely_dead_node(const struct fsm_node *n)
{
	return n->gone && (!n->has_fence || n->fence == FSM_FENCE_DONE);
}

static int check_copies(const struct fsm *f, const struct fsm_vm *vm, char *why, size_t len)
{
	int live_primaries = 0;

	for (int i = 0; i < HASVC_MAX_NODES; i++) {
		const struct fsm_copy *c = &vm->copies[i];

		if (c->generation > vm->issued)
			return fsm__broken(why, len, "vm %s: copy on %s has generation %llu above "
					   "the highest issued %llu", vm->name, f->nodes[i].name,
					   (unsigned long long)c->generation,
					   (unsigned long long)vm->issued);
		if (c->role == FSM_ROLE_NONE || !c->live)
			continue;
		if (surely_dead_node(&f->nodes[i]))
			return fsm__broken(why, len, "vm %s: live copy on lost node %s", vm->name,
					   f->nodes[i].name);
		if (c->role != FSM_ROLE_PRIMARY)
			continue;
		if (c->incoming) {
			if (i != vm->migrate_to || c->generation != vm->migrate_gen)
				return fsm__broken(why, len, "vm %s: stray incoming copy on %s",
						   vm->name, f->nodes[i].name);
			continue;
		}
		live_primaries++;
		if (i != vm->primary || c->generation != vm->generation)
			return fsm__broken(why, len, "vm %s: live primary on %s (generation %llu) "
					   "is not the current one", vm->name, f->nodes[i].name,
					   (unsigned long long)c->generation);
	}
	if (live_primaries > 1)
		return fsm__broken(why, len, "vm %s: %d live primaries", vm->name, live_primaries);
	return 0;
}

static int check_vm(const struct fsm *f, const struct fsm_vm *vm, char *why, size_t len)
{
	if (!in_range(vm->primary) || !in_range(vm->standby) || !in_range(vm->migrate_to))
		return fsm__broken(why, len, "vm %s: node index out of range", vm->name);
	if (vm->generation > vm->issued || vm->migrate_gen > vm->issued)
		return fsm__broken(why, len, "vm %s: generation above the highest issued",
				   vm->name);
	if (vm->primary >= 0 && vm->primary == vm->standby)
		return fsm__broken(why, len, "vm %s: primary and standby both on %s", vm->name,
				   f->nodes[vm->primary].name);
	if (vm->primary >= 0) {
		const struct fsm_copy *c = &vm->copies[vm->primary];

		if (c->role != FSM_ROLE_PRIMARY || c->generation != vm->generation)
			return fsm__broken(why, len, "vm %s: primary on %s holds no copy of "
					   "generation %llu", vm->name, f->nodes[vm->primary].name,
					   (unsigned long long)vm->generation);
	}
	if (vm->standby >= 0) {
		const struct fsm_copy *c = &vm->copies[vm->standby];

		if (c->role != FSM_ROLE_STANDBY || c->generation < vm->generation)
			return fsm__broken(why, len, "vm %s: standby on %s holds no standby of "
					   "generation %llu", vm->name, f->nodes[vm->standby].name,
					   (unsigned long long)vm->generation);
	}
	if (vm->migrate_to >= 0) {
		if (vm->primary < 0 || vm->migrate_to == vm->primary ||
		    vm->migrate_to == vm->standby)
			return fsm__broken(why, len, "vm %s: migration to %s from %s", vm->name,
					   f->nodes[vm->migrate_to].name, vm->primary >= 0 ?
					   f->nodes[vm->primary].name : "nowhere");
		if (vm->migrate_gen <= vm->generation)
			return fsm__broken(why, len, "vm %s: migration under an old generation",
					   vm->name);
	}
	return check_copies(f, vm, why, len);
}

int fsm__check_invariants(const struct fsm *fsm, char *why, size_t len)
{
	int ret = check_nodes(fsm, why, len);

	for (int v = 0; v < HASVC_MAX_VMS && !ret; v++)
		if (fsm->vms[v].used)
			ret = check_vm(fsm, &fsm->vms[v], why, len);
	return ret;
}
