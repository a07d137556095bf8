/*
 * hasvcd: one per cluster node.  Joins the corosync group, keeps a replica
 * of the cluster state machine, runs this node's vmm processes, and serves
 * hactl.  docs/hasvc-daemon.md describes it; daemon.h lists the modules.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/evp.h>
#include <qb/qblog.h>

#include "hasvc/config_text.h"
#include "hasvc/daemon.h"
#include "hasvc/metrics.h"
#include "hasvc/notify.h"
#include "hasvc/history.h"
#include "hasvc/journal.h"
#include "hasvc/persist.h"

static const char usage_text[] =
	"usage: hasvcd -c FILE [options]\n"
	"       hasvcd --check-config -c FILE\n"
	"       hasvcd --help | --version\n"
	"\n"
	"The hasvc cluster daemon: runs in the foreground (systemd starts it).\n"
	"\n"
	"  -c, --config FILE   the cluster configuration (hasvc.conf)\n"
	"  -n, --node NAME     this node's name (default: its corosync node name)\n"
	"  -r, --run-dir DIR   vmm sockets, logs and records (default /run/hasvc)\n"
	"  -S, --state-dir DIR the cluster state kept across restarts of every node\n"
	"                      (the unit gives /var/lib/hasvc; default: not kept)\n"
	"      --vmm PATH      the vmm program (default: vmm from PATH)\n"
	"  -s, --socket NAME   the IPC name hactl connects to (default hasvcd)\n"
	"  -l, --log-file FILE log there as well as to stderr\n"
	"      --check-config  check the configuration, print what is wrong, exit\n"
	"  -v, --verbose       more log (twice: debug)\n"
	"  -h, --help          this text\n"
	"      --version       print the version (the package's) and exit\n";

pid_t hasvcd__fork(void)
{
	sigset_t all, old;
	pid_t pid;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		/*
		 * libqb's handlers write to the daemon's signal pipe, which the
		 * child shares until it execs: a SIGTERM meant for a vmm that has
		 * not exec'd yet made hasvcd itself leave the cluster.  Defaults
		 * first, then the signals blocked since before the fork arrive.
		 */
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pid;
}

uint64_t hasvcd__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t hasvcd__wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hasvcd__digest(const void *data, size_t len, uint8_t out[HASVC_DIGEST_LEN])
{
	unsigned int n = HASVC_DIGEST_LEN;

	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void hasvcd__hex(const uint8_t *b, size_t n, char *out, size_t outlen)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 3 <= outlen; i++, k += 2)
		snprintf(out + k, 3, "%02x", b[i]);
	if (outlen)
		out[k < outlen ? k : outlen - 1] = 0;
}

char *hasvcd__read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, got;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 8192);

			if (!nb || cap > (16u << 20)) {
				free(nb ? nb : buf);
				fclose(f);
				errno = nb ? EFBIG : ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
	} while (got);
	buf[len] = 0;
	fclose(f);
	return buf;
}

int hasvcd__set_config(struct hasvcd *d, const char *text, const char *path, char *err,
		       size_t errlen)
{
	struct config *conf;
	char *copy;
	int ret;

	ret = config_text__parse(text, path, &conf, err, errlen);
	if (ret)
		return ret;
	copy = strdup(text);
	if (!copy) {
		cluster_config__free(conf);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cluster_config__free(d->conf);
	free(d->conf_text);
	d->conf = conf;
	d->conf_text = copy;
	hasvcd__digest(text, strlen(text), d->conf_digest);
	return 0;
}

struct opts {
	const char *log_file;
	bool check_only;
	int level;
};

static int parse_args(struct hasvcd *d, struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'n' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "vmm", required_argument, NULL, 1 },
		{ "socket", required_argument, NULL, 's' },
		{ "log-file", required_argument, NULL, 'l' },
		{ "check-config", no_argument, NULL, 2 },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 3 },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, ":c:n:r:S:s:l:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'c': d->config_path = optarg; break;
		case 'n':
			if (!*optarg || strlen(optarg) >= HASVC_NAME_MAX) {
				fprintf(stderr, "hasvcd: bad --node '%s'\n", optarg);
				return 2;
			}
			snprintf(d->node, sizeof(d->node), "%s", optarg);
			break;
		case 'r': d->run_dir = optarg; break;
		case 'S': d->state_dir = optarg; break;
		case 1: d->vmm_path = optarg; break;
		case 's': d->ipc_name = optarg; break;
		case 'l': o->log_file = optarg; break;
		case 2: o->check_only = true; break;
		case 'v': o->level = o->level == LOG_NOTICE ? LOG_INFO : LOG_DEBUG; break;
		case 'h': fputs(usage_text, stdout); exit(0);
		case 3: printf("hasvcd (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION); exit(0);
		case ':':
			fprintf(stderr, "hasvcd: option '%s' needs an argument\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "hasvcd: unknown option '%s' (see hasvcd --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hasvcd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!d->config_path) {
		fprintf(stderr, "hasvcd: no configuration given (-c FILE)\n");
		return 2;
	}
	return 0;
}

static void log_setup(const struct opts *o)
{
	qb_log_init("hasvcd", LOG_DAEMON, LOG_INFO);
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_FALSE);
	qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_TRUE);
	qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", o->level);
	qb_log_format_set(QB_LOG_STDERR, "%t hasvcd: %p: %b");
	if (notify__stderr_is_journal()) {
		/*
		 * Under systemd, the journal rather than lines on stderr: each
		 * message keeps its PRIORITY, CODE_FILE, CODE_LINE and
		 * CODE_FUNC, and a cluster event's its HASVC_* fields (journal.h).
		 */
		if (journal__open(o->level) >= 0)
			qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_FALSE);
	}
	if (o->log_file) {
		int32_t t = qb_log_file_open(o->log_file);

		if (t >= 0) {
			/* The file gets one level more than stderr, and libqb's debug only with -vv. */
			qb_log_filter_ctl(t, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*",
					  o->level == LOG_NOTICE ? LOG_INFO : o->level);
			qb_log_format_set(t, "%T %N[%P]: %p: %b");
			qb_log_ctl(t, QB_LOG_CONF_ENABLED, QB_TRUE);
		} else {
			qb_log(LOG_ERR, "cannot open log file %s", o->log_file);
		}
	}
}

/* Read and check this node's file: the cluster may replace it later. */
static int load_config(struct hasvcd *d)
{
	char err[CONFIG_ERR_MAX];
	char *text = hasvcd__read_file(d->config_path);

	if (!text) {
		fprintf(stderr, "hasvcd: cannot read %s: %s\n", d->config_path, strerror(errno));
		return -errno;
	}
	if (hasvcd__set_config(d, text, d->config_path, err, sizeof(err))) {
		fprintf(stderr, "hasvcd: %s\n", err);
		free(text);
		return -EINVAL;
	}
	memcpy(d->file_digest, d->conf_digest, sizeof(d->file_digest));
	free(text);
	return 0;
}

static int on_stop_signal(int32_t sig, void *data)
{
	struct hasvcd *d = data;

	/* A restart, not a node loss: the cluster freezes our VMs first. */
	if (!d->stopping && grace__leave(d))
		return 0;
	qb_log(LOG_NOTICE, "signal %d: leaving the cluster (vmm processes run on)", sig);
	d->stopping = true;
	qb_loop_stop(d->loop);
	return 0;
}

static int on_hup(int32_t sig, void *data)
{
	(void)sig;
	(void)data;
	qb_log(LOG_NOTICE, "SIGHUP ignored: hactl reload applies a changed configuration");
	return 0;
}

static int on_child(int32_t sig, void *data)
{
	struct hasvcd *d = data;
	pid_t pid;
	int status;

	(void)sig;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (!local__child_exited(d, pid, status) && !fence__child_exited(d, pid, status) &&
		    !alert__child_exited(d, pid, status))
			qb_log(LOG_DEBUG, "child %d exited", (int)pid);
	return 0;
}

#ifdef HASVC_FAULT_INJECTION
/*
 * HASVCD_TEST_STALL=PATH (tests/cluster/notify.sh): while PATH exists the
 * loop hangs in a handler, as a daemon stuck in a call would: nothing of
 * the loop runs (the systemd watchdog is not fed), the other threads do.
 * Looked at every 100 ms.  Only in builds configured with
 * --enable-fault-injection.
 */
static qb_loop_timer_handle stall_timer;

static void stall_check(void *data)
{
	struct hasvcd *d = data;
	const char *path = getenv("HASVCD_TEST_STALL");

	if (!access(path, F_OK)) {
		qb_log(LOG_WARNING, "test: the loop stalls while %s exists", path);
		while (!access(path, F_OK))
			usleep(10000);
		qb_log(LOG_WARNING, "test: the loop runs again");
	}
	qb_loop_timer_add(d->loop, QB_LOOP_LOW, 100000000ULL, d, stall_check, &stall_timer);
}

static void stall_start(struct hasvcd *d)
{
	if (getenv("HASVCD_TEST_STALL"))
		qb_loop_timer_add(d->loop, QB_LOOP_LOW, 100000000ULL, d, stall_check, &stall_timer);
}
#else
static void stall_start(struct hasvcd *d)
{
	(void)d;
}
#endif

static int start(struct hasvcd *d)
{
	int ret;

	if (mkdir(d->run_dir, 0750) && errno != EEXIST) {
		qb_log(LOG_ERR, "cannot make the run directory %s: %s", d->run_dir,
		       strerror(errno));
		return -errno;
	}
	d->fsm = fsm__new();
	if (!d->fsm)
		return -ENOMEM;
	fsm__actions_init(&d->acts);
	ret = persist__start(d);
	if (!ret)
		ret = notify__start(d);
	if (!ret)
		ret = metrics__start(d);
	if (!ret)
		ret = sync__new(d);
	if (!ret)
		ret = fence__new(d);
	if (!ret)
		ret = history__new(d);
	if (!ret)
		ret = alert__new(d);
	if (!ret)
		ret = grace__new(d);
	if (!ret)
		ret = config_dist__new(d);
	if (!ret)
		ret = local__new(d);
	if (!ret)
		ret = cluster__start(d);
	if (!ret)
		ret = serve__start(d);
	if (!ret)
		ret = watchdog__new(d);
	if (!ret)
		stall_start(d);
	return ret;
}

static void stop(struct hasvcd *d)
{
	if (d->formation_timer_armed && !d->formation_over)
		qb_loop_timer_del(d->loop, d->formation_timer);
	notify__stop(d);
	serve__stop(d);
	metrics__stop(d);
	cluster__stop(d);
	watchdog__free(d);
	local__free(d);
	fence__free(d);
	alert__free(d);
	grace__free(d);
	config_dist__free(d);
	history__free(d);
	sync__free(d);
	persist__stop(d);
	fsm__actions_free(&d->acts);
	fsm__free(d->fsm);
	cluster_config__free(d->conf);
	free(d->conf_text);
}

int main(int argc, char **argv)
{
	struct hasvcd d = { .run_dir = "/run/hasvc", .vmm_path = "vmm", .ipc_name = "hasvcd" };
	struct opts o = { .level = LOG_NOTICE };
	qb_loop_signal_handle sh[4];
	int ret;

	ret = parse_args(&d, &o, argc, argv);
	if (ret)
		return ret;
	if (load_config(&d))
		return 1;
	if (o.check_only) {
		printf("%s: ok (%zu nodes, %zu VMs)\n", d.config_path, d.conf->n_nodes,
		       d.conf->n_vms);
		cluster_config__free(d.conf);
		free(d.conf_text);
		return 0;
	}
	log_setup(&o);
	signal(SIGPIPE, SIG_IGN);
	d.loop = qb_loop_create();
	if (!d.loop)
		return 1;
	qb_loop_signal_add(d.loop, QB_LOOP_HIGH, SIGTERM, &d, on_stop_signal, &sh[0]);
	qb_loop_signal_add(d.loop, QB_LOOP_HIGH, SIGINT, &d, on_stop_signal, &sh[1]);
	qb_loop_signal_add(d.loop, QB_LOOP_HIGH, SIGCHLD, &d, on_child, &sh[2]);
	qb_loop_signal_add(d.loop, QB_LOOP_HIGH, SIGHUP, &d, on_hup, &sh[3]);
	ret = start(&d);
	if (!ret) {
		qb_log(LOG_NOTICE, "node %s: started (configuration %s, run directory %s)", d.node,
		       d.config_path, d.run_dir);
		qb_loop_run(d.loop);
	}
	stop(&d);
	qb_loop_destroy(d.loop);
	qb_log_fini();
	/* Leaving because corosync went away is a failure: systemd restarts us. */
	return ret || d.failed ? 1 : 0;
}
