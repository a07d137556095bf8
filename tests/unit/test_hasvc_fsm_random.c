/*
 * 10,000 random event sequences over 3-5 nodes and 1-4 VMs.
 *
 * A small simulated cluster carries out the machine's actions the way the
 * daemons and vmm processes would (start, promote, stop, pause, migrate,
 * fence) and reports back, late and interleaved with node crashes,
 * partitions, hasvcd restarts (clean stops that freeze VMs, with and
 * without a return before the grace ends), quorum flips, operator
 * commands and stale reports.  After
 * every event: fsm__check_invariants(), generations never go down, a
 * non-quorate view does nothing but pause, and in the simulated world no
 * two running primaries of a VM hold the current generation.  At the end
 * of each sequence the state goes through its Replica encoding
 * (hasvc/fsm_codec.c) and must come back byte for byte.
 *
 * The randomness is a seeded PRNG here in the test; the machine has none.
 * HASVC_FSM_SEED and HASVC_FSM_RUNS override the seed and the count.
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/cluster_config.h"
#include "hasvc/fsm.h"
#include "hasvc/fsm_codec.h"

#define MAXN 5
#define MAXV 4
#define QMAX 4096

struct proc {
	bool exists;
	enum fsm_role role;
	enum fsm_vm_state state;
	uint64_t gen, epoch;
	bool incoming;     /* migration destination, not resumed yet */
	int mig_to;        /* source of a migration: destination, or -1 */
	uint64_t mig_gen;
	bool handover;
};

struct qev {
	enum fsm_event_type type;
	int node, vm;
	enum fsm_role role;
	enum fsm_vm_state state;
	uint64_t gen, epoch;
	bool ok;
};

struct sim {
	uint64_t rng;
	int nn, nv;
	char node[MAXN][16], vm[MAXV][16];
	bool up[MAXN], in_group[MAXN];
	bool fenced[MAXN];     /* has a fence command                */
	uint32_t rep_mib[MAXN]; /* what its inventory reports; 0: none */
	uint16_t rep_cpus[MAXN];
	bool hung[MAXN];       /* cut off and failed to self-fence   */
	bool restarting[MAXN]; /* hasvcd stopped cleanly, vmm run on */
	struct proc p[MAXN][MAXV];
	struct qev q[QMAX];
	size_t qhead, qtail;
	struct fsm *f;
	struct fsm_actions acts;
	struct config *conf;
	uint64_t last_gen[MAXV], last_issued[MAXV];
	unsigned long stats[FSM_ACT_SHUTDOWN + 1];
	unsigned long steps;
	uint64_t seed;
	bool trace;           /* HASVC_FSM_TRACE=1: print every event and action */
};

static uint64_t rnd(struct sim *s)
{
	/* xorshift64*: small, fast, and the same sequence on every machine. */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ULL;
}

static int pick(struct sim *s, int n)
{
	return (int)(rnd(s) % (uint64_t)n);
}

static bool chance(struct sim *s, int percent)
{
	return pick(s, 100) < percent;
}

static void enqueue(struct sim *s, struct qev e)
{
	if (s->qtail - s->qhead < QMAX)
		s->q[s->qtail++ % QMAX] = e;
}

static void queue_report(struct sim *s, int n, int v)
{
	struct proc *p = &s->p[n][v];
	struct qev e = { .type = FSM_EV_VM_REPORT, .node = n, .vm = v, .role = p->role,
			 .state = p->state, .gen = p->gen, .epoch = p->epoch };

	enqueue(s, e);
}

static void queue_stopped(struct sim *s, int n, int v)
{
	struct proc *p = &s->p[n][v];
	struct qev e = { .type = FSM_EV_VM_REPORT, .node = n, .vm = v, .role = p->role,
			 .state = FSM_VM_STOPPED, .gen = p->gen, .epoch = p->epoch };

	enqueue(s, e);
	memset(p, 0, sizeof(*p));
}

static int node_of(struct sim *s, const char *name)
{
	for (int i = 0; i < s->nn; i++)
		if (!strcmp(s->node[i], name))
			return i;
	return -1;
}

static int vm_of(struct sim *s, const char *name)
{
	for (int i = 0; i < s->nv; i++)
		if (!strcmp(s->vm[i], name))
			return i;
	return -1;
}

/* What a daemon and its vmm processes do with an action addressed to them. */
static void carry_out(struct sim *s, const struct fsm_action *a)
{
	int n = node_of(s, a->node), v = vm_of(s, a->vm), peer = node_of(s, a->peer);
	struct proc *p;

	s->stats[a->type]++;
	if (n < 0 || !s->up[n] || !s->in_group[n])
		return;
	if (a->type == FSM_ACT_PAUSE_ALL_PRIMARIES) {
		for (int k = 0; k < s->nv; k++) {
			p = &s->p[n][k];
			if (p->exists && p->role == FSM_ROLE_PRIMARY && !p->incoming &&
			    p->state != FSM_VM_PAUSED) {
				p->state = FSM_VM_PAUSED;
				queue_report(s, n, k);
			}
		}
		return;
	}
	if (a->type == FSM_ACT_FENCE) {
		struct qev e = { .type = FSM_EV_FENCE_RESULT, .node = peer, .ok = chance(s, 70) };

		enqueue(s, e);
		return;
	}
	if (v < 0)
		return;
	p = &s->p[n][v];
	switch (a->type) {
	case FSM_ACT_START_PRIMARY:
		*p = (struct proc){ .exists = true, .role = FSM_ROLE_PRIMARY,
				    .state = FSM_VM_STARTING, .gen = a->generation, .mig_to = -1 };
		break;
	case FSM_ACT_START_STANDBY:
		*p = (struct proc){ .exists = true, .role = FSM_ROLE_STANDBY,
				    .state = FSM_VM_SYNCING, .gen = a->generation, .mig_to = -1 };
		break;
	case FSM_ACT_START_INCOMING:
		*p = (struct proc){ .exists = true, .role = FSM_ROLE_PRIMARY, .incoming = true,
				    .state = FSM_VM_STARTING, .gen = a->generation, .mig_to = -1 };
		break;
	case FSM_ACT_PROMOTE:
		if (p->exists && (p->role == FSM_ROLE_STANDBY ? p->epoch > 0 :
				  p->state == FSM_VM_PAUSED)) {
			p->role = FSM_ROLE_PRIMARY;
			p->state = FSM_VM_RUNNING;
			p->gen = a->generation;
			p->handover = false;
			p->mig_to = -1;
			queue_report(s, n, v);
		} else {
			/* Nothing to promote: the vmm says so under the new token. */
			struct qev e = { .type = FSM_EV_VM_REPORT, .node = n, .vm = v,
					 .role = FSM_ROLE_PRIMARY, .state = FSM_VM_FAILED,
					 .gen = a->generation };

			memset(p, 0, sizeof(*p));
			enqueue(s, e);
		}
		break;
	case FSM_ACT_STOP:
	case FSM_ACT_SHUTDOWN: /* a guest that powers off, or is quit after the timeout */
		if (p->exists && p->gen == a->generation)
			queue_stopped(s, n, v);
		break;
	case FSM_ACT_MIGRATE:
		if (p->exists && p->role == FSM_ROLE_PRIMARY && peer >= 0) {
			p->mig_to = peer;
			p->mig_gen = a->generation;
		}
		break;
	case FSM_ACT_HANDOVER:
		if (p->exists && p->role == FSM_ROLE_PRIMARY)
			p->handover = true;
		break;
	default:
		break;
	}
}

/* A process moves on by itself: boots, syncs, checkpoints, migrates, dies. */
static void progress(struct sim *s)
{
	int n = pick(s, s->nn), v = pick(s, s->nv);
	struct proc *p = &s->p[n][v];

	if (!p->exists || !s->up[n] || !s->in_group[n] || p->state == FSM_VM_PAUSED)
		return;
	if (chance(s, 4)) {
		p->state = FSM_VM_FAILED;
		queue_report(s, n, v);
		memset(p, 0, sizeof(*p));
		return;
	}
	if (p->handover) {
		queue_stopped(s, n, v);
		return;
	}
	if (p->mig_to >= 0) {
		struct proc *t = &s->p[p->mig_to][v];

		if (t->exists && t->incoming && t->gen == p->mig_gen && s->up[p->mig_to] &&
		    (s->in_group[p->mig_to] || s->hung[p->mig_to])) {
			/* Switch-over: the source stops before the destination resumes. */
			int dest = p->mig_to;

			queue_stopped(s, n, v);
			t->incoming = false;
			t->state = FSM_VM_RUNNING;
			queue_report(s, dest, v);
		} else {
			p->mig_to = -1; /* destination gone: the source carries on */
		}
		return;
	}
	if (p->incoming)
		return;
	p->epoch++;
	if (p->role == FSM_ROLE_PRIMARY)
		p->state = chance(s, 50) ? FSM_VM_PROTECTED : FSM_VM_RUNNING;
	else
		p->state = FSM_VM_PROTECTED;
	queue_report(s, n, v);
}

static void trace_event(const struct fsm_event *ev)
{
	switch (ev->type) {
	case FSM_EV_MEMBERSHIP:
		fprintf(stderr, "MEMBERSHIP quorate=%d:", ev->membership.quorate);
		for (size_t i = 0; i < ev->membership.n_nodes; i++)
			fprintf(stderr, " %s", ev->membership.nodes[i]);
		fprintf(stderr, "\n");
		break;
	case FSM_EV_VM_REPORT:
		fprintf(stderr, "REPORT %s %s role=%d %s gen=%" PRIu64 " epoch=%" PRIu64 "\n",
			ev->report.node, ev->report.vm, ev->report.role,
			fsm__state_name(ev->report.state), ev->report.generation, ev->report.epoch);
		break;
	case FSM_EV_OPERATOR:
		fprintf(stderr, "OPERATOR %d vm=%s node=%s\n", ev->op.op, ev->op.vm, ev->op.node);
		break;
	case FSM_EV_FENCE_RESULT:
		fprintf(stderr, "FENCE_RESULT %s ok=%d\n", ev->fence.node, ev->fence.ok);
		break;
	case FSM_EV_INVENTORY_DONE:
		fprintf(stderr, "INVENTORY_DONE %s mem=%u cpus=%u\n", ev->inventory.node,
			ev->inventory.mem_mib, ev->inventory.cpus);
		break;
	case FSM_EV_QUORUM:
		fprintf(stderr, "QUORUM %d\n", ev->quorum.quorate);
		break;
	case FSM_EV_NODE_LEAVING:
		fprintf(stderr, "NODE_LEAVING %s\n", ev->leaving.node);
		break;
	case FSM_EV_RESTART_EXPIRED:
		fprintf(stderr, "RESTART_EXPIRED %s\n", ev->expired.node);
		break;
	default:
		fprintf(stderr, "CONFIG\n");
	}
}

static void feed(struct sim *s, const struct fsm_event *ev)
{
	char why[256];

	if (s->trace)
		trace_event(ev);
	fsm__actions_clear(&s->acts);
	ck_assert_int_eq(fsm__step(s->f, ev, &s->acts), 0);
	s->steps++;
	ck_assert_msg(fsm__check_invariants(s->f, why, sizeof(why)) == 0,
		      "seed %" PRIu64 " step %lu: %s", s->seed, s->steps, why);
	for (size_t i = 0; i < s->acts.n; i++) {
		enum fsm_action_type t = s->acts.v[i].type;

		ck_assert_msg(s->f->quorate || t == FSM_ACT_PAUSE_ALL_PRIMARIES ||
			      t == FSM_ACT_LOG || t == FSM_ACT_REJECT,
			      "seed %" PRIu64 ": non-quorate view emitted %s", s->seed,
			      fsm__action_name(t));
	}
	for (int v = 0; v < s->nv; v++) {
		int k = fsm__vm_index(s->f, s->vm[v]);
		const struct fsm_vm *vm = &s->f->vms[k];
		int running = 0;

		ck_assert_uint_ge(vm->generation, s->last_gen[v]);
		ck_assert_uint_ge(vm->issued, s->last_issued[v]);
		s->last_gen[v] = vm->generation;
		s->last_issued[v] = vm->issued;
		for (int n = 0; n < s->nn; n++) {
			const struct proc *p = &s->p[n][v];

			running += s->up[n] && p->exists && p->role == FSM_ROLE_PRIMARY &&
				   !p->incoming && p->state != FSM_VM_PAUSED;
		}
		ck_assert_msg(running <= 1, "seed %" PRIu64 " step %lu: vm %s: %d running "
			      "primaries", s->seed, s->steps, s->vm[v], running);
	}
	for (size_t i = 0; i < s->acts.n; i++) {
		if (s->trace) {
			char line[512];

			fsm__format_action(&s->acts.v[i], line, sizeof(line));
			fprintf(stderr, "    %s\n", line);
		}
		carry_out(s, &s->acts.v[i]);
	}
}

static void membership(struct sim *s)
{
	const char *names[MAXN];
	size_t n = 0;
	struct fsm_event ev = { .type = FSM_EV_MEMBERSHIP };

	for (int i = 0; i < s->nn; i++)
		if (s->in_group[i])
			names[n++] = s->node[i];
	ev.membership.nodes = names;
	ev.membership.n_nodes = n;
	ev.membership.quorate = (int)n * 2 > s->nn;
	feed(s, &ev);
}

static void join(struct sim *s, int i)
{
	struct qev done = { .type = FSM_EV_INVENTORY_DONE, .node = i };

	if (!s->up[i]) {
		s->up[i] = true; /* rebooted: holds nothing */
		memset(s->p[i], 0, sizeof(s->p[i]));
	}
	s->in_group[i] = true;
	s->hung[i] = s->restarting[i] = false;
	membership(s);
	for (int v = 0; v < s->nv; v++)
		if (s->p[i][v].exists)
			queue_report(s, i, v);
	enqueue(s, done);
}

/* Node i's primaries pause; an incoming VM must not resume without quorum either. */
static void pause_primaries(struct sim *s, int i)
{
	for (int v = 0; v < s->nv; v++) {
		struct proc *p = &s->p[i][v];

		if (p->exists && p->incoming)
			memset(p, 0, sizeof(*p));
		else if (p->exists && p->role == FSM_ROLE_PRIMARY)
			p->state = FSM_VM_PAUSED;
	}
}

static void leave(struct sim *s, int i)
{
	s->in_group[i] = false;
	if (chance(s, 50)) {
		s->up[i] = false; /* crash */
		memset(s->p[i], 0, sizeof(s->p[i]));
	} else {
		/*
		 * Cut off: its own daemon loses quorum and self-fences; on a node
		 * with a fence command, let that fail now and then (a hung daemon):
		 * fencing must then be what keeps the VM from running twice.
		 */
		if (s->fenced[i] && chance(s, 30))
			s->hung[i] = true;
		if (!s->hung[i])
			pause_primaries(s, i);
	}
	membership(s);
}

/*
 * A hasvcd stopped cleanly (SIGTERM): it says so in the group, then leaves;
 * its vmm processes run on, primaries unpaused, while the cluster has its
 * VMs frozen.
 */
static void graceful_leave(struct sim *s, int i)
{
	struct fsm_event ev = { .type = FSM_EV_NODE_LEAVING };

	ev.leaving.node = s->node[i];
	ev.leaving.deadline_ms = 1000;
	feed(s, &ev);
	s->in_group[i] = false;
	s->restarting[i] = true;
	membership(s);
}

/*
 * Its restart grace ends before it returns.  Without a fence command its
 * orphaned primaries pause once their standby stops taking checkpoints,
 * as they do when hasvcd is killed (tests/cluster/restart.sh); with one,
 * fencing keeps the VM from running twice.
 */
static void grace_over(struct sim *s, int i)
{
	struct fsm_event ev = { .type = FSM_EV_RESTART_EXPIRED };

	if (!s->fenced[i])
		pause_primaries(s, i);
	s->restarting[i] = false;
	ev.expired.node = s->node[i];
	feed(s, &ev);
}

static void deliver(struct sim *s)
{
	struct qev e = s->q[s->qhead++ % QMAX];
	struct fsm_event ev = { .type = e.type };

	/* Messages of a node that left the group are never delivered. */
	if (e.type != FSM_EV_FENCE_RESULT && !s->in_group[e.node])
		return;
	switch (e.type) {
	case FSM_EV_VM_REPORT:
		ev.report.node = s->node[e.node];
		ev.report.vm = s->vm[e.vm];
		ev.report.role = e.role;
		ev.report.state = e.state;
		ev.report.generation = e.gen;
		ev.report.epoch = e.epoch;
		break;
	case FSM_EV_INVENTORY_DONE:
		ev.inventory.node = s->node[e.node];
		ev.inventory.mem_mib = s->rep_mib[e.node];
		ev.inventory.cpus = s->rep_cpus[e.node];
		break;
	case FSM_EV_FENCE_RESULT:
		ev.fence.node = s->node[e.node];
		ev.fence.ok = e.ok;
		if (e.ok && !s->in_group[e.node]) {
			s->up[e.node] = false;
			s->hung[e.node] = false;
			memset(s->p[e.node], 0, sizeof(s->p[e.node]));
		}
		break;
	default:
		return;
	}
	feed(s, &ev);
}

/*
 * Not FSM_OP_FENCE_ACK: it is the operator's word that a node is off, and
 * the simulation's cut-off nodes may still run, so it would make two
 * primaries on purpose.
 */
static void operator(struct sim *s)
{
	static const enum fsm_op ops[] = {
		FSM_OP_MIGRATE, FSM_OP_EVACUATE, FSM_OP_FAILOVER, FSM_OP_PROTECT,
		FSM_OP_UNPROTECT, FSM_OP_MAINTENANCE_ON, FSM_OP_MAINTENANCE_OFF,
		FSM_OP_EVACUATE_CANCEL, FSM_OP_START, FSM_OP_STOP, FSM_OP_DISABLE,
		FSM_OP_ENABLE, FSM_OP_CLEAR,
	};
	struct fsm_event ev = { .type = FSM_EV_OPERATOR };

	ev.op.origin = s->node[pick(s, s->nn)];
	ev.op.op = ops[pick(s, sizeof(ops) / sizeof(ops[0]))];
	ev.op.timeout_s = (uint32_t)pick(s, 3);
	ev.op.vm = s->vm[pick(s, s->nv)];
	ev.op.node = s->node[pick(s, s->nn)];
	feed(s, &ev);
}

/* A late or duplicated report of an older copy. */
static void noise(struct sim *s)
{
	int n = pick(s, s->nn), v = pick(s, s->nv);
	const struct fsm_vm *vm = &s->f->vms[fsm__vm_index(s->f, s->vm[v])];
	struct fsm_event ev = { .type = FSM_EV_VM_REPORT };

	if (!s->in_group[n] || vm->generation < 2)
		return;
	ev.report.node = s->node[n];
	ev.report.vm = s->vm[v];
	ev.report.role = chance(s, 50) ? FSM_ROLE_PRIMARY : FSM_ROLE_STANDBY;
	ev.report.state = (enum fsm_vm_state)pick(s, FSM_VM_FAILED + 1);
	ev.report.generation = rnd(s) % (vm->generation - 1) + 1;
	feed(s, &ev);
}

static void configure(struct sim *s)
{
	char text[4096], err[CONFIG_ERR_MAX];
	size_t len = 0;
	struct fsm_event ev = { .type = FSM_EV_CONFIG };

	len += (size_t)snprintf(text + len, sizeof(text) - len, "[cluster]\nallow_plaintext = yes\n");
	for (int i = 0; i < s->nn; i++) {
		snprintf(s->node[i], sizeof(s->node[i]), "n%d", i);
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"[node n%d]\nreplication = h%d:1\n%s", i, i,
					(s->fenced[i] = chance(s, 40)) ? "fence_command = f\n" : "");
		/* Room for 2 to 5 copies of 16M, or uncounted; 1 to 3 cpus. */
		if (chance(s, 40))
			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"memory = %dM\n", 32 + 16 * pick(s, 4));
		if (chance(s, 30))
			len += (size_t)snprintf(text + len, sizeof(text) - len, "cpus = %d\n",
						1 + pick(s, 3));
		/* What its hasvcd reports, counted where nothing is declared. */
		s->rep_mib[i] = chance(s, 50) ? (uint32_t)(32 + 16 * pick(s, 4)) : 0;
		s->rep_cpus[i] = chance(s, 50) ? (uint16_t)(1 + pick(s, 3)) : 0;
	}
	for (int v = 0; v < s->nv; v++) {
		snprintf(s->vm[v], sizeof(s->vm[v]), "v%d", v);
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"[vm v%d]\nmemory = 16M\nkernel = /k\nprotected = %s\n"
					"priority = %d\n", v, chance(s, 75) ? "yes" : "no",
					pick(s, 3));
		if (chance(s, 60)) {
			int a = pick(s, s->nn), b = (a + 1 + pick(s, s->nn - 1)) % s->nn;

			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"preferred_nodes = n%d, n%d\n", a, b);
		} else if (chance(s, 30)) {
			int a = pick(s, s->nn), b = (a + 1 + pick(s, s->nn - 1)) % s->nn;

			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"nodes = n%d, n%d\n", a, b);
		}
		if (s->nv > 1 && chance(s, 20))
			len += (size_t)snprintf(text + len, sizeof(text) - len, "avoid = v%d\n",
						(v + 1 + pick(s, s->nv - 1)) % s->nv);
	}
	ck_assert_msg(cluster_config__parse_string(text, "random.conf", &s->conf, err,
						  sizeof(err)) == 0,
		      "%s", err);
	ev.config.config = s->conf;
	feed(s, &ev);
}

/* What a joining member would receive of s->f decodes to s->f. */
static void wire_round_trip(struct sim *s)
{
	struct fsm *back = malloc(sizeof(*back));
	Hasvc__Cluster__Replica *r;
	uint8_t *buf;
	size_t len;
	char why[256];

	ck_assert_ptr_nonnull(back);
	ck_assert_int_eq(fsm_codec__pack(s->f, &buf, &len), 0);
	r = hasvc__cluster__replica__unpack(NULL, len, buf);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(fsm_codec__decode(r, back, why, sizeof(why)) == 0,
		      "seed %" PRIu64 ": the encoded state does not decode: %s", s->seed, why);
	ck_assert_msg(!memcmp(back, s->f, sizeof(*back)),
		      "seed %" PRIu64 ": the state changed through its encoding", s->seed);
	hasvc__cluster__replica__free_unpacked(r, NULL);
	free(buf);
	free(back);
}

static void run_one(struct sim *s, uint64_t seed)
{
	int steps;

	memset(s->p, 0, sizeof(s->p));
	memset(s->hung, 0, sizeof(s->hung));
	memset(s->restarting, 0, sizeof(s->restarting));
	s->seed = seed;
	s->rng = seed * 0x9E3779B97F4A7C15ULL + 1;
	s->nn = 3 + pick(s, 3);
	s->nv = 1 + pick(s, 4);
	s->qhead = s->qtail = 0;
	memset(s->last_gen, 0, sizeof(s->last_gen));
	memset(s->last_issued, 0, sizeof(s->last_issued));
	fsm__init(s->f);
	configure(s);
	for (int i = 0; i < s->nn; i++)
		s->up[i] = true, s->in_group[i] = false;
	for (int i = 0; i < s->nn; i++)
		if (chance(s, 85))
			join(s, i);

	steps = 30 + pick(s, 50);
	for (int k = 0; k < steps; k++) {
		int r = pick(s, 100);

		if (r < 40 && s->qhead != s->qtail) {
			deliver(s);
		} else if (r < 50) {
			int i = pick(s, s->nn);

			if (s->in_group[i] && chance(s, 25))
				graceful_leave(s, i);
			else if (s->in_group[i])
				leave(s, i);
			else if (s->restarting[i] && chance(s, 40))
				grace_over(s, i);
			else
				join(s, i);
		} else if (r < 53) {
			struct fsm_event ev = { .type = FSM_EV_QUORUM };
			int members = 0;

			for (int i = 0; i < s->nn; i++)
				members += s->in_group[i];
			ev.quorum.quorate = !s->f->quorate && members * 2 > s->nn;
			feed(s, &ev);
		} else if (r < 85) {
			progress(s);
		} else if (r < 93) {
			operator(s);
		} else {
			noise(s);
		}
	}
	/* Let everything in flight land; a feedback loop would never end. */
	for (int k = 0; s->qhead != s->qtail; k++) {
		ck_assert_msg(k < 2000, "seed %" PRIu64 ": events keep coming", s->seed);
		deliver(s);
	}
	wire_round_trip(s);
	cluster_config__free(s->conf);
	s->conf = NULL;
}

START_TEST(test_random_sequences)
{
	const char *seed_env = getenv("HASVC_FSM_SEED"), *runs_env = getenv("HASVC_FSM_RUNS");
	uint64_t first = seed_env ? strtoull(seed_env, NULL, 0) : 1;
	long runs = runs_env ? strtol(runs_env, NULL, 0) : 10000;
	struct sim *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	s->trace = getenv("HASVC_FSM_TRACE") != NULL;
	s->f = fsm__new();
	fsm__actions_init(&s->acts);
	for (long i = 0; i < runs; i++)
		run_one(s, first + (uint64_t)i);
	fprintf(stderr, "%ld sequences, %lu events: %lu START_PRIMARY, %lu PROMOTE, "
		"%lu START_STANDBY, %lu MIGRATE, %lu HANDOVER, %lu FENCE, %lu STOP, %lu PAUSE\n",
		runs, s->steps, s->stats[FSM_ACT_START_PRIMARY], s->stats[FSM_ACT_PROMOTE],
		s->stats[FSM_ACT_START_STANDBY], s->stats[FSM_ACT_MIGRATE],
		s->stats[FSM_ACT_HANDOVER], s->stats[FSM_ACT_FENCE], s->stats[FSM_ACT_STOP],
		s->stats[FSM_ACT_PAUSE_ALL_PRIMARIES]);
	/*
	 * The run must have reached the interesting paths, not idled: floors
	 * in proportion to the runs (with the lifecycle and maintenance
	 * commands in the mix, 1000 runs make about 9 handovers, 10000 about 64).
	 */
	if (runs >= 1000) {
		ck_assert_uint_gt(s->stats[FSM_ACT_PROMOTE], (unsigned long)runs / 10);
		ck_assert_uint_gt(s->stats[FSM_ACT_MIGRATE], (unsigned long)runs / 20);
		ck_assert_uint_gt(s->stats[FSM_ACT_HANDOVER], (unsigned long)runs / 250);
		ck_assert_uint_gt(s->stats[FSM_ACT_FENCE], (unsigned long)runs / 20);
	}
	fsm__actions_free(&s->acts);
	fsm__free(s->f);
	free(s);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("hasvc_fsm_random");
	TCase *tc = tcase_create("random");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_random_sequences);
	suite_add_tcase(suite, tc);
	sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
