/*
 * The placement keys of hasvc.conf (docs/hasvc-config.md): what a node may
 * give its VMs ([node] memory, cpus), the nodes a VM is restricted to and
 * the VMs its primary keeps away from ([vm] nodes, avoid).  The state
 * machine counts them (hasvc/fsm_fit.c).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hasvc/cluster_config_parse.h"
#include "hasvc/cluster_config_value.h"

static struct config_node *node_of(struct config_parser *p)
{
	return &p->conf->nodes[p->index];
}

static struct config_vm *vm_of(struct config_parser *p)
{
	return &p->conf->vms[p->index];
}

int cluster_config_place__node_memory(struct config_parser *p, const char *v, int line)
{
	uint64_t bytes;

	if (cluster_config__parse_size(v, &bytes) < 0 || bytes < CONFIG_MIN_MEMORY ||
	    bytes > CONFIG_MAX_MEMORY * 64) {
		cluster_config_parse__fail(p, line, "node %s: memory '%s' is not a size from 1M "
					   "to 64T like 64G", node_of(p)->name, v);
		return -EINVAL;
	}
	node_of(p)->memory = bytes;
	return 0;
}

int cluster_config_place__host_reserve(struct config_parser *p, const char *v, int line)
{
	uint64_t bytes;

	if (cluster_config__parse_size(v, &bytes) < 0 || bytes > CONFIG_MAX_MEMORY * 64) {
		cluster_config_parse__fail(p, line, "cluster: host_reserve_memory '%s' is not a "
					   "size from 0 "
					   "to 64T like 2G", v);
		return -EINVAL;
	}
	p->conf->host_reserve_memory = bytes;
	return 0;
}

int cluster_config_place__node_cpus(struct config_parser *p, const char *v, int line)
{
	long n;

	if (cluster_config__parse_int(v, 1, CONFIG_MAX_NODE_CPUS, &n) < 0) {
		cluster_config_parse__fail(p, line, "node %s: cpus '%s' is not a number from 1 "
					   "to %d", node_of(p)->name, v, CONFIG_MAX_NODE_CPUS);
		return -EINVAL;
	}
	node_of(p)->cpus = (unsigned)n;
	return 0;
}

int cluster_config_place__vm_nodes(struct config_parser *p, const char *v, int line)
{
	struct config_vm *vm = vm_of(p);

	vm->nodes_line = line;
	return cluster_config_parse__names(p, v, line, "nodes", "node", &vm->nodes, &vm->n_nodes,
					   HASVC_MAX_NODES);
}

int cluster_config_place__vm_avoid(struct config_parser *p, const char *v, int line)
{
	struct config_vm *vm = vm_of(p);

	vm->avoid_line = line;
	return cluster_config_parse__names(p, v, line, "avoid", "VM", &vm->avoid, &vm->n_avoid,
					   HASVC_MAX_VMS);
}

static bool listed(char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

bool cluster_config_place__validate_vm(struct config_parser *p, const struct config_vm *vm)
{
	for (size_t i = 0; i < vm->n_nodes; i++)
		if (!cluster_config__node(p->conf, vm->nodes[i])) {
			cluster_config_parse__fail(p, vm->nodes_line, "vm %s: node '%s' of nodes is "
						   "not declared by a [node %s] section", vm->name,
						   vm->nodes[i], vm->nodes[i]);
			return false;
		}
	/* A preference outside the allowed nodes could never be honoured. */
	for (size_t i = 0; vm->n_nodes && i < vm->n_preferred; i++)
		if (!listed(vm->nodes, vm->n_nodes, vm->preferred_nodes[i])) {
			cluster_config_parse__fail(p, vm->preferred_line, "vm %s: preferred node "
						   "'%s' is not in its nodes (%s...)", vm->name,
						   vm->preferred_nodes[i], vm->nodes[0]);
			return false;
		}
	for (size_t i = 0; i < vm->n_avoid; i++) {
		const char *why = !strcmp(vm->avoid[i], vm->name) ? "is the VM itself" :
				  !cluster_config__vm(p->conf, vm->avoid[i]) ?
				  "is not declared by a [vm] section" : NULL;

		if (why) {
			cluster_config_parse__fail(p, vm->avoid_line, "vm %s: avoid '%s' %s",
						   vm->name, vm->avoid[i], why);
			return false;
		}
	}
	return true;
}
