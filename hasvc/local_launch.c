/*
 * Starting a copy's vmm: its command line from the VM's configuration as it
 * is now (a start the back-off delayed reads it when due), its devices
 * prepared (local_dev.c), spawned (local_vmm.c).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include <qb/qblog.h>

#include "hasvc/local.h"

/* A number as the next argument; bufs keeps the text alive. */
static void put_num(const char **args, size_t *n, char (*bufs)[64], size_t *nb,
		    unsigned long long v, const char *suffix)
{
	snprintf(bufs[*nb], 64, "%llu%s", v, suffix);
	args[(*n)++] = bufs[(*nb)++];
}

int local_launch__run(struct hasvcd *d, struct copy *c, uint64_t peer_gen)
{
	const struct config_vm *cv = cluster_config__vm(d->conf, c->vm);
	const char *args[48];
	char bufs[6][64], uri[300], serial[PATH_MAX + 8], net[128], err[PATH_MAX + 128];
	size_t n = 0, nb = 0;
	uint8_t role = c->role;
	bool incoming = c->incoming;
	int ret;

	if (!cv)
		return -ENOENT;
	snprintf(serial, sizeof(serial), "unix:%s/%s.serial", d->run_dir, c->control);

	args[n++] = "run";
	if (role == FSM_ROLE_STANDBY || incoming) {
		if (local_vmm__peer_uri(d, d->node, c->vm, incoming, uri, sizeof(uri)))
			return -EINVAL;
		args[n++] = incoming ? "--incoming" : "--standby";
		args[n++] = uri;
	}
	/* Also for a receiver: a guest that reboots after taking over reloads it. */
	args[n++] = "--kernel";
	args[n++] = cv->kernel;
	if (cv->cmdline) {
		args[n++] = "--cmdline";
		args[n++] = cv->cmdline;
	}
	if (cv->initrd) {
		args[n++] = "--initrd";
		args[n++] = cv->initrd;
	}
	args[n++] = "--memory";
	put_num(args, &n, bufs, &nb, cv->memory >> 10, "K");
	args[n++] = "--cpus";
	put_num(args, &n, bufs, &nb, cv->vcpus, "");
	if (cv->disk) {
		if (local_dev__disk_prepare(cv, err, sizeof(err))) {
			qb_log(LOG_ERR, "%s: %s", c->control, err);
			return -EIO;
		}
		args[n++] = "--disk";
		args[n++] = cv->disk;
	}
	if (cv->bridge) {
		local_dev__net_arg(d, cv, c->gen, net, sizeof(net));
		args[n++] = "--net";
		args[n++] = net;
	}
	args[n++] = "--serial";
	args[n++] = serial;
	args[n++] = "--control";
	args[n++] = c->control;
	args[n++] = "--generation";
	put_num(args, &n, bufs, &nb, c->gen, "");
	if (role == FSM_ROLE_STANDBY || (incoming && peer_gen)) {
		args[n++] = "--peer-generation";
		put_num(args, &n, bufs, &nb, peer_gen, "");
	}
	if (role == FSM_ROLE_STANDBY || incoming)
		local_vmm__tls_args(d, c->peer, args, &n);
	args[n] = NULL;
	ret = local_vmm__spawn(d, c, args);
	if (ret)
		return ret;
	qb_log(LOG_NOTICE, "%s: started %s (pid %d)", c->control,
	       incoming ? "a migration destination" :
	       role == FSM_ROLE_STANDBY ? "a standby" : "a primary", (int)c->pid);
	return 0;
}
