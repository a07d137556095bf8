"""The migration stream's bytes, encoded by hand for the test tools
(pcfake.py, strayproxy.py, tests/fuzz/mkseeds.py): no protobuf module.

Frames are {u32 type, u32 length, body} (replication/wire.h); a MSG body is
a replication.Message (replication/migration.proto).
"""
import struct

MSG, PAGES, STATE = 0x10, 0x11, 0x12
PRELUDE = b"HASVCMG\n" + struct.pack("<HHI", 1, 0, 0)


def varint(v):
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def u(field, v):
    """A varint field (left out when 0, as proto3 does)."""
    return varint(field << 3) + varint(v) if v else b""


def b(field, data):
    """A length-delimited field: bytes, string or a message."""
    return varint(field << 3 | 2) + varint(len(data)) + data


def msg(field, inner):
    """A MSG frame: a replication.Message with oneof field `field` set to `inner`."""
    body = b(field, inner)
    return struct.pack("<II", MSG, len(body)) + body
