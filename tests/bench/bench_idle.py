#!/usr/bin/env python3
"""Idle cost of the vmm (tests/bench/bench_idle.sh runs this).

Boots tests/guests/hello.elf with idle=1 (it halts for good with interrupts
off, so its vCPU sleeps in KVM and costs nothing) with a serial Unix socket
that a client holds open, a virtio-blk disk and a control socket, as a VM in
real use has; then reads the vmm process's user + system time (/proc/PID/stat)
and its threads' voluntary context switches (each a wake-up after a sleep)
over a window.  Our vmm and, with --baseline-vmm, another build's, interleaved
run by run (the order turned each run), on the same guest."""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import bench  # tests/bench/bench.py: record(), host_line()

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def wakeups(pid):
    """Voluntary context switches of every thread of pid: its wake-ups."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        n += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that ended
    return n


def connect(path, deadline):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def wait_text(s, text, deadline):
    got = b""
    while text not in got:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("the serial socket closed before %r" % text)
        got += chunk
    s.settimeout(None)


def one(vmm, guest, tmp, tag, settle, seconds):
    """One fresh idle guest; returns (cpu %, wake-ups/s) over the window."""
    ser, disk = os.path.join(tmp, tag + ".sock"), os.path.join(tmp, tag + ".img")
    with open(disk, "wb") as f:
        f.truncate(16 << 20)
    err = open(os.path.join(tmp, tag + ".err"), "w")
    p = subprocess.Popen([vmm, "run", "--kernel", guest, "--memory", "64M", "--cmdline",
                          "idle=1", "--serial", "unix:" + ser, "--disk", disk,
                          "--control", "bench-idle-%d-%s" % (os.getpid(), tag)],
                         stdout=subprocess.DEVNULL, stderr=err)
    s = None
    try:
        s = connect(ser, time.monotonic() + 10)
        wait_text(s, b"hello idle", time.monotonic() + 10)
        time.sleep(settle)
        c0, w0, t0 = cpu_ticks(p.pid), wakeups(p.pid), time.monotonic()
        time.sleep(seconds)
        c1, w1, t1 = cpu_ticks(p.pid), wakeups(p.pid), time.monotonic()
        if p.poll() is not None:
            raise RuntimeError("the vmm exited with %d" % p.returncode)
        return 100.0 * (c1 - c0) / TICK / (t1 - t0), (w1 - w0) / (t1 - t0)
    finally:
        if s:
            s.close()
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        err.close()
        for f in (ser, disk):
            if os.path.exists(f):
                os.unlink(f)


def mmm(xs, fmt):
    return (fmt + " (" + fmt + "–" + fmt + ")") % (statistics.median(xs), min(xs), max(xs))


def ratio(a, b):
    return "%.3f" % (a / b) if b else "–"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vmm", required=True)
    p.add_argument("--guest", required=True)
    p.add_argument("--baseline-vmm")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--command", default="tests/bench/bench_idle.sh")
    p.add_argument("--record")
    a = p.parse_args()

    peers = [("ours", a.vmm)] + ([("baseline", a.baseline_vmm)] if a.baseline_vmm else [])
    res = {name: [] for name, _ in peers}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench_idle.") as tmp:
        for r in range(a.runs):
            order = peers if r % 2 == 0 else peers[::-1]
            for name, vmm in order:
                cpu, wk = one(vmm, a.guest, tmp, "%s%d" % (name, r), a.settle, a.seconds)
                res[name].append((cpu, wk))
                print("run %d %s: cpu %.2f%% wakeups/s %.1f" % (r + 1, name, cpu, wk),
                      file=sys.stderr)
    took = time.time() - started

    out = []
    w = out.append
    w("## Idle cost of the vmm")
    w("")
    w("Command: `%s`, %s UTC, %.0f s, 1-minute load average at the end %.1f." % (
        a.command, time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)), took,
        os.getloadavg()[0]))
    w("")
    w(bench.host_line())
    w("")
    w("Guest: tests/guests/hello.elf `idle=1`, 64 MiB, 1 vCPU: it halts for good with "
      "interrupts off, so its vCPU sleeps in KVM and whatever the process spends is "
      "the vmm's own.  The serial port on a Unix socket that a client holds open, a "
      "16 MiB virtio-blk disk, a control socket.  After \"hello idle\" and %g s more, "
      "%g s window, %d runs, each a fresh guest, the peers interleaved (the order "
      "turned each run); median (min–max).  CPU: the process's user + system time "
      "(/proc/PID/stat, %d Hz ticks) per second of the window, in %% of a host core.  "
      "Wake-ups: voluntary context switches of all its threads per second." % (
          a.settle, a.seconds, a.runs, TICK))
    w("")
    if a.baseline_vmm:
        w("Baseline: `--baseline-vmm` (another build's vmm, run on the same guest in "
          "the same run).")
        w("")
        w("| figure | vmm | baseline | vmm / baseline |")
        w("|---|---|---|---|")
    else:
        w("| figure | vmm |")
        w("|---|---|")
    for i, (label, fmt) in enumerate([("idle CPU, % of a host core", "%.2f"),
                                      ("wake-ups per second", "%.1f")]):
        ours = [x[i] for x in res["ours"]]
        row = "| %s | %s |" % (label, mmm(ours, fmt))
        if a.baseline_vmm:
            base = [x[i] for x in res["baseline"]]
            row += " %s | %s |" % (mmm(base, fmt), ratio(statistics.median(ours),
                                                           statistics.median(base)))
        w(row)
    w("")
    text = "\n".join(out) + "\n"
    print(text)
    if a.record:
        bench.record(a.record, text, "## Idle cost of the vmm")
        print("recorded in %s" % a.record, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
