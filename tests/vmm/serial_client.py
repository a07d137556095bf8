#!/usr/bin/env python3
"""Talk to a guest's serial port exposed by `vmm run --serial unix:PATH`.

serial_client.py PATH [--expect TEXT]... [--send LINE]... [--timeout S]

Waits for each --expect text in the output, then sends each --send line and
prints the guest's one-line answer.  Exits 1 with a message when an answer or
expected text does not come in time.
"""
import argparse
import socket
import sys
import os
import time

# Time limits scale like the shell tests' (tests/common.sh: HASVC_TIME_SCALE).
SCALE = int(os.environ.get("HASVC_TIME_SCALE") or 1)


def connect(path, timeout):
    deadline = time.monotonic() + timeout * SCALE
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # the vmm has not bound the socket yet


class Lines:
    def __init__(self, sock, timeout):
        self.sock, self.buf, self.timeout = sock, b"", timeout * SCALE

    def line(self):
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the guest")
            self.sock.settimeout(left)
            data = self.sock.recv(4096)
            if not data:
                raise EOFError("the vmm closed the serial socket")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--send", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()
    try:
        lines = Lines(connect(a.path, a.timeout), a.timeout)
        for text in a.expect:
            while True:
                got = lines.line()
                print("guest: " + got)
                if text in got:
                    break
        for cmd in a.send:
            lines.sock.sendall(cmd.encode() + b"\n")
            print("> " + cmd)
            print("guest: " + lines.line())
    except (OSError, TimeoutError, EOFError) as e:
        print("serial_client: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
