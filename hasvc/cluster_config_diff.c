/*
 * What a reload changes, VM by VM, for `hactl reload` to show before the new
 * configuration is multicast.  Node changes are not listed: a node's keys
 * matter only to that node's daemon and take effect on its next restart.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/cluster_config.h"

static bool same_str(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a, b);
}

bool cluster_config__same_devices(const struct config_vm *a, const struct config_vm *b)
{
	return same_str(a->disk, b->disk) && a->disk_size == b->disk_size &&
	       a->disk_shared == b->disk_shared && same_str(a->bridge, b->bridge) &&
	       a->has_mac == b->has_mac && !memcmp(a->mac, b->mac, sizeof(a->mac));
}

static bool same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static bool same_vm(const struct config_vm *a, const struct config_vm *b)
{
	if (a->memory != b->memory || a->vcpus != b->vcpus ||
	    a->checkpoint_interval_ms != b->checkpoint_interval_ms ||
	    a->checkpoint_output_epochs != b->checkpoint_output_epochs ||
	    a->checkpoint_min_interval_us != b->checkpoint_min_interval_us ||
	    a->checkpoint_max_rate != b->checkpoint_max_rate ||
	    a->checkpoint_ack_timeout_ms != b->checkpoint_ack_timeout_ms ||
	    a->priority != b->priority || a->protect != b->protect ||
	    a->max_restart != b->max_restart || a->max_relocate != b->max_relocate ||
	    !same_list(a->nodes, a->n_nodes, b->nodes, b->n_nodes) ||
	    !same_list(a->avoid, a->n_avoid, b->avoid, b->n_avoid) ||
	    !same_str(a->kernel, b->kernel) || !same_str(a->cmdline, b->cmdline) ||
	    !same_str(a->initrd, b->initrd) ||
	    !same_list(a->preferred_nodes, a->n_preferred, b->preferred_nodes, b->n_preferred) ||
	    !cluster_config__same_devices(a, b))
		return false;
	return true;
}

static int push(char ***list, size_t *n, const char *name)
{
	char **grown = realloc(*list, (*n + 1) * sizeof(**list));

	if (!grown)
		return -ENOMEM;
	*list = grown;
	if (!(grown[*n] = strdup(name)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sort(char **list, size_t n)
{
	if (n > 1)
		qsort(list, n, sizeof(*list), by_name);
}

int cluster_config__diff(const struct config *old, const struct config *new_conf,
			 struct config_diff *diff)
{
	int ret = 0;

	memset(diff, 0, sizeof(*diff));
	for (size_t i = 0; i < new_conf->n_vms && !ret; i++) {
		const struct config_vm *vm = &new_conf->vms[i];
		const struct config_vm *was = cluster_config__vm(old, vm->name);

		if (!was)
			ret = push(&diff->added, &diff->n_added, vm->name);
		else if (!same_vm(was, vm))
			ret = push(&diff->changed, &diff->n_changed, vm->name);
	}
	for (size_t i = 0; i < old->n_vms && !ret; i++)
		if (!cluster_config__vm(new_conf, old->vms[i].name))
			ret = push(&diff->removed, &diff->n_removed, old->vms[i].name);
	if (ret) {
		cluster_config__diff_free(diff);
		return ret;
	}
	sort(diff->added, diff->n_added);
	sort(diff->removed, diff->n_removed);
	sort(diff->changed, diff->n_changed);
	return 0;
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void cluster_config__diff_free(struct config_diff *diff)
{
	free_list(diff->added, diff->n_added);
	free_list(diff->removed, diff->n_removed);
	free_list(diff->changed, diff->n_changed);
	memset(diff, 0, sizeof(*diff));
}
