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

  state   save and restore of 1 and 4 GiB guests, mostly zero and fully
          written, and one dirty-log harvest (tests/bench/bench_state,
          in-process; --state-runs runs of each configuration, interleaved);
          the ceiling is memcpy of as many bytes, in the same process.

Prints markdown; with --record it replaces the "vmm core" section (boot,
exits, pause) and the "VM state" section of docs/performance.md; --only core
or --only state runs and records one of them.
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
STATE_SECTION = "## VM state"
EMPTY_HARVESTS = 21


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
        self.bench_state = os.path.join(b, "tests", "bench", "bench_state")
        self.hello = os.path.join(b, "tests", "guests", "hello.elf")
        self.dirty = os.path.join(b, "tests", "guests", "dirty.elf")
        self.ioloop = os.path.join(b, "tests", "bench", "ioloop_guest.elf")
        self.qemu = shutil.which("qemu-system-x86_64")
        self.notes = []
        self.state_notes = []

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

    def state_configs(self):
        """(label, memory MiB, cmdline): mostly zero and fully written, 1 and 4 GiB.

        The dirty guest's working set starts at 16 MiB and must be RAM; RAM
        ends at 3 GiB below the PCI hole (vmm/mem.c), so a 4 GiB guest can
        fill 3000 MiB of it and its last GiB (at 4 GiB) stays untouched."""
        out = []
        for mib, full in ((1024, 1000), (4096, 3000)):
            for ws, kind in ((1, "mostly zero"), (full, "fully written")):
                out.append(("%d GiB, %s" % (mib // 1024, kind), mib,
                            "mem_mib=%d rate_mib=0 hb_us=100000 duration_ms=0" % ws))
        return out

    def state(self):
        """Each configuration --state-runs times, interleaved: A B C D A B C D ..."""
        cfgs = self.state_configs()
        res = {c[0]: {"ops": {}, "rss": [], "checks": []} for c in cfgs}
        self.state_load = [os.getloadavg()[0]]
        scan0 = direct_reclaim_scans()
        for i in range(self.a.state_runs):
            for label, mib, cmdline in cfgs:
                print("bench: state run %d/%d: %s..." % (i + 1, self.a.state_runs, label),
                      file=sys.stderr)
                cmd = [self.bench_state, "--kernel", self.dirty, "--memory", str(mib),
                       "--cmdline", cmdline, "--dir", self.a.state_dir,
                       "--settle-ms", str(self.a.settle_ms),
                       "--empty-harvests", str(EMPTY_HARVESTS)]
                try:
                    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                       text=True, timeout=900)
                except subprocess.TimeoutExpired:
                    self.state_notes.append("a bench_state run (%s) timed out" % label)
                    continue
                r = res[label]
                for line in p.stdout.splitlines():
                    if line.startswith("result "):
                        kv = dict(f.split("=", 1) for f in line.split()[1:])
                        r["ops"].setdefault(kv["op"], []).append(
                            (float(kv["ms"]), int(kv["bytes"]), int(kv["ram_bytes"])))
                    elif line.startswith("peak_rss_mib "):
                        r["rss"].append(int(line.split()[1]))
                    elif line.startswith("check "):
                        r["checks"].append(line.split("=", 1)[1])
                if p.returncode != 0:
                    self.state_notes.append("a bench_state run (%s) failed: %s" % (
                        label, last_line(p.stderr)))
        self.state_load.append(os.getloadavg()[0])
        scan1 = direct_reclaim_scans()
        self.state_reclaim = (scan1 - scan0) * 4096 / 2**30 if scan0 is not None else None
        return [(c, res[c[0]]) for c in cfgs]


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


def direct_reclaim_scans():
    """Pages the kernel scanned in direct reclaim so far (a sign of memory pressure)."""
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                if line.startswith("pgscan_direct "):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def host_line():
    cpu, nested = host_config()
    return "- host: Linux %s, %d CPUs, %s; %s" % (
        platform.release(), os.cpu_count(), cpu,
        "KVM is nested (this host is itself a VM): guest ring 0 is emulated (about 1M "
        "instructions/s), ring 3 runs natively, every exit goes through the outer hypervisor"
        if nested else "KVM on bare metal")


def mbps(nbytes, ms):
    return nbytes / 1e6 / (ms / 1e3) if ms > 0 else 0.0


def state_report(r, results, cmd):
    """The "VM state" section: save/restore against memcpy, and the harvest."""
    a = r.a
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fs = subprocess.run(["df", "-T", a.state_dir], capture_output=True, text=True).stdout
    fs = fs.strip().splitlines()[-1].split() if fs.strip() else []
    out = []
    w = out.append
    w(STATE_SECTION)
    w("")
    w("Measured %s with `%s`: each figure is the median [min-max] over %d runs of "
      "`tests/bench/bench_state` per configuration, the configurations interleaved "
      "(A B C D A B C D ...)." % (now, cmd, a.state_runs))
    w("")
    w(host_line())
    w("- guest: tests/guests/dirty.elf, 1 vCPU, `mem_mib=W rate_mib=0 hb_us=100000 "
      "duration_ms=0`; its working set starts at 16 MiB and is filled with a pattern "
      "before it prints \"dirty start\". Mostly zero: W=1. Fully written: W=1000 in a "
      "1 GiB VM, W=3000 in a 4 GiB VM (RAM ends at 3 GiB below the PCI hole and resumes "
      "at 4 GiB, vmm/mem.c: the last GiB stays untouched and the save skips it)")
    w("- state files in %s%s; 1 MB = 10^6 bytes" % (
        a.state_dir, " (%s on %s)" % (fs[1], fs[0]) if len(fs) > 1 else ""))
    w("- host load during the runs: 1-minute load average %.1f at the start, %.1f at the "
      "end (%d CPUs)%s" % (
          r.state_load[0], r.state_load[-1], os.cpu_count(),
          "; the kernel scanned %.1f GiB of pages in direct reclaim meanwhile "
          "(memory pressure: this machine's memory is shared with other work)" %
          r.state_reclaim if r.state_reclaim is not None else ""))
    w("")
    w("### Save and restore")
    w("")
    w("| guest | operation | time, ms | stream MB/s | guest RAM MB/s | time / memcpy |")
    w("|---|---|---|---|---|---|")
    ops = [
        ("save_mem", "vm_state__save to a memory stream"),
        ("save_file", "vm_state__save to a file, no fsync"),
        ("save_file_fsync", "vm_state__save to a file, with fsync"),
        ("load_file", "vm_state__load from the file (page cache) into a fresh VM"),
        ("load_file_cold", "vm_state__load from the file (dropped from the cache)"),
        ("memcpy", "**ceiling**: memcpy of the stream's bytes, pre-faulted buffers"),
        ("memcpy_fresh", "reference: the same memcpy into a fresh mapping"),
        ("sha256", "reference: SHA-256 of the stream's bytes"),
        ("touch_ram", "reference: first read of each guest page by the vmm"),
    ]
    sizes = []
    for (label, mib, cmdline), res in results:
        o = res["ops"]
        mem = [v[0] for v in o.get("memcpy", [])]
        stream_b = [v[1] for v in o.get("save_mem", [])]
        ram_b = [v[2] for v in o.get("save_mem", [])]
        sizes.append((label, stream_b, ram_b, res))
        for op, what in ops:
            vals = o.get(op, [])
            if not vals:
                continue
            ms = [v[0] for v in vals]
            sb = [mbps(v[1], v[0]) for v in vals]
            # the RAM stored in the stream (the save's own figure has none)
            rb = [mbps(ram_b[min(i, len(ram_b) - 1)] if ram_b else 0, v[0])
                  for i, v in enumerate(vals)]
            if op in ("memcpy", "memcpy_fresh", "sha256", "touch_ram"):
                rb = [mbps(v[2], v[0]) for v in vals]
            w("| %s | %s | %s | %s | %s | %s |" % (
                label, what, spread(ms, "%.1f" if statistics.median(ms) >= 10 else "%.2f"),
                spread(sb, "%.0f"), spread(rb, "%.0f"), ratio(ms, mem)))
    w("")
    w("| guest | stream, MiB | guest RAM in the stream, MiB | peak RSS of bench_state, MiB "
      "| restored VM |")
    w("|---|---|---|---|---|")
    for label, stream_b, ram_b, res in sizes:
        w("| %s | %s | %s | %s | %s |" % (
            label, spread([b / 2**20 for b in stream_b]), spread([b / 2**20 for b in ram_b]),
            spread(res["rss"], "%.0f"),
            ", ".join(sorted(set(res["checks"]))) or "n/a"))
    w("")
    w("Each run creates the VM in-process as `vmm run` does, waits for \"dirty start\", "
      "pauses it (after the harvest below) and times, in this order: a save to a memory "
      "stream (stream__init_mem; freed before the next), a save to a new file without "
      "fsync (vm_state__save, stream__flush, close; the file is then synced and dropped "
      "from the cache untimed, so its write-back does not overlap the next figure), and a "
      "save to another file including its fsync. The source VM is destroyed, then a fresh "
      "VM (not started) loads "
      "the fsync'd file, still in the page cache; it is started and must keep running and "
      "print heartbeats (\"restored VM\"). Another fresh VM loads the file after "
      "POSIX_FADV_DONTNEED dropped it from the cache. Stream MB/s counts the bytes of the "
      "stream; guest RAM MB/s the non-zero guest pages it carries (written on save, applied "
      "on load; a zero page is skipped). The ceiling is memcpy of as many bytes as the "
      "stream between two malloc'd buffers faulted in beforehand, in the same process "
      "after the VMs are gone (best of 2 copies, of 20 below 256 MiB); time / memcpy is "
      "the ratio of the medians. The references explain the gap: every stream carries a "
      "SHA-256 of all its bytes (computed on save, checked on load), and a load stages the "
      "whole stream in fresh anonymous memory and writes the new VM's RAM, both faulted in "
      "page by page. touch_ram, timed before the first save, reads one byte of each guest "
      "page through the vmm's mapping, so that no save pays for mapping them first. For "
      "the mostly zero guests the stream is about a MiB and the times are the fixed costs "
      "(vCPU, irqchip, PIT and clock ioctls, creating the file, staging and parsing); "
      "what matters there is that they do not grow with the guest's size. The "
      "file system and the disk behind it are the test machine's (a virtual disk).")
    w("")
    w("### Dirty-page harvest (through the vmm: `dirty__start`, `dirty__harvest`)")
    w("")
    w("| guest | dirty__start, ms | dirtied in %d ms, MiB | harvest, ms | harvest per GiB "
      "of guest RAM, ms | harvest per GiB dirtied, ms | empty harvest, ms | empty harvest "
      "per GiB of guest RAM, ms |" % a.settle_ms)
    w("|---|---|---|---|---|---|---|---|")
    for (label, mib, cmdline), res in results:
        o = res["ops"]
        st = [v[0] for v in o.get("dirty_start", [])]
        hv = o.get("harvest", [])
        em = o.get("harvest_empty", [])
        gib = mib / 1024
        w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, spread(st, "%.1f"), spread([v[1] / 2**20 for v in hv], "%.0f"),
            spread([v[0] for v in hv], "%.2f"), spread([v[0] / gib for v in hv], "%.2f"),
            spread([v[0] / (v[1] / 2**30) for v in hv if v[1] >= 64 << 20], "%.1f"),
            spread([v[0] for v in em], "%.4f"), spread([v[0] / gib for v in em], "%.4f")))
    w("")
    w("In the same runs, before the saves: dirty__start on the running guest (manual-protect "
      "dirty log: it sets KVM_MEM_LOG_DIRTY_PAGES on every slot, which write-protects "
      "what the guest mapped), %d ms of the guest writing as fast as it can (rate_mib=0; "
      "each first write to a page after the start is a write-protection fault), vm__pause, "
      "then one timed dirty__harvest (KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG per slot, "
      "merged into one bitmap), then %d harvests with nothing dirty (their median: the "
      "fixed cost of looking). Per GiB of guest RAM divides by the VM's memory size "
      "(4 GiB for the 4 GiB VM, whose last GiB is its second slot); per GiB dirtied by "
      "what the harvest reported (n/a below 64 MiB, where the fixed cost dominates). "
      "`tests/bench/bench_dirty` measures "
      "the same KVM calls on a bare VM without the vmm; it is not run here." % (
          a.settle_ms, EMPTY_HARVESTS))
    if r.state_notes:
        w("")
        w("Problems in this run:")
        for n in r.state_notes:
            w("- " + n)
    w("")
    return "\n".join(out)


def environment():
    """The environment that runs this benchmark's KVM, as docs/performance.md
    names them: the nested VM of tests/nested/run.sh sets HASVC_NESTED=1; a
    paravirtual nested KVM shows as the kvm_pvm module; else the machine's own
    KVM."""
    if os.environ.get("HASVC_NESTED") == "1":
        return "nested TCG"
    if os.path.exists("/sys/module/kvm_pvm"):
        return "nested PVM"
    return "host KVM"


def record(path, text, section=SECTION):
    """Replace `section` of docs/performance.md (from its heading to the next
    '## ') with text, or append it; the rest of the file stays.  The line
    after the heading names the environment.  Every benchmark records
    through this."""
    first, _, rest = text.partition("\n")
    if first.startswith("## "):
        text = "%s\n\nEnvironment: %s.\n%s" % (first, environment(), rest)
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
    m = re.search(r"^%s\n.*?(?=^## |\Z)" % re.escape(section), doc, re.S | re.M)
    if m:
        doc = doc[:m.start()] + text + "\n" + doc[m.end():]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    # Written aside and renamed: an interrupted run leaves the old file.
    with open(path + ".tmp", "w") as f:
        f.write(doc.rstrip("\n") + "\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--io-count", type=int, default=20000)
    ap.add_argument("--pause-iterations", type=int, default=1000)
    ap.add_argument("--state-runs", type=int, default=3)
    ap.add_argument("--settle-ms", type=int, default=500)
    ap.add_argument("--state-dir", default="/tmp")
    ap.add_argument("--only", choices=("all", "core", "state"), default="all")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--command", default="tests/bench/run.sh")
    a = ap.parse_args()

    r = Runner(a)
    need = []
    if a.only in ("all", "core"):
        need += [r.vmm, r.bench_vmm, r.hello, r.ioloop]
    if a.only in ("all", "state"):
        need += [r.bench_state, r.dirty]
    for f in need:
        if not os.path.exists(f):
            sys.exit("bench: %s is missing (did `make bench` run?)" % f)
    texts = []
    if a.only in ("all", "core"):
        print("bench: boot (%d runs)..." % a.runs, file=sys.stderr)
        boot = r.boot()
        print("bench: port-I/O exits (%d runs)..." % a.runs, file=sys.stderr)
        exits = r.exits()
        print("bench: pause/resume, 1 and 2 vCPUs (%d runs each)..." % a.runs,
              file=sys.stderr)
        pauses = r.pause((1, 2))
        texts.append((SECTION, report(r, boot, exits, pauses, a.command)))
    if a.only in ("all", "state"):
        print("bench: save/restore and harvest, 4 configurations (%d runs each)..." %
              a.state_runs, file=sys.stderr)
        texts.append((STATE_SECTION, state_report(r, r.state(), a.command)))
    print("\n".join(t for _, t in texts))
    if a.record:
        path = os.path.join(a.srcdir, "docs", "performance.md")
        for section, text in texts:
            record(path, text, section)
        print("bench: recorded in %s" % path, file=sys.stderr)


if __name__ == "__main__":
    main()
