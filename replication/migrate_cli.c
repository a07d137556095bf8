/*
 * `vmm ctl NAME migrate URI [options]`, migrate-status, migrate-cancel,
 * migrate-set-downtime, dirty-rate: the command-line client of the
 * migration commands (docs/migration.md).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc/json_out.h"
#include "replication/migrate_cli.h"
#include "vmm/ctl.h"

#define POLL_MS 100

static const char usage_text[] =
	"usage: vmm ctl NAME migrate URI [--downtime MS] [--bandwidth MIBS] [--parallel N]\n"
	"                  [--compress] [--tls-ca F --tls-cert F --tls-key F --tls-peer NODE\n"
	"                  [--tls-crl F] | --tls-none]\n"
	"                  [--timeout S] [--max-rounds N] [--on-timeout abort|force]\n"
	"                  [--auto-converge] [--postcopy] [--postcopy-after S]\n"
	"                  [--copy-disk] [--paused] [--wait]\n"
	"       vmm ctl NAME migrate-status [--json]\n"
	"       vmm ctl NAME migrate-cancel\n"
	"       vmm ctl NAME migrate-postcopy\n"
	"       vmm ctl NAME migrate-resume URI   (post-copy whose link broke)\n"
	"  --postcopy: the migration may switch to post-copy (migrate-postcopy, or\n"
	"  --postcopy-after S of pre-copy): the guest then runs on the destination\n"
	"  while its missing pages follow.  From that moment the VM's memory is split\n"
	"  between the two hosts: a crash of either host, or the end of the link,\n"
	"  loses the VM.\n"
	"  --copy-disk: copy the disk image too (local storage; not with post-copy):\n"
	"  the destination's --disk must be a writable image of the same size.\n"
	"  --tls-peer NODE: the destination's certificate must name NODE (a DNS\n"
	"  subjectAltName, or the CN when it has none); --tls-crl F: refuse a peer\n"
	"  whose certificate the CRL F (PEM) revokes.\n"
	"       vmm ctl NAME migrate-set-downtime MS\n"
	"       vmm ctl NAME dirty-rate [--seconds S] [--json]\n";

bool migrate_cli__is_command(const char *cmd)
{
	return !strcmp(cmd, "migrate") || !strcmp(cmd, "migrate-status") ||
	       !strcmp(cmd, "migrate-cancel") || !strcmp(cmd, "migrate-set-downtime") ||
	       !strcmp(cmd, "dirty-rate") || !strcmp(cmd, "migrate-postcopy") ||
	       !strcmp(cmd, "migrate-resume");
}

static int usage(const char *what, const char *arg)
{
	fprintf(stderr, "vmm ctl: %s%s%s\n%s", what, arg ? " " : "", arg ? arg : "", usage_text);
	return 2;
}

static int num(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > 0xffffffffUL)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* The vmm runs elsewhere: hand it absolute paths. */
static char *absolute(const char *p)
{
	char cwd[2048], *out;

	if (p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(p);
	if (asprintf(&out, "%s/%s", cwd, p) < 0)
		return NULL;
	return out;
}

static void print_info(const Vmm__Control__MigrationInfo *i, bool json)
{
	/* Every field of MigrationInfo under its .proto name (docs/migration.md). */
	if (json) {
		json_out__print(stdout, json_out__message(&i->base, JSON_OUT_SIGNIFICANT));
		return;
	}
	printf("state: %s\n", i->state);
	if (i->error && i->error[0])
		printf("error: %s\n", i->error);
	printf("elapsed_ms: %llu\nbytes_total: %llu\nbytes_sent: %llu\nbytes_remaining: %llu\n"
	       "pages_sent: %llu\nzero_pages: %llu\npages_per_s: %llu\ndirty_pages_per_s: %llu\n"
	       "bandwidth_mib_s: %.1f\nround: %u\nexpected_downtime_ms: %llu\ndowntime_ms: %llu\n"
	       "downtime_limit_ms: %u\nthrottle_pct: %u\ndisk_bytes_sent: %llu\n",
	       (unsigned long long)i->elapsed_ms, (unsigned long long)i->bytes_total,
	       (unsigned long long)i->bytes_sent, (unsigned long long)i->bytes_remaining,
	       (unsigned long long)i->pages_sent, (unsigned long long)i->zero_pages,
	       (unsigned long long)i->pages_per_s, (unsigned long long)i->dirty_pages_per_s,
	       i->bandwidth_bps / 1048576.0, i->round, (unsigned long long)i->expected_downtime_ms,
	       (unsigned long long)i->downtime_ms, i->downtime_limit_ms, i->throttle_pct,
	       (unsigned long long)i->disk_bytes_sent);
	if (i->postcopy)
		printf("postcopy: yes\npages_pulled: %llu\npages_pushed: %llu\nfaults: %llu\n"
		       "fault_mean_us: %llu\nfault_p99_us: %llu\nfault_max_us: %llu\n"
		       "residence_ms: %llu\n", (unsigned long long)i->pages_pulled,
		       (unsigned long long)i->pages_pushed, (unsigned long long)i->faults,
		       (unsigned long long)i->fault_mean_us, (unsigned long long)i->fault_p99_us,
		       (unsigned long long)i->fault_max_us, (unsigned long long)i->residence_ms);
}

/* One request; a failure is said on stderr, and with json on stdout too. */
static int call(const char *name, const struct ctl_req *r, Vmm__Control__Response **resp,
		bool json)
{
	char err[256];
	int rc = ctl__request(name, &r->req, resp, err, sizeof(err));

	if (rc < 0) {
		fprintf(stderr, "vmm ctl: %s\n", err);
		if (json)
			json_out__refusal(stdout, err, -rc);
		return 1;
	}
	if (!(*resp)->ok) {
		fprintf(stderr, "vmm ctl: %s\n", (*resp)->error);
		if (json)
			json_out__refusal(stdout, (*resp)->error, (*resp)->code);
		vmm__control__response__free_unpacked(*resp, NULL);
		*resp = NULL;
		return 1;
	}
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Poll the job and draw a progress line until it ends. */
static int wait_job(const char *name)
{
	bool tty = isatty(STDERR_FILENO);
	struct ctl_req req;
	unsigned n = 0;

	ctl__req_init(&req, VMM__CONTROL__REQUEST__COMMAND_MIGRATE_STATUS);
	for (;;) {
		Vmm__Control__Response *resp;
		const Vmm__Control__MigrationInfo *i;
		int rc;

		if (call(name, &req, &resp, false))
			return 1;
		i = resp->migration;
		if (!i || (strcmp(i->state, "active") && strcmp(i->state, "postcopy-paused"))) {
			rc = i && !strcmp(i->state, "completed") ? 0 : 1;
			if (tty)
				fputc('\n', stderr);
			if (i && !rc)
				printf("migration completed: %llu bytes sent in %llu ms, downtime %llu ms\n",
				       (unsigned long long)i->bytes_sent,
				       (unsigned long long)i->elapsed_ms,
				       (unsigned long long)i->downtime_ms);
			if (i && !rc && i->postcopy)
				printf("post-copy: %llu pages pulled, %llu pushed, %llu faults (mean %llu "
				       "us, p99 %llu us, max %llu us), all pages there after %llu ms\n",
				       (unsigned long long)i->pages_pulled,
				       (unsigned long long)i->pages_pushed, (unsigned long long)i->faults,
				       (unsigned long long)i->fault_mean_us,
				       (unsigned long long)i->fault_p99_us,
				       (unsigned long long)i->fault_max_us,
				       (unsigned long long)i->residence_ms);
			else
				fprintf(stderr, "vmm ctl: migration %s: %s\n", i ? i->state : "?",
					i && i->error[0] ? i->error : "no reason given");
			vmm__control__response__free_unpacked(resp, NULL);
			return rc;
		}
		if (tty || n++ % 10 == 0)
			fprintf(stderr, "%sround %u: %llu/%llu MiB sent, %llu MiB remaining, %.0f MiB/s, "
			"dirty %llu pages/s, expected downtime %llu ms%s",
			tty ? "\r" : "", i->round, (unsigned long long)(i->bytes_sent >> 20),
			(unsigned long long)(i->bytes_total >> 20),
			(unsigned long long)(i->bytes_remaining >> 20), i->bandwidth_bps / 1048576.0,
			(unsigned long long)i->dirty_pages_per_s,
			(unsigned long long)i->expected_downtime_ms, tty ? "  " : "\n");
		vmm__control__response__free_unpacked(resp, NULL);
		sleep_ms(POLL_MS);
	}
}

static int do_migrate(const char *name, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "downtime", required_argument, NULL, 'd' },
		{ "bandwidth", required_argument, NULL, 'b' },
		{ "parallel", required_argument, NULL, 'n' },
		{ "parallel-connections", required_argument, NULL, 'n' },
		{ "compress", no_argument, NULL, 'z' },
		{ "tls-ca", required_argument, NULL, 'A' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-none", no_argument, NULL, 'N' },
		{ "tls-peer", required_argument, NULL, 'H' },
		{ "tls-crl", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ "max-rounds", required_argument, NULL, 'r' },
		{ "on-timeout", required_argument, NULL, 'o' },
		{ "auto-converge", no_argument, NULL, 'a' },
		{ "paused", no_argument, NULL, 'p' },
		{ "wait", no_argument, NULL, 'w' },
		{ "postcopy", no_argument, NULL, 'P' },
		{ "copy-disk", no_argument, NULL, 'D' },
		{ "postcopy-after", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	Vmm__Control__Response *resp;
	Vmm__Control__MigrateRequest *mr;
	struct ctl_req req;
	bool wait = false;
	int c, rc;

	ctl__req_init(&req, VMM__CONTROL__REQUEST__COMMAND_MIGRATE);
	mr = &req.u.migrate;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		unsigned v = 0;

		if (strchr("dbntrT", c) && num(optarg, &v))
			return usage("bad number", optarg);
		switch (c) {
		case 'd': mr->downtime_ms = v; break;
		case 'b': mr->bandwidth_mibs = v; break;
		case 'n': mr->parallel = v; break;
		case 'z': mr->compress = true; break;
		case 'A': mr->tls_ca = absolute(optarg); break;
		case 'C': mr->tls_cert = absolute(optarg); break;
		case 'K': mr->tls_key = absolute(optarg); break;
		case 'N': mr->tls_none = true; break;
		case 'H': mr->tls_peer = optarg; break;
		case 'R': mr->tls_crl = absolute(optarg); break;
		case 't': mr->timeout_s = v; break;
		case 'r': mr->max_rounds = v; break;
		case 'a': mr->auto_converge = true; break;
		case 'p': mr->then = VMM__CONTROL__MIGRATE_REQUEST__THEN__PAUSE; break;
		case 'w': wait = true; break;
		case 'P': mr->postcopy = true; break;
		case 'D': mr->copy_disk = true; break;
		case 'T': mr->postcopy = true; mr->postcopy_after_s = v; break;
		case 'o':
			if (!strcmp(optarg, "abort"))
				mr->on_timeout = VMM__CONTROL__MIGRATE_REQUEST__ON_TIMEOUT__ABORT;
			else if (!strcmp(optarg, "force"))
				mr->on_timeout = VMM__CONTROL__MIGRATE_REQUEST__ON_TIMEOUT__FORCE;
			else
				return usage("--on-timeout wants abort or force, not", optarg);
			break;
		default:
			return usage("unknown option", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return usage(argc - optind ? "unexpected argument" : "missing URI",
			     argc - optind ? argv[optind + 1] : NULL);
	mr->uri = argv[optind];
	rc = call(name, &req, &resp, false);
	if (!rc) {
		vmm__control__response__free_unpacked(resp, NULL);
		if (wait)
			rc = wait_job(name);
		else
			printf("migration to %s started\n", mr->uri);
	}
	if (mr->tls_ca != protobuf_c_empty_string)
		free(mr->tls_ca);
	if (mr->tls_cert != protobuf_c_empty_string)
		free(mr->tls_cert);
	if (mr->tls_key != protobuf_c_empty_string)
		free(mr->tls_key);
	if (mr->tls_crl != protobuf_c_empty_string)
		free(mr->tls_crl);
	return rc;
}

/* Not the message as it is: measuring/done/error mean nothing once done. */
static void print_dirty_rate_json(const Vmm__Control__DirtyRate *r)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "seconds", json_object_new_int64(r->seconds));
	json_object_object_add(o, "pages", json_object_new_uint64(r->pages));
	json_object_object_add(o, "pages_per_s", json_object_new_uint64(r->pages_per_s));
	json_object_object_add(o, "mib_per_s", json_out__double(r->pages_per_s * 4096.0 / 1048576.0, 2));
	json_out__print(stdout, o);
}

static int do_dirty_rate(const char *name, unsigned seconds, bool json)
{
	Vmm__Control__Response *resp;
	struct ctl_req req;

	ctl__req_init(&req, VMM__CONTROL__REQUEST__COMMAND_DIRTY_RATE);
	req.u.dirty_rate.seconds = seconds;
	req.u.dirty_rate.start = true;
	for (;;) {
		const Vmm__Control__DirtyRate *r;

		if (call(name, &req, &resp, json))
			return 1;
		req.u.dirty_rate.start = false;
		r = resp->dirty_rate;
		if (r && !r->measuring) {
			int rc = r->error[0] ? 1 : 0;

			if (rc)
				fprintf(stderr, "vmm ctl: dirty-rate: %s\n", r->error);
			else if (json)
				print_dirty_rate_json(r);
			else
				printf("dirty rate: %llu pages/s (%.1f MiB/s), %llu pages in %u s\n",
				       (unsigned long long)r->pages_per_s,
				       r->pages_per_s * 4096.0 / 1048576.0,
				       (unsigned long long)r->pages, r->seconds);
			vmm__control__response__free_unpacked(resp, NULL);
			return rc;
		}
		vmm__control__response__free_unpacked(resp, NULL);
		sleep_ms(POLL_MS);
	}
}

int migrate_cli__main(const char *name, int argc, char **argv)
{
	Vmm__Control__Response *resp;
	const char *cmd = argv[0];
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	struct ctl_req req;
	unsigned v = 1;

	if (!strcmp(cmd, "migrate"))
		return do_migrate(name, argc, argv);
	if (!strcmp(cmd, "dirty-rate")) {
		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "--json"))
				json = true;
			else if (!strcmp(argv[i], "--seconds") && i + 1 < argc && !num(argv[i + 1], &v))
				i++;
			else
				return usage("bad dirty-rate argument", argv[i]);
		}
		return do_dirty_rate(name, v, json);
	}
	ctl__req_init(&req, ctl__command_by_name(cmd));
	if (!strcmp(cmd, "migrate-status")) {
		if (argc > 1 && !json)
			return usage("unexpected argument", argv[1]);
	} else if (!strcmp(cmd, "migrate-resume")) {
		if (argc != 2)
			return usage("migrate-resume wants the destination's URI", NULL);
		req.u.migrate_resume.uri = argv[1];
	} else if (!strcmp(cmd, "migrate-postcopy") || !strcmp(cmd, "migrate-cancel")) {
		if (argc > 1)
			return usage("unexpected argument", argv[1]);
	} else {
		if (argc != 2 || num(argv[1], &v) || !v)
			return usage("migrate-set-downtime wants a number of milliseconds", NULL);
		req.u.migrate_set_downtime.downtime_ms = v;
	}
	if (call(name, &req, &resp, json))
		return 1;
	if (req.req.command_case == VMM__CONTROL__REQUEST__COMMAND_MIGRATE_STATUS && resp->migration)
		print_info(resp->migration, json);
	vmm__control__response__free_unpacked(resp, NULL);
	return 0;
}
