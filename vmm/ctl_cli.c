/*
 * `vmm ctl`: the command line of the control client (ctl.h builds and sends
 * the typed requests): argv to a request, the typed reply to text or JSON.
 * The migration and checkpointing commands have CLIs of their own
 * (replication/migrate_cli.c, replication/checkpoint_cli.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc/json_out.h"
#include "vmm/ctl.h"
#include "vmm/ctl_cli.h"

static const char usage_line[] =
	"usage: vmm ctl NAME {status [--json] | pause | resume | quit |\n"
	"                     shutdown [--timeout S] |\n"
	"                     save FILE [--quit | --paused] [--timeout S] |\n"
	"                     migrate URI [options] | migrate-status [--json] |\n"
	"                     migrate-cancel | migrate-set-downtime MS |\n"
	"                     migrate-postcopy | migrate-resume URI |\n"
	"                     dirty-rate [--seconds S] [--json] |\n"
	"                     protect URI [options] | unprotect |\n"
	"                     protect-status [--json] | activate [--generation N] |\n"
	"                     net-status [--json]}\n"
	"       vmm ctl --help\n";

static void help(void)
{
	printf("%s\n"
	       "Command the vmm serving the control name NAME (vmm run --control NAME).\n"
	       "\n"
	       "  status   print the VM's state, vCPUs, memory, resets, uptime and pid\n"
	       "  pause    stop every vCPU (returns once they all stopped)\n"
	       "  resume   start them again\n"
	       "  quit     stop the VM and make the vmm exit\n"
	       "  shutdown [--timeout S]  press the ACPI power button (a Linux guest\n"
	       "           shuts down cleanly and powers off: the vmm exits 0), and\n"
	       "           quit anyway after S seconds (default 60) if it has not\n"
	       "           powered off by then\n"
	       "  save FILE [--timeout S]  pause, write the whole VM to FILE, then\n"
	       "           resume it (--quit: then stop the vmm; --paused: leave it\n"
	       "           paused); waits S seconds for it at most (default 600)\n"
	       "           restore with vmm run --restore FILE\n"
	       "  migrate URI  live-migrate to vmm run --incoming URI (options:\n"
	       "           docs/migration.md; handled by replication/migrate_cli.c)\n"
	       "  migrate-status, migrate-cancel, migrate-set-downtime MS\n"
	       "  migrate-postcopy  switch a migration started with --postcopy to\n"
	       "           post-copy: the guest runs on the destination at once, its\n"
	       "           missing pages follow; until they all have, the VM's memory\n"
	       "           is split between the hosts and a crash of either loses it\n"
	       "  migrate-resume URI  reconnect a post-copy whose link broke\n"
	       "  dirty-rate [--seconds S]  measure how fast the guest dirties memory\n"
	       "  protect URI [--interval MS] [--on-standby-loss degrade|pause]\n"
	       "           [--peer-generation P] [--verify-disk] [--ack-timeout MS]\n"
	       "           {TLS | --tls-none}\n"
	       "           checkpoint continuously to vmm run --standby URI (whose\n"
	       "           token must be P); accepted unprotected, failed, degraded\n"
	       "           or paused by the policy.  The disk image is always\n"
	       "           replicated: the standby's --disk must be its own image of\n"
	       "           the same size (overwritten by the sync).  --verify-disk:\n"
	       "           every checkpoint carries the image's SHA-256 (costly)\n"
	       "           TLS: --tls-ca F --tls-cert F --tls-key F --tls-peer NODE\n"
	       "           [--tls-crl F]: the standby's certificate must name NODE\n"
	       "  unprotect  (primary) stop checkpointing, release held output, resume\n"
	       "           a guest the policy paused\n"
	       "  protect-status [--json]  checkpointing state, generation, epochs,\n"
	       "           last_commit_age_ms, epochs_per_s and more\n"
	       "  activate [--generation N]  run this copy under token N (above the\n"
	       "           current one; default current + 1): a standby from its last\n"
	       "           checkpoint, a primary the policy paused (held output\n"
	       "           released), or a paused VM\n"
	       "           (docs/checkpointing.md; replication/checkpoint_cli.c)\n"
	       "  net-status [--json]  the network device's MAC and counters (vmm run\n"
	       "           --net; docs/virtio.md)\n"
	       "\n"
	       "  --json   print the result as one JSON object\n"
	       "  --help   print this\n"
	       "\n"
	       "Exit status: 0 done, 1 failed (the reason is on stderr), 2 bad usage.\n",
	       usage_line);
}

/* Prints "vmm ctl: WHAT 'ARG'" (or just WHAT) and the usage line. */
static int bad_usage(const char *what, const char *arg)
{
	if (what && arg)
		fprintf(stderr, "vmm ctl: %s '%s'\n", what, arg);
	else if (what)
		fprintf(stderr, "vmm ctl: %s\n", what);
	fputs(usage_line, stderr);
	return 2;
}

/* The keys of `status --json` (docs/control.md): "memory" is memory_bytes. */
static void print_status_json(const Vmm__Control__Status *st)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "state", json_out__string(st->state));
	json_object_object_add(o, "vcpus", json_object_new_int64(st->vcpus));
	json_object_object_add(o, "memory", json_object_new_uint64(st->memory_bytes));
	json_object_object_add(o, "resets", json_object_new_uint64(st->resets));
	json_object_object_add(o, "uptime_ms", json_object_new_uint64(st->uptime_ms));
	json_object_object_add(o, "pid", json_object_new_int(st->pid));
	json_object_object_add(o, "stop_message", json_out__string(st->stop_message));
	json_object_object_add(o, "held_by", json_out__string(st->held_by));
	json_out__print(stdout, o);
}

static void print_status(const Vmm__Control__Status *st, bool json)
{
	static const Vmm__Control__Status none = VMM__CONTROL__STATUS__INIT;

	if (!st)
		st = &none;
	if (json) {
		print_status_json(st);
		return;
	}
	printf("state: %s\nvcpus: %u\nmemory: %llu\nresets: %llu\nuptime_ms: %llu\npid: %d\n",
	       st->state, st->vcpus, (unsigned long long)st->memory_bytes,
	       (unsigned long long)st->resets, (unsigned long long)st->uptime_ms,
	       st->pid);
	if (st->stop_message && st->stop_message[0])
		printf("stop: %s\n", st->stop_message);
	if (st->held_by && st->held_by[0])
		printf("held by: %s\n", st->held_by);
}

/* The request of a command name; false if there is no such command here. */
static bool build_request(const char *cmd, const char *arg, int after, unsigned timeout_s,
			  struct ctl_req *r)
{
	Vmm__Control__Request__CommandCase c = ctl__command_by_name(cmd);

	switch (c) {
	case VMM__CONTROL__REQUEST__COMMAND_STATUS:
	case VMM__CONTROL__REQUEST__COMMAND_PAUSE:
	case VMM__CONTROL__REQUEST__COMMAND_RESUME:
	case VMM__CONTROL__REQUEST__COMMAND_QUIT:
		break;
	case VMM__CONTROL__REQUEST__COMMAND_SHUTDOWN:
		ctl__req_init(r, c);
		r->u.shutdown.timeout_s = timeout_s;
		return true;
	case VMM__CONTROL__REQUEST__COMMAND_SAVE:
		if (!arg)
			return false;
		ctl__req_init(r, c);
		r->u.save.path = (char *)arg;
		r->u.save.after = after;
		return true;
	default:
		return false;
	}
	return ctl__req_init(r, c) == 0;
}

/* {"ok":true}, and for save the size of the file, as the text says it. */
static void print_ok_json(const Vmm__Control__Response *resp, bool save)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(true));
	if (save)
		json_object_object_add(o, "saved_bytes", json_object_new_uint64(resp->saved_bytes));
	json_out__print(stdout, o);
}

static int report(const char *cmd, const Vmm__Control__Response *resp, bool json)
{
	if (!resp->ok) {
		fprintf(stderr, "vmm ctl: %s: %s\n", cmd,
			resp->error[0] ? resp->error : "failed without a reason");
		if (json)
			json_out__refusal(stdout, resp->error, resp->code);
		return 1;
	}
	if (!strcmp(cmd, "status"))
		print_status(resp->status, json);
	else if (!strcmp(cmd, "save") && !json)
		printf("saved %llu bytes\n", (unsigned long long)resp->saved_bytes);
	else if (json)
		print_ok_json(resp, !strcmp(cmd, "save"));
	return 0;
}

int ctl_cli__main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "quit", no_argument, NULL, 'Q' },
		{ "paused", no_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_req req;
	Vmm__Control__Response *resp;
	const char *name, *cmd;
	char err[256], path[4096];
	bool json = false;
	int after = VMM__CONTROL__SAVE_REQUEST__AFTER__RESUME;
	int opt, rc, want;
	unsigned timeout_s = 0;
	bool timeout_given = false;
	char *end;

	optind = 0;  /* main may have run getopt already: start over */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'Q':
			after = VMM__CONTROL__SAVE_REQUEST__AFTER__QUIT;
			break;
		case 'P':
			after = VMM__CONTROL__SAVE_REQUEST__AFTER__PAUSE;
			break;
		case 'T':
			errno = 0;
			timeout_s = (unsigned)strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || timeout_s == 0 ||
			    timeout_s > 86400)
				return bad_usage("--timeout takes whole seconds from 1 to 86400, not", optarg);
			timeout_given = true;
			break;
		case 'h':
			help();
			return 0;
		default:
			/* optopt names a bad short option; a bad long one was just passed. */
			if (optopt) {
				snprintf(err, sizeof(err), "-%c", optopt);
				return bad_usage("unknown option", err);
			}
			return bad_usage("unknown option", argv[optind - 1]);
		}
	}
	if (argc - optind == 0)
		return bad_usage("missing NAME and command", NULL);
	if (argc - optind == 1)
		return bad_usage("missing command after", argv[optind]);
	name = argv[optind];
	cmd = argv[optind + 1];
	want = !strcmp(cmd, "save") ? 3 : 2;
	if (argc - optind < want)
		return bad_usage("missing FILE after", cmd);
	if (argc - optind > want)
		return bad_usage("unexpected argument", argv[optind + want]);
	if (want == 3 && argv[optind + 2][0] != '/') {
		/* The vmm runs elsewhere: hand it an absolute path. */
		char cwd[2048];

		if (!getcwd(cwd, sizeof(cwd)) ||
		    snprintf(path, sizeof(path), "%s/%s", cwd, argv[optind + 2]) >= (int)sizeof(path))
			return bad_usage("path too long", argv[optind + 2]);
		argv[optind + 2] = path;
	}
	if (timeout_given && strcmp(cmd, "shutdown") && strcmp(cmd, "save"))
		return bad_usage("--timeout goes with shutdown or save, not", cmd);
	if (!build_request(cmd, want == 3 ? argv[optind + 2] : NULL, after, timeout_s, &req))
		return bad_usage("unknown command", cmd);

	/* save --timeout: how long to wait for the save (shutdown's goes to the vmm). */
	rc = ctl__request_within(name, &req.req,
				 want == 3 && timeout_given ? (int)(timeout_s * 1000) : 0,
				 &resp, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "vmm ctl: %s\n", err);
		if (json)
			json_out__refusal(stdout, err, -rc);
		return 1;
	}
	rc = report(cmd, resp, json);
	vmm__control__response__free_unpacked(resp, NULL);
	return rc;
}
