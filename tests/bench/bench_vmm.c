/*
 * bench_vmm: pause-all / resume-all latency of a running VM, in-process.
 *
 *   bench_vmm --kernel FILE [--cmdline STR] [--cpus N] [--memory MIB]
 *             [--iterations N] [--wait-sync] [--warmup-ms MS] [--gap-us US]
 *
 * Creates the VM as `vmm run` does (serial discarded), starts the vCPUs,
 * waits until the guest runs (its "sync 1" test call with --wait-sync, and
 * then --warmup-ms more), then times N rounds of vm__pause and vm__resume
 * with CLOCK_MONOTONIC.  Between rounds it sleeps --gap-us so that every
 * vCPU is back in the guest when the next pause starts.  As the floor it
 * times N KVM_GET_REGS ioctls on vCPU 0 while the VM is paused: the cheapest
 * round trip into KVM.
 *
 * Output: one line per figure, "key value" pairs for run.sh to parse:
 *   result op=pause cpus=1 n=1000 median_us=... p99_us=... max_us=... min_us=...
 * Exit status 0, or 1 when the VM could not be created or stopped early.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <qb/qbdefs.h>
#include <qb/qblog.h>

#include "vmm/vcpu.h"
#include "vmm/vm.h"

struct opts {
	struct vm_config cfg;
	unsigned iterations;
	bool wait_sync;
	unsigned warmup_ms;
	unsigned gap_us;
};

static volatile int synced; /* set by the log hook when the guest says "sync 1" */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The vmm reports test calls through qb_log; this target watches for them. */
static void log_hook(int32_t t, struct qb_log_callsite *cs, struct timespec *ts,
		     const char *msg)
{
	if (strstr(msg, ": sync 1"))
		__atomic_store_n(&synced, 1, __ATOMIC_SEQ_CST);
}

static void log_setup(void)
{
	int32_t t;

	qb_log_init("bench_vmm", LOG_USER, LOG_INFO);
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_FALSE);
	qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_TRUE);
	qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_WARNING);
	t = qb_log_custom_open(log_hook, NULL, NULL, NULL);
	if (t >= 0) {
		qb_log_ctl(t, QB_LOG_CONF_ENABLED, QB_TRUE);
		qb_log_filter_ctl(t, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_NOTICE);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *op, unsigned cpus, uint64_t *ns, unsigned n)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	printf("result op=%s cpus=%u n=%u median_us=%.1f p99_us=%.1f max_us=%.1f min_us=%.1f\n",
	       op, cpus, n, ns[n / 2] / 1e3, ns[(n * 99) / 100] / 1e3, ns[n - 1] / 1e3,
	       ns[0] / 1e3);
}

static bool vm_stopped(struct vm *vm)
{
	bool s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state == VM_STATE_STOPPED;
	pthread_mutex_unlock(&vm->lock);
	return s;
}

static int wait_running(struct vm *vm, const struct opts *o)
{
	uint64_t deadline = now_ns() + 20ULL * 1000000000ULL;

	while (o->wait_sync && !__atomic_load_n(&synced, __ATOMIC_SEQ_CST)) {
		if (vm_stopped(vm) || now_ns() > deadline) {
			fprintf(stderr, "bench_vmm: the guest never said sync 1 (%s)\n",
				vm_stopped(vm) ? vm->stop_message : "timeout");
			return -1;
		}
		sleep_us(1000);
	}
	sleep_us(o->warmup_ms * 1000);
	if (vm_stopped(vm)) {
		fprintf(stderr, "bench_vmm: the guest stopped: %s\n", vm->stop_message);
		return -1;
	}
	return 0;
}

static int measure(struct vm *vm, const struct opts *o)
{
	unsigned n = o->iterations;
	uint64_t *p = calloc(n, sizeof(*p)), *r = calloc(n, sizeof(*r));
	uint64_t *g = calloc(n, sizeof(*g));
	struct kvm_regs regs;
	int ret = -1;

	if (!p || !r || !g)
		goto out;
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = now_ns(), t1, t2;

		if (vm__pause(vm))
			goto stopped;
		t1 = now_ns();
		if (vm__resume(vm))
			goto stopped;
		t2 = now_ns();
		p[i] = t1 - t0;
		r[i] = t2 - t1;
		sleep_us(o->gap_us);
	}
	/* The floor: one ioctl into KVM on a vCPU nobody is running. */
	if (vm__pause(vm))
		goto stopped;
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		if (ioctl(vm->vcpus[0].fd, KVM_GET_REGS, &regs) < 0) {
			perror("bench_vmm: KVM_GET_REGS");
			goto out;
		}
		g[i] = now_ns() - t0;
	}
	vm__resume(vm);
	if (vm_stopped(vm))
		goto stopped;
	report("pause", vm->nr_vcpus, p, n);
	report("resume", vm->nr_vcpus, r, n);
	report("get_regs", vm->nr_vcpus, g, n);
	printf("exits vcpu0=%llu\n", (unsigned long long)vm->vcpus[0].nr_exits);
	ret = 0;
	goto out;
stopped:
	fprintf(stderr, "bench_vmm: the guest stopped during the measurement: %s\n",
		vm->stop_message);
out:
	free(p);
	free(r);
	free(g);
	return ret;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_vmm --kernel FILE [--cmdline STR] [--cpus N] "
			"[--memory MIB] [--iterations N] [--wait-sync] [--warmup-ms MS] "
			"[--gap-us US]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "cmdline", required_argument, NULL, 'a' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "wait-sync", no_argument, NULL, 's' },
		{ "warmup-ms", required_argument, NULL, 'w' },
		{ "gap-us", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	/* The test guests' "sync 1" comes through the test-call port. */
	*o = (struct opts){ .cfg = { .mem_size = 64ULL << 20, .nr_vcpus = 1,
				     .serial = { SERIAL_NONE, NULL }, .test_port = true },
			    .iterations = 1000, .warmup_ms = 100, .gap_us = 500 };
	while ((c = getopt_long(argc, argv, "k:a:c:m:n:sw:g:", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': o->cfg.kernel_path = optarg; break;
		case 'a': o->cfg.cmdline = optarg; break;
		case 'c': o->cfg.nr_vcpus = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'm': o->cfg.mem_size = strtoull(optarg, NULL, 10) << 20; break;
		case 'n': o->iterations = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': o->wait_sync = true; break;
		case 'w': o->warmup_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'g': o->gap_us = (unsigned)strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (!o->cfg.kernel_path || !o->iterations || optind < argc)
		usage();
}

int main(int argc, char **argv)
{
	const char *err = "unknown error";
	struct opts o;
	struct vm vm;
	sigset_t set;
	int ret;

	parse(argc, argv, &o);
	log_setup();
	/* As in `vmm run`: only vCPU threads take the kick signal. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	ret = vm__create(&vm, &o.cfg, &err);
	if (ret) {
		fprintf(stderr, "bench_vmm: %s (%s)\n", err, strerror(-ret));
		vm__destroy(&vm);
		return 1;
	}
	ret = vm__start(&vm);
	if (!ret)
		ret = wait_running(&vm, &o);
	if (!ret)
		ret = measure(&vm, &o);
	vm__request_stop(&vm, VM_STOP_QUIT, 0, "benchmark done");
	vm__destroy(&vm);
	qb_log_fini();
	return ret ? 1 : 0;
}
