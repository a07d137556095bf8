#!/usr/bin/env python3
"""Check from the host that a disk image holds the block guest's records.

check_image.py IMAGE SECTORS

Sector N must hold record(N) of tests/guests/block.c: word 0 = N, words
1-62 = mix(N * 64 + i), word 63 = an FNV-style checksum of words 0-62.
Exits 1 naming the first bad sectors.
"""
import struct
import sys

M = (1 << 64) - 1


def mix(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M
    return x ^ (x >> 31)


def record(n):
    w = [n] + [mix((n * 64 + i) & M) for i in range(1, 63)]
    c = 0xCBF29CE484222325
    for v in w:
        c = ((c ^ v) * 0x100000001B3) & M
    return struct.pack("<64Q", *(w + [c]))


def main():
    path, sectors = sys.argv[1], int(sys.argv[2])
    bad = []
    with open(path, "rb") as f:
        for n in range(sectors):
            if f.read(512) != record(n):
                bad.append(n)
    if bad:
        print("%d of %d sectors bad, first %s" % (len(bad), sectors, bad[:5]))
        return 1
    print("image ok: %d records" % sectors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
