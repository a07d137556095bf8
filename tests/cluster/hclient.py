#!/usr/bin/env python3
"""A client of a protected counter guest that follows it across the cluster.

hclient.py PATTERN LOG STOPFILE

PATTERN is a glob of the serial sockets the VM may have, one per node
(hasvcd keeps RUN/VM.serial pointing at the primary's socket on the node
that runs it, as a client would follow the VM's address).  The client tries
them in turn, starting after the one that failed last, connects, sends
"sync TOKEN" and skips what the guest says before "sync TOKEN" (answers to
requests of an earlier connection: the old primary received them, or held
their answers, when the checkpoint was taken), asks "get" (which must not
be below the last value it saw acknowledged: otherwise an acknowledged
update was lost), then sends "inc 1" again and again, appending "MS VALUE" to LOG for every acknowledged value (MS: wall
clock in milliseconds).  When the connection ends it locates the primary
again and carries on.  It stops when STOPFILE exists, and prints a summary:
acknowledged updates, reconnections and the longest time without an answer.
Exit 0, or 1 when an acknowledged update was lost or the guest's log is not
intact.
"""
import glob
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmm"))
from serial_client import Lines  # noqa: E402
import socket  # noqa: E402


def now_ms():
    return int(time.time() * 1000)


def candidates(pattern, after):
    """The sockets matching pattern, the one after `after` first."""
    paths = sorted(glob.glob(pattern))
    if after in paths:
        i = paths.index(after) + 1
        paths = paths[i:] + paths[:i]
    return paths


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
    token = "sync %d.%d" % (os.getpid(), now_ms())
    s.sendall(("%s\nget\n" % token).encode())
    while lines.line() != token:
        pass
    v = int(answer(lines, "val ").split()[1])
    if v < last:
        print("LOST: %s answers %d, the client saw %d acknowledged" % (path, v, last))
        sys.exit(1)
    log.write("%d %d connected %s\n" % (now_ms(), v, path))
    log.flush()
    last = v
    while not os.path.exists(stopfile):
        s.sendall(b"inc 1\n")
        v = int(answer(lines, "val ").split()[1])
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
    pattern, logpath, stopfile = sys.argv[1:]
    last, acked, reconnects, gap, t_last, failed = 0, 0, -1, 0, None, None
    with open(logpath, "a") as log:
        while not os.path.exists(stopfile):
            for path in candidates(pattern, failed):
                if os.path.exists(stopfile):
                    break
                try:
                    start = last
                    last = session(path, log, last, stopfile)
                    acked += last - start
                except (ConnectionRefusedError, FileNotFoundError):
                    failed = path  # no vmm behind it (any more)
                except (OSError, EOFError, TimeoutError, ValueError) as e:
                    failed = path
                    log.write("%d - lost %s: %s\n" % (now_ms(), path, e))
                    log.flush()
            time.sleep(0.02)  # no primary answers yet: nothing to wait on
    # The longest silence, from the log: the client's view of downtime.
    with open(logpath) as f:
        for line in f:
            t = int(line.split()[0])
            if t_last is not None and t - t_last > gap and line.split()[1] != "-":
                gap = t - t_last
            if line.split()[1] != "-":
                t_last = t
            reconnects += len(line.split()) > 2 and line.split()[2] == "connected"
    print("client: %d acknowledged updates, last %d, %d reconnections, longest gap %d ms"
          % (acked, last, max(reconnects, 0), gap))
    return 0


if __name__ == "__main__":
    sys.exit(main())
