"""Bad input raises InvalidInput naming the field, and changes nothing."""

import subprocess
import sys

import pytest

import chainstore
from model import ChainGen, h

A = "0x" + "a1" * 20


def genesis():
    return {"number": 0, "hash": "0x" + "01" * 32, "timestamp": 0,
            "state": {A: {"balance": 100, "storage": {"0x1": 5}}}}


def child(**fields):
    block = {"number": 1, "hash": "0x" + "02" * 32, "parentHash": "0x" + "01" * 32,
             "timestamp": 12, "state": {A: {"balance": 50}}}
    block.update(fields)
    return block


BAD = [
    (child(hash="0x" + "02" * 31), "hash", "expected 32 bytes"),
    (child(hash="0x" + "0" * 63), "hash", "odd number of hex digits"),
    (child(hash="0x" + "zz" * 32), "hash", "not hex"),
    (child(timestamp=[1]), "timestamp", "found an array"),
    (child(timestamp=1.5), "timestamp", "float"),
    (child(timestamp=-1), "timestamp", "negative"),
    (child(timestamp=2**64), "timestamp", "over 64 bits"),
    (child(state={A: {"balance": 2**256}}), f"state[{A}].balance", "over 256 bits"),
    (child(state={A: {"balance": object()}}), f"state.{A}.balance", "unsupported type"),
    (child(state={A[:-2]: {"balance": 1}}), f"state[{A[:-2]}]", "expected 20 bytes"),
    (child(extra=1), "extra", "unknown field"),
    (child(transactions=[{"hash": "0x" + "03" * 32, "from": A, "nonce": 0, "raw": "0x1"}]),
     "transactions[0].raw", "odd number"),
    (child(number=5), "number", "expected block number 1"),
    (child(parentHash="0x" + "09" * 32), "parentHash", "is not the hash of the head"),
    (child(hash="0x" + "01" * 32), "hash", "already in the chain"),
    (child(stateRoot="0x" + "00" * 32), "stateRoot", "state root mismatch"),
]


@pytest.mark.parametrize("block,field,message", BAD, ids=[f"{b[1]}:{b[2]}" for b in BAD])
def test_bad_blocks_name_the_field_and_change_nothing(store, block, field, message):
    store.commit(genesis())
    before = (store.head(), store.account(A), store.storage(A, 1))
    with pytest.raises(chainstore.InvalidInput) as e:
        store.commit(block)
    assert e.value.field == field, str(e.value)
    assert message in str(e.value)
    assert isinstance(e.value, chainstore.ChainstoreError)
    assert (store.head(), store.account(A), store.storage(A, 1)) == before
    # The store still takes the right block.
    assert store.commit(child())["number"] == "0x1"


def test_bad_arguments(store):
    store.commit(genesis())
    cases = [
        (lambda: store.account("0x1234"), "address"),
        (lambda: store.storage(A, 2**256), "slot"),
        (lambda: store.storage(A, 1, -1), "block"),
        (lambda: store.block("0x12"), "id"),
        (lambda: store.proof(A, ["0x1", "nothex"]), "slots[1]"),
        (lambda: store.logs(topics=[None, "0x12"]), "topics[1]"),
        (lambda: store.logs(address=[A, 5]), "address[1]"),
        (lambda: chainstore.ChainStore(store.path, backend="leveldb"), "backend"),
        (lambda: chainstore.ChainStore(store.path, durability="sometimes"), "durability"),
    ]
    for call, field in cases:
        with pytest.raises(chainstore.InvalidInput) as e:
            call()
        assert e.value.field == field, str(e.value)
    # Addresses and hashes as bytes, any case, with or without 0x.
    assert store.account(bytes.fromhex("a1" * 20)) == store.account(A.upper()[2:])


def test_a_second_open_is_locked(store):
    with pytest.raises(chainstore.Locked):
        chainstore.ChainStore(store.path)
    with pytest.raises(chainstore.Locked):
        chainstore.Database(store.path)


def test_a_second_process_is_locked(store):
    code = (
        "import sys, chainstore\n"
        "try:\n    chainstore.ChainStore(sys.argv[1])\n"
        "except chainstore.Locked as e:\n    print('locked:', e); sys.exit(3)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(store.path)], capture_output=True, text=True)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "in use by another process" in run.stdout


def test_quota_exceeded_writes_nothing(tmp_path):
    with chainstore.ChainStore(tmp_path / "c", max_bytes=200_000) as store:
        gen = ChainGen(3)
        store.commit(gen.block())
        head = store.head()
        big = gen.block()
        big["state"] = {h(bytes([i]) * 20): {"balance": 1, "code": "0x" + bytes([i]).hex() * 30_000}
                        for i in range(1, 10)}
        with pytest.raises(chainstore.QuotaExceeded):
            store.commit(big)
        assert store.head() == head
