/*
 * A process that joins a hasvcd group without being hasvcd, for the tests
 * of what hasvcd believes (tests/cluster/rogue.sh, sync_timeout.sh):
 *
 *   rogue_cpg GROUP silent [FILE]
 *	joins and never sends anything: a member that never answers a
 *	state exchange.  With FILE: joins only once FILE exists (so that the
 *	process can be older than one started after it, yet join later).
 *   rogue_cpg GROUP flood NAME COUNT
 *	joins, never answers a state exchange, and multicasts COUNT
 *	InventoryDone messages claiming to come from node NAME.
 *   rogue_cpg GROUP inject NAME CONFIG
 *	joins, then multicasts, each claiming to come from node NAME, a State
 *	that would win any exchange (an empty, unconfigured replica with the
 *	largest event count, and CONFIG as its configuration) and a Config
 *	with the text of the file CONFIG.
 *
 * Prints "joined" once corosync reports it in the group, and "sent" once
 * its messages came back in agreed order (so every member has them), then
 * stays in the group until SIGTERM or SIGINT.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include <corosync/cpg.h>

#include "hasvc/daemon.h"
#include "hasvc/fsm_codec.h"

struct rogue {
	bool inject, joined, sent;
	const char *name;
	char *config;
	unsigned long flood;     /* InventoryDone messages to send */
	unsigned long mine;      /* own messages delivered back */
	unsigned long want;      /* ... before "sent" */
	struct fsm *fsm;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = 2 * cap + 8192);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = 0;
	return buf;
}

static int send_msg(cpg_handle_t h, const Hasvc__Cluster__Msg *m)
{
	size_t len = hasvc__cluster__msg__get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	struct iovec iov;
	cs_error_t e;

	if (!buf)
		return -ENOMEM;
	hasvc__cluster__msg__pack(m, buf);
	iov.iov_base = buf;
	iov.iov_len = len;
	do
		e = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1);
	while (e == CS_ERR_TRY_AGAIN && !usleep(10000));
	free(buf);
	return e == CS_OK ? 0 : -EIO;
}

static int inject(cpg_handle_t h, struct rogue *r)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__State st = HASVC__CLUSTER__STATE__INIT;
	Hasvc__Cluster__Config c = HASVC__CLUSTER__CONFIG__INIT;
	int ret;

	m.sender = (char *)r->name;
	/* The state every member would adopt, were it believed. */
	r->fsm->quorate_events = UINT64_MAX / 2;
	st.quorate_events = r->fsm->quorate_events;
	st.replica = fsm_codec__encode(r->fsm);
	if (!st.replica)
		return -ENOMEM;
	st.format = FSM_CODEC_FORMAT;
	st.config_text = r->config;
	st.config_path = (char *)"rogue.conf";
	m.body_case = HASVC__CLUSTER__MSG__BODY_STATE;
	m.state = &st;
	ret = send_msg(h, &m);
	fsm_codec__free(st.replica);
	if (ret)
		return -EIO;
	c.text = r->config;
	c.path = (char *)"rogue.conf";
	m.body_case = HASVC__CLUSTER__MSG__BODY_CONFIG;
	m.config = &c;
	return send_msg(h, &m);
}

/* One InventoryDone claiming r->name: 0, 1 when corosync asks to try again, -EIO. */
static int flood_one(cpg_handle_t h, const struct rogue *r)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__InventoryDone inv = HASVC__CLUSTER__INVENTORY_DONE__INIT;
	uint8_t buf[128];
	struct iovec iov = { .iov_base = buf };
	cs_error_t e;

	m.sender = (char *)r->name;
	m.body_case = HASVC__CLUSTER__MSG__BODY_INVENTORY_DONE;
	m.inventory_done = &inv;
	if (hasvc__cluster__msg__get_packed_size(&m) > sizeof(buf))
		return -EIO;
	iov.iov_len = hasvc__cluster__msg__pack(&m, buf);
	e = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1);
	return e == CS_OK ? 0 : e == CS_ERR_TRY_AGAIN ? 1 : -EIO;
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid,
		       uint32_t pid, void *msg, size_t len)
{
	struct rogue *r = NULL;
	unsigned local = 0;

	(void)group;
	(void)msg;
	(void)len;
	cpg_context_get(h, (void **)&r);
	cpg_local_get(h, &local);
	if (nodeid != local || pid != (uint32_t)getpid())
		return;
	if (++r->mine == r->want && !r->sent) {
		r->sent = true;
		printf("sent\n");
		fflush(stdout);
	}
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
		       const struct cpg_address *members, size_t n_members,
		       const struct cpg_address *left, size_t n_left,
		       const struct cpg_address *joined, size_t n_joined)
{
	struct rogue *r = NULL;

	(void)group;
	(void)members;
	(void)n_members;
	(void)left;
	(void)n_left;
	cpg_context_get(h, (void **)&r);
	for (size_t i = 0; i < n_joined && !r->joined; i++) {
		if (joined[i].pid != (uint32_t)getpid())
			continue;
		r->joined = true;
		printf("joined\n");
		fflush(stdout);
		if (r->inject && inject(h, r))
			fprintf(stderr, "rogue_cpg: cannot multicast\n");

	}
}

int main(int argc, char **argv)
{
	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = on_deliver,
		.cpg_confchg_fn = on_confchg,
	};
	struct rogue r = { 0 };
	struct cpg_name group;
	cpg_handle_t h;
	struct pollfd p = { .events = POLLIN };
	const char *wait_file = NULL;
	unsigned long flooded = 0;
	cs_error_t e;

	if (argc == 5 && !strcmp(argv[2], "inject")) {
		r.inject = true;
		r.want = 2;
		r.name = argv[3];
		r.config = read_all(argv[4]);
		r.fsm = fsm__new();
		if (!r.config || !r.fsm) {
			fprintf(stderr, "rogue_cpg: cannot read %s\n", argv[4]);
			return 1;
		}
	} else if (argc == 5 && !strcmp(argv[2], "flood")) {
		r.name = argv[3];
		r.want = r.flood = strtoul(argv[4], NULL, 10);
	} else if ((argc == 3 || argc == 4) && !strcmp(argv[2], "silent")) {
		wait_file = argc == 4 ? argv[3] : NULL;
	} else {
		fprintf(stderr, "usage: rogue_cpg GROUP silent [FILE] | rogue_cpg GROUP flood NAME COUNT"
			" | rogue_cpg GROUP inject NAME CONFIG\n");
		return 2;
	}
	snprintf(group.value, sizeof(group.value), "%s", argv[1]);
	group.length = (uint32_t)strlen(group.value);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	/* Polled: the test makes the file whenever it likes; nothing to wait on. */
	while (wait_file && access(wait_file, F_OK) && !stop)
		usleep(20000);
	e = cpg_model_initialize(&h, CPG_MODEL_V1, (cpg_model_data_t *)&model, &r);
	if (e == CS_OK)
		do
			e = cpg_join(h, &group);
		while (e == CS_ERR_TRY_AGAIN && !usleep(10000));
	if (e == CS_OK)
		e = cpg_fd_get(h, &p.fd);
	if (e != CS_OK) {
		fprintf(stderr, "rogue_cpg: corosync error %d\n", e);
		return 1;
	}
	while (!stop) {
		bool more = r.joined && flooded < r.flood;
		int ret = more ? flood_one(h, &r) : 1;

		if (ret < 0) {
			fprintf(stderr, "rogue_cpg: cannot multicast\n");
			return 1;
		}
		flooded += more && !ret;
		/* Own messages must be dispatched too, or corosync's queue stays full. */
		if (poll(&p, 1, more ? (ret ? 5 : 0) : 200) > 0 && cpg_dispatch(h, CS_DISPATCH_ALL) != CS_OK) {
			fprintf(stderr, "rogue_cpg: lost corosync\n");
			return 1;
		}
	}
	cpg_leave(h, &group);
	cpg_finalize(h);
	fsm__free(r.fsm);
	free(r.config);
	return 0;
}
