"""systemd's end of sd_notify for tests/cluster/notify.sh: listens on a unix
datagram socket (what $NOTIFY_SOCKET names) and writes each line received
as "MS LINE" (MS: milliseconds since the epoch) to OUT.  When a datagram
holds READY=1 it also writes "SYNCED-AT-READY yes" or "... no": whether
hasvcd's log already says that its state exchange ended (the log is written
before READY=1 is sent, so "no" means READY=1 came too early).

  notify_listen.py SOCKET OUT HASVCD_LOG
  notify_listen.py SOCKET OUT - joined
The second form plays journald's native socket: one line "MS F1|F2|..." per
datagram (its KEY=value fields).  Runs until killed.
"""
import os
import socket
import sys
import time


def main():
    path, out, log = sys.argv[1:4]
    joined = sys.argv[4:5] == ["joined"]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(out, "a", buffering=1) as f:
        f.write("listening\n")
        while True:
            data = s.recv(4096).decode("utf-8", "replace")
            ms = int(time.time() * 1000)
            if joined:
                f.write("%d %s\n" % (ms, "|".join(x for x in data.split("\n") if x)))
                continue
            for line in data.split("\n"):
                if line:
                    f.write("%d %s\n" % (ms, line))
            if "READY=1" in data.split("\n"):
                synced = os.path.exists(log) and "group state agreed" in open(log).read()
                f.write("SYNCED-AT-READY %s\n" % ("yes" if synced else "no"))


if __name__ == "__main__":
    main()
