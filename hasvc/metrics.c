/*
 * GET /metrics (metrics.h).
 *
 * Threads: libmicrohttpd answers on its own thread
 * (MHD_USE_INTERNAL_POLLING_THREAD), and the daemon's state belongs to the
 * loop's thread alone (daemon.h).  So the loop renders the whole text every
 * METRICS_RENDER_MS into a fresh buffer and swaps it in under a mutex; the
 * HTTP thread only copies that buffer under the same mutex and never looks
 * at the state.  A scrape is at most METRICS_RENDER_MS old, a slow client
 * never holds up the loop, and the loop never waits for HTTP.  (Driving MHD
 * from the qb loop through MHD_get_fdset would need the poll set redone
 * after every MHD call: more code for no gain.)
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>
#include <qb/qblog.h>

#include "hasvc/local.h"
#include "hasvc/metrics.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Counted since this hasvcd started, from the actions every replica computes. */
struct vm_counts {
	char vm[HASVC_NAME_MAX];     /* "": free */
	uint64_t migrations;
	bool have_downtime;
	uint64_t downtime_ms;        /* the last live migration from this node */
};

struct metrics {
	struct MHD_Daemon *mhd;
	pthread_mutex_t lock;        /* guards text and len */
	char *text;
	size_t len;
	qb_loop_timer_handle timer;
	uint64_t failovers, evacuations, fence_attempts, fence_failures;
	bool handover[HASVC_MAX_VMS]; /* before the step: a planned handover
					 (not `hactl failover`'s) */
	char primary[HASVC_MAX_VMS][HASVC_NAME_MAX]; /* ... and its primary's node */
	struct vm_counts vm[HASVC_MAX_VMS];
};

/* ---- rendering ---- */

void metrics__family(struct metrics_out *o, const char *name, const char *type,
		     const char *help)
{
	fprintf(o->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

void metrics__sample(struct metrics_out *o, const char *name, double value, ...)
{
	const char *k, *sep = "{";
	va_list ap;

	fputs(name, o->f);
	va_start(ap, value);
	while ((k = va_arg(ap, const char *))) {
		fprintf(o->f, "%s%s=\"", sep, k);
		put_label_value(o->f, va_arg(ap, const char *));
		fputc('"', o->f);
		sep = ",";
	}
	va_end(ap);
	if (*sep == ',')
		fputc('}', o->f);
	if (isnan(value))
		fputs(" NaN\n", o->f);
	else
		fprintf(o->f, " %.17g\n", value);
}

static void render_cluster(struct hasvcd *d, struct metrics_out *o)
{
	const struct metrics *m = d->met;
	char digest[2 * HASVC_DIGEST_LEN + 1];

	hasvcd__hex(d->conf_digest, HASVC_DIGEST_LEN, digest, sizeof(digest));
	metrics__family(o, "hasvc_node_info", "gauge", "This hasvcd's node name (always 1).");
	metrics__sample(o, "hasvc_node_info", 1, "node", d->node, NULL);
	metrics__family(o, "hasvc_cluster_quorate", "gauge",
			"1 when the cluster's view holds a majority of the declared nodes.");
	metrics__sample(o, "hasvc_cluster_quorate", d->fsm->quorate, NULL);
	metrics__family(o, "hasvc_cluster_members", "gauge", "hasvcd daemons in the group.");
	metrics__sample(o, "hasvc_cluster_members", (double)d->n_members, NULL);
	metrics__family(o, "hasvc_cluster_config_info", "gauge",
			"SHA-256 of the configuration the cluster runs (always 1).");
	metrics__sample(o, "hasvc_cluster_config_info", 1, "digest", digest, NULL);
	metrics__family(o, "hasvc_cluster_failovers_total", "counter",
			"Standbys promoted after their primary was lost or by "
			"`hactl failover`, since this hasvcd started.");
	metrics__sample(o, "hasvc_cluster_failovers_total", (double)m->failovers, NULL);
	metrics__family(o, "hasvc_cluster_evacuations_total", "counter",
			"Node evacuations the cluster accepted, since this hasvcd started.");
	metrics__sample(o, "hasvc_cluster_evacuations_total", (double)m->evacuations, NULL);
	metrics__family(o, "hasvc_cluster_fence_attempts_total", "counter",
			"Fence commands run for the cluster that ended, retries included, "
			"since this hasvcd started.");
	metrics__sample(o, "hasvc_cluster_fence_attempts_total", (double)m->fence_attempts, NULL);
	metrics__family(o, "hasvc_cluster_fence_failures_total", "counter",
			"Fence commands that failed, since this hasvcd started.");
	metrics__sample(o, "hasvc_cluster_fence_failures_total", (double)m->fence_failures, NULL);
}

static const struct vm_counts *counts_of(const struct metrics *m, const char *vm)
{
	for (size_t i = 0; i < HASVC_MAX_VMS; i++)
		if (!strcmp(m->vm[i].vm, vm))
			return &m->vm[i];
	return NULL;
}

/* The VMs as the cluster's state has them: the same on every node. */
static void render_vms(struct hasvcd *d, struct metrics_out *o)
{
	const struct fsm *f = d->fsm;

	metrics__family(o, "hasvc_vm_state", "gauge",
			"The VM's state as hactl status shows it, in the label (always 1).");
	for (size_t v = 0; v < HASVC_MAX_VMS; v++)
		if (f->vms[v].used)
			metrics__sample(o, "hasvc_vm_state", 1, "vm", f->vms[v].name, "state",
					serve__vm_state(&f->vms[v]), NULL);
	metrics__family(o, "hasvc_vm_node", "gauge",
			"The node holding the VM's primary or standby copy (always 1).");
	for (size_t v = 0; v < HASVC_MAX_VMS; v++) {
		const struct fsm_vm *vm = &f->vms[v];

		if (vm->used && vm->primary >= 0)
			metrics__sample(o, "hasvc_vm_node", 1, "vm", vm->name, "node",
					f->nodes[vm->primary].name, "role", "primary", NULL);
		if (vm->used && vm->standby >= 0)
			metrics__sample(o, "hasvc_vm_node", 1, "vm", vm->name, "node",
					f->nodes[vm->standby].name, "role", "standby", NULL);
	}
	metrics__family(o, "hasvc_vm_generation", "gauge",
			"The VM's current activation (fencing token); 0: never started.");
	for (size_t v = 0; v < HASVC_MAX_VMS; v++)
		if (f->vms[v].used)
			metrics__sample(o, "hasvc_vm_generation", (double)f->vms[v].generation,
					"vm", f->vms[v].name, NULL);
	metrics__family(o, "hasvc_vm_protected", "gauge",
			"1 while the VM's primary checkpoints to a synced standby.");
	for (size_t v = 0; v < HASVC_MAX_VMS; v++)
		if (f->vms[v].used)
			metrics__sample(o, "hasvc_vm_protected",
					!strcmp(serve__vm_state(&f->vms[v]), "protected"), "vm",
					f->vms[v].name, NULL);
}

/*
 * Migrations (live ones and handovers to the standby, as `hactl migrate`
 * and the migration_* events count them): on every node; the downtime of
 * a live migration where it was measured.
 */
static void render_migrations(struct hasvcd *d, struct metrics_out *o)
{
	const struct fsm *f = d->fsm;

	metrics__family(o, "hasvc_vm_migrations_total", "counter",
			"Migrations of the VM the cluster ordered (live, or a handover to its "
			"standby), since this hasvcd started.");
	for (size_t v = 0; v < HASVC_MAX_VMS; v++) {
		const struct vm_counts *c = f->vms[v].used ? counts_of(d->met, f->vms[v].name) : NULL;

		if (f->vms[v].used)
			metrics__sample(o, "hasvc_vm_migrations_total", c ? (double)c->migrations : 0,
					"vm", f->vms[v].name, NULL);
	}
	metrics__family(o, "hasvc_vm_last_migration_downtime_seconds", "gauge",
			"The last live migration's downtime (source paused to destination "
			"running); from the node it left.");
	for (size_t i = 0; i < HASVC_MAX_VMS; i++)
		if (d->met->vm[i].vm[0] && d->met->vm[i].have_downtime)
			metrics__sample(o, "hasvc_vm_last_migration_downtime_seconds",
					(double)d->met->vm[i].downtime_ms / 1e3, "vm",
					d->met->vm[i].vm, NULL);
}

/* The whole text, rendered on the loop's thread; NULL when out of memory. */
static char *render(struct hasvcd *d, size_t *len)
{
	struct metrics_out o;
	char *buf = NULL;

	o.f = open_memstream(&buf, len);
	if (!o.f)
		return NULL;
	render_cluster(d, &o);
	if (d->fsm->configured) {
		render_vms(d, &o);
		render_migrations(d, &o);
	}
	local_metrics__render(d, &o);
	if (fclose(o.f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The text a scrape gets from now on: the state as it is now. */
static void refresh(struct hasvcd *d)
{
	struct metrics *m = d->met;
	size_t len = 0;
	char *text = render(d, &len), *old;

	if (!text)
		return;
	pthread_mutex_lock(&m->lock);
	old = m->text;
	m->text = text;
	m->len = len;
	pthread_mutex_unlock(&m->lock);
	free(old);
}

static void on_render(void *data)
{
	struct hasvcd *d = data;
	struct metrics *m = d->met;

	refresh(d);
	qb_loop_timer_add(d->loop, QB_LOOP_LOW, METRICS_RENDER_MS * 1000000ULL, d, on_render,
			  &m->timer);
}

/* ---- the server (libmicrohttpd's thread) ---- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     size_t len, void *buf, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	static const char not_found[] = "only /metrics is here\n";
	static const char not_allowed[] = "/metrics takes GET or HEAD\n";
	struct metrics *m = cls;
	enum MHD_Result ret;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", sizeof(not_found) - 1,
			     (void *)not_found, MHD_RESPMEM_PERSISTENT);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     sizeof(not_allowed) - 1, (void *)not_allowed, MHD_RESPMEM_PERSISTENT);
	pthread_mutex_lock(&m->lock);
	ret = reply(conn, MHD_HTTP_OK, CONTENT_TYPE, m->text ? m->len : 0,
		    m->text ? m->text : (void *)"", MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* The listening address, from the configuration; false if it is not an IP literal. */
static bool listen_addr(const struct config *conf, struct sockaddr_storage *ss, bool *v6)
{
	const char *a = conf->metrics_address ? conf->metrics_address :
			CONFIG_DEFAULT_METRICS_ADDRESS;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	*v6 = false;
	if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)conf->metrics_port);
		return true;
	}
	*v6 = true;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((uint16_t)conf->metrics_port);
	return inet_pton(AF_INET6, a, &s6->sin6_addr) == 1;
}

static int serve(struct hasvcd *d, struct metrics *m)
{
	const char *a = d->conf->metrics_address ? d->conf->metrics_address :
			CONFIG_DEFAULT_METRICS_ADDRESS;
	struct sockaddr_storage ss;
	sigset_t all, old;
	bool v6;

	if (!listen_addr(d->conf, &ss, &v6)) {
		qb_log(LOG_ERR, "metrics_address '%s' is not an IP address", a);
		return -EINVAL;
	}
	/* Its thread inherits this mask: every signal stays with the loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	errno = 0;
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
				  (v6 ? MHD_USE_IPv6 : 0), (uint16_t)d->conf->metrics_port,
				  NULL, NULL, on_request, m,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				  MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!m->mhd) {
		int err = errno ? errno : EADDRNOTAVAIL;

		qb_log(LOG_ERR, "cannot serve metrics on %s%s%s:%u: %s", v6 ? "[" : "", a,
		       v6 ? "]" : "", d->conf->metrics_port, strerror(err));
		return -err;
	}
	qb_log(LOG_NOTICE, "serving metrics on http://%s%s%s:%u/metrics", v6 ? "[" : "", a,
	       v6 ? "]" : "", d->conf->metrics_port);
	return 0;
}

int metrics__start(struct hasvcd *d)
{
	struct metrics *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	d->met = m;
	if (!d->conf->metrics_port)
		return 0;
	ret = serve(d, m);
	if (ret)
		return ret;
	on_render(d);
	return 0;
}

void metrics__stop(struct hasvcd *d)
{
	struct metrics *m = d->met;

	if (!m)
		return;
	if (m->mhd) {
		MHD_stop_daemon(m->mhd);
		qb_loop_timer_del(d->loop, m->timer);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->text);
	free(m);
	d->met = NULL;
}

/* ---- counting ---- */

static struct vm_counts *counts_for(struct metrics *m, const char *vm)
{
	struct vm_counts *c = (struct vm_counts *)counts_of(m, vm);

	for (size_t i = 0; i < HASVC_MAX_VMS && !c; i++)
		if (!m->vm[i].vm[0])
			c = &m->vm[i];
	if (c && !c->vm[0])
		snprintf(c->vm, sizeof(c->vm), "%s", vm);
	return c;
}

void metrics__pre_step(struct hasvcd *d)
{
	for (size_t v = 0; d->met && v < HASVC_MAX_VMS; v++) {
		const struct fsm_vm *vm = &d->fsm->vms[v];
		int p = vm->used ? vm->primary : -1;

		d->met->handover[v] = vm->used && vm->handover && !vm->failover_asked;
		snprintf(d->met->primary[v], HASVC_NAME_MAX, "%s",
			 p >= 0 && p < HASVC_MAX_NODES ? d->fsm->nodes[p].name : "");
	}
}

/*
 * A promotion is a failover unless it ends a planned handover or resumes
 * the paused primary in place (paused when its standby or the quorum was
 * lost): the VM did not move.
 */
static bool failover(const struct metrics *m, int v, const struct fsm_action *a)
{
	return v < 0 || (!m->handover[v] && strcmp(m->primary[v], a->node));
}

static bool rejected(const struct fsm_actions *acts)
{
	for (size_t i = 0; i < acts->n; i++)
		if (acts->v[i].type == FSM_ACT_REJECT)
			return true;
	return false;
}

void metrics__step(struct hasvcd *d, const struct fsm_event *ev, const struct fsm_actions *acts)
{
	struct metrics *m = d->met;
	bool moved = false;

	if (!m)
		return;
	for (size_t i = 0; i < acts->n; i++) {
		const struct fsm_action *a = &acts->v[i];
		int v = fsm__vm_index(d->fsm, a->vm);
		struct vm_counts *c;

		if (a->type == FSM_ACT_PROMOTE && failover(m, v, a))
			moved = ++m->failovers;
		else if ((a->type == FSM_ACT_MIGRATE || a->type == FSM_ACT_HANDOVER) &&
			 (c = counts_for(m, a->vm)))
			moved = ++c->migrations;
	}
	/*
	 * Every attempt ends in a result that every node sees; the fencer's
	 * retries after a failure (fence.c) are not state machine actions.
	 */
	if (ev->type == FSM_EV_FENCE_RESULT) {
		moved = ++m->fence_attempts;
		m->fence_failures += !ev->fence.ok;
	}
	if (ev->type == FSM_EV_OPERATOR && ev->op.op == FSM_OP_EVACUATE && !rejected(acts))
		moved = ++m->evacuations;
	/*
	 * A scrape right after the command that moved a counter must see it:
	 * an evacuation can end within the render period.
	 */
	if (moved && m->mhd)
		refresh(d);
}

void metrics__migrated(struct hasvcd *d, const char *vm, uint64_t downtime_ms)
{
	struct vm_counts *c = d->met ? counts_for(d->met, vm) : NULL;

	if (c) {
		c->have_downtime = true;
		c->downtime_ms = downtime_ms;
		if (d->met->mhd)
			refresh(d);  /* as metrics__step: the next scrape has it */
	}
}
