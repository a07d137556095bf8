/*
 * hactl --wait: hasvcd answers an operator command once the cluster has
 * accepted it, long before a migration or an evacuation is over.  --wait
 * follows the status until the command's effect is visible (docs/hactl.md
 * lists the condition of each command), printing a line whenever the
 * progress changes.  If hasvcd cannot be reached for a while (a restart),
 * polling goes on until the deadline.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "hasvc/hactl.h"

#define LINE 512

struct progress {
	bool done;
	bool fatal;          /* it can no longer happen: stop waiting */
	char line[LINE];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool running_state(const char *state)
{
	static const char *const running[] = {
		"protected", "syncing", "degraded", "unprotected", "running",
	};
	size_t i;

	for (i = 0; i < sizeof(running) / sizeof(running[0]); i++)
		if (!strcmp(state, running[i]))
			return true;
	return false;
}

static const char *or_none(const char *s)
{
	return s[0] ? s : "none";
}

/* "web1: state migrating, primary a, standby c, migrating to b". */
static void describe_vm(const Hasvc__Ctl__Vm *v, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s: state %s, primary %s, standby %s", v->name, v->state,
			 or_none(v->primary), or_none(v->standby));

	if (n > 0 && (size_t)n < len && v->migrating_to[0])
		snprintf(buf + n, len - n, ", migrating to %s", v->migrating_to);
	if (n > 0 && (size_t)n < len && v->waiting[0])
		snprintf(buf + strlen(buf), len - strlen(buf), ", waiting: %s", v->waiting);
}

/*
 * The VM of op, described in the progress line, or NULL and a fatal
 * progress when the cluster no longer has it.
 */
static const Hasvc__Ctl__Vm *vm_of(const Hasvc__Ctl__Status *st, const char *name,
				   struct progress *p)
{
	const Hasvc__Ctl__Vm *v = hactl__find_vm(st, name);

	if (!v) {
		p->fatal = true;
		snprintf(p->line, sizeof(p->line), "%s is no longer in the cluster's status", name);
		return NULL;
	}
	describe_vm(v, p->line, sizeof(p->line));
	return v;
}

static void check_migrate(const Hasvc__Ctl__Status *st, const Hasvc__Ctl__OpRequest *op,
			  const char *before, struct progress *p)
{
	const Hasvc__Ctl__Vm *v = vm_of(st, op->vm, p);

	if (!v)
		return;
	p->done = !strcmp(v->primary, op->node) && !v->migrating_to[0] &&
		  strcmp(v->state, "migrating");
}

static void check_failover(const Hasvc__Ctl__Status *st, const Hasvc__Ctl__OpRequest *op,
			   const char *before, struct progress *p)
{
	const Hasvc__Ctl__Vm *v = vm_of(st, op->vm, p);

	if (!v)
		return;
	p->done = v->primary[0] && strcmp(v->primary, before) && running_state(v->state);
}

static void check_protect(const Hasvc__Ctl__Status *st, const Hasvc__Ctl__OpRequest *op,
			  const char *before, struct progress *p)
{
	const Hasvc__Ctl__Vm *v = vm_of(st, op->vm, p);

	if (!v)
		return;
	p->done = !strcmp(v->state, "protected");
}

/* start, enable, clear: running again; an error ends the wait. */
static void check_start(const Hasvc__Ctl__Status *st, const Hasvc__Ctl__OpRequest *op,
			const char *before, struct progress *p)
{
	const Hasvc__Ctl__Vm *v = vm_of(st, op->vm, p);

	if (!v)
		return;
	p->done = running_state(v->state);
	p->fatal = !strcmp(v->state, "error");
}

/* stop, disable: down, with the requested state the command set. */
static void check_stop(const Hasvc__Ctl__Status *st, const Hasvc__Ctl__OpRequest *op,
		       const char *before, struct progress *p)
{
	const Hasvc__Ctl__Vm *v = vm_of(st, op->vm, p);
	const char *want = op->op == HASVC__CTL__OP_REQUEST__OP__STOP ? "stopped" : "disabled";

	if (!v)
		return;
	p->done = !strcmp(v->state, want);
}

/* "b: 2 copies left: web1 (primary), db1 (standby)". */
static void check_evacuate(const Hasvc__Ctl__Status *st, const Hasvc__Ctl__OpRequest *op,
			   const char *before, struct progress *p)
{
	size_t i, left = 0, n;

	n = snprintf(p->line, sizeof(p->line), "%s: ", op->node);
	for (i = 0; i < st->n_vms && n < sizeof(p->line); i++) {
		const Hasvc__Ctl__Vm *v = st->vms[i];
		const char *role = !strcmp(v->primary, op->node) ? "primary" :
				   !strcmp(v->standby, op->node) ? "standby" : NULL;

		if (!role)
			continue;
		n += snprintf(p->line + n, sizeof(p->line) - n, "%s%s (%s)", left ? ", " : "",
			      v->name, role);
		left++;
	}
	p->done = !left;
	if (p->done)
		snprintf(p->line, sizeof(p->line), "%s: holds no VM any more", op->node);
	else if (n < sizeof(p->line))
		snprintf(p->line + n, sizeof(p->line) - n, " left");
}

typedef void check_fn(const Hasvc__Ctl__Status *st, const Hasvc__Ctl__OpRequest *op,
		      const char *before, struct progress *p);

static check_fn *checker(Hasvc__Ctl__OpRequest__Op op)
{
	switch (op) {
	case HASVC__CTL__OP_REQUEST__OP__MIGRATE: return check_migrate;
	case HASVC__CTL__OP_REQUEST__OP__EVACUATE: return check_evacuate;
	case HASVC__CTL__OP_REQUEST__OP__MAINTENANCE_ON: return check_evacuate;
	case HASVC__CTL__OP_REQUEST__OP__FAILOVER: return check_failover;
	case HASVC__CTL__OP_REQUEST__OP__PROTECT: return check_protect;
	case HASVC__CTL__OP_REQUEST__OP__START:
	case HASVC__CTL__OP_REQUEST__OP__ENABLE:
	case HASVC__CTL__OP_REQUEST__OP__CLEAR: return check_start;
	case HASVC__CTL__OP_REQUEST__OP__STOP:
	case HASVC__CTL__OP_REQUEST__OP__DISABLE: return check_stop;
	default: return NULL;
	}
}

/* One poll: 0 and *p filled, or -errno with err. */
static int poll_status(struct hactl *h, const Hasvc__Ctl__OpRequest *op, const char *before,
		       struct progress *p, char *err, size_t errlen)
{
	Hasvc__Ctl__StatusRequest sr = HASVC__CTL__STATUS_REQUEST__INIT;
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;
	Hasvc__Ctl__Response *resp;
	int rc;

	req.command_case = HASVC__CTL__REQUEST__COMMAND_STATUS;
	req.status = &sr;
	rc = hactl__call(h, &req, HACTL_STATUS_TIMEOUT_MS, &resp, err, errlen);
	if (rc < 0)
		return rc;
	if (!resp->ok || !resp->status) {
		snprintf(err, errlen, "status refused: %s", resp->error[0] ? resp->error : "no status");
		rc = -EPROTO;
	} else {
		checker(op->op)(resp->status, op, before, p);
	}
	hasvc__ctl__response__free_unpacked(resp, NULL);
	return rc;
}

int hactl__wait(struct hactl *h, const Hasvc__Ctl__OpRequest *op, const char *before)
{
	FILE *out = h->json ? stderr : stdout;  /* stdout holds the JSON only */
	double deadline = now_s() + h->wait_s;
	char last[LINE] = "", err[256], lost[256] = "";
	struct progress p;

	if (!checker(op->op))
		return 0;
	for (;;) {
		memset(&p, 0, sizeof(p));
		if (poll_status(h, op, before, &p, err, sizeof(err)) < 0) {
			if (strcmp(err, lost))
				fprintf(stderr, "hactl: %s; trying again\n", err);
			snprintf(lost, sizeof(lost), "%s", err);
		} else {
			lost[0] = '\0';
			if (p.fatal) {
				fprintf(stderr, "hactl: %s\n", p.line);
				return 1;
			}
			if (strcmp(p.line, last))
				fprintf(out, "%s\n", p.line);
			fflush(out);
			snprintf(last, sizeof(last), "%s", p.line);
			if (p.done)
				return 0;
		}
		if (now_s() >= deadline) {
			fprintf(stderr, "hactl: not done after %g s (%s)\n", h->wait_s,
				lost[0] ? lost : last);
			return 1;
		}
		sleep_ms(HACTL_WAIT_POLL_MS);
	}
}
