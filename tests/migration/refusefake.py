#!/usr/bin/env python3
"""A fake destination whose refusal carries hostile text.

refusefake.py   listen on 127.0.0.1 (an ephemeral port), print "listening
                PORT", take one plaintext migration's hello and answer it
                with HelloReply{ok: false, error: TEXT}: a terminal escape,
                a newline that would start a forged log line, a byte above
                0x7f, then 4000 bytes.  Print "refused" and wait for the
                source to close.

Only the bytes the test needs are encoded here, by hand (no protobuf module),
with pcfake.py's helpers.
"""
import socket
import sys

from pcfake import read_exact, read_frame  # the same framing
from wirepb import b, msg

TEXT = (b"\x1b[2Jwiped\nvmm[1]: notice: FORGED LINE \xff" + b"A" * 4000)


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    print("listening %d" % ls.getsockname()[1], flush=True)
    c, _ = ls.accept()
    read_exact(c, 16)                                   # prelude
    read_frame(c)                                       # Hello
    c.sendall(msg(2, b(2, TEXT)))  # HelloReply{error: TEXT}, ok absent: false
    print("refused", flush=True)
    try:
        while c.recv(4096):
            pass
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
