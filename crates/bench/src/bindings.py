"""The Python side of `chainstore bench bindings` (run by the benchmark, not by hand).

Usage: python bindings.py STORE ADDRESSES BLOCKS ROUNDS

Opens the chain store in STORE with the `chainstore` package, reads every account named in
ADDRESSES (one 0x address per line) ROUNDS times, then commits every block of BLOCKS (one block
line per line, parsed before the clock starts), and prints one JSON object: the seconds each part
took, how many calls it made, and the state root of the last commit.
"""
import json
import sys
import time

import chainstore


def main(store_dir, addresses_file, blocks_file, rounds):
    with open(addresses_file) as f:
        addresses = [line.strip() for line in f if line.strip()]
    with open(blocks_file) as f:
        blocks = [json.loads(line) for line in f if line.strip()]
    store = chainstore.ChainStore(store_dir)
    try:
        started = time.perf_counter()
        for _ in range(rounds):
            for address in addresses:
                if store.account(address) is None:
                    raise SystemExit(f"account {address} is missing")
        reads = time.perf_counter() - started
        started = time.perf_counter()
        head = None
        for block in blocks:
            head = store.commit(block)
        commits = time.perf_counter() - started
    finally:
        store.close()
    print(json.dumps({
        "reads": len(addresses) * rounds,
        "readSeconds": reads,
        "commits": len(blocks),
        "commitSeconds": commits,
        "stateRoot": head["stateRoot"] if head else None,
    }))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
