#!/usr/bin/env python3
"""Follow a VM's serial output across the cluster.

serial_follow.py PATTERN OUT STOPFILE

PATTERN is a glob of the serial sockets the VM may have (hasvcd keeps
RUN/VM.serial pointing at the primary's socket on its node).  Connects to
one that accepts, appends every line the guest prints to OUT as
"MS LINE" (MS: wall clock in ms), and when the connection ends looks for
the primary again.  Output commit means only lines of committed epochs
ever arrive, so OUT is what a user of the console saw.  Stops when
STOPFILE exists.
"""
import glob
import os
import socket
import sys
import time


def follow(path, out, stopfile):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.2)
    s.connect(path)
    buf = b""
    while not os.path.exists(stopfile):
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        if not data:
            break
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            out.write("%d %s\n" % (int(time.time() * 1000),
                                   line.decode("latin-1").rstrip("\r")))
            out.flush()
    s.close()


def main():
    pattern, outpath, stopfile = sys.argv[1:4]
    with open(outpath, "a") as out:
        while not os.path.exists(stopfile):
            for path in sorted(glob.glob(pattern)):
                try:
                    follow(path, out, stopfile)
                except OSError:
                    pass
            time.sleep(0.05)


if __name__ == "__main__":
    main()
