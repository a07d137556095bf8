#!/usr/bin/env python3
"""Checkpointing benchmark (driven by tests/bench/bench_checkpoint.sh).

Part 1, the dirty guest (VM, working set and heartbeat as configured) at
each dirty rate: unprotected (the baseline, same run) and protected at each
epoch interval, interleaved run by run (U P10 P25 P50 P100 U ...).  For each
run, after a warm-up, over a window: guest speed (page writes per second
from the guest's own heartbeat lines: writes counted by the guest, time as
its heartbeat count), epochs/s achieved (host clock), pages per epoch and
pause per epoch (mean, p99, max from protect-status --json).

Part 2, the counter guest: request-to-answer round trip of "inc 1" from a
client on the serial socket, unprotected and protected, interleaved.
"""
import argparse
import atexit
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import bench  # tests/bench/bench.py: record()

HB = re.compile(rb"^hb (\d+) (\d+) ", re.M)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, secs, what):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def last_hb(path):
    data = read(path)
    data = data[: data.rfind(b"\n") + 1]  # complete lines only
    m = None
    for m in HB.finditer(data):
        pass
    return (int(m.group(1)), int(m.group(2))) if m else None


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class Bench:
    def __init__(self, a):
        self.a = a
        self.vmm = a.vmm   # the vmm of the current run (ours or --baseline-vmm)
        self.tmp = tempfile.mkdtemp(prefix="bench-ck.")
        self.procs = []
        self.n = 0

    def name(self):
        self.n += 1
        return "bck%d-%d" % (os.getpid(), self.n)

    def spawn(self, tag, args):
        err = open(os.path.join(self.tmp, tag + ".err"), "wb")
        p = subprocess.Popen([self.vmm] + args, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        self.procs.append(p)
        return p

    def ctl(self, name, *args, check=True):
        r = subprocess.run([self.vmm, "ctl", name] + list(args), capture_output=True, text=True,
                           timeout=30)
        if check and r.returncode:
            raise RuntimeError("vmm ctl %s %s: %s" % (name, " ".join(args), r.stderr.strip()))
        return r.stdout

    def status(self, name):
        return json.loads(self.ctl(name, "protect-status", "--json"))

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.procs = []

    def wait_ctl(self, name):
        wait_for(lambda: subprocess.run([self.vmm, "ctl", name, "status"], capture_output=True)
                 .returncode == 0, 20, "the control service of " + name)

    def pair(self, kernel, mem, serial_pr, serial_sb, cmdline, interval):
        """Start a primary (and, with interval, a standby, and protect)."""
        pr = self.name()
        args = ["run", "--kernel", kernel, "--memory", mem, "--cpus", "1", "--serial", serial_pr,
                "--control", pr]
        if cmdline:
            args += ["--cmdline", cmdline]
        self.spawn(pr, args)
        if interval:
            sb, port = self.name(), free_port()
            self.spawn(sb, ["run", "--standby", "tcp:127.0.0.1:%d" % port, "--tls-none",
                            "--memory", mem, "--cpus", "1", "--serial", serial_sb,
                            "--control", sb])
            sberr = os.path.join(self.tmp, sb + ".err")
            wait_for(lambda: b"waiting for an incoming migration" in read(sberr), 20,
                     "the standby to listen")
        self.wait_ctl(pr)
        return pr, (port if interval else None)

    def protect(self, pr, port, interval):
        self.ctl(pr, "protect", "tcp:127.0.0.1:%d" % port, "--tls-none", "--interval",
                 str(interval))
        prerr = os.path.join(self.tmp, pr + ".err")
        wait_for(lambda: re.search(rb"initial sync to .* done", read(prerr)), 60,
                 "the initial sync")
        if b"initial sync failed" in read(prerr):
            raise RuntimeError("protect failed: " + read(prerr).decode(errors="replace")[-300:])

    # --- part 1 --------------------------------------------------------
    def dirty_run(self, rate, interval):
        a = self.a
        ser = os.path.join(self.tmp, "pr%d.ser" % self.n)
        cmdline = "mem_mib=%d rate_mib=%d hb_us=%d" % (a.ws, rate, a.hb_us)
        try:
            pr, port = self.pair(a.dirty, a.memory, "file:" + ser,
                                 "file:" + os.path.join(self.tmp, "sb%d.ser" % self.n),
                                 cmdline, interval)
            wait_for(lambda: (last_hb(ser) or (0,))[0] >= 2, 30, "the dirty guest")
            if interval:
                self.protect(pr, port, interval)
            time.sleep(a.warmup)
            h0, t0 = last_hb(ser), time.monotonic()
            s0 = self.status(pr) if interval else None
            time.sleep(a.window)
            s1 = self.status(pr) if interval else None
            t1 = time.monotonic()
            h1 = last_hb(ser)
            r = {"speed": (h1[1] - h0[1]) / ((h1[0] - h0[0]) * a.hb_us / 1e6)}
            if interval:
                if s1["state"] != "protected":
                    raise RuntimeError("state %s: %s" % (s1["state"], s1["error"]))
                de = s1["epochs"] - s0["epochs"]
                r["eps"] = de / (t1 - t0)
                r["pages"] = ((s1["pages_per_epoch"] * s1["epochs"] -
                               s0["pages_per_epoch"] * s0["epochs"]) / de) if de else 0
                r["mean"], r["p99"], r["max"] = (s1["pause_us_mean"], s1["pause_us_p99"],
                                                 s1["pause_us_max"])
                r["p50"] = s1.get("pause_us_p50", 0)
                r["capture"] = s1.get("capture") or "copy"
                r["ack"] = s1["ack_us_mean"]
            return r
        except (RuntimeError, OSError, ValueError, TypeError, ZeroDivisionError,
                subprocess.TimeoutExpired) as e:
            print("  run failed: %s" % e, file=sys.stderr)
            return None
        finally:
            self.kill_all()

    # --- part 2 --------------------------------------------------------
    def latency_run(self, interval):
        a = self.a
        sock = os.path.join(self.tmp, "c%d.sock" % (self.n + 1))
        try:
            pr, port = self.pair(a.counter, "32M", "unix:" + sock,
                                 "unix:" + os.path.join(self.tmp, "csb%d.sock" % self.n),
                                 None, interval)
            s = wait_for(lambda: _connect(sock), 20, "the serial socket")
            s.settimeout(20)
            buf = b""

            def answer():
                nonlocal buf
                while True:
                    while b"\n" not in buf:
                        d = s.recv(4096)
                        if not d:
                            raise RuntimeError("serial closed")
                        buf += d
                    line, buf = buf.split(b"\n", 1)
                    if line.startswith(b"val "):
                        return line

            s.sendall(b"get\n")
            answer()
            if interval:
                self.protect(pr, port, interval)
                time.sleep(0.5)
            rtts = []
            for _ in range(a.requests):
                t = time.perf_counter()
                s.sendall(b"inc 1\n")
                answer()
                rtts.append((time.perf_counter() - t) * 1e6)
            s.close()
            if interval and self.status(pr)["state"] != "protected":
                raise RuntimeError("not protected at the end")
            return {"median": statistics.median(rtts), "p99": pct(rtts, 99), "max": max(rtts)}
        except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
            print("  latency run failed: %s" % e, file=sys.stderr)
            return None
        finally:
            self.kill_all()


def _connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return s
    except OSError:
        s.close()
        return None


def mmm(xs, fmt="%.0f"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "failed"
    return (fmt + " (" + fmt + "–" + fmt + ")") % (statistics.median(xs), min(xs), max(xs))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vmm", required=True)
    p.add_argument("--dirty", required=True)
    p.add_argument("--counter", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--memory", default="256M")
    p.add_argument("--ws", type=int, default=64)
    p.add_argument("--rates", default="5,50,0")
    p.add_argument("--intervals", default="100,40,20,10")
    p.add_argument("--lat-intervals", default="40,10")
    p.add_argument("--hb-us", type=int, default=100000)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--window", type=float, default=3.0)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--command", default="tests/bench/bench_checkpoint.sh")
    p.add_argument("--record")
    p.add_argument("--baseline-vmm", help="another build's vmm (say, before a change), run on "
                   "every protected configuration interleaved with ours")
    a = p.parse_args()
    b = Bench(a)
    # Its logs and sockets go with it, whatever way it ends but a kill.
    atexit.register(shutil.rmtree, b.tmp, True)
    rates = [int(x) for x in a.rates.split(",")]
    intervals = [int(x) for x in a.intervals.split(",")]
    lat_iv = [int(x) for x in a.lat_intervals.split(",")]
    started = time.monotonic()
    res = {}
    for rate in rates:
        for run in range(a.runs):
            for iv in [0] + intervals:
                for vmm in [a.vmm] + ([a.baseline_vmm] if a.baseline_vmm and iv else []):
                    b.vmm = vmm
                    r = b.dirty_run(rate, iv)
                    key = (rate, iv) if vmm == a.vmm else (rate, iv, "base")
                    res.setdefault(key, []).append(r)
                    print("rate %s interval %s%s run %d: %s" % (
                        rate or "max", iv or "-", "" if vmm == a.vmm else " baseline",
                        run + 1, r), file=sys.stderr, flush=True)
                b.vmm = a.vmm
    lat = {}
    for run in range(a.runs):
        for iv in [0] + lat_iv:
            r = b.latency_run(iv)
            lat.setdefault(iv, []).append(r)
            print("latency interval %s run %d: %s" % (iv or "-", run + 1, r), file=sys.stderr,
                  flush=True)
    took = time.monotonic() - started

    out = []
    w = out.append
    w("## Checkpointing\n")
    w("Command: `%s`, %s, on %s (%d cpus, nested KVM), %.0f s.  Median of %d runs "
      "(min–max); each configuration interleaved with the others run by run "
      "(unprotected, then each interval).\n" % (a.command, time.strftime("%Y-%m-%d"),
                                             os.uname().nodename, os.cpu_count(), took, a.runs))
    w("Dirty guest (tests/guests/dirty.c): %s VM, 1 vCPU, `mem_mib=%d hb_us=%d`, "
      "rate_mib as in the table (max = `rate_mib=0`, as fast as the vCPU can write).  "
      "Primary and standby on this host over loopback TCP, `--tls-none`.  Warm-up "
      "%.1f s after the initial sync, then a %.1f s window.  Guest speed = page writes "
      "per second counted by the guest (from its heartbeat lines); the baseline is the "
      "same guest unprotected in the same run.  Epochs/s on the host clock over the "
      "window; pages per epoch over the window; pause per epoch (vCPUs stopped: harvest, "
      "capture, copy of the dirty pages) from `protect-status --json` (over all epochs "
      "since protection started, at most 4096); capture = how the pause captured the "
      "dirty pages (`capture` of protect-status: cow, write-protected and copied after "
      "the pause; copy, copied inside it).%s\n" % (
          a.memory, a.ws, a.hb_us, a.warmup, a.window,
          ("  Baseline rows: `%s` (another build), run right after ours on each protected "
           "configuration, its ratio against the same unprotected run." % a.baseline_vmm)
          if a.baseline_vmm else ""))
    w("| rate MiB/s | interval ms (asked Hz) | capture | epochs/s | guest page writes/s "
      "| protected/unprotected | pages/epoch | pause p50 µs | pause mean µs | pause p99 µs "
      "| pause max µs | ack mean µs |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rate in rates:
        base = res[(rate, 0)]
        w("| %s | unprotected | – | – | %s | 1 | – | – | – | – | – | – |" % (rate or "max", mmm(
            [r and r["speed"] for r in base])))
        bmed = med([r and r["speed"] for r in base])
        for key in [k for iv in intervals for k in ((rate, iv), (rate, iv, "base"))
                    if k in res]:
            iv = key[1]
            rs = res[key]
            ok = [r for r in rs if r]
            ratio = [(r["speed"] / bmed) if (r and bmed) else None for r in rs]
            w("| %s | %d (%g)%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                rate or "max", iv, 1000 / iv, ", baseline" if len(key) > 2 else "",
                "/".join(sorted({r["capture"] for r in ok})) or "–",
                mmm([r["eps"] for r in ok], "%.1f"), mmm([r["speed"] for r in ok]),
                mmm(ratio, "%.2f"), mmm([r["pages"] for r in ok]), mmm([r["p50"] for r in ok]),
                mmm([r["mean"] for r in ok]), mmm([r["p99"] for r in ok]),
                mmm([r["max"] for r in ok]), mmm([r["ack"] for r in ok])))
    w("")
    w("Added output latency: counter guest (tests/guests/counter.c, 32 MiB), one client "
      "on the serial socket sends `inc 1` and waits for the `val` line, %d requests in a "
      "row per run; round trip in µs.  Protected, an answer leaves the primary only once "
      "the checkpoint of the epoch that produced it is acknowledged, so about one epoch "
      "plus the checkpoint's transfer is expected.\n" % a.requests)
    w("| counter guest | median µs | p99 µs | max µs | median / unprotected |")
    w("|---|---|---|---|---|")
    lbase = med([r and r["median"] for r in lat[0]])
    for iv in [0] + lat_iv:
        rs = [r for r in lat[iv] if r]
        name = "unprotected" if not iv else "protected, %d ms (%g Hz)" % (iv, 1000 / iv)
        m = med([r["median"] for r in rs])
        w("| %s | %s | %s | %s | %s |" % (name, mmm([r["median"] for r in rs]),
                                          mmm([r["p99"] for r in rs]),
                                          mmm([r["max"] for r in rs]),
                                          ("%.1f" % (m / lbase)) if (m and lbase) else "–"))
    w("")
    text = "\n".join(out) + "\n"
    print(text)
    if a.record:
        bench.record(a.record, text, "## Checkpointing")
        print("recorded in %s" % a.record, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
