#!/usr/bin/env python3
"""Block I/O benchmark (driven by tests/bench/bench_block.sh).

The block guest in mode=bench measures in the guest (TSC): sequential write
and read of the whole image, random 4 KiB writes and reads.  Three
configurations, interleaved run by run: unprotected, protected (25 ms
epochs, standby on this host over TLS on its own image), protected with
--verify-disk.  Every run starts the primary paused (and protects it while
paused), then resumes it, so that the guest measures from its first request
under the configuration.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import bench  # tests/bench/bench.py: record(), host_line()
import bench_checkpoint
from bench_checkpoint import free_port, read, wait_for

LINE = re.compile(rb"^bench seq_write_kbs (\d+) seq_read_kbs (\d+) rand_write_iops (\d+) "
                  rb"rand_read_iops (\d+)", re.M)
INTERVAL = 25
CONFIGS = [("unprotected", None), ("protected", []), ("protected --verify-disk",
                                                      ["--verify-disk"])]
BASELINE = "protected, baseline vmm"


class Bench:
    def __init__(self, a):
        self.a = a
        self.procs = []
        self.n = 0
        self.vmm = a.vmm   # the vmm of the current run (ours or --baseline-vmm)

    def tls(self, node):
        c = self.a.certs
        peer = "sb" if node == "pr" else "pr"
        return ["--tls-ca", c + "/ca.pem", "--tls-cert", "%s/%s.pem" % (c, node),
                "--tls-key", "%s/%s.key" % (c, node), "--tls-peer", peer]

    def spawn(self, tag, args):
        err = open(os.path.join(self.a.tmp, tag + ".err"), "wb")
        p = subprocess.Popen([self.vmm] + args, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        self.procs.append(p)
        return p

    def ctl(self, name, *args):
        r = subprocess.run([self.vmm, "ctl", name] + list(args), capture_output=True,
                           text=True, timeout=60)
        if r.returncode:
            raise RuntimeError("vmm ctl %s %s: %s" % (name, " ".join(args), r.stderr.strip()))
        return r.stdout

    kill_all = bench_checkpoint.Bench.kill_all  # it uses self.procs only

    def image(self, name, where=None):
        path = os.path.join(where or self.a.tmp, name)
        with open(path, "wb") as f:
            f.truncate(self.a.image_mib << 20)
        return path

    def run(self, extra):
        """extra None: unprotected; else the protect options beyond --interval."""
        a = self.a
        self.n += 1
        pr, sb = "bbl%d-%d-pr" % (os.getpid(), self.n), "bbl%d-%d-sb" % (os.getpid(), self.n)
        ser = os.path.join(a.tmp, "%s.ser" % pr)
        try:
            self.spawn(pr, ["run", "--kernel", a.guest, "--memory", "64M", "--cpus", "1",
                            "--disk", self.image(pr + ".img"), "--cmdline",
                            "mode=bench rq_sectors=64 ops=16384 linger_ms=2000", "--serial", "file:" + ser,
                            "--control", pr, "--paused"])
            st = None
            if extra is not None:
                port = free_port()
                self.spawn(sb, ["run", "--standby", "tcp:127.0.0.1:%d" % port, "--memory",
                                "64M", "--cpus", "1", "--disk", self.image(sb + ".img", a.standby_dir),
                                "--serial", "file:" + os.path.join(a.tmp, sb + ".ser"),
                                "--control", sb] + self.tls("sb"))
                sberr = os.path.join(a.tmp, sb + ".err")
                wait_for(lambda: b"waiting for an incoming migration" in read(sberr), 20,
                         "the standby to listen")
            wait_for(lambda: subprocess.run([self.vmm, "ctl", pr, "status"],
                                            capture_output=True).returncode == 0, 20,
                     "the primary's control service")
            if extra is not None:
                self.ctl(pr, "protect", "tcp:127.0.0.1:%d" % port, "--interval",
                         str(INTERVAL), *(self.tls("pr") + extra))
                prerr = os.path.join(a.tmp, pr + ".err")
                wait_for(lambda: re.search(rb"initial sync to .* done|sync failed",
                                           read(prerr)), 60, "the initial sync")
                if b"sync failed" in read(prerr):
                    raise RuntimeError(read(prerr).decode(errors="replace")[-300:])
            self.ctl(pr, "resume")
            m = wait_for(lambda: LINE.search(read(ser)), 120, "the guest's figures")
            if extra is not None:
                st = json.loads(self.ctl(pr, "protect-status", "--json"))
                if st["state"] != "protected":
                    raise RuntimeError("state %s: %s" % (st["state"], st["error"]))
            r = {"sw": int(m.group(1)) / 1024, "sr": int(m.group(2)) / 1024,
                 "rw": int(m.group(3)), "rr": int(m.group(4))}
            if st:
                r.update(pause=st["pause_us_mean"], p99=st["pause_us_p99"],
                         disk=st["disk_bytes_per_epoch"],
                         ack=st["ack_us_mean"], read=st.get("disk_read_blocks", 0))
            return r
        except (RuntimeError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
            print("  run failed: %s" % e, file=sys.stderr)
            return None
        finally:
            self.kill_all()
            for d in {a.tmp, a.standby_dir or a.tmp}:
                for f in os.listdir(d):
                    if f.endswith(".img"):
                        os.unlink(os.path.join(d, f))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def mmm(xs, fmt="%.0f"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return (fmt + " (" + fmt + "–" + fmt + ")") % (statistics.median(xs), min(xs), max(xs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--command", default="tests/bench/bench_block.sh")
    ap.add_argument("--record")
    ap.add_argument("--baseline-vmm", help="another build's vmm, protected right after ours")
    ap.add_argument("--standby-dir",
                    help="where the standbys' images go (default with the primaries', --tmp)")
    ap.add_argument("--image-mib", type=int, default=256,
                    help="each image's size (8: the random phase follows short sequential ones)")
    a = ap.parse_args()
    b = Bench(a)
    started = time.monotonic()
    configs = CONFIGS + ([(BASELINE, [])] if a.baseline_vmm else [])
    res = {name: [] for name, _ in configs}
    for run in range(a.runs):
        for name, extra in configs:
            b.vmm = a.baseline_vmm if name == BASELINE else a.vmm
            r = b.run(extra)
            res[name].append(r)
            print("%s run %d: %s" % (name, run + 1, r), file=sys.stderr, flush=True)
    took = time.monotonic() - started

    out = []
    w = out.append
    w("## Block I/O\n")
    w("Command: `%s`, %s, %.0f s.  Median of %d runs (min–max), the configurations "
      "interleaved run by run.\n" % (a.command, time.strftime("%Y-%m-%d"), took, a.runs))
    w(bench.host_line())
    w("- guest: tests/guests/block.elf `mode=bench rq_sectors=64 ops=16384 linger_ms=2000`, 64 MiB VM, 1 vCPU, a "
      "%d MiB raw image (sparse file on the host's ext4 root); measured in the guest with "
      "its TSC: sequential write of the whole image in 32 KiB requests then FLUSH "
      "(fdatasync), sequential read, then 16384 random 4 KiB writes and 16384 random 4 KiB "
      "reads (one request in flight: the device serves requests synchronously on the vCPU "
      "thread)." % a.image_mib)
    w("- protected: `protect --interval %d` to a standby on this host over TLS "
      "(loopback), each on its own image%s; the primary is protected while paused, then "
      "resumed, so every request is under protection.  Pause, disk bytes and epochs/s "
      "from the primary's `protect-status --json` at the end of the run (means over all its epochs; ack = checkpoint sent to ack received).%s\n" % (
          INTERVAL, " (the standbys' images in %s, as on another host's disk)" % a.standby_dir
          if a.standby_dir else "", "  Baseline: the same protected run with the vmm `%s` (primary and standby), "
          "right after ours in every run." % a.baseline_vmm if a.baseline_vmm else ""))
    w("| configuration | seq write MB/s | seq read MB/s | rand write IOPS | rand read IOPS "
      "| pause mean µs | pause p99 µs | disk bytes/epoch | ack mean µs |")
    w("|---|---|---|---|---|---|---|---|---|")
    for name, extra in configs:
        rs = res[name]
        ok = [r for r in rs if r]
        prot = extra is not None
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, mmm([r["sw"] for r in ok], "%.1f"), mmm([r["sr"] for r in ok], "%.1f"),
            mmm([r["rw"] for r in ok]), mmm([r["rr"] for r in ok]),
            mmm([r["pause"] for r in ok]) if prot else "–",
            mmm([r["p99"] for r in ok]) if prot else "–",
            mmm([r["disk"] for r in ok]) if prot else "–",
            mmm([r["ack"] for r in ok]) if prot else "–"))
    w("")
    base = res["unprotected"]
    w("Ratios protected / unprotected (medians):\n")
    w("| configuration | seq write | seq read | rand write | rand read |")
    w("|---|---|---|---|---|")
    for name, extra in configs[1:]:
        row = []
        for k in ("sw", "sr", "rw", "rr"):
            p, u = med([r and r[k] for r in res[name]]), med([r and r[k] for r in base])
            row.append("%.2f" % (p / u) if p and u else "n/a")
        w("| %s | %s |" % (name, " | ".join(row)))
    w("")
    pause = med([r and r["pause"] for r in res[CONFIGS[1][0]]])
    disk = med([r and r["disk"] for r in res[CONFIGS[1][0]]])
    vpause = med([r and r["pause"] for r in res[CONFIGS[2][0]]])
    w("How the protected runs spend it.  The disk keeps each epoch's written 4 KiB blocks "
      "as it writes them (docs/checkpointing.md, \"Disk capture at write time\"), so the "
      "pause only swaps that log: it reads blocks back from the image only when an epoch "
      "wrote more than the log holds (64 MiB by default: the sequential write's epochs; %s "
      "blocks read back over all runs).  The pause holds the vCPU, harvests the dirty log, "
      "saves vCPU and device state and write-protects the dirty pages; the pages and blocks "
      "enter the checkpoint after the resume, and the primary's own image is made durable "
      "(fdatasync) after it too, while the standby applies the checkpoint and before the "
      "epoch's output leaves.  Here the guest stood still %.2f ms an epoch (median of the "
      "runs' means), with %.1f MB of disk an epoch.  The transfer, SHA-256, TLS and the "
      "standby's apply and fdatasync run while the guest runs, on the second of 2 cores "
      "(the vCPU spins on the other).  With --verify-disk the whole image is also read and "
      "hashed in every pause (and again on the standby before each ack): pauses %.0f times "
      "longer, fewer and larger epochs; a test and audit option, not for production.  On "
      "this host every request is also an exit through the outer hypervisor, which caps "
      "the unprotected figures.\n"
      % ("%d" % sum(r["read"] for r in res[CONFIGS[1][0]] if r and "read" in r),
         (pause or 0) / 1000.0, (disk or 0) / 1e6,
         (vpause or 0) / pause if pause else 0))
    text = "\n".join(out) + "\n"
    print(text)
    if a.record:
        bench.record(a.record, text, "## Block I/O")
    return 0


if __name__ == "__main__":
    sys.exit(main())
