/* The control server's checkpoint commands: their words parsed (checkpoint.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replication/checkpoint.h"
#include "vmm/vm.h"

static int copy(char *dst, size_t len, const char *src, char *err, size_t errlen)
{
	if (strlen(src) >= len) {
		snprintf(err, errlen, "'%s' is too long", src);
		return -ENAMETOOLONG;
	}
	strcpy(dst, src);
	return 0;
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

static int protect_cmd(struct checkpoint *ck, size_t argc, char **argv, char *err,
		       size_t errlen)
{
	struct checkpoint_params p;

	memset(&p, 0, sizeof(p));
	if (argc < 2) {
		snprintf(err, errlen, "usage: protect tcp:HOST:PORT [--interval MS] "
			 "[--on-standby-loss degrade|pause] [--peer-generation P] [--verify-disk] "
			 "{--tls-ca F --tls-cert F --tls-key F --tls-peer NODE [--tls-crl F] | "
			 "--tls-none}");
		return -EINVAL;
	}
	if (copy(p.mp.uri, sizeof(p.mp.uri), argv[1], err, errlen))
		return -EINVAL;
	for (size_t i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (!strcmp(a, "--tls-none")) {
			p.mp.tls_none = true;
			continue;
		}
		if (!strcmp(a, "--verify-disk")) {
			p.verify_disk = true;
			continue;
		}
		if (!v) {
			snprintf(err, errlen, "option %s needs a value, or is unknown", a);
			return -EINVAL;
		}
		i++;
		if (!strcmp(a, "--interval")) {
			unsigned long ms = strtoul(v, &end, 10);

			if (*end || !ms || ms > 60000) {
				snprintf(err, errlen, "bad --interval '%s': 1 to 60000 ms", v);
				return -EINVAL;
			}
			p.interval_ms = (uint32_t)ms;
		} else if (!strcmp(a, "--on-standby-loss")) {
			if (strcmp(v, "degrade") && strcmp(v, "pause")) {
				snprintf(err, errlen, "--on-standby-loss wants degrade or pause");
				return -EINVAL;
			}
			p.pause_on_loss = !strcmp(v, "pause");
		} else if (!strcmp(a, "--peer-generation")) {
			if (parse_generation(a, v, &p.peer_generation, err, errlen))
				return -EINVAL;
			p.check_peer_generation = true;
		} else if (!strcmp(a, "--tls-ca")) {
			if (copy(p.mp.tls_ca, sizeof(p.mp.tls_ca), v, err, errlen))
				return -EINVAL;
		} else if (!strcmp(a, "--tls-cert")) {
			if (copy(p.mp.tls_cert, sizeof(p.mp.tls_cert), v, err, errlen))
				return -EINVAL;
		} else if (!strcmp(a, "--tls-key")) {
			if (copy(p.mp.tls_key, sizeof(p.mp.tls_key), v, err, errlen))
				return -EINVAL;
		} else if (!strcmp(a, "--tls-peer")) {
			if (copy(p.mp.tls_peer, sizeof(p.mp.tls_peer), v, err, errlen))
				return -EINVAL;
		} else if (!strcmp(a, "--tls-crl")) {
			if (copy(p.mp.tls_crl, sizeof(p.mp.tls_crl), v, err, errlen))
				return -EINVAL;
		} else {
			snprintf(err, errlen, "unknown option %s", a);
			return -EINVAL;
		}
	}
	return checkpoint__protect(ck, &p, err, errlen);
}

/* activate [--generation N] [--json] */
static int activate_cmd(struct checkpoint *ck, size_t argc, char **argv, char *err,
			size_t errlen)
{
	bool set_gen = false;
	uint64_t gen = 0;

	for (size_t i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			continue;
		if (strcmp(argv[i], "--generation") || i + 1 >= argc) {
			snprintf(err, errlen, "usage: activate [--generation N] [--json]");
			return -EINVAL;
		}
		if (parse_generation(argv[i], argv[i + 1], &gen, err, errlen))
			return -EINVAL;
		set_gen = true;
		i++;
	}
	return checkpoint__activate(ck, set_gen, gen, err, errlen);
}

/* A command without options but --json. */
static int no_options(size_t argc, char **argv, char *err, size_t errlen)
{
	for (size_t i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json")) {
			snprintf(err, errlen, "unexpected argument '%s'", argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

/* The network device's counters: not checkpointing, but served the same way. */
static int net_status(struct checkpoint *ck, size_t argc, char **argv, char *text,
		      size_t textlen, char *err, size_t errlen)
{
	int ret = no_options(argc, argv, err, errlen);

	if (ret)
		return ret;
	if (!ck->vm->net) {
		snprintf(err, errlen, "this VM has no network device (vmm run --net)");
		return -ENODEV;
	}
	virtio_net__format_status(ck->vm->net, argc > 1, text, textlen);
	return 0;
}

int checkpoint__control(struct checkpoint *ck, size_t argc, char **argv, char *text,
			size_t textlen, char *err, size_t errlen)
{
	int ret;

	if (!strcmp(argv[0], "protect"))
		ret = protect_cmd(ck, argc, argv, err, errlen);
	else if (!strcmp(argv[0], "activate"))
		ret = activate_cmd(ck, argc, argv, err, errlen);
	else if (!strcmp(argv[0], "unprotect"))
		ret = no_options(argc, argv, err, errlen) ?: checkpoint__unprotect(ck, err, errlen);
	else if (!strcmp(argv[0], "protect-status"))
		ret = no_options(argc, argv, err, errlen);
	else if (!strcmp(argv[0], "net-status"))
		return net_status(ck, argc, argv, text, textlen, err, errlen);
	else {
		snprintf(err, errlen, "unknown checkpoint command");
		return -EINVAL;
	}
	if (!ret)
		checkpoint__format_status(ck, argc > 1 && !strcmp(argv[argc - 1], "--json"), text,
					  textlen);
	return ret;
}
