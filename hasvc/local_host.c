/*
 * What this host offers VMs, reported in each inventory (InventoryDone's
 * mem_mib and cpus) for the placement of nodes whose [node] memory / cpus
 * the configuration leaves out (docs/hasvc-config.md, "Placement").
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "hasvc/local.h"

/* /proc/meminfo's MemTotal in KiB, or 0 when it cannot be read. */
static uint64_t mem_total_kib(void)
{
	unsigned long long kib = 0;
	char line[128];
	FILE *fp = fopen("/proc/meminfo", "re");

	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
			break;
	fclose(fp);
	return kib;
}

/*
 * What this host has for VMs, for the nodes whose [node] memory / cpus the
 * configuration leaves out: MemTotal less host_reserve_memory (at least
 * 1 MiB: 0 would mean "not counted"), the online CPUs.  Read at every
 * inventory, so a reload's reserve counts from the next join on.
 */
void local_host__capacity(const struct hasvcd *d, Hasvc__Cluster__InventoryDone *inv)
{
	uint64_t total = mem_total_kib() << 10;
	uint64_t reserve = d->conf ? d->conf->host_reserve_memory : CONFIG_DEFAULT_HOST_RESERVE;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (total) {
		uint64_t mib = total > reserve ? (total - reserve) >> 20 : 0;

		if (!mib)
			qb_log(LOG_WARNING, "host_reserve_memory (%llu MiB) leaves no memory of "
			       "%llu MiB for VMs", (unsigned long long)(reserve >> 20),
			       (unsigned long long)(total >> 20));
		inv->mem_mib = (uint32_t)(mib > UINT32_MAX ? UINT32_MAX : mib ? mib : 1);
	} else {
		qb_log(LOG_WARNING, "no MemTotal in /proc/meminfo: memory not reported");
	}
	if (cpus > 0)
		inv->cpus = (uint32_t)(cpus > UINT16_MAX ? UINT16_MAX : cpus);
	qb_log(LOG_INFO, "this host has %u MiB of memory and %u cpus for VMs", inv->mem_mib,
	       inv->cpus);
}
