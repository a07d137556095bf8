#!/usr/bin/env python3
"""Live-migration benchmark: our vmm against QEMU on the same dirty guest.

Run through tests/bench/bench_migration.sh (it builds, makes certificates and
passes the paths).  For every configuration (guest memory, dirty rate, TLS,
data connections) it migrates tests/guests/dirty.elf over loopback and reports
the median [min-max] of: total time, the gap in service seen from outside (the
largest gap between heartbeat lines of the source's and the destination's
serial output merged by host arrival time), the vmm's own downtime figure,
bytes sent and throughput; the ceiling is raw loopback TCP (and TLS 1.3)
throughput measured in the same run with a Python sender and receiver.  QEMU
7.2 (microvm, PVH boot of the same ELF, driven over QMP) runs the same guest
with the same memory, working set and rate, interleaved with our runs.

Standard library only.  A benchmark never fails because a number moved: the
exit status is non-zero only when nothing could be measured.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import bench  # tests/bench/bench.py: record()

MiB = 1 << 20
GiB = 1 << 30
HB_RE = re.compile(rb"^hb (\d+) (\d+) ([0-9a-f]+)$")
OURS_DONE_RE = re.compile(r"migration completed: (\d+) bytes sent in (\d+) ms, downtime (\d+) ms")

# --------------------------------------------------------------- processes --

PROCS = []  # every Popen we started; killed by pid in cleanup()


def spawn(argv, **kw):
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
    PROCS.append(p)
    return p


def stop(p, grace=3.0):
    """End one process we started: wait a little, then SIGKILL it by pid."""
    if p is None:
        return None
    try:
        return p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.kill(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        return p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    PROCS.clear()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serial:
    """Reads a process's serial output (its stdout) in a thread; every
    completed line gets the host time (time.monotonic) at which its newline
    arrived."""

    def __init__(self, proc, side, sink):
        self.proc, self.side, self.sink = proc, side, sink
        self.lines = []  # (t, bytes)
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        fd = self.proc.stdout.fileno()
        buf = b""
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            now = time.monotonic()
            if not data:
                break
            buf += data
            *done, buf = buf.split(b"\n")
            if done:
                with self.cond:
                    for ln in done:
                        self.lines.append((now, ln))
                        self.sink.append((now, self.side, ln))
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def hbs(self):
        with self.cond:
            return [(t, int(m.group(1)), int(m.group(2)), int(m.group(3), 16))
                    for t, ln in self.lines for m in [HB_RE.match(ln)] if m]

    def wait_hb(self, n, timeout):
        """Wait until n complete heartbeat lines have arrived."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                cnt = sum(1 for _, ln in self.lines if HB_RE.match(ln))
                if cnt >= n:
                    return True
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.t.is_alive()):
                    return False
                self.cond.wait(min(left, 0.2))

    def text(self):
        with self.cond:
            return b"\n".join(ln for _, ln in self.lines)


def wait_file(path, needle, timeout, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(path, "rb") as f:
                if needle in f.read():
                    return True
        except FileNotFoundError:
            pass
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


# ----------------------------------------------------------- the guest --

K1, K2, K3 = 0x9e3779b97f4a7c15, 0x0123456789abcdef, 0x5851f42d4c957f2d


def csum_of(n, c=0):
    """tests/guests/dirty.c: the checksum after n writes of slice c (cpus=1)."""
    return (K1 * (n * (n - 1) // 2) + (K2 + c * K3) * n) % (1 << 64)


def kvm_tsc_khz():
    """KVM's TSC frequency (KVM_GET_TSC_KHZ on a scratch vCPU).  Passed as
    tsc_khz= to the guest: our vmm offers CPUID 0x40000010 anyway, QEMU's
    default CPU model does not, and the guest would assume 2 GHz."""
    import fcntl
    fds = []
    try:
        kvm = os.open("/dev/kvm", os.O_RDWR)
        fds.append(kvm)
        vm = fcntl.ioctl(kvm, 0xAE01, 0)          # KVM_CREATE_VM
        fds.append(vm)
        cpu = fcntl.ioctl(vm, 0xAE41, 0)          # KVM_CREATE_VCPU
        fds.append(cpu)
        khz = fcntl.ioctl(cpu, 0xAEA3, 0)         # KVM_GET_TSC_KHZ
        return khz if khz > 0 else None
    except OSError:
        return None
    finally:
        for fd in reversed(fds):
            os.close(fd)


def analyse(merged, t_cmd, src_serial, dst_serial):
    """The gap in service seen from outside, from serial lines (heartbeats)
    of source and destination merged by host arrival time; the line cut by
    the switch-over counts when its newline arrives.
    switch gap: from the last source line before the destination's first
    line to that first line.  max gap: the largest gap between consecutive
    lines from the last line before the migrate command to the 20th line of
    the destination (pre-copy can starve the vCPU too)."""
    ev = sorted(merged)
    before = [t for t, side, _ in ev if side == "src" and t < t_cmd]
    dst_t = [t for t, side, _ in ev if side == "dst"]
    if not before or len(dst_t) < 2:
        return None
    src_last = [t for t, side, _ in ev if side == "src" and t <= dst_t[0]]
    lo, hi = before[-1], dst_t[min(19, len(dst_t) - 1)]
    ts = [t for t, _, _ in ev if lo <= t <= hi]
    gap, at = max((b - a, a) for a, b in zip(ts, ts[1:]))
    shb = src_serial.hbs()
    period = statistics.median([b[0] - a[0] for a, b in zip(shb, shb[1:]) if b[0] < t_cmd][-200:] or [0])
    sgap = (dst_t[0] - src_last[-1]) * 1000
    # The guest's clock stands still while it is paused (both VMMs), so its
    # first line at the destination comes one period after its last at the
    # source plus the stall: the gap beyond one period is the stall itself.
    return {"switch_gap_ms": sgap, "gap_ms": gap * 1000,
            "stall_ms": sgap - period * 1000 if period else None,
            "first_dst_ms": (dst_t[0] - t_cmd) * 1000, "gap_at_ms": (at - t_cmd) * 1000,
            "hb_period_ms": period * 1000}


def check_guest(dst_serial):
    """The guest carried on correctly at the destination: no BAD line, and
    the last heartbeat's checksum is the closed form of its write count."""
    txt = dst_serial.text()
    if b"BAD" in txt:
        return "dirty BAD at the destination"
    hbs = dst_serial.hbs()
    if not hbs:
        return "no heartbeat at the destination"
    _, n, writes, cs = hbs[-1]
    if csum_of(writes) != cs:
        return "heartbeat %d: checksum %x, expected %x" % (n, cs, csum_of(writes))
    return None


# ------------------------------------------------------------- our vmm --

class Ours:
    def __init__(self, opt, tmp, vmm=None, prefix="bm"):
        self.opt, self.tmp, self.n = opt, tmp, 0
        self.vmm, self.prefix = vmm or opt.vmm, prefix

    def tls(self, node):
        c = self.opt.certs
        peer = "dst" if node == "src" else "src"
        return ["--tls-ca", f"{c}/ca.pem", "--tls-cert", f"{c}/{node}.pem", "--tls-key", f"{c}/{node}.key",
                "--tls-peer", peer]

    def run(self, cfg):
        o = self.opt
        self.n += 1
        tag = f"{self.prefix}{os.getpid()}-{self.n}"
        port = free_port()
        mem = f"{cfg['mem_gib']}G"
        merged = []
        src = dst = ctl_p = None
        res = {"ok": False}
        try:
            derr = os.path.join(self.tmp, f"{tag}-d.err")
            serr = os.path.join(self.tmp, f"{tag}-s.err")
            dtls = self.tls("dst") if cfg["tls"] else ["--tls-none"]
            dst = spawn([self.vmm, "run", "--incoming", f"tcp:127.0.0.1:{port}", *dtls,
                         "--memory", mem, "--cpus", "1", "--serial", "stdio", "--control", tag + "-d"],
                        stdout=subprocess.PIPE, stderr=open(derr, "wb"))
            dser = Serial(dst, "dst", merged)
            if not wait_file(derr, b"waiting for an incoming migration", 20, dst):
                res["error"] = "destination did not listen: " + open(derr, errors="replace").read()[-300:]
                return res
            src = spawn([self.vmm, "run", "--kernel", o.guest, "--memory", mem, "--cpus", "1",
                         "--cmdline", cfg["cmdline"], "--serial", "stdio", "--control", tag + "-s"],
                        stdout=subprocess.PIPE, stderr=open(serr, "wb"))
            sser = Serial(src, "src", merged)
            if not sser.wait_hb(o.warm_hb, 60):
                res["error"] = "source guest did not start: " + open(serr, errors="replace").read()[-300:]
                return res
            argv = [self.vmm, "ctl", tag + "-s", "migrate", f"tcp:127.0.0.1:{port}",
                    *(self.tls("src") if cfg["tls"] else ["--tls-none"]),
                    "--downtime", str(o.downtime_ms)]
            if cfg["conns"] > 1:
                argv += ["--parallel", str(cfg["conns"])]
            if cfg["rate"] == 0:
                argv += ["--timeout", str(o.force_after_s), "--on-timeout", "force"]
            argv.append("--wait")
            t_cmd = time.monotonic()
            ctl_p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                out, err = ctl_p.communicate(timeout=180)
            except subprocess.TimeoutExpired:
                res["error"] = "vmm ctl migrate did not end in 180 s"
                return res
            t_end = time.monotonic()
            m = OURS_DONE_RE.search(out.decode(errors="replace"))
            if ctl_p.returncode != 0 or not m:
                res["error"] = "migrate failed: " + err.decode(errors="replace")[-300:]
                return res
            if not dser.wait_hb(20, 30):
                res["error"] = "no heartbeats at the destination"
                return res
            a = analyse(merged, t_cmd, sser, dser)
            bad = check_guest(dser)
            if bad:
                res["error"] = bad
                return res
            res.update(ok=True, total_ms=int(m.group(2)), bytes=int(m.group(1)),
                       forced=cfg["rate"] == 0 and int(m.group(2)) >= o.force_after_s * 1000 - 100,
                       downtime_ms=int(m.group(3)), wall_ms=(t_end - t_cmd) * 1000, **(a or {}))
            if a is None:
                res.update(ok=False, error="could not read heartbeats around the switch-over")
            return res
        finally:
            # the destination runs the guest after a success, the source after
            # a failure: ask whichever still runs to quit, then end them by pid
            for p, name in ((dst, tag + "-d"), (src, tag + "-s")):
                if p is not None and p.poll() is None:
                    try:
                        subprocess.run([self.vmm, "ctl", name, "quit"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, timeout=10)
                    except subprocess.TimeoutExpired:
                        pass
            for p in (ctl_p, src, dst):
                stop(p)
                if p in PROCS:
                    PROCS.remove(p)


# ---------------------------------------------------------------- QEMU --

class QMP:
    def __init__(self, path, timeout=20):
        end = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.01)
        self.s.settimeout(30)
        self.f = self.s.makefile("rb")
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            ln = self.f.readline()
            if not ln:
                raise OSError("QMP connection closed")
            msg = json.loads(ln)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        r = self._read()
        if "error" in r:
            raise RuntimeError(f"QMP {name}: {r['error'].get('desc')}")
        return r.get("return")

    def close(self):
        try:
            self.f.close()
            self.s.close()
        except OSError:
            pass


class Qemu:
    def __init__(self, opt, tmp):
        self.opt, self.tmp, self.n = opt, tmp, 0

    def base(self, cfg, qmp):
        return [self.opt.qemu, "-accel", "kvm", "-machine", "microvm", "-nodefaults",
                "-no-user-config", "-display", "none", "-m", f"{cfg['mem_gib']}G",
                "-kernel", self.opt.guest, "-append", cfg["cmdline"], "-serial", "stdio",
                "-qmp", f"unix:{qmp},server=on,wait=off"]

    def run(self, cfg):
        o = self.opt
        self.n += 1
        tag = f"q{self.n}"
        port = free_port()
        merged = []
        src = dst = None
        qs = qd = None
        res = {"ok": False}
        try:
            dq, sq = os.path.join(self.tmp, tag + "-d.qmp"), os.path.join(self.tmp, tag + "-s.qmp")
            dst = spawn(self.base(cfg, dq) + ["-incoming", f"tcp:127.0.0.1:{port}"],
                        stdout=subprocess.PIPE, stderr=open(os.path.join(self.tmp, tag + "-d.err"), "wb"))
            dser = Serial(dst, "dst", merged)
            qd = QMP(dq)
            src = spawn(self.base(cfg, sq), stdout=subprocess.PIPE,
                        stderr=open(os.path.join(self.tmp, tag + "-s.err"), "wb"))
            sser = Serial(src, "src", merged)
            qs = QMP(sq)
            if not sser.wait_hb(o.warm_hb, 60):
                res["error"] = "QEMU source guest did not start"
                return res
            qs.cmd("migrate-set-parameters", **{"downtime-limit": o.downtime_ms,
                                                "max-bandwidth": o.qemu_max_bw})
            t_cmd = time.monotonic()
            qs.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
            forced = False
            done_t = None
            while True:
                st = qs.cmd("query-migrate")
                status = st.get("status")
                if status == "completed":
                    # QEMU 7.2 may answer "completed" before it has filled in
                    # total-time and downtime: ask again for up to a second
                    if (st.get("total-time") and "downtime" in st) or time.monotonic() - t_cmd > 170:
                        break
                    done_t = done_t or time.monotonic()
                    if time.monotonic() - done_t < 1:
                        time.sleep(0.01)
                        continue
                    res["error"] = "QEMU: completed without total-time"
                    return res
                if status in ("failed", "cancelled"):
                    res["error"] = "QEMU migration " + status + ": " + str(st.get("error-desc", ""))
                    return res
                now = time.monotonic()
                if cfg["rate"] == 0 and not forced and now - t_cmd >= o.force_after_s:
                    # "force": a downtime limit no pending set can exceed
                    qs.cmd("migrate-set-parameters", **{"downtime-limit": 100000})
                    forced = True
                if now - t_cmd > 180:
                    res["error"] = "QEMU migration did not end in 180 s"
                    return res
                time.sleep(0.01)
            t_end = time.monotonic()
            if not dser.wait_hb(20, 30):
                res["error"] = "no heartbeats at the QEMU destination"
                return res
            a = analyse(merged, t_cmd, sser, dser)
            bad = check_guest(dser)
            if bad:
                res["error"] = bad
                return res
            ram = st.get("ram", {})
            res.update(ok=a is not None, total_ms=st.get("total-time", 0), bytes=ram.get("transferred", 0),
                       downtime_ms=st.get("downtime", 0), wall_ms=(t_end - t_cmd) * 1000, forced=forced,
                       **(a or {}))
            return res
        except (OSError, RuntimeError, ValueError) as e:
            res["error"] = f"QEMU: {e}"
            return res
        finally:
            for q in (qs, qd):
                if q is not None:
                    try:
                        q.s.sendall(b'{"execute":"quit"}\n')
                    except OSError:
                        pass
                    q.close()
            for p in (src, dst):
                stop(p)
                if p in PROCS:
                    PROCS.remove(p)


# ---------------------------------------------------- loopback ceiling --

CHUNK = 1 * MiB


def sink_main(port, nconn, certs):
    """Child process: accept nconn connections, read them to EOF, report."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(nconn)
    ctx = None
    if certs:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(f"{certs}/dst.pem", f"{certs}/dst.key")
        ctx.load_verify_locations(f"{certs}/ca.pem")
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.num_tickets = 0  # as the vmm: no unread tickets left at the sender (RST)
    print("ready", flush=True)
    total = [0] * nconn

    def reader(i, c):
        buf = bytearray(CHUNK)
        mv = memoryview(buf)
        if ctx:
            c = ctx.wrap_socket(c, server_side=True)
        while True:
            n = c.recv_into(mv)
            if not n:
                break
            total[i] += n
        c.close()

    th = []
    for i in range(nconn):
        c, _ = ls.accept()
        t = threading.Thread(target=reader, args=(i, c))
        t.start()
        th.append(t)
    for t in th:
        t.join()
    print(sum(total), flush=True)


def loopback(opt, nconn, tls):
    """Send opt.tcp_bytes over nconn loopback connections to a receiver in
    another process; MB/s (10^6 bytes/s), from connect to the last byte read."""
    port = free_port()
    sink = spawn([sys.executable, os.path.abspath(__file__), "--sink", str(port), str(nconn),
                  opt.certs if tls else ""], stdout=subprocess.PIPE, text=True)
    try:
        if sink.stdout.readline().strip() != "ready":
            return None, None
        ctx = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            ctx.load_cert_chain(f"{opt.certs}/src.pem", f"{opt.certs}/src.key")
            ctx.load_verify_locations(f"{opt.certs}/ca.pem")
            ctx.check_hostname = False
        per = opt.tcp_bytes // nconn
        payload = memoryview(os.urandom(CHUNK))
        cipher = [None]

        def sender():
            s = socket.create_connection(("127.0.0.1", port))
            if ctx:
                s = ctx.wrap_socket(s, server_hostname="dst")
                cipher[0] = s.cipher()[0]
            left = per
            while left > 0:
                n = min(left, CHUNK)
                s.sendall(payload[:n])
                left -= n
            s.close()

        t0 = time.monotonic()
        th = [threading.Thread(target=sender) for _ in range(nconn)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        got = int(sink.stdout.readline() or 0)
        dt = time.monotonic() - t0
        if got != per * nconn:
            return None, None
        return got / dt / 1e6, cipher[0]
    finally:
        stop(sink, 10)
        if sink in PROCS:
            PROCS.remove(sink)


# ------------------------------------------------------------- report --

def med(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return statistics.median(xs), min(xs), max(xs)


def fmt(m, digits=0):
    if m is None:
        return "n/a"
    f = "%%.%df" % digits
    return f"{f % m[0]} [{f % m[1]}-{f % m[2]}]"


def ratio(a, b):
    if a is None or b is None or not b[0]:
        return "n/a"
    return "%.2f" % (a[0] / b[0])


def stats_of(runs):
    ok = [r for r in runs if r.get("ok")]
    g = lambda k, f=1.0: med([r[k] * f for r in ok if r.get(k) is not None])
    return {
        "n": len(ok), "of": len(runs),
        "total": g("total_ms"), "to_dst": g("first_dst_ms"), "gap": g("gap_ms"),
        "sgap": g("switch_gap_ms"), "stall": g("stall_ms"), "forced": sum(1 for r in ok if r.get("forced")),
        "downtime": g("downtime_ms"), "mb": g("bytes", 1e-6),
        "mbs": med([r["bytes"] / 1e6 / (r["total_ms"] / 1000) for r in ok if r.get("total_ms")]),
        "hb": g("hb_period_ms"),
        "errors": sorted({r.get("error", "?") for r in runs if not r.get("ok")}),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sink", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--vmm", default="vmm/vmm")
    ap.add_argument("--guest", default="tests/guests/dirty.elf")
    ap.add_argument("--certs", help="conf/make-certs.sh DIR src dst output")
    ap.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hb-us", type=int, default=5000)
    ap.add_argument("--working-set", type=int, default=256, help="MiB (mem_mib=)")
    ap.add_argument("--downtime-ms", type=int, default=300)
    ap.add_argument("--force-after-s", type=int, default=3)
    ap.add_argument("--tcp-bytes", type=int, default=GiB)
    ap.add_argument("--only", help="run only the configurations whose label contains this")
    ap.add_argument("--baseline-vmm", help="another build's vmm (say, before a change), run "
                    "interleaved with ours on every configuration and compared with it")
    ap.add_argument("--record", help="replace the '## Live migration' section of this file")
    ap.add_argument("--command", default="tests/bench/bench_migration.sh",
                    help="the command line to show in the report")
    opt = ap.parse_args()
    if opt.sink:
        sink_main(int(opt.sink[0]), int(opt.sink[1]), opt.sink[2])
        return 0

    opt.warm_hb = 40
    opt.qemu_max_bw = 64 * GiB  # bytes/s: QEMU's 128 MiB/s default cap raised
    if opt.no_qemu:
        opt.qemu = None
    tsc = kvm_tsc_khz()
    started = datetime.datetime.now()
    opt.load0 = os.getloadavg()[0]

    def cmdline(rate):
        c = f"mem_mib={opt.working_set} rate_mib={rate} hb_us={opt.hb_us}"
        return c + (f" tsc_khz={tsc}" if tsc else "")

    rates = [(1, "idle (1 MiB/s)"), (50, "50 MiB/s"), (0, "max")]
    cfgs = []
    for gib in (1, 4):
        for rate, rname in rates:
            cfgs.append({"label": f"{gib} GiB, {rname}", "mem_gib": gib, "rate": rate,
                         "cmdline": cmdline(rate), "tls": False, "conns": 1, "qemu": True})
    for tls, conns in ((False, 2), (False, 4), (True, 1), (True, 2), (True, 4)):
        cfgs.append({"label": f"1 GiB, 50 MiB/s, {'TLS' if tls else 'plain'}, {conns} conn",
                     "mem_gib": 1, "rate": 50, "cmdline": cmdline(50), "tls": tls,
                     "conns": conns, "qemu": False})
    if not opt.certs:
        cfgs = [c for c in cfgs if not c["tls"]]
    if opt.only:
        cfgs = [c for c in cfgs if opt.only in c["label"]]

    notes = []
    if not opt.qemu:
        msg = "qemu-system-x86_64 not found (or --no-qemu): the QEMU comparison was skipped"
        print("NOTE: " + msg, flush=True)
        notes.append(msg)
        qemu_ver = None
    else:
        qemu_ver = subprocess.run([opt.qemu, "--version"], capture_output=True, text=True).stdout.split("\n")[0]

    tmp = tempfile.mkdtemp(prefix="bench-mig-")
    ours, qemu = Ours(opt, tmp), (Qemu(opt, tmp) if opt.qemu else None)
    base = Ours(opt, tmp, opt.baseline_vmm, "bb") if opt.baseline_vmm else None
    results = {(c["label"], who): [] for c in cfgs for who in ("ours", "qemu", "base")}
    ceil = {k: [] for k in ("tcp1", "tcp2", "tls1")}
    ciphers = set()
    try:
        for rep in range(opt.runs):
            for key, n, tls in (("tcp1", 1, False), ("tcp2", 2, False), ("tls1", 1, True)):
                if tls and not opt.certs:
                    continue
                v, ciph = loopback(opt, n, tls)
                ceil[key].append(v)
                if ciph:
                    ciphers.add(ciph)
                print(f"[{rep + 1}/{opt.runs}] loopback {key}: {v and round(v)} MB/s", flush=True)
            for c in cfgs:
                pairs = [("ours", ours)]
                if base:
                    pairs.append(("base", base))
                if c["qemu"] and qemu:
                    pairs.append(("qemu", qemu))
                if rep % 2:
                    pairs.reverse()  # A B, B A, A B: neither always goes first
                for who, runner in pairs:
                    r = runner.run(c)
                    results[(c["label"], who)].append(r)
                    if r.get("ok"):
                        print(f"[{rep + 1}/{opt.runs}] {who:4} {c['label']}: total {r['total_ms']:.0f} ms, "
                              f"switch gap {r['switch_gap_ms']:.1f} ms, max gap {r['gap_ms']:.1f} ms (at +{r['gap_at_ms']:.0f} ms), reported downtime "
                              f"{r['downtime_ms']} ms, {r['bytes'] / 1e6:.0f} MB, first dst hb +"
                              f"{r['first_dst_ms']:.0f} ms, hb period {r['hb_period_ms']:.1f} ms", flush=True)
                    else:
                        print(f"[{rep + 1}/{opt.runs}] {who:4} {c['label']}: FAILED: {r.get('error')}", flush=True)
    except KeyboardInterrupt:
        notes.append("interrupted: only the runs completed before are reported")
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    elapsed = (datetime.datetime.now() - started).total_seconds()
    report = make_report(opt, cfgs, results, ceil, ciphers, notes, started, elapsed, tsc, qemu_ver)
    print()
    print(report)
    if opt.record:
        bench.record(opt.record, report, "## Live migration")
        print(f"recorded in {opt.record}")
    return 0 if any(r.get("ok") for v in results.values() for r in v) else 1


def make_report(opt, cfgs, results, ceil, ciphers, notes, started, elapsed, tsc, qemu_ver):
    L = []
    L.append("## Live migration")
    L.append("")
    L.append(f"Measured {started:%Y-%m-%d %H:%M} with `{opt.command}` "
             f"({elapsed / 60:.1f} min; {os.cpu_count()} CPUs, load average {opt.load0:.1f} before and "
             f"{os.getloadavg()[0]:.1f} after; Linux {platform.release()}"
             f"{', ' + qemu_ver if qemu_ver else ''}).  Median [min-max] of {opt.runs} runs per "
             f"configuration, ours{', the baseline vmm' if opt.baseline_vmm else ''} and QEMU "
             "interleaved (the order alternates every round); the "
             "loopback ceilings are measured in every round of the same run.")
    L.append("")
    L.append(f"Guest: tests/guests/dirty.elf, 1 vCPU, `mem_mib={opt.working_set} rate_mib=R "
             f"hb_us={opt.hb_us}{' tsc_khz=' + str(tsc) if tsc else ''}` (working set "
             f"{opt.working_set} MiB at 16 MiB; rate 1 = idle, 50, and 0 = as fast as the vCPU "
             "can write).  Both VMMs boot the same ELF with the same command line and memory "
             "(tsc_khz is KVM's TSC frequency: QEMU's default CPU model does not expose it "
             "to the guest).  A heartbeat line every "
             f"{opt.hb_us / 1000:g} ms because every serial byte costs an exit of about 35 us here: "
             "gaps are resolved to about one heartbeat period.")
    L.append("")
    L.append("- **total**: the VMM's own figure (ours: `elapsed_ms` of the job; QEMU: "
             "`total-time` of query-migrate).  **to dst**: from sending the migrate command to "
             "the first serial line of the destination, seen from outside.")
    L.append("- Downtime seen from outside, from the serial lines of the source and the "
             "destination merged by host arrival time (the line cut by the switch-over counts "
             "when its newline arrives): **switch gap**, from the last source line to the first "
             "destination line; **stall**, the switch gap minus the guest's heartbeat period "
             "(per run: its clock stands still while it is paused, on both VMMs, so the gap is "
             "one period plus the time the guest did not run, and no gap can fall below the "
             "period); **max gap**, the largest gap between consecutive lines from the "
             "last line before the migrate command to the 20th line at the destination (pre-copy "
             "competes with the vCPU for the 2 host CPUs too).  **downtime**: the VMM's own "
             "figure (QEMU: `downtime` of query-migrate).")
    L.append(f"- **MB**: bytes sent (ours: page data, state and framing; QEMU: `ram.transferred`), "
             "10^6 bytes; **MB/s** = MB / total.  Downtime limit "
             f"{opt.downtime_ms} ms on both.  QEMU's 128 MiB/s default bandwidth cap is raised to "
             f"{opt.qemu_max_bw // GiB} GiB/s (`max-bandwidth`); ours has no cap.")
    L.append(f"- rate max (0): ours runs with `--timeout {opt.force_after_s} --on-timeout force`; "
             f"for QEMU the benchmark sets downtime-limit to 100 s after {opt.force_after_s} s, "
             "which forces the switch-over at its next check (QEMU has no force policy); "
             "auto-converge is not used on either.  How many runs were forced is in the notes: "
             "the whole working set fits in the downtime limit at loopback speed, so the VMMs "
             "may switch over on their own before the timeout.")
    L.append("- Our runs are plaintext with one connection (`--tls-none`) unless the label says "
             "otherwise; QEMU runs without TLS.")
    L.append("")
    c = {k: med(v) for k, v in ceil.items()}
    L.append("Ceiling, loopback (Python sender and receiver in two processes, "
             f"{opt.tcp_bytes / GiB:g} GiB per run, MB/s):")
    L.append("")
    L.append("| TCP, 1 connection | TCP, 2 connections | TLS 1.3, 1 connection |")
    L.append("|---|---|---|")
    L.append(f"| {fmt(c['tcp1'])} | {fmt(c['tcp2'])} | {fmt(c['tls1'])}"
             f"{' (' + ', '.join(sorted(ciphers)) + ')' if ciphers else ''} |")
    L.append("")

    def row(label, s, tls, conns):
        base = c["tls1"] if tls else (c["tcp2"] if conns > 1 else c["tcp1"])
        pct = "%.0f%%" % (100 * s["mbs"][0] / base[0]) if s["mbs"] and base else "n/a"
        runs = "" if s["n"] == s["of"] else f" ({s['n']}/{s['of']} ok)"
        return (f"| {label}{runs} | {fmt(s['total'])} | {fmt(s['to_dst'])} | {fmt(s['sgap'], 1)} | "
                f"{fmt(s['stall'], 1)} | {fmt(s['gap'], 1)} | "
                f"{fmt(s['downtime'])} | {fmt(s['mb'])} | {fmt(s['mbs'])} | {pct} |")

    head = ("| configuration | total ms | to dst ms | switch gap ms | stall ms | max gap ms "
            "| downtime ms (own) | MB sent | MB/s | of ceiling |")
    sep = "|---|---|---|---|---|---|---|---|---|---|"
    S = {(lab, who): stats_of(v) for (lab, who), v in results.items()}
    L.append("Our vmm (ceiling column: TCP 1 connection, TCP 2 connections for 2 and 4, TLS for TLS):")
    L.append("")
    L.append(head)
    L.append(sep)
    for cf in cfgs:
        L.append(row(cf["label"], S[(cf["label"], "ours")], cf["tls"], cf["conns"]))
    L.append("")
    def beside(who, cs, title, vs_title, own_config):
        """who's table (own_config: the labels' TLS and connections, else
        plaintext on one), then ours / who, ratio of medians."""
        L.extend([title, "", head, sep])
        for cf in cs:
            L.append(row(cf["label"], S[(cf["label"], who)], own_config and cf["tls"],
                         cf["conns"] if own_config else 1))
        L.extend(["", vs_title, "",
                  "| configuration | total | to dst | switch gap | stall | max gap | downtime (own) "
                  "| MB sent |",
                  "|---|---|---|---|---|---|---|---|"])
        for cf in cs:
            a, b = S[(cf["label"], "ours")], S[(cf["label"], who)]
            L.append("| %s | %s |" % (cf["label"], " | ".join(
                ratio(a[k], b[k])
                for k in ("total", "to_dst", "sgap", "stall", "gap", "downtime", "mb"))))
        L.append("")

    bc = [cf for cf in cfgs if results[(cf["label"], "base")]]
    if bc:
        beside("base", bc, f"Baseline vmm ({opt.baseline_vmm}), interleaved with ours in the same run:",
               "Ours / baseline (ratio of medians; below 1: ours is better):", True)
    qc = [cf for cf in cfgs if cf["qemu"] and results[(cf["label"], "qemu")]]
    if qc:
        beside("qemu", qc, "QEMU (same guest and memory, plaintext, one connection):",
               "Ours / QEMU (ratio of medians; below 1 is better for us):", False)
    hb = [S[k]["hb"] for k in S if S[k]["hb"]]
    if hb:
        L.append("Heartbeat period before the migration (median over runs of the median gap): "
                 + ", ".join(f"{who} {fmt(med([S[(cf['label'], who)]['hb'][0] for cf in cfgs if S[(cf['label'], who)]['hb']]), 1)} ms"
                             for who in ("ours", "base", "qemu") if any(S[(cf['label'], who)]['hb'] for cf in cfgs)) + ".")
        L.append("")
    for cf in cfgs:
        if cf["rate"] == 0:
            for who in ("ours", "qemu"):
                st = S[(cf["label"], who)]
                if st["of"]:
                    notes.append(f"{who}, {cf['label']}: {st['forced']} of {st['n']} runs forced "
                                 f"after {opt.force_after_s} s, the others converged on their own")
    for cf in cfgs:
        for who in ("ours", "qemu"):
            st = S[(cf["label"], who)]
            if st["downtime"] and st["downtime"][0] > opt.downtime_ms:
                notes.append(f"{who}, {cf['label']}: the median downtime it reports, "
                             f"{st['downtime'][0]:.0f} ms, is above the {opt.downtime_ms} ms limit")
    notes.append("The loopback ceiling is what a Python sender and receiver reach (1 MiB "
                 "writes and reads); the kernel's own loopback limit may be somewhat higher.")
    errs = [(k, e) for k, s in S.items() for e in s["errors"]]
    for (lab, who), e in errs:
        notes.append(f"{who}, {lab}: failed runs: {e}")
    if notes:
        L.append("Notes:")
        L.append("")
        for n in notes:
            L.append(f"- {n}")
        L.append("")
    return "\n".join(L).rstrip() + "\n"




if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        sys.exit(main())
    finally:
        cleanup()
