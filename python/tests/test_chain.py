"""ChainStore against the independent model of ``model.py``: roots, state and EIP-1186 proofs
checked with py-trie; blocks, receipts and logs against the blocks as committed."""

import rlp
import pytest
from eth_hash.auto import keccak
from trie import HexaryTrie

import chainstore
from model import EMPTY_CODE_HASH, EMPTY_ROOT, ChainGen, Model, h, quantity, unhex


def commit_chain(store, seed, blocks):
    gen, model, committed = ChainGen(seed), Model(), []
    for _ in range(blocks):
        block = gen.block()
        info = store.commit(block)
        model.apply(block)
        assert info["number"] == hex(block["number"])
        assert info["hash"] == block["hash"]
        assert unhex(info["stateRoot"]) == model.root(), f"block {block['number']}"
        committed.append(block)
    return gen, model, committed


def check_account(store, addr, acct, block=None):
    got = store.account(h(addr), block)
    if acct is None:
        assert got is None
        assert store.code(h(addr), block) == "0x"
        return
    assert quantity(got["nonce"]) == acct.nonce
    assert quantity(got["balance"]) == acct.balance
    assert unhex(got["codeHash"]) == keccak(acct.code)
    assert unhex(got["storageHash"]) == acct.storage_trie().root_hash
    assert unhex(store.code(h(addr), block)) == acct.code
    for slot in list(acct.storage)[:4] + [999]:
        word = store.storage(h(addr), slot, block)
        assert int(word, 16) == acct.storage.get(slot, 0) and len(word) == 66


def check_proof(store, root, addr, acct, block=None):
    """Verifies an eth_getProof result with py-trie against `root` and the model's account."""
    slots = sorted(acct.storage)[:3] + [12345] if acct else [7]
    proof = store.proof(h(addr), slots, block)
    nodes = [rlp.decode(unhex(n)) for n in proof["accountProof"]]
    leaf = HexaryTrie.get_from_proof(root, keccak(addr), nodes)
    if acct is None:
        assert leaf == b""
        assert quantity(proof["balance"]) == 0 and unhex(proof["codeHash"]) == EMPTY_CODE_HASH
        assert unhex(proof["storageHash"]) == EMPTY_ROOT
    else:
        nonce, balance, storage_root, code_hash = rlp.decode(leaf)
        assert rlp.decode(leaf) == rlp.decode(acct.rlp())
        assert quantity(proof["balance"]) == acct.balance == int.from_bytes(balance, "big")
        assert quantity(proof["nonce"]) == acct.nonce
        assert unhex(proof["storageHash"]) == storage_root
        assert unhex(proof["codeHash"]) == code_hash
    storage_root = unhex(proof["storageHash"])
    assert [int(p["key"], 16) for p in proof["storageProof"]] == slots
    for p in proof["storageProof"]:
        slot = int(p["key"], 16)
        nodes = [rlp.decode(unhex(n)) for n in p["proof"]]
        value = HexaryTrie.get_from_proof(storage_root, keccak(slot.to_bytes(32, "big")), nodes)
        expected = acct.storage.get(slot, 0) if acct else 0
        assert (rlp.decode(value, sedes=rlp.sedes.big_endian_int) if value else 0) == expected
        assert quantity(p["value"]) == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_chain_matches_the_model(store, seed):
    gen, model, _ = commit_chain(store, seed, 25)
    root = model.root()
    head = store.head()
    assert quantity(head["number"]) == 24 and unhex(head["stateRoot"]) == root
    for addr in gen.pool:
        acct = model.state.get(addr)
        check_account(store, addr, acct)
        check_proof(store, root, addr, acct)


def test_state_and_proofs_at_retained_heights(store):
    gen, model, _ = commit_chain(store, 11, 15)
    for n in (0, 3, 9, 14):
        root = model.root(n)
        assert unhex(store.block(n)["stateRoot"]) == root
        for addr in gen.pool:
            acct = model.at(n).get(addr)
            check_account(store, addr, acct, block=n)
            check_proof(store, root, addr, acct, block=n)
    with pytest.raises(chainstore.InvalidInput) as e:
        store.proof(h(gen.pool[0]), [], 15)
    assert e.value.field == "block"


def test_blocks_transactions_receipts_and_logs(store):
    _, _, blocks = commit_chain(store, 5, 12)
    all_logs = []
    for b in blocks:
        got = store.block(b["number"])
        assert got == store.block(b["hash"])
        assert got["hash"] == b["hash"] and got["parentHash"] == b["parentHash"]
        assert quantity(got["timestamp"]) == b["timestamp"]
        assert [t["hash"] for t in got["transactions"]] == [t["hash"] for t in b["transactions"]]
        for i, (tx, r) in enumerate(zip(b["transactions"], b["receipts"])):
            found = store.transaction(tx["hash"])
            assert (found["from"], found["to"], quantity(found["nonce"]), found["raw"]) == (
                tx["from"], tx["to"], tx["nonce"], tx["raw"])
            assert quantity(found["blockNumber"]) == b["number"]
            assert quantity(found["transactionIndex"]) == i
            receipt = store.receipt(tx["hash"])
            assert quantity(receipt["status"]) == r["status"]
            assert quantity(receipt["gasUsed"]) == r["gasUsed"]
            assert [(l["address"], l["topics"], l["data"]) for l in receipt["logs"]] == [
                (l["address"], l["topics"], l["data"]) for l in r["logs"]]
            for log in r["logs"]:
                all_logs.append((b["number"], tx["hash"], log))
    assert store.block(len(blocks)) is None
    assert store.transaction("0x" + "ee" * 32) is None
    assert store.receipt(b"\xee" * 32) is None

    def expected(from_block=0, to_block=len(blocks) - 1, address=None, topics=()):
        out = []
        for n, tx, log in all_logs:
            if not from_block <= n <= to_block or (address and log["address"] not in address):
                continue
            if all(not want or (i < len(log["topics"]) and log["topics"][i] in want)
                   for i, want in enumerate(topics)):
                out.append((n, tx, log["address"], log["topics"], log["data"]))
        return out

    def got(logs):
        return [(quantity(l["blockNumber"]), l["transactionHash"], l["address"], l["topics"],
                 l["data"]) for l in logs]

    assert got(store.logs()) == expected()
    assert got(store.logs(from_block=3, to_block=7)) == expected(3, 7)
    some = all_logs[0][2]
    addr = some["address"]
    assert got(store.logs(address=addr)) == expected(address=[addr])
    if some["topics"]:
        t0 = some["topics"][0]
        assert got(store.logs(topics=[t0])) == expected(topics=[[t0]])
        assert got(store.logs(address=[addr], topics=[None, [t0]])) == expected(
            address=[addr], topics=[[], [t0]])


def test_unwind_restores_the_state_of_the_target(store):
    gen, model, blocks = commit_chain(store, 21, 12)
    head = store.unwind(6)
    assert quantity(head["number"]) == 6 and unhex(head["stateRoot"]) == model.root(6)
    for addr in gen.pool:
        check_account(store, addr, model.at(6).get(addr))
    assert store.block(7) is None
    for b in blocks[7:]:
        assert all(store.transaction(t["hash"]) is None for t in b["transactions"])
    # The chain continues from the new head.
    replay = dict(blocks[7])
    assert unhex(store.commit(replay)["stateRoot"]) == model.root(7)
    with pytest.raises(chainstore.InvalidInput) as e:
        store.unwind(100)
    assert e.value.field == "to"


def test_prune_keeps_the_retained_window(tmp_path):
    with chainstore.ChainStore(tmp_path / "c", durability="buffered", retention={"history": 3}) as store:
        gen, model, _ = commit_chain(store, 8, 10)
        report = store.prune()
        assert report["oldestAvailable"]["stateHistory"] == 6
        addr = gen.pool[0]
        check_proof(store, model.root(7), addr, model.at(7).get(addr), block=7)
        with pytest.raises(chainstore.Pruned):
            store.proof(h(addr), [], 5)
        with pytest.raises(chainstore.InvalidInput) as e:
            store.prune({"history": 1, "blocks": 2})
        assert e.value.field == "retention.blocks"
        assert store.verify()["ok"] is True


def test_verify_and_stats(store):
    commit_chain(store, 4, 5)
    report = store.verify()
    assert report["ok"] is True and report["problems"] == [] and quantity(report["head"]) == 4
    stats = store.stats()
    assert stats["backend"] == "redb" and stats["head"] == store.head()


def test_closed_store_raises(tmp_path):
    s = chainstore.ChainStore(tmp_path / "c")
    s.close()
    s.close()
    with pytest.raises(chainstore.ChainstoreError, match="closed"):
        s.head()
