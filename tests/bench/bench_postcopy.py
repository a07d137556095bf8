#!/usr/bin/env python3
"""Post-copy benchmark: the heavy dirtier (tests/guests/dirty.c at its top
speed) migrated by pre-copy with auto-converge and by post-copy.

Run through tests/bench/bench_postcopy.sh.  Each run migrates the guest over
loopback with a bandwidth cap (a loopback link is faster than the guest can
dirty memory under tracking here; the cap stands for a real link) and
reports the median [min-max] of: total time (migrate command to the source's
"completed"), the gap in service seen from outside (largest gap between
heartbeat lines of the source's and the destination's serial output merged
by host arrival time), the vmm's own downtime figure, the guest's write rate
before, during and after the migration (from the heartbeats' write counts),
and for post-copy its pages pulled and pushed, fault latency and time to
full residence.  The guest's last heartbeat at the destination must carry
the right checksum, or the run counts as failed.

Standard library only; helpers come from bench_migration.py.
"""
import argparse
import datetime
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import bench  # tests/bench/bench.py: record()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_migration as bm  # noqa: E402

DONE_RE = re.compile(r"migration completed: (\d+) bytes sent in (\d+) ms, downtime (\d+) ms")
PC_RE = re.compile(r"post-copy: (\d+) pages pulled, (\d+) pushed, (\d+) faults \(mean (\d+) us, "
                   r"p99 (\d+) us, max (\d+) us\), all pages there after (\d+) ms")
SECTION = "## Post-copy against pre-copy with auto-converge"


def rate(hbs, t0, t1):
    """Guest writes per second between host times t0 and t1 (heartbeats)."""
    pts = [(t, w) for t, _, w, _ in hbs if t0 <= t <= t1]
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return None
    return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


def run_one(opt, tmp, n, mode):
    tag = f"bp{os.getpid()}-{n}"
    port = bm.free_port()
    mem = f"{opt.mem_mib}M"
    merged = []
    res = {"ok": False}
    src = dst = None
    try:
        derr = os.path.join(tmp, f"{tag}-d.err")
        dst = bm.spawn([opt.vmm, "run", "--incoming", f"tcp:127.0.0.1:{port}", "--tls-none",
                        "--memory", mem, "--cpus", "1", "--serial", "stdio", "--control", tag + "-d"],
                       stdout=subprocess.PIPE, stderr=open(derr, "wb"))
        dser = bm.Serial(dst, "dst", merged)
        if not bm.wait_file(derr, b"waiting for an incoming migration", 20, dst):
            res["error"] = "destination did not listen"
            return res
        cmdline = f"mem_mib={opt.ws_mib} rate_mib=0 hb_us=20000"
        src = bm.spawn([opt.vmm, "run", "--kernel", opt.guest, "--memory", mem, "--cpus", "1",
                        "--cmdline", cmdline, "--serial", "stdio", "--control", tag + "-s"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        sser = bm.Serial(src, "src", merged)
        # The working set is filled first; its speed is steady from then on.
        if not sser.wait_hb(60, 60):
            res["error"] = "the guest did not start"
            return res
        args = [opt.vmm, "ctl", tag + "-s", "migrate", f"tcp:127.0.0.1:{port}", "--tls-none",
                "--bandwidth", str(opt.bandwidth), "--wait"]
        if mode == "precopy":
            args += ["--auto-converge", "--max-rounds", "1000", "--timeout", "120",
                     "--on-timeout", "force"]
        elif mode == "postcopy-after":
            args += ["--postcopy-after", str(opt.after)]
        else:
            args += ["--postcopy"]
        t_cmd = time.monotonic()
        ctl = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        bm.PROCS.append(ctl)
        # At once: as soon as the job exists (the client starts it a moment later).
        while mode == "postcopy-now" and time.monotonic() - t_cmd < 5:
            if subprocess.run([opt.vmm, "ctl", tag + "-s", "migrate-postcopy"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                break
        out, _ = ctl.communicate(timeout=300)
        t_done = time.monotonic()
        m = DONE_RE.search(out)
        if ctl.returncode != 0 or not m:
            res["error"] = "migration failed: " + out[-200:]
            return res
        res["total_ms"] = (t_done - t_cmd) * 1000
        res["downtime_ms"] = int(m.group(3))
        pc = PC_RE.search(out)
        if pc:
            res.update({"pulled": int(pc.group(1)), "pushed": int(pc.group(2)),
                        "fault_mean_us": int(pc.group(4)), "fault_p99_us": int(pc.group(5)),
                        "fault_max_us": int(pc.group(6)), "residence_ms": int(pc.group(7))})
        # Two more seconds of the guest at the destination.
        hb_now = len(dser.hbs())
        dser.wait_hb(hb_now + 100, 10)
        a = bm.analyse(merged, t_cmd, sser, dser)
        if a:
            res["gap_ms"] = a["gap_ms"]
        shb, dhb = sser.hbs(), dser.hbs()
        res["before"] = rate(shb, t_cmd - 2, t_cmd)
        during = [r for r in (rate(shb, t_cmd, t_done), rate(dhb, t_cmd, t_done)) if r]
        # During: the writes done by the guest (on either side) over the whole migration.
        w0 = [w for t, _, w, _ in shb if t <= t_cmd]
        w1 = [w for t, _, w, _ in dhb if t <= t_done]
        if w0 and w1:
            res["during"] = (w1[-1] - w0[-1]) / (t_done - t_cmd)
        elif during:
            res["during"] = during[0]
        res["after"] = rate(dhb, t_done, t_done + 2.5)
        err = bm.check_guest(dser)
        if err:
            res["error"] = err
            return res
        res["ok"] = True
        return res
    except subprocess.TimeoutExpired:
        res["error"] = "the migration did not end in 300 s"
        return res
    finally:
        for p in (src, dst):
            if p is not None and p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            bm.stop(p, 0)


def med(rs, key, scale=1.0, digits=0):
    xs = [r[key] * scale for r in rs if r.get(key) is not None]
    if not xs:
        return "-"
    f = f"{{:.{digits}f}}"
    return f"{f.format(statistics.median(xs))} [{f.format(min(xs))}-{f.format(max(xs))}]"


def report(opt, results, started, elapsed):
    L = [SECTION, ""]
    L.append(f"Written by `{opt.command}` on {started} ({elapsed:.0f} s), "
             f"{platform.node()}, {os.cpu_count()} cores, Linux {platform.release()}.")
    L.append("")
    L.append(f"The dirty guest writing as fast as it can (`rate_mib=0`, 1 vCPU, "
             f"{opt.ws_mib} MiB working set, {opt.mem_mib} MiB of RAM), migrated over loopback "
             f"with `--bandwidth {opt.bandwidth}` (MiB/s; the cap stands for a real link: loopback "
             f"is faster than this guest dirties memory under tracking here), plaintext. "
             f"Median [min-max] of {opt.runs} runs. Guest speed is its writes per second "
             f"(million) from its heartbeats: in the 2 s before the command, over the whole "
             f"migration (either side), and in the 2.5 s after it completed.")
    L.append("")
    L.append("| mode | total s | gap seen outside ms | vmm downtime ms | speed before | during | after | pulled | pushed | fault mean / p99 / max us | residence ms | failed |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    names = {"precopy": "pre-copy, `--auto-converge`",
             "postcopy-after": f"post-copy, `--postcopy-after {opt.after}`",
             "postcopy-now": "post-copy at once (`migrate-postcopy`)"}
    for mode, rs in results.items():
        ok = [r for r in rs if r["ok"]]
        fails = len(rs) - len(ok)
        fl = (f"{med(ok, 'fault_mean_us')} / {med(ok, 'fault_p99_us')} / {med(ok, 'fault_max_us')}"
              if any("fault_mean_us" in r for r in ok) else "-")
        L.append(f"| {names[mode]} | {med(ok, 'total_ms', 0.001, 1)} | {med(ok, 'gap_ms')} | "
                 f"{med(ok, 'downtime_ms')} | {med(ok, 'before', 1e-6, 1)} | "
                 f"{med(ok, 'during', 1e-6, 1)} | {med(ok, 'after', 1e-6, 1)} | "
                 f"{med(ok, 'pulled')} | {med(ok, 'pushed')} | {fl} | {med(ok, 'residence_ms')} | "
                 f"{fails}" + (f" ({rs[-1].get('error', '')})" if fails else "") + " |")
    L.append("")
    L.append("- Nested KVM here (docs: ENVIRONMENT): while dirty tracking is on, the first write "
             "to each page after a harvest faults in the outer hypervisor, so the guest's speed "
             "during pre-copy is capped by tracking as much as by auto-converge's throttle; "
             "post-copy runs the guest without tracking, but every missing page it touches "
             "waits for a round trip to the source (the fault latency above).")
    L.append("- vmm downtime: source paused until the destination's ack (for post-copy: until "
             "the guest runs there, not until every page is there). The gap seen outside is the "
             "largest silence in the merged heartbeat stream (heartbeat every 20 ms), so it also "
             "catches the guest stalling on missing pages after a post-copy switch.")
    L.append("- Post-copy's background push keeps to `--bandwidth`; answers to faults do not.")
    L.append("- Post-copy's pause grows with the pages it must drop at the destination (stale "
             "copies are punched out of the memfd before the guest resumes, so that they fault): "
             "after 3 s of pre-copy the whole working set is stale, and one manual run logged "
             "65538 pages (256 MiB) dropped and memory registered in 75 ms of an 80 ms pause. "
             "Switched at once, almost nothing was sent, so almost nothing is dropped.")
    L.append("- Switched at once, the guest runs at once but slowly until its working set is "
             "there (it touches every page of it in turn, and each missing page waits about a "
             "millisecond): its speed during the migration is a few percent of normal, for "
             "about the time the push needs at the capped bandwidth.")
    L.append("")
    return "\n".join(L)




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mem-mib", type=int, default=512)
    ap.add_argument("--ws-mib", type=int, default=256)
    ap.add_argument("--bandwidth", type=int, default=100)
    ap.add_argument("--after", type=int, default=3)
    ap.add_argument("--record")
    ap.add_argument("--command", default="tests/bench/bench_postcopy.sh")
    opt = ap.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.monotonic()
    results = {m: [] for m in ("precopy", "postcopy-after", "postcopy-now")}
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(opt.runs):
            for mode in results:  # interleaved, so drift hits every mode alike
                n += 1
                r = run_one(opt, tmp, n, mode)
                results[mode].append(r)
                print(f"{mode}: {r}", file=sys.stderr)
    if not any(r["ok"] for rs in results.values() for r in rs):
        print("bench_postcopy: no run succeeded", file=sys.stderr)
        return 1
    text = report(opt, results, started, time.monotonic() - t0)
    print(text)
    if opt.record:
        bench.record(opt.record, text, SECTION)
        print(f"recorded in {opt.record}")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        sys.exit(main())
    finally:
        bm.cleanup()
