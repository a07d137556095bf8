#!/usr/bin/env python3
"""check_prefix.py IMAGE: every sector holds the block guest's record for
its number or is all zero, and the records form a prefix [0, N).  This is
what an image written only by one block guest in mode=write looks like
when it stopped midway.  Prints N; exits 1 naming the first bad sector."""
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from check_image import record  # noqa: E402

data = open(sys.argv[1], "rb").read()
zero = bytes(512)
n = None
for s in range(len(data) // 512):
    sec = data[s * 512:(s + 1) * 512]
    if sec == zero:
        if n is None:
            n = s
        continue
    if n is not None or sec != record(s):
        print("sector %d is neither zero nor its record, or follows a zero one" % s)
        sys.exit(1)
print(n if n is not None else len(data) // 512)
