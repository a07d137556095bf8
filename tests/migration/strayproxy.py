#!/usr/bin/env python3
"""A TCP relay that puts stray connections into a migration's data phase.

strayproxy.py DSTPORT   listen on 127.0.0.1 (an ephemeral port), print
                        "listening PORT", and relay every connection to
                        127.0.0.1:DSTPORT byte for byte (TLS passes through).
                        The first connection is the source's main one; before
                        the second (its first data connection) is relayed,
                        the relay opens strays of its own to DSTPORT, in this
                        order, each after the last was dropped:
                          - a connect and close
                          - garbage bytes
                          - a well-formed prelude and DataHello (index 0) with
                            another session's nonce (only meaningful in
                            plaintext; under TLS it is more garbage)
                        and prints "strays dropped N" once the destination
                        closed each of them.  Then it relays as usual.

Only the bytes the test needs are encoded here, by hand (no protobuf module).
"""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wirepb import PRELUDE, b, msg, u  # noqa: E402


def pump(src, dst):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            dst.sendall(d)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def relay(c, port):
    u = socket.create_connection(("127.0.0.1", port))
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()


def dropped(s):
    """True once the destination closed s (EOF or reset), within 30 s."""
    s.settimeout(30)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except OSError:
        return False
    finally:
        s.close()


def strays(port):
    n = 0
    s = socket.create_connection(("127.0.0.1", port))
    s.close()
    n += 1
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(os.urandom(4096))
    except OSError:
        pass
    n += dropped(s)
    dh = u(1, 1) + u(2, 0) + b(4, b"\x5a" * 16)   # DataHello{session, index 0, nonce}
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(PRELUDE + msg(3, dh))
    except OSError:
        pass
    n += dropped(s)
    print("strays dropped %d" % n, flush=True)


def main():
    port = int(sys.argv[1])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print("listening %d" % ls.getsockname()[1], flush=True)
    k = 0
    while True:
        c, _ = ls.accept()
        k += 1
        if k == 2:
            strays(port)
        relay(c, port)


if __name__ == "__main__":
    sys.exit(main())
