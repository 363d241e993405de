#!/usr/bin/env python3
"""Wall time of `chainstore head` (process start to exit), for docs/benchmarks.md.

Usage:
    tools/head_latency.py RUNS BINARY... -- STORE...

Runs `BINARY --data STORE head` for every binary and store, RUNS times each, the combinations in
a new random order every round, first warm (one untimed run before each timed one), then cold:
before each run the store's files are synced and evicted from the page cache with
posix_fadvise(DONTNEED) (only this store's pages; no root needed, the machine's cache is left
alone). Prints the median, p10 and p90 per combination.
"""
import os
import random
import statistics
import subprocess
import sys
import time


def evict(root):
    for d, _, files in os.walk(root):
        for f in files:
            fd = os.open(os.path.join(d, f), os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def main():
    runs = int(sys.argv[1])
    split = sys.argv.index("--")
    binaries, stores = sys.argv[2:split], sys.argv[split + 1 :]
    combos = [(b, s) for b in binaries for s in stores]
    for mode in ("warm", "cold"):
        times = {c: [] for c in combos}
        for _ in range(runs):
            random.shuffle(combos)
            for binary, store in combos:
                cmd = [binary, "--data", store, "head"]
                if mode == "cold":
                    evict(store)
                else:
                    subprocess.run(cmd, capture_output=True)
                started = time.perf_counter()
                out = subprocess.run(cmd, capture_output=True)
                elapsed = (time.perf_counter() - started) * 1000
                if out.returncode != 0:
                    sys.exit(f"{cmd} failed: {out.stderr.decode()}")
                times[(binary, store)].append(elapsed)
        for (binary, store), t in sorted(times.items()):
            t.sort()
            k = len(t)
            print(
                f"{mode} {binary} {store}: median {statistics.median(t):.1f} ms, "
                f"p10 {t[k // 10]:.1f}, p90 {t[9 * k // 10]:.1f} (n={k})"
            )


if __name__ == "__main__":
    main()
