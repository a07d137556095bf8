/*
 * hactl, the operator's tool (docs/hactl.md): the parts shared by its files
 * and by tests/unit/test_hactl_ipc.c, which runs hactl__main against a fake
 * server.
 *
 *   hactl.c        command line, the calls to hasvcd, what is printed after
 *   hactl_print.c  the status tables
 *   hactl_wait.c   --wait: poll the status until a command's effect shows
 *   hactl_events.c `hactl events [--follow]`
 *   hactl_config.c `hactl config apply FILE | show | diff FILE`
 */
#ifndef HASVC_HACTL_H
#define HASVC_HACTL_H

#include <stdbool.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "hasvc/hactl.pb-c.h"

/* How long a call waits for hasvcd's reply: status, and commands that go
 * through the cluster (the daemon itself gives up on those after 10 s). */
#define HACTL_STATUS_TIMEOUT_MS 5000
#define HACTL_COMMAND_TIMEOUT_MS 15000
#define HACTL_WAIT_POLL_MS 200
#define HACTL_WAIT_DEFAULT_S 300
/* stop, disable: hasvcd's shutdown timeout (FSM_STOP_TIMEOUT_S), and what
 * --wait waits beyond it (the vmm quits at the timeout, hasvcd kills it
 * 3 s later, the report goes round). */
#define HACTL_STOP_DEFAULT_S 60
#define HACTL_STOP_WAIT_MARGIN_S 30

struct pbipc_client;

struct hactl {
	const char *socket;        /* the service name of hasvcd            */
	bool json;
	bool follow;               /* events --follow                        */
	double wait_s;             /* --timeout                              */
	bool timeout_given;        /* stop, disable: it is the shutdown's    */
	struct pbipc_client *cl;   /* NULL until connected, or after a loss */
	bool cancel;               /* evacuate --cancel                      */
};

/*
 * One call to hasvcd, connecting first if needed.  0, or -errno with a
 * sentence for the operator in err ("cannot reach hasvcd on 'hasvcd': is the
 * daemon running? (Connection refused)").  After a failure the next call
 * connects again.  *resp is freed with hasvc__ctl__response__free_unpacked.
 */
int hactl__call(struct hactl *h, const Hasvc__Ctl__Request *req, int timeout_ms,
		Hasvc__Ctl__Response **resp, char *err, size_t errlen);
void hactl__close(struct hactl *h);

/* `hactl ARGS...`: returns the exit status (0 done, 1 failed, 2 bad usage). */
int hactl__main(int argc, char **argv);

/* The header line, the nodes table and the VMs table of `hactl status`. */
void hactl__print_status(FILE *out, const Hasvc__Ctl__Status *st);
/* "4.2s", "3m05s", "-" for -1: the age of a checkpoint. */
void hactl__format_age(char *buf, size_t len, int64_t ms);
const Hasvc__Ctl__Vm *hactl__find_vm(const Hasvc__Ctl__Status *st, const char *name);

/*
 * --wait for op (whose request was just accepted): poll the status every
 * HACTL_WAIT_POLL_MS until its effect shows or h->wait_s passed, printing a
 * line whenever the progress changes.  before_primary: the VM's primary
 * before a failover.  Returns the exit status (0 done, 1 not done).
 */
/*
 * `hactl events [--follow]`: the events hasvcd holds, then with h->follow
 * the new ones every HACTL_WAIT_POLL_MS until killed.  The exit status.
 */
int hactl__events(struct hactl *h);
/* A call that failed: err on stderr, and with --json a Response on stdout. */
int hactl__report_failure(const struct hactl *h, int rc, const char *err);

/*
 * `hactl config WORDS...` (argv: the words after "config"): the exit
 * status; diff's are diff(1)'s (0 same, 1 different, 2 trouble).
 */
int hactl__config(struct hactl *h, int argc, char **argv);

int hactl__wait(struct hactl *h, const Hasvc__Ctl__OpRequest *op, const char *before_primary);

#endif
