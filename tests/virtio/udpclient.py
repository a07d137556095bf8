#!/usr/bin/env python3
"""UDP counter client for the net test guest (tests/guests/net.c).

Usage: udpclient.py HOST PORT [--rate HZ] [--duration S] [--timeout MS]
                    [--client ID] [--echo [--open-loop]] [--count N] [--json]
                    [--log FILE]

  HOST PORT      the guest's address and UDP port (its ip= and port=)
  --rate HZ      requests per second (default 100; 0: back to back, each
                 request sent as soon as the previous one is answered)
  --duration S   stop starting new requests after S seconds (default 5)
  --count N      or after N acknowledged requests (default: no limit)
  --timeout MS   retry a request not answered within MS ms (default 100);
                 a retry repeats the same seq, which the guest answers
                 without counting it again
  --client ID    client id (default: the pid)
  --echo         RTT probes only (ECHO requests): no counter involved
  --open-loop    with --echo and a --rate above 0: send on a fixed schedule
                 (request k at start + k / rate) whatever the answers, each
                 with its own seq, so several may be in flight; answers are
                 matched by seq; a request unanswered after --timeout counts
                 as lost (no retries); --count N stops after N requests sent
  --json         print the summary as one JSON object instead
  --check        counter mode, at the end: ask the guest (the Linux guest's
                 counterd, tests/guests/linux/counterd.c) to read its durable
                 log back and confirm it holds updates 1..the last acknowledged
                 seq of this client, each once, in order; "check=ok" or
                 "check=bad@SEQ" in the summary; bad fails the run
  --log FILE     append a line per answer as it comes, flushed at once:
                 "ack SEQ VALUE RTT_MS" (or "err SEQ LAST_SEQ RTT_MS"), so a
                 test can follow the progress of a long run (count the lines)

Open loop measures the round trip at the offered rate even when answers are
held back (output commit holds them until the epoch's checkpoint is
acknowledged): closed loop, the next request waits for the previous answer.

SIGTERM or SIGINT ends the run early, with the summary printed.

Counter mode sends seq 1, 2, ... one at a time and checks every answer:
status ok and value - seq the same for all answers (0 on a fresh guest):
an acknowledged update lost, or one applied twice, changes it.

The last line of output is the summary, e.g.
  udpclient: acked=500 sent=503 retries=3 errors=0 mismatches=0 offset=0
  max_gap_ms=12.3 rtt_ms p50=0.41 p90=0.60 p99=1.90 max=8.20
Open loop adds lost=N to that line (and "lost" to the JSON, 0 closed loop);
acked counts answers, sent requests, retries stays 0, stale counts answers to
no request in flight (late or doubled).
Exit status 0 when at least one request was acknowledged and there were no
mismatches and no error answers, 1 otherwise, 2 on bad usage.
"""
import argparse
import json
import os
import select
import signal
import socket
import struct
import sys
import time

MAGIC_COUNT = 0x544E4355
MAGIC_ECHO = 0x4F484345
MAGIC_CHECK = 0x4B454843
REQ = struct.Struct("<IIQ")
REP = struct.Struct("<IIQQ")


def percentile(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    k = min(len(sorted_vals) - 1, int(round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


STOP = []


def recv_reply(sock):
    """One datagram from the guest, unpacked; None if unreadable or not a reply."""
    try:
        data = sock.recv(2048)
    except OSError:
        return None
    return REP.unpack(data) if len(data) == REP.size else None


def on_signal(signum, frame):
    STOP.append(signum)


def open_socket(args):
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((args.host, args.port))
    return sock


def run_open_loop(args):
    """ECHO requests on a fixed schedule, answers matched by seq."""
    sock = open_socket(args)
    timeout = args.timeout / 1000.0
    interval = 1.0 / args.rate
    log = open(args.log, "a", buffering=1) if args.log else None
    st = dict(acked=0, sent=0, retries=0, errors=0, mismatches=0, stale=0, lost=0)
    rtts = []
    pending = {}  # seq -> send time; dicts keep insertion order: oldest first
    start = time.monotonic()
    last_ack = start
    max_gap = 0.0
    seq = 0
    sending = True
    while sending or pending:
        now = time.monotonic()
        if sending and (now - start >= args.duration or STOP or
                        (args.count and seq >= args.count)):
            sending = False
        if STOP and len(STOP) > 1:
            break  # a second signal: do not wait for the answers in flight
        # The schedule is start + k * interval: a late send does not shift
        # the following ones.
        if sending and now >= start + seq * interval:
            seq += 1
            try:
                sock.send(REQ.pack(MAGIC_ECHO, args.client, seq))
            except OSError:
                pass  # ICMP unreachable from an earlier datagram
            pending[seq] = time.monotonic()
            st["sent"] += 1
            continue
        for s in [s for s, t in pending.items() if now - t >= timeout]:
            del pending[s]
            st["lost"] += 1
        waits = [t + timeout - now for t in pending.values()][:1]
        if sending:
            waits.append(start + seq * interval - now)
        if not waits:
            break
        r, _, _ = select.select([sock], [], [], max(0.0, min(waits)))
        if not r:
            continue
        rep = recv_reply(sock)
        if rep is None:
            continue
        m, status, rseq, value = rep
        if m != MAGIC_ECHO or rseq not in pending:
            st["stale"] += 1
            continue
        t = time.monotonic()
        rtts.append((t - pending.pop(rseq)) * 1000.0)
        max_gap = max(max_gap, t - last_ack)
        last_ack = t
        st["acked"] += 1
        if log:
            log.write("%s %d %d %.3f\n" % ("err" if status else "ack", rseq, value, rtts[-1]))
        if status != 0:
            st["errors"] += 1
    st["lost"] += len(pending)
    return finish(args, st, None, rtts, max_gap, start)


def run(args):
    sock = open_socket(args)
    magic = MAGIC_ECHO if args.echo else MAGIC_COUNT
    timeout = args.timeout / 1000.0
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    log = open(args.log, "a", buffering=1) if args.log else None
    st = dict(acked=0, sent=0, retries=0, errors=0, mismatches=0, stale=0)
    offset = None
    rtts = []
    start = time.monotonic()
    last_ack = start
    max_gap = 0.0
    seq = 0
    next_send = start
    while True:
        now = time.monotonic()
        if (now - start >= args.duration or STOP or
                (args.count and st["acked"] >= args.count)):
            break
        if next_send > now:
            time.sleep(next_send - now)
        seq += 1
        first = time.monotonic()
        answered = False
        while not answered:
            sent_at = time.monotonic()
            try:
                sock.send(REQ.pack(magic, args.client, seq))
            except OSError:
                pass  # ICMP unreachable from an earlier datagram: retry
            st["sent"] += 1
            deadline = sent_at + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if STOP:
                    break
                r, _, _ = select.select([sock], [], [], left)
                if not r:
                    break
                rep = recv_reply(sock)
                if rep is None:
                    continue
                m, status, rseq, value = rep
                if m != magic or rseq != seq:
                    st["stale"] += 1
                    continue
                answered = True
                t = time.monotonic()
                rtts.append((t - sent_at) * 1000.0)
                max_gap = max(max_gap, t - last_ack)
                last_ack = t
                st["acked"] += 1
                if log:
                    log.write("%s %d %d %.3f\n" % ("err" if status else "ack", seq, value,
                                                  rtts[-1]))
                if status != 0:
                    st["errors"] += 1
                    print("udpclient: seq %d answered with an error (last seq %d)"
                          % (seq, value), file=sys.stderr)
                elif not args.echo:
                    if offset is None:
                        offset = value - seq
                    elif value - seq != offset:
                        st["mismatches"] += 1
                        print("udpclient: seq %d got value %d (expected %d)"
                              % (seq, value, seq + offset), file=sys.stderr)
                break
            if not answered:
                st["retries"] += 1
                if time.monotonic() - start > args.duration + args.grace or STOP:
                    break
        if not answered:
            break
        next_send = first + interval
    if args.check:
        st["check"] = check_log(sock, args, seq if answered else seq - 1)
        if st["check"] != "ok":
            print("udpclient: the guest's log check: %s" % st["check"], file=sys.stderr)
    return finish(args, st, offset, rtts, max_gap, start)


def check_log(sock, args, last_seq):
    """The guest's answer to CHECK last_seq: "ok", "bad@SEQ", or "none"."""
    end = time.monotonic() + args.grace
    while time.monotonic() < end and len(STOP) < 2:
        try:
            sock.send(REQ.pack(MAGIC_CHECK, args.client, last_seq))
        except OSError:
            pass
        r, _, _ = select.select([sock], [], [], args.timeout / 1000.0)
        rep = recv_reply(sock) if r else None
        if rep and rep[0] == MAGIC_CHECK and rep[2] == last_seq:
            return "ok" if rep[1] == 0 else "bad@%d" % rep[3]
    return "none"


def finish(args, st, offset, rtts, max_gap, start):
    """Print the summary; the exit status."""
    rtts.sort()
    summary = dict(st, offset=offset if offset is not None else 0,
                   max_gap_ms=round(max_gap * 1000.0, 2),
                   rtt_p50_ms=round(percentile(rtts, 50), 3),
                   rtt_p90_ms=round(percentile(rtts, 90), 3),
                   rtt_p99_ms=round(percentile(rtts, 99), 3),
                   rtt_max_ms=round(rtts[-1], 3) if rtts else 0.0,
                   elapsed_s=round(time.monotonic() - start, 3))
    summary.setdefault("lost", 0)
    if args.json:
        print(json.dumps(summary))
    else:
        print("udpclient: acked=%(acked)d sent=%(sent)d retries=%(retries)d "
              "errors=%(errors)d mismatches=%(mismatches)d offset=%(offset)d "
              "max_gap_ms=%(max_gap_ms).1f rtt_ms p50=%(rtt_p50_ms).2f "
              "p90=%(rtt_p90_ms).2f p99=%(rtt_p99_ms).2f max=%(rtt_max_ms).2f" % summary
              + (" lost=%(lost)d" % summary if args.open_loop else "")
              + (" check=%(check)s" % summary if args.check else ""))
    ok = (st["acked"] > 0 and not st["mismatches"] and not st["errors"] and
          st.get("check", "ok") == "ok")
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description="UDP counter client for tests/guests/net.c")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--timeout", type=float, default=100.0)
    p.add_argument("--grace", type=float, default=10.0,
                   help="how long past --duration a request may still be retried")
    p.add_argument("--client", type=int, default=os.getpid() & 0xFFFFFFFF)
    p.add_argument("--echo", action="store_true")
    p.add_argument("--open-loop", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true")
    p.add_argument("--log")
    args = p.parse_args()
    if args.timeout <= 0 or args.duration <= 0 or args.rate < 0:
        p.error("--timeout and --duration must be positive, --rate not negative")
    if args.open_loop and (not args.echo or args.rate <= 0):
        p.error("--open-loop needs --echo and a --rate above 0")
    if args.check and args.echo:
        p.error("--check needs counter mode (not --echo)")
    sys.exit(run_open_loop(args) if args.open_loop else run(args))


if __name__ == "__main__":
    main()
