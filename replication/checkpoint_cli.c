/*
 * `vmm ctl NAME protect|unprotect|protect-status|activate|net-status`
 * (checkpoint_cli.h): argv to the typed request, the typed reply to text or
 * JSON.  The vmm checks the request's fields again (checkpoint_request.c):
 * it serves other clients too.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/json_out.h"
#include "replication/checkpoint.h"
#include "replication/checkpoint_cli.h"
#include "vmm/ctl.h"
#include "vmm/duration.h"

static const char protect_usage[] =
	"usage: protect tcp:HOST:PORT [--interval MS] [--output-epochs on|off] "
	"[--min-interval MS] [--max-rate N] [--disk-log MIB] [--ack-timeout MS] "
	"[--on-standby-loss degrade|pause] [--peer-generation P] [--verify-disk] "
	"{--tls-ca F --tls-cert F --tls-key F --tls-peer NODE [--tls-crl F] | --tls-none}";

bool checkpoint_cli__is_command(const char *cmd)
{
	return !strcmp(cmd, "protect") || !strcmp(cmd, "unprotect") ||
	       !strcmp(cmd, "protect-status") || !strcmp(cmd, "activate") ||
	       !strcmp(cmd, "net-status");
}

/* A generation: a decimal number, 0 to 2^64-1. */
static int parse_generation(const char *opt, const char *v, uint64_t *out, char *err,
			    size_t errlen)
{
	char *end;

	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno || *end || !*v || *v == '-' || *v == '+' || *v == ' ') {
		snprintf(err, errlen, "bad %s '%s': want a number", opt, v);
		return -EINVAL;
	}
	return 0;
}

/* A whole number from min (at least 1) to max. */
static int parse_range(const char *opt, const char *v, unsigned long min, unsigned long max,
		       const char *unit, uint32_t *out, char *err, size_t errlen)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || !n || n < min || n > max || *v == '-' || *v == '+' || *v == ' ') {
		snprintf(err, errlen, "bad %s '%s': %lu to %lu %s", opt, v, min, max, unit);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

static int parse_count(const char *opt, const char *v, unsigned long max, const char *unit,
		       uint32_t *out, char *err, size_t errlen)
{
	return parse_range(opt, v, 1, max, unit, out, err, errlen);
}

/* Milliseconds with up to three decimals, 0.1 to 60000, sent in microseconds. */
static int parse_min_interval(const char *opt, const char *v, uint32_t *us, char *err,
			      size_t errlen)
{
	uint64_t n;

	if (duration__ms_to_us(v, &n) || n < CHECKPOINT_MIN_INTERVAL_MIN_US || n > 60000000) {
		snprintf(err, errlen, "bad %s '%s': 0.1 to 60000 ms (up to three decimals)", opt, v);
		return -EINVAL;
	}
	*us = (uint32_t)n;
	return 0;
}

/* The options of output-triggered epochs; 1: not one of them. */
static int output_epochs_value(Vmm__Control__ProtectRequest *pr, const char *a, char *v,
			       char *err, size_t errlen)
{
	if (!strcmp(a, "--min-interval"))
		return parse_min_interval(a, v, &pr->min_interval_us, err, errlen);
	if (!strcmp(a, "--disk-log"))
		return parse_count(a, v, CHECKPOINT_DISK_LOG_MIB_MAX, "MiB", &pr->disk_log_mib, err,
				   errlen);
	if (!strcmp(a, "--max-rate"))
		return parse_count(a, v, CHECKPOINT_MAX_RATE_MAX, "epochs/s", &pr->max_rate, err,
				   errlen);
	if (!strcmp(a, "--ack-timeout"))
		return parse_range(a, v, CHECKPOINT_ACK_TIMEOUT_MIN_MS, CHECKPOINT_ACK_TIMEOUT_MAX_MS,
				   "ms", &pr->ack_timeout_ms, err, errlen);
	if (strcmp(a, "--output-epochs"))
		return 1;
	if (strcmp(v, "on") && strcmp(v, "off")) {
		snprintf(err, errlen, "--output-epochs wants on or off");
		return -EINVAL;
	}
	pr->no_output_epochs = !strcmp(v, "off");
	return 0;
}

/* An option of protect with a value: v into the request. */
static int protect_value(Vmm__Control__ProtectRequest *pr, const char *a, char *v, char *err,
			 size_t errlen)
{
	char *end;
	int ret = output_epochs_value(pr, a, v, err, errlen);

	if (ret <= 0)
		return ret;
	if (!strcmp(a, "--interval")) {
		unsigned long ms = strtoul(v, &end, 10);

		if (*end || !ms || ms > 60000) {
			snprintf(err, errlen, "bad --interval '%s': 1 to 60000 ms", v);
			return -EINVAL;
		}
		pr->interval_ms = (uint32_t)ms;
	} else if (!strcmp(a, "--on-standby-loss")) {
		if (strcmp(v, "degrade") && strcmp(v, "pause")) {
			snprintf(err, errlen, "--on-standby-loss wants degrade or pause");
			return -EINVAL;
		}
		pr->on_standby_loss = !strcmp(v, "pause") ?
			VMM__CONTROL__PROTECT_REQUEST__ON_STANDBY_LOSS__PAUSE :
			VMM__CONTROL__PROTECT_REQUEST__ON_STANDBY_LOSS__DEGRADE;
	} else if (!strcmp(a, "--peer-generation")) {
		pr->check_peer_generation = true;
		return parse_generation(a, v, &pr->peer_generation, err, errlen);
	} else if (!strcmp(a, "--tls-ca")) {
		pr->tls_ca = v;
	} else if (!strcmp(a, "--tls-cert")) {
		pr->tls_cert = v;
	} else if (!strcmp(a, "--tls-key")) {
		pr->tls_key = v;
	} else if (!strcmp(a, "--tls-peer")) {
		pr->tls_peer = v;
	} else if (!strcmp(a, "--tls-crl")) {
		pr->tls_crl = v;
	} else {
		snprintf(err, errlen, "unknown option %s", a);
		return -EINVAL;
	}
	return 0;
}

static int build_protect(int argc, char **argv, Vmm__Control__ProtectRequest *pr, char *err,
			 size_t errlen)
{
	if (argc < 2) {
		snprintf(err, errlen, "%s", protect_usage);
		return -EINVAL;
	}
	pr->uri = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--tls-none")) {
			pr->tls_none = true;
		} else if (!strcmp(argv[i], "--verify-disk")) {
			pr->verify_disk = true;
		} else if (i + 1 >= argc) {
			snprintf(err, errlen, "option %s needs a value, or is unknown", argv[i]);
			return -EINVAL;
		} else if (protect_value(pr, argv[i], argv[i + 1], err, errlen)) {
			return -EINVAL;
		} else {
			i++;
		}
	}
	return 0;
}

/* activate [--generation N] [--json] */
static int build_activate(int argc, char **argv, Vmm__Control__ActivateRequest *ar,
			  char *err, size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			continue;
		if (strcmp(argv[i], "--generation") || i + 1 >= argc) {
			snprintf(err, errlen, "usage: activate [--generation N] [--json]");
			return -EINVAL;
		}
		if (parse_generation(argv[i], argv[i + 1], &ar->generation, err, errlen))
			return -EINVAL;
		ar->set_generation = true;
		i++;
	}
	return 0;
}

/* A command without options but --json. */
static int no_options(int argc, char **argv, char *err, size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json")) {
			snprintf(err, errlen, "unexpected argument '%s'", argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

int checkpoint_cli__build(int argc, char **argv, struct ctl_req *r, bool *json, char *err,
			  size_t errlen)
{
	Vmm__Control__Request__CommandCase cmd = ctl__command_by_name(argv[0]);

	*json = argc > 1 && !strcmp(argv[argc - 1], "--json");
	if (!checkpoint_cli__is_command(argv[0]) || ctl__req_init(r, cmd)) {
		snprintf(err, errlen, "not a checkpointing command");
		return -EINVAL;
	}
	switch (cmd) {
	case VMM__CONTROL__REQUEST__COMMAND_PROTECT:
		*json = false;
		return build_protect(argc, argv, &r->u.protect, err, errlen);
	case VMM__CONTROL__REQUEST__COMMAND_ACTIVATE:
		return build_activate(argc, argv, &r->u.activate, err, errlen);
	default:
		return no_options(argc, argv, err, errlen);
	}
}

/* --- output ------------------------------------------------------------- */

static void format_text(const Vmm__Control__ProtectStatus *ps, const char *error, char *out,
			size_t len)
{
	char peer[32] = "-", age[32] = "none yet";

	if (ps->peer_generation >= 0)
		snprintf(peer, sizeof(peer), "%lld", (long long)ps->peer_generation);
	if (ps->last_commit_age_ms >= 0)
		snprintf(age, sizeof(age), "%lld ms ago", (long long)ps->last_commit_age_ms);
	snprintf(out, len,
		 "state:            %s (%s)\n"
		 "generation:       %llu (peer %s)\n"
		 "epochs:           %llu (committed %llu, refused %llu)\n"
		 "epochs ended by:  output %llu, time %llu\n"
		 "last commit:      %s; %.1f epochs/s over the last second\n"
		 "pause per epoch:  mean %.1f us, p99 %.1f us, max %.1f us\n"
		 "capture:          %s\n"
		 "per epoch:        %.1f pages, %.1f bytes (last %llu pages, %llu bytes)\n"
		 "ack latency:      mean %.1f us, max %.1f us\n"
		 "lost after:       %u ms %s\n"
		 "output:           %llu bytes held, %llu bytes released, %llu held bytes dropped (buffer full)\n"
		 "net output:       %llu frames held, %llu released, %llu dropped\n"
		 "disk per epoch:   %.1f bytes (last %llu blocks; %llu read back in pauses)\n"
		 "disk digest:      %s\n"
		 "%s%s%s",
		 ps->state, ps->role, (unsigned long long)ps->generation, peer,
		 (unsigned long long)ps->epochs, (unsigned long long)ps->committed_epoch,
		 (unsigned long long)ps->refused, (unsigned long long)ps->epochs_by_output,
		 (unsigned long long)ps->epochs_by_time, age, ps->epochs_per_s, ps->pause_us_mean,
		 ps->pause_us_p99, ps->pause_us_max, ps->capture[0] ? ps->capture : "-",
		 ps->pages_per_epoch, ps->bytes_per_epoch,
		 (unsigned long long)ps->pages_last, (unsigned long long)ps->bytes_last,
		 ps->ack_us_mean, ps->ack_us_max,
		 ps->silence_limit_ms ? ps->silence_limit_ms : ps->ack_timeout_ms,
		 ps->silence_limit_ms ? "of the primary's silence" : "without an ack",
		 (unsigned long long)ps->output_held_bytes,
		 (unsigned long long)ps->output_released_bytes,
		 (unsigned long long)ps->output_dropped_bytes,
		 (unsigned long long)ps->net_output_held_frames,
		 (unsigned long long)ps->net_output_released_frames,
		 (unsigned long long)ps->net_output_dropped_frames, ps->disk_bytes_per_epoch,
		 (unsigned long long)ps->disk_blocks_last, (unsigned long long)ps->disk_read_blocks,
		 ps->disk_digest[0] ? ps->disk_digest : "-",
		 error[0] ? "error:            " : "", error, error[0] ? "\n" : "");
}

void checkpoint_cli__format_status(const Vmm__Control__ProtectStatus *ps, bool json, char *out,
				   size_t len)
{
	char error[256];

	/* The figures with one decimal, as the text shows them. */
	if (json) {
		json_out__format(json_out__message(&ps->base, 1), out, len);
		return;
	}
	/* One line: nothing in the error may start a line of its own. */
	snprintf(error, sizeof(error), "%s", ps->error);
	for (char *c = error; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
	format_text(ps, error, out, len);
}

void checkpoint_cli__format_net(const Vmm__Control__NetStatus *ns, bool json, char *out,
				size_t len)
{
	if (json) {
		json_out__format(json_out__message(&ns->base, 1), out, len);
		return;
	}
	snprintf(out, len,
		 "mac:             %s\n"
		 "rx (tap->guest): %llu frames, %llu bytes\n"
		 "tx (guest->tap): %llu frames, %llu bytes\n"
		 "dropped:         %llu rx, %llu tx\n"
		 "output commit:   %llu frames held, %llu released, %llu dropped\n"
		 "announces:       %llu RARP frames\n",
		 ns->mac, (unsigned long long)ns->rx_frames,
		 (unsigned long long)ns->rx_bytes, (unsigned long long)ns->tx_frames,
		 (unsigned long long)ns->tx_bytes, (unsigned long long)ns->rx_dropped,
		 (unsigned long long)ns->tx_dropped, (unsigned long long)ns->held_frames,
		 (unsigned long long)ns->released_frames, (unsigned long long)ns->hold_dropped,
		 (unsigned long long)ns->announces);
}

/* What the command prints after it was carried out. */
static void print_reply(Vmm__Control__Request__CommandCase cmd,
			const Vmm__Control__Response *resp, bool json)
{
	bool net = cmd == VMM__CONTROL__REQUEST__COMMAND_NET_STATUS;
	const ProtobufCMessage *m = net ? (const ProtobufCMessage *)resp->net_status :
					  (const ProtobufCMessage *)resp->protect_status;
	char text[8192];

	/* protect and unprotect print nothing, as pause and resume. */
	if (cmd == VMM__CONTROL__REQUEST__COMMAND_PROTECT ||
	    cmd == VMM__CONTROL__REQUEST__COMMAND_UNPROTECT)
		return;
	if (!m)
		return;
	/* Printed whole, however long the strings the vmm sent. */
	if (json) {
		json_out__print(stdout, json_out__message(m, 1));
		return;
	}
	if (net)
		checkpoint_cli__format_net(resp->net_status, false, text, sizeof(text));
	else
		checkpoint_cli__format_status(resp->protect_status, false, text, sizeof(text));
	fputs(text, stdout);
}

int checkpoint_cli__main(const char *name, int argc, char **argv)
{
	Vmm__Control__Response *resp = NULL;
	struct ctl_req r;
	char err[512];
	bool json;
	int rc;

	if (checkpoint_cli__build(argc, argv, &r, &json, err, sizeof(err))) {
		fprintf(stderr, "vmm ctl: %s: %s\n", argv[0], err);
		return 2;
	}
	rc = ctl__request(name, &r.req, &resp, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "vmm ctl: %s\n", err);
		if (json)
			json_out__refusal(stdout, err, -rc);
		return 1;
	}
	rc = resp->ok ? 0 : 1;
	if (!resp->ok)
		fprintf(stderr, "vmm ctl: %s\n", resp->error);
	if (!resp->ok && json)
		json_out__refusal(stdout, resp->error, resp->code);
	else if (resp->ok)
		print_reply(r.req.command_case, resp, json);
	vmm__control__response__free_unpacked(resp, NULL);
	return rc;
}
