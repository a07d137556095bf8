/*
 * The guest devices of a VM's vmm (docs/hasvc-config.md: disk, bridge, mac).
 *
 * Disk: every node holds its own copy of the image at the configured path.
 * A node that lacks it creates a sparse file of disk_size (a blank disk for
 * a first start; for a standby or a migration destination the sync fills
 * it), and a file of another size is refused before the vmm starts, naming
 * both sizes, rather than leaving the vmm to refuse the stream later.
 *
 * Network: the vmm makes a tap and adds it to the configured bridge.  The
 * tap's name holds the generation, so an old copy still being stopped and
 * its successor on the same node never ask for the same tap.  Without a
 * configured mac the VM gets 52:54:00 and three bytes of the SHA-256 of
 * "cluster/vm": the same on every node, different between VMs.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hasvc/daemon.h"
#include "hasvc/local.h"

int local_dev__disk_prepare(const struct config_vm *cv, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (!stat(cv->disk, &st)) {
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size != cv->disk_size) {
			snprintf(err, errlen, "disk %s has %llu bytes, disk_size says %llu",
				 cv->disk, (unsigned long long)st.st_size,
				 (unsigned long long)cv->disk_size);
			return -EINVAL;
		}
		return 0;
	}
	if (errno != ENOENT)
		goto fail;
	fd = open(cv->disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	if (ftruncate(fd, (off_t)cv->disk_size)) {
		int e = errno;

		close(fd);
		unlink(cv->disk);
		errno = e;
		goto fail;
	}
	close(fd);
	return 0;
fail:
	snprintf(err, errlen, "disk %s: %s", cv->disk, strerror(errno));
	return -errno;
}

void local_dev__mac(const struct hasvcd *d, const struct config_vm *cv, uint8_t mac[6])
{
	uint8_t h[HASVC_DIGEST_LEN];
	char id[2 * HASVC_NAME_MAX + 2];

	if (cv->has_mac) {
		memcpy(mac, cv->mac, 6);
		return;
	}
	snprintf(id, sizeof(id), "%s/%s", d->conf->cluster_name, cv->name);
	hasvcd__digest(id, strlen(id), h);
	mac[0] = 0x52, mac[1] = 0x54, mac[2] = 0x00;
	memcpy(mac + 3, h, 3);
}

void local_dev__net_arg(const struct hasvcd *d, const struct config_vm *cv, uint64_t gen,
			char *out, size_t len)
{
	uint8_t mac[6], h[HASVC_DIGEST_LEN];

	local_dev__mac(d, cv, mac);
	hasvcd__digest(cv->name, strlen(cv->name), h);
	/* "hv" + 6 + "." + 5 digits: 14 characters, under IFNAMSIZ. */
	snprintf(out, len, "tap=hv%02x%02x%02x.%llu,bridge=%s,mac=%02x:%02x:%02x:%02x:%02x:%02x",
		 h[0], h[1], h[2], (unsigned long long)(gen % 100000), cv->bridge, mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}
