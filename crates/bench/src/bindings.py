"""The Python side of `chainstore bench bindings` (run by the benchmark, not by hand).

Usage: python bindings.py STORE ADDRESSES BLOCKS

Opens the chain store in STORE with the `chainstore` package, loads the accounts named in
ADDRESSES (one 0x address per line) and the blocks of BLOCKS (one block line per line, parsed
into dicts before any clock starts), prints `ready`, then answers one command per line of
standard input with one line of output, so that the benchmark can take turns with the other
bindings:
    reads    reads every account once; prints the seconds it took
    commit   commits the next block; prints the seconds it took and the new state root
    close    closes the store and exits
"""
import json
import sys
import time

import chainstore


def main(store_dir, addresses_file, blocks_file):
    with open(addresses_file) as f:
        addresses = [line.strip() for line in f if line.strip()]
    with open(blocks_file) as f:
        blocks = [json.loads(line) for line in f if line.strip()]
    store = chainstore.ChainStore(store_dir)
    print("ready", flush=True)
    next_block = 0
    for command in sys.stdin:
        command = command.strip()
        if command == "reads":
            started = time.perf_counter()
            for address in addresses:
                if store.account(address) is None:
                    raise SystemExit(f"account {address} is missing")
            print(time.perf_counter() - started, flush=True)
        elif command == "commit":
            block = blocks[next_block]
            next_block += 1
            started = time.perf_counter()
            head = store.commit(block)
            print(time.perf_counter() - started, head["stateRoot"], flush=True)
        elif command == "close":
            break
        else:
            raise SystemExit(f"unknown command {command!r}")
    store.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3])
