#!/usr/bin/env python3
"""A loopback TCP forwarder for the link-cut test.

ckproxy.py TARGET_PORT   listen on 127.0.0.1, an ephemeral port, print
                         "listening PORT" once bound, and forward every
                         connection to 127.0.0.1:TARGET_PORT both ways.

The test cuts the link by stopping this process (SIGSTOP): the sockets stay
open but nothing moves, as with a dead switch; SIGKILL closes them.
"""
import socket
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    target = ("127.0.0.1", int(sys.argv[1]))
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    print("listening %d" % lsock.getsockname()[1], flush=True)
    while True:
        a, _ = lsock.accept()
        try:
            b = socket.create_connection(target)
        except OSError:
            a.close()
            continue
        for s in (a, b):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
        threading.Thread(target=pump, args=(b, a), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
