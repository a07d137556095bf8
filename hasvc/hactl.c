/*
 * hactl's command line and its calls to the local hasvcd (hactl.h,
 * docs/hactl.md).  main() is in hactl_main.c so that the unit test can run
 * hactl__main.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/hactl.h"
#include "hasvc/ipc.h"
#include "ipc/json_out.h"
#include "ipc/pbipc_client.h"

#define HACTL_DEFAULT_SOCKET "hasvcd"

enum { CMD_STATUS = -1, CMD_RELOAD = -2, CMD_MAINTENANCE = -3 };

struct command {
	const char *name;
	int kind;            /* CMD_STATUS, CMD_RELOAD or an OpRequest op */
	const char *args;    /* the words it takes, for messages         */
	bool can_wait;
};

static const struct command commands[] = {
	{ "status", CMD_STATUS, "", false },
	{ "migrate", HASVC__CTL__OP_REQUEST__OP__MIGRATE, "VM NODE", true },
	{ "evacuate", HASVC__CTL__OP_REQUEST__OP__EVACUATE, "NODE", true },
	{ "failover", HASVC__CTL__OP_REQUEST__OP__FAILOVER, "VM", true },
	{ "protect", HASVC__CTL__OP_REQUEST__OP__PROTECT, "VM", true },
	{ "unprotect", HASVC__CTL__OP_REQUEST__OP__UNPROTECT, "VM", false },
	{ "reload", CMD_RELOAD, "", false },
	{ "fence-ack", HASVC__CTL__OP_REQUEST__OP__FENCE_ACK, "NODE", false },
	{ "maintenance", CMD_MAINTENANCE, "NODE on|off", true },
	{ "start", HASVC__CTL__OP_REQUEST__OP__START, "VM", true },
	{ "stop", HASVC__CTL__OP_REQUEST__OP__STOP, "VM", true },
	{ "disable", HASVC__CTL__OP_REQUEST__OP__DISABLE, "VM", true },
	{ "enable", HASVC__CTL__OP_REQUEST__OP__ENABLE, "VM", true },
	{ "clear", HASVC__CTL__OP_REQUEST__OP__CLEAR, "VM", true },
};

static const char usage_line[] =
	"usage: hactl [--json] [-s NAME] [--timeout S] COMMAND | --help | --version\n"
	"  COMMAND: status | migrate VM NODE [--wait] | evacuate NODE [--wait] |\n"
	"           failover VM [--wait] | protect VM [--wait] | unprotect VM | reload |\n"
	"           fence-ack NODE | maintenance NODE on|off | evacuate --cancel NODE |\n"
	"           start VM [--wait] | stop VM [--timeout S] [--wait] |\n"
	"           disable VM [--timeout S] [--wait] | enable VM [--wait] | clear VM [--wait] |\n"
	"           events [--follow] | config apply FILE | config show | config diff FILE\n";

static void help(void)
{
	printf("%s\n"
	       "Ask the local hasvcd for the cluster's state, or send it an operator command.\n"
	       "\n"
	       "  status            the nodes and the VMs as this node's hasvcd sees them\n"
	       "  migrate VM NODE   move VM's primary to NODE (a handover to its standby,\n"
	       "                    or a live migration)\n"
	       "  evacuate NODE     move every primary and standby off NODE\n"
	       "  failover VM       stop VM's primary and promote its standby\n"
	       "  protect VM        give VM a standby and checkpoint to it\n"
	       "  unprotect VM      stop VM's standby\n"
	       "  reload            apply this node's configuration file to the cluster\n"
	       "                    (as config apply does)\n"
	       "  fence-ack NODE    confirm that the lost NODE is off (its fence command keeps\n"
	       "                    failing): its VMs' standbys may then be promoted\n"
	       "  maintenance NODE on|off\n"
	       "                    on: evacuate NODE and keep it empty until off\n"
	       "  evacuate --cancel NODE\n"
	       "                    stop evacuating NODE (moves under way finish)\n"
	       "  start VM          run VM again after a stop\n"
	       "  stop VM           shut VM down cleanly (the power button; quit after\n"
	       "                    --timeout S, default %d s) and keep it down\n"
	       "  disable VM        as stop, and refuse start until enable\n"
	       "  enable VM         start a disabled VM again\n"
	       "  clear VM          take VM out of the error state and start it again\n"
	       "  events [--follow] the last cluster events (the same on every node);\n"
	       "                    --follow: then the new ones as they come\n"
	       "  config apply FILE make FILE the cluster's configuration: checked, then\n"
	       "                    written to every node's file and applied\n"
	       "  config show       the configuration text the cluster runs\n"
	       "  config diff FILE  what applying FILE would change (diff -u); exit 0 the\n"
	       "                    same, 1 different, 2 trouble\n"
	       "\n"
	       "  --wait            after the cluster accepted the command, follow the status\n"
	       "                    until its effect shows\n"
	       "  --timeout S       how long --wait waits (default %d s); for stop and\n"
	       "                    disable, the shutdown's time limit (--wait then waits\n"
	       "                    it and %d s more)\n"
	       "  -s, --socket NAME hasvcd's IPC name (default $HASVC_SOCKET, else hasvcd)\n"
	       "  --json            print hasvcd's answer as JSON\n"
	       "  -h, --help        print this\n"
	       "  --version         print the version (the package's) and exit\n"
	       "\n"
	       "Exit status: 0 done, 1 refused or failed (the reason is on stderr), 2 bad usage.\n",
	       usage_line, HACTL_STOP_DEFAULT_S, HACTL_WAIT_DEFAULT_S, HACTL_STOP_WAIT_MARGIN_S);
}

/* "hactl: WHAT" and the usage on stderr: exit status 2. */
static int __attribute__((format(printf, 1, 2))) bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("hactl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_line, stderr);
	return 2;
}

int hactl__call(struct hactl *h, const Hasvc__Ctl__Request *req, int timeout_ms,
		Hasvc__Ctl__Response **resp, char *err, size_t errlen)
{
	ProtobufCMessage *m;
	int rc;

	*resp = NULL;
	if (!h->cl) {
		rc = pbipc_client__connect(&h->cl, h->socket, "hasvcd", HASVC_IPC_MAX_MSG,
					   timeout_ms, err, errlen);
		/* A refused server (EPERM) is running: pbipc_client's sentence says why. */
		if (rc < 0 && rc != -EPERM)
			snprintf(err, errlen, "cannot reach hasvcd on '%s': is the daemon running? (%s)",
				 h->socket, strerror(-rc));
		if (rc < 0)
			return rc;
	}
	rc = pbipc_client__call(h->cl, &req->base, &hasvc__ctl__response__descriptor, timeout_ms,
				&m, err, errlen);
	if (rc < 0) {
		hactl__close(h);  /* a late reply would be taken for the next one's */
		return rc;
	}
	*resp = (Hasvc__Ctl__Response *)m;
	return 0;
}

void hactl__close(struct hactl *h)
{
	pbipc_client__disconnect(h->cl);
	h->cl = NULL;
}

/*
 * --json: hasvcd's answer as it is, through its descriptor (json_out.h), so
 * that a field added to hactl.proto shows without a change here.
 */
static void print_json(const ProtobufCMessage *msg)
{
	json_out__print(stdout, json_out__message(msg, JSON_OUT_SIGNIFICANT));
}

/* A transport failure: the sentence on stderr, and with --json on stdout. */
static int report_failure(const struct hactl *h, int rc, const char *err)
{
	Hasvc__Ctl__Response resp = HASVC__CTL__RESPONSE__INIT;

	fprintf(stderr, "hactl: %s\n", err);
	if (h->json) {
		resp.ok = false;
		resp.error = (char *)err;
		resp.code = -rc;
		print_json(&resp.base);
	}
	return 1;
}

int hactl__report_failure(const struct hactl *h, int rc, const char *err)
{
	return report_failure(h, rc, err);
}

static void build_request(const struct command *cmd, char **words, bool cancel,
			  Hasvc__Ctl__Request *req, Hasvc__Ctl__OpRequest *op)
{
	static Hasvc__Ctl__StatusRequest status = HASVC__CTL__STATUS_REQUEST__INIT;
	static Hasvc__Ctl__ReloadRequest reload = HASVC__CTL__RELOAD_REQUEST__INIT;

	if (cmd->kind == CMD_STATUS) {
		req->command_case = HASVC__CTL__REQUEST__COMMAND_STATUS;
		req->status = &status;
		return;
	}
	if (cmd->kind == CMD_RELOAD) {
		req->command_case = HASVC__CTL__REQUEST__COMMAND_RELOAD;
		req->reload = &reload;
		return;
	}
	op->op = cmd->kind;
	if (cmd->kind == CMD_MAINTENANCE)
		op->op = !strcmp(words[1], "on") ? HASVC__CTL__OP_REQUEST__OP__MAINTENANCE_ON :
			 HASVC__CTL__OP_REQUEST__OP__MAINTENANCE_OFF;
	else if (cancel)
		op->op = HASVC__CTL__OP_REQUEST__OP__EVACUATE_CANCEL;
	if (cmd->kind == HASVC__CTL__OP_REQUEST__OP__EVACUATE ||
	    cmd->kind == HASVC__CTL__OP_REQUEST__OP__FENCE_ACK || cmd->kind == CMD_MAINTENANCE) {
		op->node = words[0];
	} else {
		op->vm = words[0];
		if (cmd->kind == HASVC__CTL__OP_REQUEST__OP__MIGRATE)
			op->node = words[1];
	}
	req->command_case = HASVC__CTL__REQUEST__COMMAND_OP;
	req->op = op;
}

/* The VM's primary now, for failover --wait: "" when none or not known. */
static int primary_before(struct hactl *h, const char *vm, char *buf, size_t len)
{
	Hasvc__Ctl__StatusRequest sr = HASVC__CTL__STATUS_REQUEST__INIT;
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;
	Hasvc__Ctl__Response *resp;
	const Hasvc__Ctl__Vm *v;
	char err[256];
	int rc;

	req.command_case = HASVC__CTL__REQUEST__COMMAND_STATUS;
	req.status = &sr;
	buf[0] = '\0';
	rc = hactl__call(h, &req, HACTL_STATUS_TIMEOUT_MS, &resp, err, sizeof(err));
	if (rc < 0)
		return report_failure(h, rc, err);
	v = resp->ok ? hactl__find_vm(resp->status, vm) : NULL;
	if (v)
		snprintf(buf, len, "%s", v->primary);
	hasvc__ctl__response__free_unpacked(resp, NULL);
	return 0;
}

static bool shuts_down(const struct command *cmd)
{
	return cmd->kind == HASVC__CTL__OP_REQUEST__OP__STOP ||
	       cmd->kind == HASVC__CTL__OP_REQUEST__OP__DISABLE;
}

/*
 * stop and disable take --timeout as the shutdown's limit (hasvcd's default
 * when not given); --wait then waits for that and a margin.
 */
static void shutdown_timeout(struct hactl *h, const struct command *cmd,
			     Hasvc__Ctl__OpRequest *op)
{
	double limit = h->timeout_given ? h->wait_s : HACTL_STOP_DEFAULT_S;

	if (!shuts_down(cmd))
		return;
	if (h->timeout_given)
		op->timeout_s = (uint32_t)(h->wait_s + 0.999);
	h->wait_s = limit + HACTL_STOP_WAIT_MARGIN_S;
}

static void print_accepted(const struct hactl *h, const struct command *cmd, char **words,
			   const Hasvc__Ctl__Response *resp)
{
	if (cmd->kind == CMD_RELOAD)
		printf("%s\n", resp->text[0] ? resp->text : "configuration reloaded");
	else if (cmd->kind == HASVC__CTL__OP_REQUEST__OP__MIGRATE)
		printf("migrate %s to %s: accepted\n", words[0], words[1]);
	else if (cmd->kind == CMD_MAINTENANCE)
		printf("maintenance %s %s: accepted\n", words[0], words[1]);
	else if (h->cancel)
		printf("evacuate --cancel %s: accepted\n", words[0]);
	else
		printf("%s %s: accepted\n", cmd->name, words[0]);
	if (cmd->kind != CMD_RELOAD && resp->text[0])
		printf("%s\n", resp->text);
}

/* Print what hasvcd said; 0 when it said yes, 1 when no. */
static int report(const struct hactl *h, const struct command *cmd, char **words,
		  const Hasvc__Ctl__Response *resp)
{
	if (h->json)
		print_json(&resp->base);
	if (!resp->ok) {
		fprintf(stderr, "hactl: %s: %s\n", cmd->name,
			resp->error[0] ? resp->error : "refused without a reason");
		return 1;
	}
	if (h->json)
		return 0;
	if (cmd->kind == CMD_STATUS) {
		if (!resp->status) {
			fprintf(stderr, "hactl: status: hasvcd sent no status\n");
			return 1;
		}
		hactl__print_status(stdout, resp->status);
	} else {
		print_accepted(h, cmd, words, resp);
	}
	return 0;
}

static int run(struct hactl *h, const struct command *cmd, char **words, bool wait)
{
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;
	Hasvc__Ctl__OpRequest op = HASVC__CTL__OP_REQUEST__INIT;
	Hasvc__Ctl__Response *resp;
	char err[256], before[128] = "";
	int rc;

	build_request(cmd, words, h->cancel, &req, &op);
	shutdown_timeout(h, cmd, &op);
	if (wait && cmd->kind == HASVC__CTL__OP_REQUEST__OP__FAILOVER &&
	    primary_before(h, op.vm, before, sizeof(before)))
		return 1;
	rc = hactl__call(h, &req, cmd->kind == CMD_STATUS ? HACTL_STATUS_TIMEOUT_MS :
			 HACTL_COMMAND_TIMEOUT_MS, &resp, err, sizeof(err));
	if (rc < 0)
		return report_failure(h, rc, err);
	rc = report(h, cmd, words, resp);
	hasvc__ctl__response__free_unpacked(resp, NULL);
	if (rc || !wait)
		return rc;
	fflush(stdout);
	return hactl__wait(h, &op, before);
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int count_words(const char *args)
{
	int n = 0;

	for (; *args; args++)
		if (*args != ' ' && (args[1] == ' ' || !args[1]))
			n++;
	return n;
}

/* Check COMMAND and its words; 0, or the exit status of a usage error. */
static int check_command(const struct command *cmd, const char *name, int nwords,
			 char **words, bool wait, bool cancel)
{
	int want;

	if (!cmd)
		return bad_usage("unknown command '%s'", name);
	want = count_words(cmd->args);
	if (nwords < want)
		return bad_usage("%s needs %s", cmd->name,
				 !strcmp(cmd->args, "VM NODE") ? "VM and NODE" : cmd->args);
	if (nwords > want)
		return bad_usage("%s: unexpected argument '%s'", cmd->name, words[want]);
	if (cmd->kind == CMD_MAINTENANCE && strcmp(words[1], "on") && strcmp(words[1], "off"))
		return bad_usage("maintenance %s: say on or off, not '%s'", words[0], words[1]);
	if (cancel && cmd->kind != HASVC__CTL__OP_REQUEST__OP__EVACUATE)
		return bad_usage("--cancel is for evacuate only");
	if (wait && (!cmd->can_wait || cancel ||
		     (cmd->kind == CMD_MAINTENANCE && strcmp(words[1], "on"))))
		return bad_usage("%s%s does not take --wait", cmd->name,
				 cancel ? " --cancel" : cmd->kind == CMD_MAINTENANCE ? " off" : "");
	return 0;
}

static int parse_seconds(const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v > 0) || v > 86400 * 365)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Options; returns -1 to go on, else an exit status. */
static int parse_options(struct hactl *h, bool *wait, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "wait", no_argument, NULL, 'w' },
		{ "cancel", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 0;  /* a test may call hactl__main more than once */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hs:", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			h->json = true;
			break;
		case 's':
			if (!optarg[0])
				return bad_usage("--socket needs a name");
			h->socket = optarg;
			break;
		case 't':
			if (parse_seconds(optarg, &h->wait_s) < 0)
				return bad_usage("--timeout needs seconds above 0, not '%s'", optarg);
			h->timeout_given = true;
			break;
		case 'w':
			*wait = true;
			break;
		case 'c':
			h->cancel = true;
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("hactl (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		case 'f':
			h->follow = true;
			break;
		case ':':
			return bad_usage("%s needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return bad_usage("unknown option '-%c'", optopt);
			return bad_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	return -1;
}

int hactl__main(int argc, char **argv)
{
	struct hactl h = { .wait_s = HACTL_WAIT_DEFAULT_S };
	const struct command *cmd;
	bool wait = false;
	int rc;

	h.socket = getenv("HASVC_SOCKET");
	if (!h.socket || !h.socket[0])
		h.socket = HACTL_DEFAULT_SOCKET;
	rc = parse_options(&h, &wait, argc, argv);
	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return bad_usage("missing COMMAND");
	if (!strcmp(argv[optind], "events")) {
		if (optind + 1 < argc || wait)
			return bad_usage("events takes no words and no --wait");
		rc = hactl__events(&h);
		hactl__close(&h);
		return rc;
	}
	if (h.follow)
		return bad_usage("--follow goes with events only");
	if (!strcmp(argv[optind], "config")) {
		if (wait)
			return bad_usage("config does not take --wait");
		rc = hactl__config(&h, argc - optind - 1, argv + optind + 1);
		hactl__close(&h);
		fflush(stdout);
		return rc;
	}
	cmd = find_command(argv[optind]);
	rc = check_command(cmd, argv[optind], argc - optind - 1, argv + optind + 1, wait,
			   h.cancel);
	if (rc)
		return rc;
	rc = run(&h, cmd, argv + optind + 1, wait);
	hactl__close(&h);
	fflush(stdout);
	return rc;
}
