/* The vmm program: `vmm run ...` boots one VM; `vmm ctl ...` talks to one. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <qb/qbdefs.h>
#include <qb/qblog.h>
#include <qb/qbloop.h>

#include "replication/checkpoint.h"
#include "replication/checkpoint_cli.h"
#include "replication/engine.h"
#include "replication/migrate.h"
#include "replication/migrate_cli.h"
#include "vmm/control.h"
#include "vmm/ctl_cli.h"
#include "vmm/guest_abi.h"
#include "vmm/snapshot.h"
#include "vmm/vm.h"
#include "vmm/vm_port.h"

static const char usage_text[] =
	"Usage: vmm run --kernel FILE [options]\n"
	"       vmm run --restore FILE [options]\n"
	"       vmm run --incoming tcp:ADDR:PORT {TLS options | --tls-none} [options]\n"
	"       vmm run --standby tcp:ADDR:PORT {TLS options | --tls-none} [options]\n"
	"       vmm ctl NAME COMMAND       (vmm ctl --help)\n"
	"       vmm --help | --version\n"
	"\n"
	"Run options:\n"
	"  -k, --kernel FILE     PVH ELF kernel or Linux bzImage (required)\n"
	"  -i, --initrd FILE     initial ramdisk\n"
	"  -a, --cmdline STR     kernel command line\n"
	"  -m, --memory SIZE     guest RAM, with suffix K, M, G or T (plain number: MiB);\n"
	"                        default 256M; sparse, at most 1T\n"
	"  -c, --cpus N          vCPUs, 1 to 64 (default 1)\n"
	"  -s, --serial SPEC     COM1 backend: stdio (default), none, file:PATH, unix:PATH\n"
	"  -d, --disk PATH[,readonly]  a raw disk image as virtio-blk (virtio-mmio at\n"
	"                        0xd0000000, IRQ 5; docs/virtio.md); opened read-write\n"
	"                        unless ',readonly'; a restored or migrated VM needs the\n"
	"                        same image (its contents are not in the state)\n"
	"  -n, --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,bridge=BR]\n"
	"                        virtio-net (virtio-mmio at 0xd0001000, IRQ 6) on tap\n"
	"                        NAME (an existing persistent tap or a new one); with\n"
	"                        bridge=BR the tap is brought up and added to bridge BR;\n"
	"                        default MAC 52:54:00:12:34:56 (vmm ctl NAME net-status)\n"
	"  -C, --control NAME    serve the control protocol as libqb IPC service NAME\n"
	"  -r, --restore FILE    start from a snapshot (vmm ctl NAME save FILE) instead of\n"
	"                        booting; --memory and --cpus must match the snapshot's,\n"
	"                        and --kernel is optional (needed only to reset)\n"
	"  -I, --incoming URI    wait for one live migration on tcp:ADDR:PORT, load it,\n"
	"                        resume the guest; --memory and --cpus must match the\n"
	"                        source's (docs/migration.md).  After a switch to\n"
	"                        post-copy the guest runs here while its missing\n"
	"                        pages come from the source: until they all have,\n"
	"                        a crash of either host loses the VM\n"
	"      --tls-ca FILE     CA that signed the migration peers' certificates\n"
	"      --tls-cert FILE   this node's certificate (PEM)\n"
	"      --tls-key FILE    its private key (PEM)\n"
	"      --tls-peer NODE   the node the source (a standby's primary) must be: its\n"
	"                        certificate must name NODE (a DNS subjectAltName, or\n"
	"                        the CN when it has none)\n"
	"      --tls-crl FILE    refuse a peer whose certificate this CRL (PEM) revokes\n"
	"      --tls-none        accept a plaintext migration (only when asked for)\n"
	"      --standby URI     a checkpointing standby: receive the initial sync and\n"
	"                        then checkpoints on tcp:ADDR:PORT; never runs until\n"
	"                        vmm ctl NAME activate (docs/checkpointing.md)\n"
	"      --activate-on-loss  standby: activate when the checkpoint stream breaks\n"
	"      --generation N    fencing token this vmm starts with (default 0)\n"
	"      --peer-generation P  with --standby or --incoming: accept only a source\n"
	"                        whose token is exactly P (without it a standby refuses\n"
	"                        a token older than its own; a destination takes any);\n"
	"                        a refused source is told why, and the next is awaited\n"
	"  -P, --paused          start with every vCPU paused (vmm ctl NAME resume)\n"
	"      --test-port       the project's test guests' test-call port (0x500:\n"
	"                        sync, report, assert, done; tests/guests); off by\n"
	"                        default, when an `out` to it does nothing\n"
	"  -v, --verbose         more log output (repeat for debug)\n"
	"  -q, --quiet           only errors\n"
	"\n"
	"Exit status: the guest's power-off status; 0 after a quit request or a test\n"
	"guest's success (--test-port); 1 vmm error; 2 bad usage; 3 guest test assertion failed;\n"
	"4 guest crashed (triple fault, or an instruction the host KVM cannot emulate).\n";

struct run_opts {
	struct vm_config cfg;
	const char *control;
	const char *restore;
	bool paused;
	const char *incoming;
	const char *standby;
	bool activate_on_loss;
	struct mig_fence fence;       /* our generation, the peer's if given */
	struct chan *standby_chan;
	struct mig_tls tls;
	int log_level;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmm: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vmm --help'.\n");
	return VMM_EXIT_USAGE;
}

/* "512M", "2G", "1048576K", "300" (MiB).  0 when malformed or out of range. */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 20;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return 0;
	if (*end) {
		const char *units = "KMGT";
		const char *u = strchr(units, *end & ~0x20);

		if (!u || end[1] || !*end)
			return 0;
		shift = 10 * (unsigned)(u - units + 1);
	}
	if (v == 0 || v > (1ULL << 40) >> shift)
		return 0;
	return v << shift;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || !*s || *s == '-' || *s == '+' || *s == ' ' ? -EINVAL : 0;
}

static int parse_run(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'a' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "serial", required_argument, NULL, 's' },
		{ "disk", required_argument, NULL, 'd' },
		{ "net", required_argument, NULL, 'n' },
		{ "control", required_argument, NULL, 'C' },
		{ "restore", required_argument, NULL, 'r' },
		{ "paused", no_argument, NULL, 'P' },
		{ "incoming", required_argument, NULL, 'I' },
		{ "tls-ca", required_argument, NULL, 1 },
		{ "tls-cert", required_argument, NULL, 2 },
		{ "tls-key", required_argument, NULL, 3 },
		{ "tls-none", no_argument, NULL, 4 },
		{ "tls-peer", required_argument, NULL, 9 },
		{ "tls-crl", required_argument, NULL, 10 },
		{ "standby", required_argument, NULL, 5 },
		{ "activate-on-loss", no_argument, NULL, 6 },
		{ "generation", required_argument, NULL, 7 },
		{ "peer-generation", required_argument, NULL, 8 },
		{ "test-port", no_argument, NULL, 30 },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *err = NULL;
	int c;

	*o = (struct run_opts){ .cfg = { .mem_size = 256ULL << 20, .nr_vcpus = 1,
					  .serial = { SERIAL_STDIO, NULL } },
				.log_level = LOG_NOTICE };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:i:a:m:c:s:d:n:C:r:PI:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o->cfg.kernel_path = optarg; break;
		case 'i': o->cfg.initrd_path = optarg; break;
		case 'a': o->cfg.cmdline = optarg; break;
		case 'C': o->control = optarg; break;
		case 'r': o->restore = optarg; o->cfg.restoring = true; break;
		case 'P': o->paused = true; break;
		case 'I': o->incoming = optarg; o->cfg.restoring = true; break;
		case 1: o->tls.ca = optarg; break;
		case 2: o->tls.cert = optarg; break;
		case 3: o->tls.key = optarg; break;
		case 4: o->tls.none = true; break;
		case 9: o->tls.peer = optarg; break;
		case 10: o->tls.crl = optarg; break;
		case 5: o->standby = optarg; o->incoming = optarg; o->cfg.restoring = true; break;
		case 6: o->activate_on_loss = true; break;
		case 30: o->cfg.test_port = true; break;
		case 7:
			if (parse_u64(optarg, &o->fence.generation))
				return usage_error("bad --generation '%s'", optarg);
			break;
		case 8:
			if (parse_u64(optarg, &o->fence.peer_generation))
				return usage_error("bad --peer-generation '%s'", optarg);
			o->fence.check_peer = true;
			break;
		case 'v': o->log_level = o->log_level == LOG_NOTICE ? LOG_INFO : LOG_DEBUG; break;
		case 'q': o->log_level = LOG_ERR; break;
		case 'h': fputs(usage_text, stdout); exit(0);
		case 'm':
			o->cfg.mem_size = parse_size(optarg);
			if (!o->cfg.mem_size)
				return usage_error("bad --memory '%s': want a size like 512M or 2G, at most 1T", optarg);
			break;
		case 'c':
			if (parse_uint(optarg, 1, VM_MAX_VCPUS, &o->cfg.nr_vcpus))
				return usage_error("bad --cpus '%s': want a number from 1 to 64", optarg);
			break;
		case 's':
			if (serial__parse(optarg, &o->cfg.serial, &err))
				return usage_error("bad --serial: %s", err);
			break;
		case 'd':
			if (o->cfg.disk.path)
				return usage_error("%s", "only one --disk is supported");
			if (virtio_blk__parse(optarg, &o->cfg.disk, &err))
				return usage_error("bad --disk: %s", err);
			break;
		case 'n':
			if (o->cfg.net.tap)
				return usage_error("%s", "only one --net is supported");
			if (virtio_net__parse(optarg, &o->cfg.net, &err))
				return usage_error("bad --net: %s", err);
			break;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->cfg.kernel_path && !o->restore && !o->incoming)
		return usage_error("%s", "no --kernel (or --restore, --incoming) given");
	if (o->restore && o->incoming)
		return usage_error("%s", "--restore and --incoming exclude each other");
	if (o->fence.check_peer && !o->incoming)
		return usage_error("%s", "--peer-generation goes with --standby or --incoming");
	if (o->incoming) {
		struct mig_uri u;

		if (mig_uri__parse(o->incoming, &u, &err))
			return usage_error("bad --incoming: %s", err);
		if (mig_tls__check(&o->tls, &err))
			return usage_error("%s", err);
	}
	return 0;
}

static int vm_event(int fd, int revents, void *data)
{
	struct vm **ctx = data;
	struct vm *vm = ctx[0];

	vm__handle_events(vm);
	if (vm->state == VM_STATE_STOPPED)
		qb_loop_stop((qb_loop_t *)ctx[1]);
	return 0;
}

static int on_signal(int32_t sig, void *data)
{
	vm__request_stop(data, VM_STOP_QUIT, 0, "stopped by signal %d", sig);
	return 0;
}

static void log_setup(int level)
{
	qb_log_init("vmm", LOG_DAEMON, LOG_INFO);
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_FALSE);
	qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_TRUE);
	qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", level);
	qb_log_format_set(QB_LOG_STDERR, "vmm[%P]: %p: %b");
}

static void report_stop(const struct vm *vm)
{
	int level = vm->stop_reason == VM_STOP_POWEROFF || vm->stop_reason == VM_STOP_UCALL_DONE ||
		    vm->stop_reason == VM_STOP_QUIT ? LOG_NOTICE : LOG_ERR;

	qb_log(level, "%s", vm->stop_message);
}

static int run_loop(struct vm *vm, struct run_opts *o)
{
	qb_loop_t *loop = qb_loop_create();
	struct control *ctl = NULL;
	struct migrate mig;
	struct checkpoint ck;
	struct vm_port port;
	struct engine eng = { .mig = &mig, .ckpt = &ck };
	struct control_vm cv = { .vm = vm, .engine = engine__control_ops(), .engine_opaque = &eng };
	qb_loop_signal_handle sh[3];
	void *ctx[2] = { vm, loop };
	int ret;

	if (!loop)
		return -ENOMEM;
	qb_loop_signal_add(loop, QB_LOOP_HIGH, SIGTERM, vm, on_signal, &sh[0]);
	qb_loop_signal_add(loop, QB_LOOP_HIGH, SIGINT, vm, on_signal, &sh[1]);
	qb_loop_signal_add(loop, QB_LOOP_HIGH, SIGHUP, vm, on_signal, &sh[2]);
	vm_port__init(&port, vm);
	ret = migrate__init(&mig, &port, loop);
	if (!ret && (ret = checkpoint__init(&ck, &port, loop, o->fence.generation)))
		migrate__exit(&mig);
	if (ret) {
		qb_loop_destroy(loop);
		return ret;
	}
	ret = qb_loop_poll_add(loop, QB_LOOP_HIGH, vm->event_fd, POLLIN, ctx, vm_event);
	if (!ret)
		ret = serial__attach(vm->serial, loop);
	if (!ret)
		ret = virtio_net__attach(vm->net, loop);
	/* Switches must learn the guest's MAC moved here. */
	if (!ret && o->incoming && !o->standby)
		virtio_net__announce(vm->net, "the incoming migration");
	if (!ret && o->control && (ret = control__start(&ctl, &cv, loop, o->control)))
		qb_log(LOG_ERR, "cannot serve control '%s': %s", o->control, strerror(-ret));
	if (!ret)
		ret = vm__start(vm);
	if (!ret && o->standby_chan) {
		ret = checkpoint__standby_start(&ck, o->standby_chan, &o->fence,
						o->activate_on_loss);
		if (ret)
			channel__close(o->standby_chan);
	}
	if (!ret)
		qb_loop_run(loop);
	else
		vm__request_stop(vm, VM_STOP_ERROR, 0, "start-up failed");
	/* A protected guest that stopped itself: its last epoch reaches the standby. */
	checkpoint__finish(&ck);
	/* A migration still running is cancelled; the guest is stopping anyway. */
	checkpoint__exit(&ck);
	migrate__exit(&mig);
	/* vm__destroy joins the vCPU threads, which leave KVM_RUN on the stop. */
	serial__flush(vm->serial);
	if (ctl)
		control__stop(ctl);
	qb_loop_poll_del(loop, vm->event_fd);
	serial__detach(vm->serial);
	virtio_net__detach(vm->net);
	qb_loop_destroy(loop);
	return ret;
}

static int restore(struct vm *vm, const char *path)
{
	char err[512];
	int ret = snapshot__load_file(vm, path, err, sizeof(err));

	if (ret)
		qb_log(LOG_ERR, "cannot restore: %s", err);
	else
		qb_log(LOG_INFO, "restored from %s", path);
	return ret;
}

static int incoming(struct vm *vm, struct run_opts *o)
{
	struct vm_port port;
	char err[512];
	int ret;

	vm_port__init(&port, vm);
	if (o->standby) {
		ret = migrate__incoming_standby(&port, o->standby, &o->tls, &o->fence,
						&o->standby_chan, err, sizeof(err));
		/* A standby never runs until activated. */
		vm__hold(vm, VM_HOLD_STANDBY);
		if (!ret)
			qb_log(LOG_NOTICE, "standby: initial sync applied; waiting for checkpoints");
	} else {
		ret = migrate__incoming(&port, o->incoming, &o->tls, &o->fence, err,
					sizeof(err));
	}

	if (ret)
		qb_log(LOG_ERR, "incoming migration failed: %s; the guest is not started", err);
	return ret;
}

static int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	const char *err = "unknown error";
	struct vm vm;
	int ret, status;

	ret = parse_run(argc, argv, &o);
	if (ret)
		return ret;
	log_setup(o.log_level);
	/* vCPU threads take the kick signal; every other thread keeps it blocked. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	ret = vm__create(&vm, &o.cfg, &err);
	if (ret)
		qb_log(LOG_ERR, "%s (%s)", err, strerror(-ret));
	else if (o.restore)
		ret = restore(&vm, o.restore);
	else if (o.incoming)
		ret = incoming(&vm, &o);
	if (ret) {
		vm__destroy(&vm);
		qb_log_fini();
		return VMM_EXIT_ERROR;
	}
	qb_log(LOG_INFO, "VM: %" PRIu64 " MiB, %u vCPU(s), kernel %s", o.cfg.mem_size >> 20,
	       o.cfg.nr_vcpus, o.cfg.kernel_path);
	if (o.paused)
		vm__hold(&vm, VM_HOLD_OPERATOR);
	ret = run_loop(&vm, &o);
	report_stop(&vm);
	status = ret ? VMM_EXIT_ERROR : vm__exit_status(&vm);
	vm__destroy(&vm);
	qb_log_fini();
	return status;
}

int main(int argc, char **argv)
{
	/*
	 * A peer that goes away mid-write (a TLS alert on a shut-down channel,
	 * a serial client gone) is an EPIPE to handle, never a reason to die.
	 */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage_error("%s", "no command given");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("vmm (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
#ifdef HASVC_FAULT_INJECTION
		/* So that nobody mistakes a test build for a production one. */
		printf("test build: fault injection compiled in (--enable-fault-injection)\n");
#endif
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	/* The migration commands have options of their own: parsed there. */
	if (!strcmp(argv[1], "ctl") && argc >= 4 && argv[2][0] != '-' &&
	    migrate_cli__is_command(argv[3]))
		return migrate_cli__main(argv[2], argc - 3, argv + 3);
	if (!strcmp(argv[1], "ctl") && argc >= 4 && argv[2][0] != '-' &&
	    checkpoint_cli__is_command(argv[3]))
		return checkpoint_cli__main(argv[2], argc - 3, argv + 3);
	if (!strcmp(argv[1], "ctl"))
		return ctl_cli__main(argc - 1, argv + 1);
	return usage_error("unknown command '%s' (want run or ctl)", argv[1]);
}
