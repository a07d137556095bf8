#!/usr/bin/env python3
"""A client of a protected counter guest that follows it across the cluster.

hclient.py LOCATE LOG STOPFILE

LOCATE is a shell command that prints the path of the serial socket of the
VM's current primary (or fails while there is none).  The client connects,
asks "get" (which must not be below the last value it saw acknowledged:
otherwise an acknowledged update was lost), then sends "inc 1" again and
again, appending "MS VALUE" to LOG for every acknowledged value (MS: wall
clock in milliseconds).  When the connection ends it locates the primary
again and carries on.  It stops when STOPFILE exists, and prints a summary:
acknowledged updates, reconnections and the longest time without an answer.
Exit 0, or 1 when an acknowledged update was lost or the guest's log is not
intact.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmm"))
from serial_client import Lines  # noqa: E402
import socket  # noqa: E402


def now_ms():
    return int(time.time() * 1000)


def locate(cmd):
    r = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=20)
    path = r.stdout.strip()
    return path if r.returncode == 0 and path else None


def answer(lines, prefix):
    while True:
        line = lines.line()
        if line.startswith(prefix):
            return line


def session(path, log, last, stopfile):
    """One connection: returns the last acknowledged value."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    # A primary that stopped answering (paused, cut off) is left after 2 s
    # and the primary looked up again, as a client with a short retry would.
    lines = Lines(s, 2)
    s.sendall(b"get\n")
    v = int(answer(lines, "val ").split()[1])
    if v < last:
        print("LOST: %s answers %d, the client saw %d acknowledged" % (path, v, last))
        sys.exit(1)
    log.write("%d %d connected %s\n" % (now_ms(), v, path))
    log.flush()
    last = v
    # The new primary may still answer a request the client sent to the old
    # one (the guest had received it when the checkpoint was taken): that
    # answer arrives on this connection before the answer to "get".  So one
    # answer equal to the last value may come before the first inc's.
    stale_ok = True
    while not os.path.exists(stopfile):
        s.sendall(b"inc 1\n")
        v = int(answer(lines, "val ").split()[1])
        if v == last and stale_ok:
            v = int(answer(lines, "val ").split()[1])
        stale_ok = False
        if v != last + 1:
            print("BAD: inc after %d answered %d" % (last, v))
            sys.exit(1)
        last = v
        log.write("%d %d\n" % (now_ms(), v))
        log.flush()
    s.sendall(b"check\n")
    c = answer(lines, "check ")
    if not c.startswith("check ok"):
        print("the guest's log is not intact: %s" % c)
        sys.exit(1)
    s.close()
    return last


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, logpath, stopfile = sys.argv[1:]
    last, acked, reconnects, gap, t_last = 0, 0, -1, 0, None
    with open(logpath, "a") as log:
        while not os.path.exists(stopfile):
            path = locate(cmd)
            if not path:
                time.sleep(0.05)  # polling the cluster's status: no event to wait for
                continue
            reconnects += 1
            try:
                start = last
                last = session(path, log, last, stopfile)
                acked += last - start
            except (OSError, EOFError, TimeoutError, ValueError) as e:
                log.write("%d - lost %s: %s\n" % (now_ms(), path, e))
                log.flush()
    # The longest silence, from the log: the client's view of downtime.
    with open(logpath) as f:
        for line in f:
            t = int(line.split()[0])
            if t_last is not None and t - t_last > gap and line.split()[1] != "-":
                gap = t - t_last
            if line.split()[1] != "-":
                t_last = t
    print("client: %d acknowledged updates, last %d, %d reconnections, longest gap %d ms"
          % (acked, last, max(reconnects, 0), gap))
    return 0


if __name__ == "__main__":
    sys.exit(main())
