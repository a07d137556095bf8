#!/usr/bin/env python3
"""A client of the counter guest for the checkpointing tests.

ckclient.py inc PATH LOG     send "inc 1" until the connection ends; append
                             every acknowledged value ("val N") to LOG, one
                             line each, flushed as soon as it is seen; exit 0
                             when the vmm goes away (that is the test's point)
ckclient.py verify PATH MIN  connect (retrying), "get" must answer >= MIN and
                             "check" must answer "check ok"; prints both
ckclient.py last PATH LINE.. send the lines at once, then print every line
                             the guest answers until the vmm closes the
                             connection (exit 1 if it does not within 30 s)
"""
import os
import sys

# The serial socket helpers are the integration tests' (tests/vmm/).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmm"))
from serial_client import Lines as _Lines, connect as _connect  # noqa: E402


def connect(path, timeout=20):
    return _connect(path, timeout)


class Lines(_Lines):
    def answer(self, prefix):
        while True:
            line = self.line()
            if line.startswith(prefix):
                return line


def inc(path, log):
    s = connect(path)
    lines = Lines(s, 30)
    with open(log, "a") as out:
        try:
            while True:
                s.sendall(b"inc 1\n")
                v = int(lines.answer("val ").split()[1])
                out.write("%d\n" % v)
                out.flush()
        except (EOFError, OSError, TimeoutError) as e:
            print("client: connection ended: %s" % e)
    return 0


def verify(path, least):
    s = connect(path)
    lines = Lines(s, 20)
    s.sendall(b"get\n")
    v = int(lines.answer("val ").split()[1])
    s.sendall(b"check\n")
    c = lines.answer("check ")
    print("get: %d (least acknowledged %d); %s" % (v, least, c))
    if v < least:
        print("LOST: the standby has %d, the client saw %d acknowledged" % (v, least))
        return 1
    if not c.startswith("check ok"):
        print("the guest's log is not intact: %s" % c)
        return 1
    return 0


def last(path, reqs):
    s = connect(path)
    lines = Lines(s, 30)
    s.sendall("".join(r + "\n" for r in reqs).encode())
    try:
        while True:
            print(lines.line())
    except EOFError:
        return 0
    except TimeoutError:
        print("the connection did not end")
        return 1


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "last":
        return last(sys.argv[2], sys.argv[3:])
    if len(sys.argv) == 4 and sys.argv[1] == "inc":
        return inc(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 4 and sys.argv[1] == "verify":
        return verify(sys.argv[2], int(sys.argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
