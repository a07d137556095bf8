#!/usr/bin/env python3
"""Linux guest benchmark helper (driven by tests/bench/bench_linux.sh).

  bench_linux.py first HOST PORT T0_NS LIMIT_S
      ECHO requests to counterd every 100 ms until one is answered; prints
      {"ms": time from T0_NS (CLOCK_REALTIME, the shell's date +%s%N taken
      just before the VMM was spawned) to the first answer}; exit 1 after
      LIMIT_S seconds without one.
  bench_linux.py note TEXT
      TEXT as a JSON string (a result line's note).
  bench_linux.py report --results FILE ...
      the markdown section from the result lines "PEER RUN KIND JSON";
      --record PATH writes it into docs/performance.md (bench.record()).
"""
import argparse
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import time

MAGIC_ECHO = 0x4F484345
SECTION = "## Linux guest"


def first(host, port, t0_ns, limit_s):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.1)
    end = time.time() + limit_s
    seq = 0
    while time.time() < end:
        seq += 1
        try:
            s.sendto(struct.pack("<IIQ", MAGIC_ECHO, 1, seq), (host, port))
            data = s.recv(64)
        except socket.timeout:  # no answer yet
            continue
        except OSError:  # no neighbour yet (EHOSTUNREACH at once): not a busy loop
            time.sleep(0.1)
            continue
        if len(data) >= 24 and struct.unpack("<I", data[:4])[0] == MAGIC_ECHO:
            print(json.dumps({"ms": (time.time_ns() - t0_ns) / 1e6}))
            return 0
    print("no answer from %s:%d in %d s" % (host, port, limit_s))
    return 1


def med(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def mmm(xs, fmt):
    """median [min-max] of xs, or the one value, or 'failed'."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    if len(xs) == 1:
        return fmt % xs[0]
    return (fmt + " [" + fmt + "-" + fmt + "]") % (med(xs), min(xs), max(xs))


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "–"


def window(a, b):
    """Means over the epochs between two protect-status snapshots (the
    status gives means since protect began: sum = mean x epochs)."""
    n = b["epochs"] - a["epochs"]
    if n <= 0:
        return None

    def mean(key):
        return (b[key] * b["epochs"] - a[key] * a["epochs"]) / n

    return {"epochs": n, "pause_us": mean("pause_us_mean"), "pages": mean("pages_per_epoch"),
            "bytes": mean("bytes_per_epoch"), "disk_bytes": mean("disk_bytes_per_epoch"),
            "ack_us": mean("ack_us_mean"), "by_output": b.get("epochs_by_output", 0) -
            a.get("epochs_by_output", 0)}


def qemu_version():
    try:
        out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                             text=True, timeout=30).stdout
        return out.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "QEMU (version unknown)"


def report(a):
    res, notes = {}, []
    with open(a.results) as f:
        for line in f:
            try:
                peer, run, kind, js = line.rstrip("\n").split(" ", 3)
                v = json.loads(js)
            except ValueError:
                notes.append("unreadable result line: %r" % line[:200])
                continue
            if kind == "note":
                notes.append("run %s: %s" % (run, v))
                continue
            res.setdefault((peer, kind), {})[int(run)] = v
    peers = ["vmm"] + a.machines.split()
    names = {"vmm": "vmm"}
    names.update({m: "QEMU %s" % m for m in a.machines.split()})

    def vals(peer, kind, fn):
        out = []
        for v in res.get((peer, kind), {}).values():
            try:
                out.append(fn(v))
            except (KeyError, TypeError, ZeroDivisionError):
                pass
        return out

    rows = [
        ("start to the service's first answer, s", "first", lambda v: v["ms"] / 1000, "%.1f"),
        ("idle CPU of the booted guest, % of a host core", "idle",
         lambda v: 100.0 * v["ticks"] / v["hz"] / (v["ns"] / 1e9), "%.1f"),
        ("ECHO open loop, answered within 1 s, %", "open_u",
         lambda v: 100.0 * v["acked"] / v["sent"], "%.0f"),
        ("round trip, ECHO open loop, p50 ms", "open_u", lambda v: v["rtt_p50_ms"], "%.2f"),
        ("round trip, ECHO open loop, p99 ms", "open_u", lambda v: v["rtt_p99_ms"], "%.2f"),
        ("counter back to back (fsync'd), answers/s", "max_u",
         lambda v: v["acked"] / v["elapsed_s"], "%.1f"),
        ("counter back to back (fsync'd), p50 ms", "max_u", lambda v: v["rtt_p50_ms"], "%.2f"),
    ]
    out = []
    w = out.append
    w(SECTION + "\n")
    nested = os.environ.get("HASVC_NESTED") == "1"
    env = ("inside the nested VM of tests/nested/run.sh (QEMU TCG emulating AMD SVM, "
           "NESTED_ACCEL=%s, %s vCPU): absolute times are the emulator's and not comparable "
           "to hardware; the ratios are, both VMMs running on the same nested KVM" % (
               os.environ.get("NESTED_ACCEL", "tcg,thread=single"),
               os.environ.get("NESTED_CPUS", "2")) if nested else "this machine's KVM")
    command = a.command
    if nested:
        command = "NESTED_CPUS=%s NESTED_ACCEL=%s tests/nested/run.sh %s" % (
            os.environ.get("NESTED_CPUS", "2"), os.environ.get("NESTED_ACCEL", "tcg,thread=single"),
            a.command)
    w("Command: `%s`, %s, %d s, %s.  %d run%s, each peer a fresh guest, the peers' order "
      "turned run by run; median [min-max] when more than one run.  Kernel %s (inside: %s), "
      "%s, 1-minute load average at the end %.1f.\n" % (
          command, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), a.seconds, env,
          a.runs, "" if a.runs == 1 else "s", platform.release(), a.kernel, qemu_version(),
          os.getloadavg()[0]))
    w("The guest of tests/linux (README there): Debian's kernel %s with the busybox "
      "initramfs of tests/linux/linux_kernel.sh (virtio-pci modules added for q35), "
      "`%s`, 256 MiB, 1 vCPU, an ext4 root made by tests/guests/linux/mkroot.sh whose "
      "counterd serves the counter on UDP and fsyncs every update before answering; "
      "virtio-blk on a raw image and virtio-net on a tap in a bridge, the client "
      "(tests/virtio/udpclient.py) in another network namespace.  QEMU: "
      "`qemu-system-x86_64 -accel kvm -machine M -cpu host -smp 1 -m 256M -nodefaults` "
      "with the same kernel, initramfs, command line and disk image, on a fresh tap "
      "in the same bridge; microvm's "
      "virtio-mmio devices are found through its ACPI DSDT as in the vmm (Debian's kernel "
      "has no virtio_mmio.device=), q35's are virtio-pci (SeaBIOS boots the kernel).\n" % (
          a.kernel, "console=ttyS0 root=/dev/vda loglevel=5"))
    w("First answer: from just before the VMM process is spawned to counterd's first "
      "answer to an ECHO sent every 100 ms (kernel, initramfs, root mount, busybox init, "
      "network, counterd).  Idle CPU: the VMM process's user + system time over %d s "
      "starting 2 s after that answer.  Round trips: %d s each, ECHO requests open loop at %d Hz "
      "(sent on schedule whatever the answers; lost when unanswered after 1 s), the counter "
      "request back to back (each sent when the previous one is answered, retried after 1 s).  Ratios are vmm / QEMU "
      "(medians): below 1 the vmm is faster or cheaper, except for answers and answered "
      "%%, where above 1 it is better.\n" % (a.idle_s, a.rtt_s, a.rate))
    head = "| figure | " + " | ".join(names[p] for p in peers) + " | " + \
        " | ".join("vmm / %s" % names[p] for p in peers[1:]) + " |"
    w(head)
    w("|" + "---|" * (1 + 2 * len(peers) - 1))
    for label, kind, fn, fmt in rows:
        cells = [mmm(vals(p, kind, fn), fmt) for p in peers]
        ours = med(vals("vmm", kind, fn))
        rats = [ratio(ours, med(vals(p, kind, fn))) for p in peers[1:]]
        w("| %s | %s | %s |" % (label, " | ".join(cells), " | ".join(rats)) if rats else
          "| %s | %s |" % (label, " | ".join(cells)))
    w("")

    # Checkpointing: vmm only.
    wins = {"idle": [], "busy": []}
    for run, b in res.get(("vmm", "st_b"), {}).items():
        sa = res.get(("vmm", "st_a"), {}).get(run)
        sc = res.get(("vmm", "st_c"), {}).get(run)
        if sa:
            wins["idle"].append(window(sa, b))
        if sc:
            wins["busy"].append(window(b, sc))
    w("Checkpointing, vmm only: QEMU has no periodic (Remus-style) checkpointing to "
      "compare with (its COLO runs a second, lock-stepped VM and compares their output: "
      "another design, not set up here), so these figures have no QEMU peer.  The booted "
      "guest protected with `protect --interval 25 --tls-none` (epochs also ended by "
      "held output, the default) to a standby on this host over loopback, its disk "
      "replicated.  Idle: %d s with no client; busy: %d s of counter updates back to "
      "back, each written and fsync'd to the guest's ext4 disk before its answer.  Means "
      "over the window's epochs (from two `protect-status --json` snapshots).\n" % (
          a.ck_s, a.ck_s))
    w("| guest | epochs | epochs ended by output | pages/epoch | checkpoint bytes/epoch | "
      "disk bytes/epoch | pause mean µs | ack mean µs |")
    w("|---|---|---|---|---|---|---|---|")
    for k, label in (("idle", "idle"), ("busy", "busy (counter back to back)")):
        ws = [x for x in wins[k] if x]
        w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, mmm([x["epochs"] for x in ws], "%.0f"),
            mmm([x["by_output"] for x in ws], "%.0f"), mmm([x["pages"] for x in ws], "%.0f"),
            mmm([x["bytes"] for x in ws], "%.0f"), mmm([x["disk_bytes"] for x in ws], "%.0f"),
            mmm([x["pause_us"] for x in ws], "%.0f"), mmm([x["ack_us"] for x in ws], "%.0f")))
    w("")
    w("The service's round trip, vmm, unprotected and protected (the same guest, the "
      "protected rows after the checkpoint windows above; no QEMU peer for protected):\n")
    w("| run | answers/s | answered, % | p50 ms | p99 ms | max ms | p50 / unprotected |")
    w("|---|---|---|---|---|---|---|")
    for kind, label, rate in (("open", "ECHO %d Hz open loop" % a.rate, a.rtt_s),
                              ("max", "counter back to back", None)):
        base = med(vals("vmm", kind + "_u", lambda v: v["rtt_p50_ms"]))
        for mode, mname in (("u", "unprotected"), ("p", "protected 25 ms")):
            k = kind + "_" + mode
            w("| %s, %s | %s | %s | %s | %s | %s | %s |" % (
                mname, label,
                mmm(vals("vmm", k, lambda v: v["acked"] / (rate or v["elapsed_s"])), "%.1f"),
                mmm(vals("vmm", k, lambda v: 100.0 * v["acked"] / v["sent"]), "%.0f"),
                mmm(vals("vmm", k, lambda v: v["rtt_p50_ms"]), "%.2f"),
                mmm(vals("vmm", k, lambda v: v["rtt_p99_ms"]), "%.2f"),
                mmm(vals("vmm", k, lambda v: v["rtt_max_ms"]), "%.2f"),
                ratio(med(vals("vmm", k, lambda v: v["rtt_p50_ms"])), base)))
    w("")
    bad = sum(v.get("mismatches", 0) + v.get("errors", 0)
              for (p, k), rs in res.items() if k.startswith("max") for v in rs.values())
    w("Every counter answer checked by the client: %d lost, doubled or error answers." % bad)
    for n in notes:
        w("\n- %s" % n)
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if a.record:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench  # tests/bench/bench.py: record()
        bench.record(a.record, text, SECTION)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "first":
        return first(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    if len(sys.argv) == 3 and sys.argv[1] == "note":
        print(json.dumps(sys.argv[2]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        ap.add_argument("--results", required=True)
        ap.add_argument("--command", required=True)
        ap.add_argument("--runs", type=int, required=True)
        ap.add_argument("--seconds", type=int, required=True)
        ap.add_argument("--machines", default="")
        ap.add_argument("--kernel", required=True)
        ap.add_argument("--idle-s", type=int, required=True)
        ap.add_argument("--rtt-s", type=int, required=True)
        ap.add_argument("--ck-s", type=int, required=True)
        ap.add_argument("--rate", type=int, required=True)
        ap.add_argument("--record")
        report(ap.parse_args(sys.argv[2:]))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
