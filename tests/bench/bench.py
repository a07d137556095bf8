#!/usr/bin/env python3
"""The vmm core benchmarks; run through tests/bench/run.sh, which builds first.

Figures (each configuration --runs times, ours and QEMU interleaved):
  boot    exec of the VMM to the first byte on the guest's serial port, and to
          its exit, for tests/guests/hello.elf; QEMU microvm is the peer.
  exits   port-I/O exits per second: tests/bench/ioloop_guest.elf does N `out`s
          to the UART scratch register between two serial lines; the host
          timestamps the lines as they arrive (the end of "ioloop begin" to the
          first byte of "ioloop end"); QEMU runs the same guest.
  pause   vm__pause / vm__resume latency while the guest runs in ring 3
          (tests/bench/bench_vmm, in-process), with 1 and 2 vCPUs; the floor is
          a KVM_GET_REGS round trip measured in the same process.

Prints markdown; with --record it replaces the "vmm core" section of
docs/performance.md.
"""
import argparse
import datetime
import os
import platform
import re
import select
import shutil
import statistics
import subprocess
import sys
import time

SECTION = "## vmm core"


def run_timed(cmd, timeout=60.0):
    """Run cmd; timestamp its stdout as it arrives (ms since just before exec)."""
    t0 = time.monotonic_ns()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    fd = p.stdout.fileno()
    first, lines, cur, cur_t = None, [], bytearray(), None
    deadline = t0 + int(timeout * 1e9)
    timed_out = False
    while True:
        left = (deadline - time.monotonic_ns()) / 1e9
        if left <= 0:
            timed_out = True
            p.kill()
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        data = os.read(fd, 65536)
        t = (time.monotonic_ns() - t0) / 1e6
        if not data:
            break
        if first is None:
            first = t
        for b in data:
            if cur_t is None:
                cur_t = t
            if b == 0x0a:
                lines.append({"text": cur.decode(errors="replace"), "first_ms": cur_t,
                              "end_ms": t})
                cur, cur_t = bytearray(), None
            else:
                cur.append(b)
    err = p.stderr.read().decode(errors="replace")
    status = p.wait()
    return {"first_byte_ms": first, "exit_ms": (time.monotonic_ns() - t0) / 1e6,
            "status": status, "timed_out": timed_out, "lines": lines, "stderr": err}


def last_line(text):
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no message"


class Runner:
    def __init__(self, args):
        self.a = args
        b = args.builddir
        self.vmm = os.path.join(b, "vmm", "vmm")
        self.bench_vmm = os.path.join(b, "tests", "bench", "bench_vmm")
        self.hello = os.path.join(b, "tests", "guests", "hello.elf")
        self.dirty = os.path.join(b, "tests", "guests", "dirty.elf")
        self.ioloop = os.path.join(b, "tests", "bench", "ioloop_guest.elf")
        self.qemu = shutil.which("qemu-system-x86_64")
        self.notes = []

    def ours(self, kernel, cmdline):
        return [self.vmm, "run", "--kernel", kernel, "--memory", "64M", "--cpus", "1",
                "--serial", "stdio", "--cmdline", cmdline, "--quiet"]

    def theirs(self, kernel, cmdline):
        return [self.qemu, "-accel", "kvm", "-machine", "microvm", "-nodefaults",
                "-no-user-config", "-display", "none", "-serial", "stdio", "-m", "64",
                "-smp", "1", "-kernel", kernel, "-append", cmdline,
                "-device", "isa-debug-exit,iobase=0x504,iosize=4"]

    def ok(self, who, r, want):
        # QEMU's isa-debug-exit turns our power-off status 0 into exit status 1.
        good = 1 if who == "qemu" else 0
        if r["timed_out"] or r["status"] != good or not any(want in l["text"] for l in r["lines"]):
            self.notes.append("a %s run failed (status %s%s): %s" % (
                who, r["status"], ", timed out" if r["timed_out"] else "",
                last_line(r["stderr"])))
            return False
        return True

    def boot(self):
        res = {"ours": {"first": [], "exit": []}, "qemu": {"first": [], "exit": []}}
        for _ in range(self.a.runs):
            for who in ("ours", "qemu"):
                if who == "qemu" and not self.qemu:
                    continue
                cmd = (self.ours if who == "ours" else self.theirs)(self.hello, "bench boot")
                r = run_timed(cmd)
                if self.ok(who, r, "Hello from"):
                    res[who]["first"].append(r["first_byte_ms"])
                    res[who]["exit"].append(r["exit_ms"])
        return res

    def exits(self):
        n = self.a.io_count
        cmdline = "count=%d port=0x3ff" % n
        res = {"ours": [], "qemu": [], "ours_guest_us": [], "qemu_guest_us": []}
        for _ in range(self.a.runs):
            for who in ("ours", "qemu"):
                if who == "qemu" and not self.qemu:
                    continue
                cmd = (self.ours if who == "ours" else self.theirs)(self.ioloop, cmdline)
                r = run_timed(cmd, timeout=120)
                if not self.ok(who, r, "ioloop end"):
                    continue
                begin = next(l for l in r["lines"] if l["text"].startswith("ioloop begin"))
                end = next(l for l in r["lines"] if l["text"].startswith("ioloop end"))
                secs = (end["first_ms"] - begin["end_ms"]) / 1e3
                res[who].append(n / secs)
                m = re.search(r"tsc_us=(\d+)", end["text"])
                if m:
                    res[who + "_guest_us"].append(int(m.group(1)))
        return res

    def pause_guest(self, cpus):
        if os.path.exists(self.dirty):
            return (self.dirty, "dirty.elf",
                    "mem_mib=32 rate_mib=0 hb_us=0 duration_ms=0 cpus=%d" % cpus,
                    ["--warmup-ms", "500"])
        return (self.ioloop, "ioloop_guest.elf (spin)", "spin cpus=%d" % cpus,
                ["--wait-sync", "--warmup-ms", "100"])

    def pause(self, cpu_counts):
        """Runs for each vCPU count, interleaved: 1 2 1 2 ..."""
        per = {c: {} for c in cpu_counts}
        for _ in range(self.a.runs):
            for cpus in cpu_counts:
                kernel, _, cmdline, extra = self.pause_guest(cpus)
                cmd = [self.bench_vmm, "--kernel", kernel, "--cmdline", cmdline, "--cpus",
                       str(cpus), "--memory", "64", "--iterations",
                       str(self.a.pause_iterations)] + extra
                p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                   text=True, timeout=300)
                if p.returncode != 0:
                    self.notes.append("a bench_vmm run (%d vCPUs) failed: %s" % (
                        cpus, last_line(p.stderr)))
                    continue
                for line in p.stdout.splitlines():
                    if not line.startswith("result "):
                        continue
                    kv = dict(f.split("=", 1) for f in line.split()[1:])
                    for k in ("median_us", "p99_us", "max_us"):
                        per[cpus].setdefault((kv["op"], k), []).append(float(kv[k]))
        return [(c, (self.pause_guest(c)[1:3], per[c])) for c in cpu_counts]


def spread(values, fmt="%.1f"):
    if not values:
        return "n/a"
    return (fmt + " [" + fmt + "-" + fmt + "]") % (statistics.median(values), min(values),
                                                   max(values))


def ratio(a, b):
    if not a or not b:
        return "n/a"
    return "%.2f" % (statistics.median(a) / statistics.median(b))


def host_config():
    cpu = "unknown CPU"
    nested = False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown CPU":
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and " hypervisor" in line:
                    nested = True
    except OSError:
        pass
    return cpu, nested


def qemu_version(path):
    if not path:
        return None
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else "?"


def report(r, boot, exits, pauses, cmd):
    a = r.a
    cpu, nested = host_config()
    qv = qemu_version(r.qemu)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = []
    w = out.append
    w(SECTION)
    w("")
    w("Measured %s with `%s`: each figure is the median [min-max] over %d runs; ours and "
      "QEMU runs interleaved." % (now, cmd, a.runs))
    w("")
    w("- host: Linux %s, %d CPUs, %s; %s" % (
        platform.release(), os.cpu_count(), cpu,
        "KVM is nested (this host is itself a VM): guest ring 0 is emulated (about 1M "
        "instructions/s), ring 3 runs natively, every exit goes through the outer hypervisor"
        if nested else "KVM on bare metal"))
    w("- guests: 1 vCPU, 64 MiB unless said; serial on stdio (a pipe to the benchmark)")
    w("- peer: %s" % ("QEMU %s, `-accel kvm -machine microvm -nodefaults -no-user-config "
                      "-display none -serial stdio -m 64 -kernel ... "
                      "-device isa-debug-exit,iobase=0x504,iosize=4`" % qv
                      if qv else "QEMU not installed: no side-by-side column "
                      "(run.sh --install-qemu installs it)"))
    w("")
    w("### Boot and port I/O")
    w("")
    w("| figure | ours | QEMU | ours/QEMU |")
    w("|---|---|---|---|")
    w("| exec to first serial byte, ms (hello.elf) | %s | %s | %s |" % (
        spread(boot["ours"]["first"]), spread(boot["qemu"]["first"]),
        ratio(boot["ours"]["first"], boot["qemu"]["first"])))
    w("| exec to exit after power-off, ms (hello.elf) | %s | %s | %s |" % (
        spread(boot["ours"]["exit"]), spread(boot["qemu"]["exit"]),
        ratio(boot["ours"]["exit"], boot["qemu"]["exit"])))
    kx = [v / 1e3 for v in exits["ours"]]
    qx = [v / 1e3 for v in exits["qemu"]]
    w("| port-I/O exits/s, thousands (ioloop_guest count=%d port=0x3ff) | %s | %s | %s |" % (
        a.io_count, spread(kx, "%.2f"), spread(qx, "%.2f"), ratio(kx, qx)))
    w("| time per exit, us (1 / the above) | %s | %s | %s |" % (
        spread([1e3 / v for v in kx]), spread([1e3 / v for v in qx]),
        ratio([1e3 / v for v in kx], [1e3 / v for v in qx])))
    w("")
    w("First byte: host monotonic time from just before the VMM is spawned to the first "
      "byte read from its stdout (hello's first line); exit: to its end of file and exit. "
      "Exits/s: the guest's loop timed on the host from the arrival of the line before it "
      "to the first byte of the line after it (the ~30 serial exits of the lines are not "
      "subtracted). The host clock is used for both VMMs rather than the guest's TSC, "
      "whose frequency QEMU's microvm does not tell the guest.")
    w("")
    w("### Pause and resume (in-process, `tests/bench/bench_vmm`)")
    w("")
    w("| vCPUs | guest | pause median, us | pause p99, us | pause max, us | "
      "resume median, us | floor: KVM_GET_REGS median, us | pause / floor |")
    w("|---|---|---|---|---|---|---|---|")
    for cpus, (guest, per) in pauses:
        g = per.get(("get_regs", "median_us"), [])
        p = per.get(("pause", "median_us"), [])
        w("| %d | %s `%s` | %s | %s | %s | %s | %s | %s |" % (
            cpus, guest[0], guest[1], spread(p), spread(per.get(("pause", "p99_us"), [])),
            spread(per.get(("pause", "max_us"), [])),
            spread(per.get(("resume", "median_us"), [])), spread(g), ratio(p, g)))
    w("")
    w("Each run: %d rounds of vm__pause then vm__resume, %s apart so that every vCPU is "
      "back in the guest, timed with CLOCK_MONOTONIC; a run gives the median, p99 and max "
      "of its rounds. Pause returns when every vCPU thread has left KVM_RUN and parked "
      "(signal, immediate_exit, acknowledgement); resume only releases the parked threads "
      "and does not wait for them to re-enter the guest. The floor is one KVM_GET_REGS "
      "ioctl on a parked vCPU, timed in the same process. 1- and 2-vCPU runs are "
      "interleaved. With 2 busy vCPUs and the benchmark's own thread there are more "
      "runnable threads than the host's %d CPUs: a woken vCPU thread can preempt the "
      "benchmark's thread, which shows in the tails and in resume." % (
          a.pause_iterations, "500 us", os.cpu_count()))
    if r.notes:
        w("")
        w("Problems in this run:")
        for n in r.notes:
            w("- " + n)
    w("")
    return "\n".join(out)


def record(path, text):
    header = (
        "# Performance\n\n"
        "Figures measured on the project's test machines by the benchmarks in tests/bench/.\n"
        "Each figure is the median of several runs with the min and max beside it, and is\n"
        "compared with a baseline measured in the same run (QEMU, or the cost of the\n"
        "cheapest KVM call). The machines are shared and run KVM nested, so the ratios mean\n"
        "more than the absolute times. Each section is rewritten by the command named in\n"
        "it; older figures are not kept.\n\n")
    try:
        with open(path) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = header
    # Replace from our heading to the next second-level heading (or the end).
    m = re.search(r"^%s\n.*?(?=^## |\Z)" % re.escape(SECTION), doc, re.S | re.M)
    if m:
        doc = doc[:m.start()] + text + "\n" + doc[m.end():]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    with open(path, "w") as f:
        f.write(doc.rstrip("\n") + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--io-count", type=int, default=20000)
    ap.add_argument("--pause-iterations", type=int, default=1000)
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--command", default="tests/bench/run.sh")
    a = ap.parse_args()

    r = Runner(a)
    for f in (r.vmm, r.bench_vmm, r.hello, r.ioloop):
        if not os.path.exists(f):
            sys.exit("bench: %s is missing (did `make bench` run?)" % f)
    print("bench: boot (%d runs)..." % a.runs, file=sys.stderr)
    boot = r.boot()
    print("bench: port-I/O exits (%d runs)..." % a.runs, file=sys.stderr)
    exits = r.exits()
    print("bench: pause/resume, 1 and 2 vCPUs (%d runs each)..." % a.runs, file=sys.stderr)
    pauses = r.pause((1, 2))
    text = report(r, boot, exits, pauses, a.command)
    print(text)
    if a.record:
        path = os.path.join(a.srcdir, "docs", "performance.md")
        record(path, text)
        print("bench: recorded in %s" % path, file=sys.stderr)


if __name__ == "__main__":
    main()
