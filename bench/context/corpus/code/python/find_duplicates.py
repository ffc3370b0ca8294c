#!/usr/bin/env python3
"""Lists files with identical content under one or more folders.

Hashing every byte of every file is slow on a big photo folder, so candidates are narrowed in three rounds:
same size, then same hash of the first 64 KiB, and only then the full SHA-256.
"""

import hashlib
import os
import sys
from collections import defaultdict

CHUNK = 1 << 16


def files_under(roots):
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    yield path


def digest(path, limit=None):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        remaining = limit
        while remaining is None or remaining > 0:
            block = f.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not block:
                break
            h.update(block)
            if remaining is not None:
                remaining -= len(block)
    return h.hexdigest()


def group_by(paths, key):
    groups = defaultdict(list)
    for p in paths:
        groups[key(p)].append(p)
    return [g for g in groups.values() if len(g) > 1]


def find_duplicates(roots):
    result = []
    for same_size in group_by(files_under(roots), os.path.getsize):
        for same_head in group_by(same_size, lambda p: digest(p, CHUNK)):
            result.extend(group_by(same_head, digest))
    return result


if __name__ == "__main__":
    for group in find_duplicates(sys.argv[1:] or ["."]):
        print("\n".join(sorted(group)), end="\n\n")
