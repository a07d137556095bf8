#!/usr/bin/env python3
"""virtio-net benchmark report (driven by tests/bench/bench_net.sh).

Reads the client's JSON summaries, one per line prefixed with the mode
(u: unprotected, p: protected with epochs ended by time only, o: protected
with output-triggered epochs, the default, b: as o with --baseline-vmm) and the kind (open: ECHO open loop at
100 Hz, max: the counter request closed loop, back to back), and prints the markdown section; --record writes it into
docs/performance.md through bench.record().
"""
import argparse
import json
import os
import sys
import time

import bench  # tests/bench/bench.py: record()
from bench_checkpoint import med, mmm  # median (min–max) cells


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("--rate-s", type=int, required=True)
    ap.add_argument("--max-s", type=int, required=True)
    ap.add_argument("--record")
    a = ap.parse_args()
    res = {}
    with open(a.results) as f:
        for line in f:
            mode, kind, js = line.split(" ", 2)
            res.setdefault((mode, kind), []).append(json.loads(js))
    out = []
    w = out.append
    w("## virtio-net\n")
    w("Command: `%s`, %s, on %s (%d cpus, nested KVM), %d s.  Median of %d runs (min–max), "
      "unprotected and protected (epochs ended by time only, then output-triggered) "
      "interleaved run by run, a fresh guest each run.  1-minute load average at the end: "
      "%.1f (the machine is shared: other people's builds and tests run beside these).\n"
      % (a.command, time.strftime("%Y-%m-%d"), os.uname().nodename, os.cpu_count(),
         a.seconds, a.runs, os.getloadavg()[0]))
    w("The net guest (tests/guests/net.c, 64 MiB, 1 vCPU, ring 3, polling) on a tap in a "
      "bridge; the client (tests/virtio/udpclient.py) in another network namespace behind "
      "a veth.  100 Hz rows: `--echo --open-loop --rate 100 --timeout 1000` for %d s, ECHO "
      "requests sent every 10 ms on a fixed schedule whatever the answers (several in "
      "flight, matched by seq; lost: unanswered after 1 s, no retries); answers/s = "
      "answers / %d s.  Back to back rows: the counter request closed loop (one in flight, "
      "each sent when the previous one is answered, 100 ms retry, every answer checked) "
      "for %d s.  Protected: 25 ms epochs, the standby on this host over TLS 1.3 "
      "(loopback); an answer leaves only when the checkpoint of its epoch is "
      "acknowledged.  Time only (`--output-epochs off`, as before output-triggered "
      "epochs): open loop, a request arrives at a uniformly random point of its "
      "epoch, so its answer waits for the rest of the epoch (interval/2 = 12.5 ms on "
      "average) plus the checkpoint's pause, transfer and acknowledgement before it leaves: "
      "p50 is about interval/2 + the ack time, the spread (p90, p99) about one interval "
      "plus the slowest acks; the offered 100 Hz is answered in full.  Closed loop, the "
      "next request arrives just after a commit and its answer leaves with the next one: "
      "one epoch later, hence 40 answers a second at most however fast the client.  "
      "Output-triggered (the default: `--min-interval 1 --max-rate 1000`): a held answer "
      "ends its epoch as soon as the epoch is 1 ms old, so it waits for one pause, transfer "
      "and ack instead of the rest of a 25 ms epoch; back to back, the epochs' 1 ms floor "
      "caps it at 1000 answers a second.  Min interval 0.25 ms: `--min-interval 0.25 "
      "--max-rate 4000`.  Round trips in ms.\n"
      % (a.rate_s, a.rate_s, a.max_s))
    w("| run | answers/s | lost | p50 | p90 | p99 | max | p50 / unprotected | p99 / unprotected |")
    w("|---|---|---|---|---|---|---|---|---|")
    for kind, label in (("open", "100 Hz open loop"), ("max", "back to back")):
        base50 = med([r["rtt_p50_ms"] for r in res.get(("u", kind), [])])
        base99 = med([r["rtt_p99_ms"] for r in res.get(("u", kind), [])])
        for mode, name in (("u", "unprotected"), ("p", "protected 25 ms, time only"),
                           ("o", "protected 25 ms, output-triggered"),
                           ("s", "protected 25 ms, output-triggered, min interval 0.25 ms"),
                           ("b", "baseline vmm, protected 25 ms, output-triggered")):
            rs = res.get((mode, kind), [])
            if not rs:
                continue
            p50 = med([r["rtt_p50_ms"] for r in rs])
            p99 = med([r["rtt_p99_ms"] for r in rs])
            # open loop: over the sending time (the drain of the last answers
            # is no part of the offered rate)
            rate = [r["acked"] / (a.rate_s if kind == "open" else r["elapsed_s"]) for r in rs]
            w("| %s, %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, label, mmm(rate, "%.0f"),
                mmm([r.get("lost", 0) + r["retries"] for r in rs], "%.0f"),
                mmm([r["rtt_p50_ms"] for r in rs], "%.2f"), mmm([r["rtt_p90_ms"] for r in rs], "%.2f"),
                mmm([r["rtt_p99_ms"] for r in rs], "%.2f"), mmm([r["rtt_max_ms"] for r in rs], "%.2f"),
                "%.1f" % (p50 / base50) if p50 and base50 else "–",
                "%.1f" % (p99 / base99) if p99 and base99 else "–"))
    w("")
    w("Ratios, protected / unprotected answers a second back to back (medians): time only "
      "%s, output-triggered %s, with a 0.25 ms min interval %s, baseline vmm "
      "output-triggered %s.\n" % tuple(
          "%.3f" % (med([r["acked"] / r["elapsed_s"] for r in res.get((m, "max"), [])]) /
                    med([r["acked"] / r["elapsed_s"] for r in res.get(("u", "max"), [])]))
          if res.get((m, "max")) and res.get(("u", "max")) else "–"
          for m in ("p", "o", "s", "b")))
    o_rate = med([r["acked"] / r["elapsed_s"] for r in res.get(("o", "max"), [])])
    u_rate = med([r["acked"] / r["elapsed_s"] for r in res.get(("u", "max"), [])])
    o_p50 = med([r["rtt_p50_ms"] for r in res.get(("o", "open"), [])])
    if o_rate and u_rate and o_p50:
        w("Goals (issue 19), output-triggered: back to back >= 0.2x and >= 500/s: %.3fx and "
          "%.0f/s (%s); open-loop 100 Hz p50 <= 3 ms: %.2f ms (%s).  A protected answer "
          "waits for at least one pause, one checkpoint sent and acknowledged, and, when "
          "it arrives while a checkpoint is in flight, for that one first: the pause and "
          "ack means below bound the rate at 1 / (pause + ack) answers a second.\n" % (
              o_rate / u_rate, o_rate,
              "met" if o_rate / u_rate >= 0.2 and o_rate >= 500 else "not met",
              o_p50, "met" if o_p50 <= 3 else "not met"))
    for mode, name in (("p", "Time only"), ("o", "Output-triggered"),
                       ("s", "Output-triggered, min interval 0.25 ms"),
                       ("b", "Baseline vmm, output-triggered")):
        st = res.get((mode, "status"), [])
        if not st:
            continue
        w("%s, the primary's `protect-status --json` after the 100 Hz run (means over "
          "its epochs, µs): pause %s, checkpoint sent to ack received %s, epochs/s %s, "
          "epochs ended by output %s, by time %s.\n" % (
              name, mmm([r["pause_us_mean"] for r in st], "%.0f"),
              mmm([r["ack_us_mean"] for r in st], "%.0f"),
              mmm([r.get("epochs_per_s", 0) for r in st], "%.1f"),
              mmm([r.get("epochs_by_output", 0) for r in st], "%.0f"),
              mmm([r.get("epochs_by_time", 0) for r in st], "%.0f")))
    w("The time-only p50 is about 12.5 ms + pause + ack; the rest is what the ack time does "
      "not cover (encoding, hashing and sending the checkpoint before it, releasing the "
      "held frames after it; not broken down here).\n")
    w("lost: open loop, requests unanswered after 1 s; back to back, retries (100 ms).  "
      "Every counter answer checked: %d lost or doubled updates over all runs, and %d error "
      "answers." % (sum(r.get("mismatches", 0) for rs in res.values() for r in rs),
                    sum(r.get("errors", 0) for rs in res.values() for r in rs)))
    text = "\n".join(out) + "\n"
    print(text)
    if a.record:
        bench.record(a.record, text, "## virtio-net")
        print("recorded in %s" % a.record, file=sys.stderr)


if __name__ == "__main__":
    main()
