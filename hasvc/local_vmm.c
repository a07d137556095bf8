/*
 * The vmm processes of this node as processes: starting them, their
 * command lines, talking to their control service (vmm/ctl.h), and the
 * records that let a restarted hasvcd find the ones still running.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "hasvc/local.h"
#include "hasvc/vmmlog.h"
#include "vmm/ctl.h"

/*
 * Each VM has two ports on every node, from the node's replication port:
 * base + 2 * slot for a standby, + 1 for a live migration's destination.
 * The slot is the VM's index in the state machine, the same on every node.
 */
int local_vmm__peer_uri(struct hasvcd *d, const char *node, const char *vm, bool incoming,
			char *out, size_t len)
{
	const struct config_node *cn = d->conf ? cluster_config__node(d->conf, node) : NULL;
	int v = fsm__vm_index(d->fsm, vm);
	unsigned port;

	if (!cn || v < 0)
		return -ENOENT;
	port = cn->replication_port + 2u * (unsigned)v + (incoming ? 1u : 0u);
	if (port > 65535)
		return -ERANGE;
	snprintf(out, len, strchr(cn->replication_host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u",
		 cn->replication_host, port);
	return 0;
}

void local_vmm__tls_args(struct hasvcd *d, const char *peer, const char **args, size_t *n)
{
	const struct config_node *me = cluster_config__node(d->conf, d->node);

	if (me && me->tls_ca) {
		args[(*n)++] = "--tls-ca";
		args[(*n)++] = me->tls_ca;
		args[(*n)++] = "--tls-cert";
		args[(*n)++] = me->tls_cert;
		args[(*n)++] = "--tls-key";
		args[(*n)++] = me->tls_key;
		/* Any node's certificate would do without it. */
		args[(*n)++] = "--tls-peer";
		args[(*n)++] = peer;
		if (me->tls_crl) {
			args[(*n)++] = "--tls-crl";
			args[(*n)++] = me->tls_crl;
		}
	} else {
		args[(*n)++] = "--tls-none";
	}
	args[*n] = NULL;
}

static void child_exec(struct hasvcd *d, const struct copy *c, const char *const *args)
{
	char log[PATH_MAX];
	const char *argv[64];
	size_t n = 0;
	int fd;

	/* Its own session: the VM outlives a restart of hasvcd. */
	setsid();
	snprintf(log, sizeof(log), "%s/%s.log", d->run_dir, c->control);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	/* Not hasvcd's corosync, IPC or log descriptors: the VM outlives them. */
	close_range(3, ~0U, 0);
	argv[n++] = d->vmm_path;
	for (size_t i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	execvp(d->vmm_path, (char *const *)argv);
	fprintf(stderr, "hasvcd: cannot run %s: %s\n", d->vmm_path, strerror(errno));
	_exit(127);
}

void local_vmm__last_words(struct hasvcd *d, const struct copy *c, char *out, size_t len)
{
	char path[PATH_MAX], buf[1024];
	ssize_t n = -1;
	char *end, *start;
	off_t size;
	int fd;

	snprintf(path, sizeof(path), "%s/%s.log", d->run_dir, c->control);
	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0)
		n = pread(fd, buf, sizeof(buf) - 1, size > (off_t)sizeof(buf) - 1 ?
			  size - (off_t)sizeof(buf) + 1 : 0);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* The last complete line: the vmm's account of why it ended. */
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	snprintf(out, len, "%s", start);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

void local_vmm__bound_log(struct hasvcd *d, const struct copy *c)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "%s/%s.log", d->run_dir, c->control);
	ret = vmmlog__bound(path, VMMLOG_MAX_BYTES);
	if (ret > 0)
		qb_log(LOG_NOTICE, "%s: its log passed %d bytes: moved to %s.1", c->control,
		       VMMLOG_MAX_BYTES, path);
	else if (ret < 0)
		qb_log(LOG_WARNING, "%s: cannot bound its log %s: %s", c->control, path,
		       strerror(-ret));
}

struct live_ctx {
	struct local *l;
	const char *vm;
};

static bool copy_live(uint64_t token, void *opaque)
{
	const struct live_ctx *x = opaque;

	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++) {
		const struct copy *c = &x->l->c[i];

		if (c->used && c->gen == token && !strcmp(c->vm, x->vm))
			return true;
	}
	return false;
}

void local_vmm__prune_logs(struct local *l, const char *vm)
{
	struct live_ctx x = { l, vm };
	/*
	 * The ended copies' logs are kept for the operator who asks why a
	 * copy ended; of a VM the cluster no longer has, nobody will.
	 */
	bool gone = fsm__vm_index(l->d->fsm, vm) < 0;
	int ret = vmmlog__prune(l->d->run_dir, vm, gone ? 0 : VMMLOG_KEEP_ENDED, copy_live, &x);

	if (ret > 0 && gone)
		qb_log(LOG_INFO, "%s: removed its %d vmm log files (no longer in the "
		       "configuration)", vm, ret);
	else if (ret > 0)
		qb_log(LOG_INFO, "%s: removed %d old vmm log files (the newest %d ended "
		       "copies keep theirs)", vm, ret, VMMLOG_KEEP_ENDED);
	else if (ret < 0)
		qb_log(LOG_WARNING, "%s: cannot prune its old vmm logs: %s", vm, strerror(-ret));
}

static bool vm_kept(const char *vm, void *opaque)
{
	const struct local *l = opaque;

	if (fsm__vm_index(l->d->fsm, vm) >= 0)
		return true;
	for (size_t i = 0; i < LOCAL_MAX_COPIES; i++)
		if (l->c[i].used && !strcmp(l->c[i].vm, vm))
			return true;
	return false;
}

void local_vmm__prune_gone(struct local *l)
{
	int ret = vmmlog__prune_vms(l->d->run_dir, vm_kept, l);

	if (ret > 0)
		qb_log(LOG_INFO, "removed %d vmm log files of VMs no longer in the configuration",
		       ret);
	else if (ret < 0)
		qb_log(LOG_WARNING, "cannot look for old vmm logs in %s: %s", l->d->run_dir,
		       strerror(-ret));
}

int local_vmm__spawn(struct hasvcd *d, struct copy *c, const char *const *args)
{
	pid_t pid = hasvcd__fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_exec(d, c, args);
	c->pid = pid;
	c->child = true;
	local_vmm__record(d, c);
	return 0;
}

/*
 * One call on the copy's connection, opened on first use and kept: the
 * poll talks to every vmm five times a second.  After a transport failure
 * it is dropped (a late reply would be taken for the next one's).
 */
static int call(struct copy *c, const Vmm__Control__Request *req, int timeout_ms,
		Vmm__Control__Response **resp, char *err, size_t errlen)
{
	int ret;

	*resp = NULL;
	if (!c->conn && (ret = ctl__connect(&c->conn, c->control, timeout_ms, err, errlen)) < 0)
		return ret;
	ctl__set_timeout(c->conn, timeout_ms);
	ret = ctl__call(c->conn, req, resp, err, errlen);
	if (ret < 0)
		local_vmm__close(c);
	return ret;
}

void local_vmm__close(struct copy *c)
{
	ctl__disconnect(c->conn);
	c->conn = NULL;
}

/*
 * One typed request and its checked reply.  hasvcd's loop waits for the
 * answer: a poll gives a hung vmm little time, a command (activate,
 * protect...) the usual limit.  On success the caller frees *resp.
 */
static int run(struct copy *c, const struct ctl_req *r, Vmm__Control__Response **resp,
	       char *err, size_t errlen)
{
	Vmm__Control__Request__CommandCase cmd = r->req.command_case;
	bool poll = cmd == VMM__CONTROL__REQUEST__COMMAND_STATUS ||
		    cmd == VMM__CONTROL__REQUEST__COMMAND_PROTECT_STATUS;
	int ret = call(c, &r->req, poll ? LVMM_POLL_TIMEOUT_MS : CTL_TIMEOUT_MS, resp, err, errlen);

	return ret ? ret : ctl__check_reply(resp, err, errlen);
}

/* run, for a request whose reply only says done or not. */
static int run_done(struct copy *c, const struct ctl_req *r, char *err, size_t errlen)
{
	Vmm__Control__Response *resp;
	int ret = run(c, r, &resp, err, errlen);

	if (!ret)
		vmm__control__response__free_unpacked(resp, NULL);
	return ret;
}

int local_vmm__ctl(struct copy *c, Vmm__Control__Request__CommandCase cmd, char *err, size_t errlen)
{
	struct ctl_req r;

	if (ctl__req_init(&r, cmd)) {
		snprintf(err, errlen, "no such command");
		return -EINVAL;
	}
	return run_done(c, &r, err, errlen);
}

int local_vmm__shutdown(struct copy *c, uint32_t timeout_s, char *err, size_t errlen)
{
	struct ctl_req r;

	ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND_SHUTDOWN);
	r.u.shutdown.timeout_s = timeout_s;
	return run_done(c, &r, err, errlen);
}

int local_vmm__activate(struct copy *c, uint64_t gen, char *err, size_t errlen)
{
	struct ctl_req r;

	ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND_ACTIVATE);
	r.u.activate.set_generation = true;
	r.u.activate.generation = gen;
	return run_done(c, &r, err, errlen);
}

/* This node's TLS files, and the node the other end must be: the request's fields. */
static void tls_fields(struct hasvcd *d, const char *peer, char **ca, char **cert, char **key,
		       char **tls_peer, char **crl, protobuf_c_boolean *none)
{
	const struct config_node *me = cluster_config__node(d->conf, d->node);

	if (!me || !me->tls_ca) {
		*none = true;
		return;
	}
	*ca = me->tls_ca;
	*cert = me->tls_cert;
	*key = me->tls_key;
	/* Any node's certificate would do without it. */
	*tls_peer = (char *)peer;
	if (me->tls_crl)
		*crl = me->tls_crl;
}

int local_vmm__protect(struct hasvcd *d, struct copy *c, const char *uri,
		       const struct config_vm *cv, char *err, size_t errlen)
{
	struct ctl_req r;
	Vmm__Control__ProtectRequest *pr = &r.u.protect;

	ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND_PROTECT);
	pr->uri = (char *)uri;
	pr->interval_ms = cv->checkpoint_interval_ms;
	pr->no_output_epochs = !cv->checkpoint_output_epochs;
	pr->min_interval_us = cv->checkpoint_min_interval_us;
	pr->max_rate = cv->checkpoint_max_rate;
	pr->ack_timeout_ms = cv->checkpoint_ack_timeout_ms;
	/* The cluster, not the vmm, decides whether to run on unprotected. */
	pr->on_standby_loss = VMM__CONTROL__PROTECT_REQUEST__ON_STANDBY_LOSS__PAUSE;
	pr->check_peer_generation = true;
	pr->peer_generation = c->peer_gen;
	tls_fields(d, c->peer, &pr->tls_ca, &pr->tls_cert, &pr->tls_key, &pr->tls_peer,
		   &pr->tls_crl, &pr->tls_none);
	return run_done(c, &r, err, errlen);
}

int local_vmm__migration_state(struct copy *c, char *out, size_t len, uint64_t *downtime_ms,
			       char *err, size_t errlen)
{
	Vmm__Control__Response *resp;
	struct ctl_req r;
	int ret;

	ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND_MIGRATE_STATUS);
	ret = run(c, &r, &resp, err, errlen);
	if (ret)
		return ret;
	snprintf(out, len, "%s", resp->migration ? resp->migration->state : "");
	*downtime_ms = resp->migration ? resp->migration->downtime_ms : 0;
	vmm__control__response__free_unpacked(resp, NULL);
	return 0;
}

/* The figures of protect-status the poll uses. */
static void view_protection(struct vmm_view *v, const Vmm__Control__ProtectStatus *ps)
{
	snprintf(v->ck_state, sizeof(v->ck_state), "%s", ps->state);
	v->committed_epoch = ps->committed_epoch;
	v->generation = ps->generation;
	v->age_ms = ps->last_commit_age_ms;
	v->eps = ps->epochs_per_s;
	v->ck_primary = !strcmp(ps->role, "primary");
	v->epochs = ps->epochs;
	v->bytes_last = ps->bytes_last;
	v->held_bytes = ps->output_held_bytes;
	v->held_frames = ps->net_output_held_frames;
	v->pause_us_p50 = ps->pause_us_p50;
	v->pause_us_p99 = ps->pause_us_p99;
	v->pause_us_mean = ps->pause_us_mean;
	v->ack_us_mean = ps->ack_us_mean;
	v->ack_us_max = ps->ack_us_max;
	v->bytes_per_epoch = ps->bytes_per_epoch;
	v->disk_bytes_per_epoch = ps->disk_bytes_per_epoch;
}

void local_vmm__view(struct copy *c)
{
	struct vmm_view *v = &c->view;
	Vmm__Control__Response *resp;
	struct ctl_req r;
	char err[256];

	memset(v, 0, sizeof(*v));
	v->age_ms = -1;
	ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND_STATUS);
	if (run(c, &r, &resp, err, sizeof(err)))
		return;
	if (resp->status)
		snprintf(v->vm_state, sizeof(v->vm_state), "%s", resp->status->state);
	vmm__control__response__free_unpacked(resp, NULL);
	v->up = true;
	snprintf(v->ck_state, sizeof(v->ck_state), "none");
	ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND_PROTECT_STATUS);
	if (run(c, &r, &resp, err, sizeof(err)))
		return;
	if (resp->protect_status)
		view_protection(v, resp->protect_status);
	vmm__control__response__free_unpacked(resp, NULL);
}

int local_vmm__migrate(struct hasvcd *d, struct copy *c, char *err, size_t errlen)
{
	const struct config_vm *cv = cluster_config__vm(d->conf, c->vm);
	struct ctl_req r;
	Vmm__Control__MigrateRequest *mr = &r.u.migrate;
	char uri[300];
	int ret;

	ret = local_vmm__peer_uri(d, c->peer, c->vm, true, uri, sizeof(uri));
	if (ret) {
		snprintf(err, errlen, "no replication address for %s", c->peer);
		return ret;
	}
	ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND_MIGRATE);
	mr->uri = uri;
	tls_fields(d, c->peer, &mr->tls_ca, &mr->tls_cert, &mr->tls_key, &mr->tls_peer,
		   &mr->tls_crl, &mr->tls_none);
	mr->then = VMM__CONTROL__MIGRATE_REQUEST__THEN__QUIT;
	mr->auto_converge = true;
	/* Each node has its own copy of the image, unless it is shared storage. */
	mr->copy_disk = cv && cv->disk && !cv->disk_shared;
	return run_done(c, &r, err, errlen);
}

/* ---- records: RUN/CONTROL.rec = "vm gen role incoming pid" ---- */

static void record_path(struct hasvcd *d, const char *control, char *out, size_t len)
{
	snprintf(out, len, "%s/%s.rec", d->run_dir, control);
}

void local_vmm__record(struct hasvcd *d, const struct copy *c)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	record_path(d, c->control, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		goto fail;
	fprintf(f, "%s %llu %u %d %d\n", c->vm, (unsigned long long)c->gen, c->role,
		c->incoming, (int)c->pid);
	if (fclose(f) || rename(tmp, path))
		goto fail;
	return;
fail:
	qb_log(LOG_WARNING, "cannot record %s in %s: %s", c->control, d->run_dir, strerror(errno));
}

void local_vmm__unrecord(struct hasvcd *d, const struct copy *c)
{
	char path[PATH_MAX];

	record_path(d, c->control, path, sizeof(path));
	unlink(path);
}

static void adopt_one(struct local *l, const char *file)
{
	char path[PATH_MAX], vm[HASVC_NAME_MAX];
	unsigned long long gen;
	unsigned role;
	int inc, pid;
	struct copy *c = NULL;
	FILE *f;
	size_t len = strlen(file);

	snprintf(path, sizeof(path), "%s/%s", l->d->run_dir, file);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%63s %llu %u %d %d", vm, &gen, &role, &inc, &pid) != 5 ||
	    kill(pid, 0) || role > FSM_ROLE_STANDBY || len - 4 >= LOCAL_CONTROL_MAX) {
		fclose(f);
		unlink(path);
		return;
	}
	fclose(f);
	for (size_t i = 0; i < LOCAL_MAX_COPIES && !c; i++)
		if (!l->c[i].used)
			c = &l->c[i];
	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	c->used = true;
	snprintf(c->vm, sizeof(c->vm), "%s", vm);
	memcpy(c->control, file, len - 4);
	c->control[len - 4] = 0;
	c->gen = gen;
	c->role = (uint8_t)role;
	c->incoming = inc;
	c->pid = pid;
	c->state = FSM_VM_STARTING;
	qb_log(LOG_NOTICE, "found %s (pid %d) left by an earlier hasvcd: adopted", c->control, pid);
}

void local_vmm__adopt_records(struct local *l)
{
	DIR *dir = opendir(l->d->run_dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name);

		if (len > 4 && !strcmp(e->d_name + len - 4, ".rec"))
			adopt_one(l, e->d_name);
	}
	closedir(dir);
}
