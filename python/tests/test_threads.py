"""Threads that read while one commits: every read sees a committed, consistent state."""

import threading

import rlp
from eth_hash.auto import keccak
from trie import HexaryTrie

from model import ChainGen, Model, quantity, unhex


def test_readers_see_consistent_chain_state_while_one_commits(store):
    gen, model = ChainGen(17), Model()
    first = gen.block()
    store.commit(first)
    model.apply(first)
    addr = gen.pool[0]
    done = threading.Event()
    errors, reads = [], [0]

    def reader():
        try:
            while not done.is_set():
                head = store.head()
                n = quantity(head["number"])
                # The proof at the head seen must verify against that head's root.
                proof = store.proof("0x" + addr.hex(), [], n)
                nodes = [rlp.decode(unhex(x)) for x in proof["accountProof"]]
                HexaryTrie.get_from_proof(unhex(head["stateRoot"]), keccak(addr), nodes)
                assert quantity(store.head()["number"]) >= n
                reads[0] += 1
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(40):
            block = gen.block()
            info = store.commit(block)
            model.apply(block)
            assert unhex(info["stateRoot"]) == model.root()
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert reads[0] > 0


def test_snapshot_readers_see_whole_transactions(db):
    keys = [bytes([i]) for i in range(20)]
    done = threading.Event()
    errors, reads = [], [0]

    def reader():
        try:
            while not done.is_set():
                values = {v for _, v in db.read().range("t")}
                # Every transaction writes one value to every key.
                assert len(values) <= 1, values
                reads[0] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for round_ in range(100):
            with db.write() as txn:
                for k in keys:
                    txn.put("t", k, round_.to_bytes(4, "big"))
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert reads[0] > 0
