"""chainstore's JSON-RPC endpoint through web3.py, checked against the input chain (chain.py)
and, for proofs, against py-trie's independent Merkle Patricia Trie."""

import json
import subprocess
import threading

import pytest
import rlp
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from trie import HexaryTrie
from web3 import Web3

from chain import CHAIN_ID, TOPICS, Chain, account_rlp, create_address, storage_root
from conftest import Node, binary, wait_for


def cs(address):
    return to_checksum_address(address)


def hb(text):
    return HexBytes(text)


# ---- identity and blocks --------------------------------------------------------------------


def test_identity(node, chain):
    w3 = node.w3
    assert w3.eth.chain_id == CHAIN_ID
    assert w3.net.version == str(CHAIN_ID)
    assert w3.client_version.startswith("chainstore/")
    assert w3.eth.block_number == len(chain.blocks) - 1


def transactions_root(raws):
    t = HexaryTrie({})
    for i, raw in enumerate(raws):
        t[rlp.encode(i)] = raw
    return t.root_hash


def bloom(logs):
    """The 2048-bit logs bloom (yellow paper 4.3.1) of the input's logs."""
    bits = 0
    for log in logs:
        for item in [log["address"]] + log["topics"]:
            h = keccak(bytes(hb(item)))
            for i in (0, 2, 4):
                bits |= 1 << ((h[i] << 8 | h[i + 1]) & 2047)
    return bits.to_bytes(256, "big")


def receipts_root(chain, block):
    """The receipts trie of the input's receipts: typed envelopes of [status, cumulative gas,
    bloom, logs], keyed by RLP(index)."""
    types = {t["hash"]: t["type"] for t in chain.txs}
    t, cumulative = HexaryTrie({}), 0
    for i, r in enumerate(block["receipts"]):
        cumulative += int(r["gasUsed"], 16)
        logs = [[bytes(hb(l["address"])), [bytes(hb(x)) for x in l["topics"]], bytes(hb(l["data"]))]
                for l in r["logs"]]
        encoded = rlp.encode([int(r["status"], 16), cumulative, bloom(r["logs"]), logs])
        kind = types[r["transactionHash"]]
        t[rlp.encode(i)] = (bytes([kind]) + encoded) if kind else encoded
    return t.root_hash


@pytest.mark.parametrize("number", [0, 2, 3, 12])
def test_blocks_by_number_and_hash(node, chain, number):
    block = chain.blocks[number]
    got = node.w3.eth.get_block(number)
    assert got["number"] == number
    assert got["hash"] == hb(block["hash"])
    assert got["parentHash"] == hb(block["parentHash"])
    assert got["timestamp"] == int(block["timestamp"], 16)
    assert got["stateRoot"] == chain.roots[number]
    assert got["transactions"] == [hb(t["hash"]) for t in block["transactions"]]
    raws = [bytes(hb(t["raw"])) for t in block["transactions"]]
    assert got["transactionsRoot"] == transactions_root(raws)
    assert got["gasUsed"] == sum(int(r["gasUsed"], 16) for r in block["receipts"])
    assert got["receiptsRoot"] == receipts_root(chain, block)
    assert got["logsBloom"] == bloom([l for r in block["receipts"] for l in r["logs"]])
    by_hash = node.w3.eth.get_block(hb(block["hash"]), full_transactions=True)
    assert by_hash["hash"] == got["hash"]
    for i, tx in enumerate(by_hash["transactions"]):
        assert tx["hash"] == hb(block["transactions"][i]["hash"])
        assert tx["transactionIndex"] == i
    assert node.w3.eth.get_block_transaction_count(number) == len(block["transactions"])
    assert node.w3.eth.get_block_transaction_count(hb(block["hash"])) == len(block["transactions"])


def test_latest_earliest_and_unknown_blocks(node, chain):
    assert node.w3.eth.get_block("latest")["hash"] == hb(chain.blocks[-1]["hash"])
    assert node.w3.eth.get_block("earliest")["hash"] == hb(chain.blocks[0]["hash"])
    for missing in (len(chain.blocks) + 5, hb("0x" + "ab" * 32)):
        with pytest.raises(Exception, match="not found"):
            node.w3.eth.get_block(missing)
    assert node.rpc("eth_getBlockByNumber", ["0x99", False])["result"] is None


# ---- transactions and receipts --------------------------------------------------------------


def test_transactions_decode_to_what_was_signed(node, chain):
    for t in chain.txs:
        got = node.w3.eth.get_transaction(t["hash"])
        assert got["hash"] == hb(t["hash"])
        assert got["from"] == cs(t["from"])
        assert got["to"] == (None if t["to"] is None else cs(t["to"]))
        assert got["nonce"] == t["nonce"]
        assert got["value"] == t["value"]
        assert got["input"] == HexBytes(t["input"])
        assert got["type"] == t["type"]
        assert got["blockNumber"] == t["block"]
        assert got["transactionIndex"] == t["index"]
        assert got["blockHash"] == hb(chain.blocks[t["block"]]["hash"])
        assert got["chainId"] == CHAIN_ID
        by_index = node.w3.eth.get_transaction_by_block(t["block"], t["index"])
        assert by_index["hash"] == hb(t["hash"])
    with pytest.raises(Exception, match="not found"):
        node.w3.eth.get_transaction("0x" + "cd" * 32)


def test_receipts_match_the_input(node, chain):
    for number, block in enumerate(chain.blocks):
        cumulative, log_index = 0, 0
        block_receipts = node.w3.eth.get_block_receipts(number)
        assert len(block_receipts) == len(block["receipts"])
        for i, r in enumerate(block["receipts"]):
            tx = block["transactions"][i]
            got = node.w3.eth.get_transaction_receipt(r["transactionHash"])
            cumulative += int(r["gasUsed"], 16)
            assert got["status"] == int(r["status"], 16)
            assert got["gasUsed"] == int(r["gasUsed"], 16)
            assert got["cumulativeGasUsed"] == cumulative
            assert got["logsBloom"] == bloom(r["logs"])
            assert got["type"] == next(t["type"] for t in chain.txs if t["hash"] == tx["hash"])
            assert got["from"] == cs(hb(tx["from"]))
            assert got["blockNumber"] == number and got["transactionIndex"] == i
            if tx["to"] is None:
                expected = create_address(bytes(hb(tx["from"])), int(tx["nonce"], 16))
                assert got["contractAddress"] == cs(expected)
            else:
                assert got["contractAddress"] is None
            assert len(got["logs"]) == len(r["logs"])
            for log, want in zip(got["logs"], r["logs"]):
                assert log["address"] == cs(hb(want["address"]))
                assert log["topics"] == [hb(t) for t in want["topics"]]
                assert log["data"] == hb(want["data"])
                assert log["logIndex"] == log_index
                log_index += 1
            assert dict(block_receipts[i]) == dict(got)


# ---- logs against an independent scan -------------------------------------------------------


def scan(chain, frm, to, addresses=None, topics=()):
    out = []
    for log in chain.logs():
        if not frm <= log["blockNumber"] <= to:
            continue
        if addresses and log["address"] not in addresses:
            continue
        ok = True
        for position, wanted in enumerate(topics):
            if wanted is None:
                continue
            wanted = wanted if isinstance(wanted, list) else [wanted]
            if position >= len(log["topics"]) or log["topics"][position] not in wanted:
                ok = False
        if ok:
            out.append(log)
    return out


def shape(logs):
    return [
        (
            log["blockNumber"],
            log["transactionIndex"],
            log["logIndex"],
            HexBytes(log["transactionHash"]).to_0x_hex(),
            log["address"].lower(),
            [HexBytes(t).to_0x_hex() for t in log["topics"]],
            HexBytes(log["data"]).to_0x_hex(),
        )
        for log in logs
    ]


def filters(chain):
    """(fromBlock, toBlock, addresses, topics): each range within the node's limit of 8."""
    c = ["0x" + a.hex() for a in chain.contracts]
    t0, t1, _ = ["0x" + t.hex() for t in TOPICS]
    # The sender (topic 1) and contract of a log in block 5 or later.
    late = next(log for log in chain.logs() if log["blockNumber"] >= 5)
    sender, contract = late["topics"][1], late["address"]
    extra = "0x" + keccak(text="extra 1").hex()
    return [
        (1, 8, None, []),
        (0, 7, [c[0]], []),
        (2, 9, [c[0], c[1]], []),
        (1, 8, None, [t0]),
        (1, 8, None, [[t0, t1]]),
        (4, 11, None, [None, sender]),
        (5, 12, [contract, c[0]], [[t0, late["topics"][0]], sender]),
        (5, 12, None, [None, None, extra]),
    ]


@pytest.mark.parametrize("index", range(8))
def test_get_logs_matches_a_scan_of_the_input(node, chain, index):
    frm, to, addresses, topics = filters(chain)[index]
    params = {"fromBlock": frm, "toBlock": to, "topics": topics}
    if addresses:
        params["address"] = [cs(a) for a in addresses]
    got = node.w3.eth.get_logs(params)
    expected = scan(chain, frm, to, addresses, topics)
    assert expected, "a filter that matches nothing tests little"
    assert shape(got) == shape(expected)


def test_get_logs_by_block_hash(node, chain):
    for number in (2, 5):
        got = node.w3.eth.get_logs({"blockHash": hb(chain.blocks[number]["hash"])})
        assert shape(got) == shape(scan(chain, number, number))


# ---- state at every block, and proofs verified with py-trie ---------------------------------


def block_ids(chain, number):
    """The ways to name block `number`: its number, its hash, and a tag where one applies."""
    ids = [number, hb(chain.blocks[number]["hash"])]
    if number == 0:
        ids.append("earliest")
    if number == len(chain.blocks) - 1:
        ids.append("latest")
    return ids


@pytest.mark.parametrize("number", [0, 1, 3, 7, 12])
def test_state_at_every_kind_of_block_id(node, chain, number):
    state = chain.states[number]
    addresses = chain.eoas + chain.contracts + [chain.doomed] + chain.created
    for block_id in block_ids(chain, number):
        for address in addresses:
            account = state.get(address)
            balance = node.w3.eth.get_balance(cs(address), block_id)
            assert balance == (account.balance if account else 0), (address.hex(), block_id)
            nonce = node.w3.eth.get_transaction_count(cs(address), block_id)
            assert nonce == (account.nonce if account else 0)
            code = node.w3.eth.get_code(cs(address), block_id)
            assert bytes(code) == (account.code if account else b"")
        for contract in chain.contracts:
            for slot in range(6):
                value = node.w3.eth.get_storage_at(cs(contract), slot, block_id)
                assert int.from_bytes(value, "big") == state[contract].storage.get(slot, 0)


def verify_account_proof(root, address, proof, account):
    """py-trie checks the proof nodes against `root`; the value must be the account's RLP."""
    nodes = [rlp.decode(bytes(n)) for n in proof["accountProof"]]
    value = HexaryTrie.get_from_proof(root, keccak(address), nodes)
    if account is None:
        assert value == b""
        return
    assert value == account_rlp(account)
    assert proof["balance"] == account.balance and proof["nonce"] == account.nonce
    assert proof["codeHash"] == keccak(account.code)
    assert proof["storageHash"] == storage_root(account)
    for entry in proof["storageProof"]:
        slot = int.from_bytes(bytes(entry["key"]), "big")
        nodes = [rlp.decode(bytes(n)) for n in entry["proof"]]
        got = HexaryTrie.get_from_proof(storage_root(account), keccak(slot.to_bytes(32, "big")), nodes)
        want = account.storage.get(slot, 0)
        assert got == (rlp.encode(want) if want else b"")
        assert int.from_bytes(bytes(entry["value"]), "big") == want


@pytest.mark.parametrize("number", [0, 2, 3, 6, 12])
def test_proofs_verify_against_each_blocks_state_root(node, chain, number):
    root = bytes(node.w3.eth.get_block(number)["stateRoot"])
    assert root == chain.roots[number]
    state = chain.states[number]
    for address in chain.eoas[:3] + chain.contracts + [chain.doomed, b"\x42" * 20]:
        for block_id in block_ids(chain, number):
            proof = node.w3.eth.get_proof(cs(address), [0, 1, 5], block_id)
            verify_account_proof(root, address, proof, state.get(address))


# ---- Otterscan ------------------------------------------------------------------------------


def test_otterscan_search_pages_through_an_address(node, chain):
    address = chain.eoas[1]
    mine = [t["hash"] for t in chain.txs if address in (t["from"], t["to"])]
    newest_first = list(reversed(mine))
    page = node.rpc("ots_searchTransactionsBefore", [cs(address), 0, 1000])["result"]
    assert [t["hash"] for t in page["txs"]] == newest_first
    assert page["firstPage"] and page["lastPage"]
    assert [r["transactionHash"] for r in page["receipts"]] == newest_first
    # Small pages end on a block boundary and, walked back, cover everything once.
    seen, block = [], 0
    while True:
        page = node.rpc("ots_searchTransactionsBefore", [cs(address), block, 2])["result"]
        seen += [t["hash"] for t in page["txs"]]
        if page["lastPage"]:
            break
        block = int(page["txs"][-1]["blockNumber"], 16)
    assert seen == newest_first
    after = node.rpc("ots_searchTransactionsAfter", [cs(address), 0, 1000])["result"]
    assert [t["hash"] for t in after["txs"]] == newest_first


# ---- batches, limits and bad input ----------------------------------------------------------


def test_batches_through_web3(node, chain):
    with node.w3.batch_requests() as batch:
        batch.add(node.w3.eth.get_block(1))
        batch.add(node.w3.eth.get_balance(cs(chain.eoas[0]), 5))
        batch.add(node.w3.eth.get_transaction(chain.txs[0]["hash"]))
        results = batch.execute()
    assert results[0]["hash"] == hb(chain.blocks[1]["hash"])
    assert results[1] == chain.states[5][chain.eoas[0]].balance
    assert results[2]["hash"] == hb(chain.txs[0]["hash"])


def test_a_batch_answers_each_call_even_when_some_fail(node, chain):
    calls = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getBalance", "params": ["0x12", "latest"]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_nope", "params": []},
    ]
    got = {r["id"]: r for r in node.post(json.dumps(calls)).json()}
    assert got[1]["result"] == hex(len(chain.blocks) - 1)
    assert got[2]["error"]["code"] == -32602
    assert got[3]["error"]["code"] == -32601


def error(node, method, params):
    response = node.rpc(method, params)
    assert "result" not in response, response
    return response["error"]


def test_bad_input_gets_a_clear_error(node, chain):
    e = error(node, "eth_getBalance", ["0x1234", "latest"])
    assert e["code"] == -32602 and "params[0] (address)" in e["message"]
    e = error(node, "eth_getStorageAt", [cs(chain.contracts[0]), "0xzz", "latest"])
    assert e["code"] == -32602 and "params[1] (slot)" in e["message"]
    e = error(node, "eth_getBlockByNumber", [{"x": 1}, False])
    assert e["code"] == -32602 and "params[0] (block)" in e["message"]
    e = error(node, "eth_getLogs", [{"fromBlock": 1, "toBlock": 2, "address": "0x12"}])
    assert e["code"] == -32602 and "params[0] (filter)" in e["message"]
    e = error(node, "eth_getBalance", [cs(chain.eoas[0]), "0x" + "ab" * 32])
    assert e["code"] == -32001 and "unknown block" in e["message"]
    e = error(node, "eth_getBalance", [cs(chain.eoas[0]), hex(1000)])
    assert e["code"] == -32000 and "above the head" in e["message"]
    assert error(node, "eth_sendRawTransaction", ["0x00"])["code"] == -32601
    broken = node.post('{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"').json()
    assert broken["error"]["code"] == -32700


def test_limits_answer_with_errors(node):
    e = error(node, "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "0xc"}])
    assert e["code"] == -32005 and "at most 8 blocks" in e["message"]
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"} for i in range(11)]
    too_many = node.post(json.dumps(batch)).json()
    assert too_many["error"]["code"] == -32010
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": ["x" * 70000]})
    response = node.post(big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32007


# ---- a node in one process: reads while blocks are ingested ---------------------------------


def test_reads_see_each_block_once_its_commit_returns(tmp_path):
    chain = Chain(seed=2).build(30)
    node = Node(tmp_path / "data")
    try:
        for block in chain.blocks[:2]:
            node.feed(block)
        stop = threading.Event()
        seen, problems = [], []

        def reader():
            w3 = Web3(Web3.HTTPProvider(node.url))
            # Monotonic per reader: the other reader's calls interleave with this one's, so the
            # shared list's last entry may be newer than a head this reader fetched before it.
            mine = -1
            while not stop.is_set():
                n = w3.eth.block_number
                if n < mine:
                    problems.append(f"head went back from {mine} to {n}")
                mine = n
                seen.append(n)
                balance = w3.eth.get_balance(cs(chain.eoas[0]), n)
                if balance != chain.states[n][chain.eoas[0]].balance:
                    problems.append(f"balance at {n}")

        threads = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        for number, block in enumerate(chain.blocks[2:], start=2):
            ack = node.feed(block)
            assert ack["stateRoot"] == block["stateRoot"]
            # Acknowledged means visible, at once, to a new call.
            assert node.w3.eth.block_number == number
            assert node.w3.eth.get_block(number)["hash"] == hb(block["hash"])
        last = len(chain.blocks) - 1
        wait_for(lambda: seen and seen[-1] == last, "the readers to see the last block")
        stop.set()
        for t in threads:
            t.join()
        assert problems == []
        assert len(set(seen)) >= 2 and max(seen) == last
    finally:
        node.stop()


def test_a_bad_line_stops_ingest_but_not_serving(tmp_path):
    chain = Chain(seed=3).build(3)
    node = Node(tmp_path / "data")
    try:
        for block in chain.blocks[:3]:
            node.feed(block)
        bad = dict(chain.blocks[3], stateRoot="0x" + "11" * 32)
        node.proc.stdin.write(Chain.line(bad))
        node.proc.stdin.flush()
        wait_for(lambda: any("ingest stopped" in line for line in node.stderr), "the error")
        message = next(line for line in node.stderr if "ingest stopped" in line)
        assert '"stateRoot"' in message and "nothing was changed" in message
        assert node.w3.eth.block_number == 2
    finally:
        node.stop()


# ---- pruned heights -------------------------------------------------------------------------


def test_pruned_heights_name_the_oldest_available_block(tmp_path):
    chain = Chain(seed=4).build(8)
    data = tmp_path / "data"
    lines = "".join(Chain.line(b) for b in chain.blocks)
    subprocess.run([binary(), "--data", str(data), "ingest", "-"], input=lines, text=True,
                   check=True, capture_output=True)
    subprocess.run([binary(), "--data", str(data), "prune", "--keep", "3", "--receipts", "3"],
                   check=True, capture_output=True)
    node = Node(data, ingest=False)
    try:
        address = cs(chain.eoas[0])
        assert node.w3.eth.get_balance(address, 5) == chain.states[5][chain.eoas[0]].balance
        e = error(node, "eth_getBalance", [address, "0x2"])
        assert e["code"] == -32002 and e["data"]["oldestAvailable"] == "0x5", e
        assert "pruned" in e["message"] and "oldest available is block 5" in e["message"]
        e = error(node, "eth_getProof", [address, [], "0x1"])
        assert e["code"] == -32002
        e = error(node, "eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x3"}])
        assert e["code"] == -32002
        # Blocks themselves are kept.
        assert node.w3.eth.get_block(1)["hash"] == hb(chain.blocks[1]["hash"])
    finally:
        node.stop()
