#!/usr/bin/env python3
"""Inclusive CPU shares from a perf profile, for docs/performance.md.

Usage:
    perf record -F 250 --call-graph dwarf,16384 -o perf.data <command>
    perf script -i perf.data -F comm,tid,ip,sym > perf.script
    tools/perf_share.py perf.script ROOT [--exclude FRAME] PATTERN...

Counts the samples whose stack contains a frame matching ROOT (a substring of the symbol, e.g.
`commit_block`) and not EXCLUDE (e.g. `grow_to`, to leave out a benchmark's set-up), then prints,
for each PATTERN, the share of those samples whose stack also contains a matching frame. Shares
are inclusive (a frame counts with everything it calls), so they overlap and do not sum to 100.
"""
import sys


def samples(path):
    stack = None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if stack is not None:
                    yield stack
                stack = None
            elif not line.startswith(("\t", " ")):
                stack = []
            elif stack is not None:
                parts = line.strip().split(None, 1)
                stack.append(parts[1] if len(parts) > 1 else "?")
    if stack is not None:
        yield stack


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    path, root, rest = argv[1], argv[2], argv[3:]
    exclude = None
    if rest[:1] == ["--exclude"]:
        exclude, rest = rest[1], rest[2:]
    total, chosen = 0, []
    for stack in samples(path):
        total += 1
        if any(root in f for f in stack) and not (exclude and any(exclude in f for f in stack)):
            chosen.append(stack)
    n = len(chosen)
    print(f"{root}: {n} of {total} samples" + (f" (excluding {exclude})" if exclude else ""))
    for pattern in rest:
        hits = sum(1 for s in chosen if any(pattern in f for f in s))
        print(f"{100 * hits / max(n, 1):6.1f}%  {pattern}")


if __name__ == "__main__":
    main(sys.argv)
