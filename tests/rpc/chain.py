"""A small Ethereum chain made here, independently of chainstore: signed transactions
(legacy, EIP-1559, a contract creation), receipts with logs, and state changes, with the
state root of every block computed by py-trie. The blocks are written in the JSON-lines
format of `chainstore ingest` (docs/cli.md), each carrying the expected `stateRoot`, so a
block whose root chainstore computes differently is rejected.

Everything the tests expect comes from here: the input blocks and the model state after each
block, never from chainstore.
"""

import copy
import json
import random
from dataclasses import dataclass, field

import rlp
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from trie import HexaryTrie

TOPICS = [keccak(text=f"Event{i}(address,uint256)") for i in range(3)]
CHAIN_ID = 1337


@dataclass
class AccountState:
    nonce: int = 0
    balance: int = 0
    code: bytes = b""
    storage: dict = field(default_factory=dict)  # slot (int) -> value (int, non-zero)


def hex_int(n):
    return hex(n)


def hex_bytes(b):
    return "0x" + bytes(b).hex()


def storage_root(account):
    t = HexaryTrie({})
    for slot, value in account.storage.items():
        t[keccak(slot.to_bytes(32, "big"))] = rlp.encode(value)
    return t.root_hash


def account_rlp(account):
    return rlp.encode(
        [account.nonce, account.balance, storage_root(account), keccak(account.code)]
    )


def state_root(state):
    t = HexaryTrie({})
    for address, account in state.items():
        t[keccak(address)] = account_rlp(account)
    return t.root_hash


def create_address(sender, nonce):
    return keccak(rlp.encode([sender, nonce]))[12:]


class Chain:
    """Blocks 0..n, their JSON lines, and the state after each."""

    def __init__(self, seed, eoas=6, contracts=3):
        self.rng = random.Random(seed)
        self.seed = seed
        self.keys = [Account.from_key(keccak(text=f"key {seed} {i}")) for i in range(eoas)]
        self.eoas = [bytes.fromhex(k.address[2:]) for k in self.keys]
        self.contracts = [keccak(text=f"contract {seed} {i}")[12:] for i in range(contracts)]
        # Created at genesis with storage, deleted (`null`) in block 3.
        self.doomed = keccak(text=f"doomed {seed}")[12:]
        self.state = {}
        self.blocks = []  # the input, as parsed JSON objects
        self.states = []  # deep copies of the state after each block
        self.roots = []  # state root after each block (py-trie)
        self.txs = []  # every transaction: dict with block, index, signed fields
        self.created = []  # addresses of contracts created by transactions

    # ---- building -----------------------------------------------------------------------

    def _finish(self, number, txs, receipts, changes):
        root = state_root(self.state)
        parent = self.blocks[-1]["hash"] if self.blocks else "0x" + "00" * 32
        block = {
            "number": hex_int(number),
            "hash": hex_bytes(keccak(text=f"block {self.seed} {number}")),
            "parentHash": parent,
            "timestamp": hex_int(1_700_000_000 + 12 * number),
            "stateRoot": hex_bytes(root),
            "transactions": txs,
            "receipts": receipts,
            "state": changes,
        }
        self.blocks.append(block)
        self.states.append(copy.deepcopy(self.state))
        self.roots.append(root)
        return block

    def genesis(self):
        changes = {}
        for i, address in enumerate(self.eoas):
            self.state[address] = AccountState(balance=10**21 * (i + 1))
            changes[hex_bytes(address)] = {"balance": hex_int(self.state[address].balance)}
        for i, address in enumerate(self.contracts + [self.doomed]):
            code = keccak(text=f"code {i}") + bytes([0x60, i])
            storage = {s: self.rng.randrange(1, 2**64) for s in range(3)}
            self.state[address] = AccountState(nonce=1, code=code, storage=storage)
            changes[hex_bytes(address)] = {
                "nonce": "0x1",
                "code": hex_bytes(code),
                "storage": {hex_int(s): hex_int(v) for s, v in storage.items()},
            }
        return self._finish(0, [], [], changes)

    def _sign(self, sender_index, to, value, data, kind):
        key = self.keys[sender_index]
        sender = self.eoas[sender_index]
        nonce = self.state[sender].nonce
        tx = {"nonce": nonce, "gas": 100_000, "value": value, "data": data, "chainId": CHAIN_ID}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        if kind == 2:
            tx.update(type=2, maxFeePerGas=3 * 10**9, maxPriorityFeePerGas=10**9)
        else:
            tx["gasPrice"] = 2 * 10**9
        signed = Account.sign_transaction(tx, key.key)
        return signed, nonce

    def next_block(self):
        number = len(self.blocks)
        if number == 0:
            return self.genesis()
        touched = {}  # address -> change dict (JSON), in first-touch order

        def touch(address):
            return touched.setdefault(hex_bytes(address), {})

        txs, receipts = [], []
        gas_price = 2 * 10**9
        for index in range(self.rng.randrange(2, 5)):
            s = self.rng.randrange(len(self.eoas))
            sender = self.eoas[s]
            roll = self.rng.random()
            if number == 2 and index == 0:
                kind, to, value, data = "create", None, 0, b"\x60\x00\x60\x00" + bytes([number])
            elif roll < 0.35:
                kind, to, value, data = "transfer", self.rng.choice(self.eoas), 10**15, b""
            else:
                kind = "call"
                to = self.rng.choice(self.contracts)
                value, data = 0, bytes(self.rng.randrange(256) for _ in range(8))
            signed, nonce = self._sign(s, to, value, data, 2 if index % 2 else 0)
            gas_used = 21_000 if kind == "transfer" else 40_000 + 100 * index
            status = 0 if kind == "call" and self.rng.random() < 0.15 else 1
            logs = []
            account = self.state[sender]
            account.nonce += 1
            account.balance -= gas_used * gas_price + (value if status else 0)
            touch(sender).update(nonce=hex_int(account.nonce), balance=hex_int(account.balance))
            if kind == "transfer":
                self.state[to].balance += value
                touch(to)["balance"] = hex_int(self.state[to].balance)
            elif kind == "create":
                new = create_address(sender, nonce)
                self.state[new] = AccountState(nonce=1, code=data)
                touch(new).update(nonce="0x1", code=hex_bytes(data))
                self.created.append(new)
            elif status == 1:
                contract = self.state[to]
                writes = touch(to).setdefault("storage", {})
                for _ in range(2):
                    slot = self.rng.randrange(6)
                    value_ = 0 if self.rng.random() < 0.2 else self.rng.randrange(1, 2**128)
                    if value_:
                        contract.storage[slot] = value_
                    else:
                        contract.storage.pop(slot, None)
                    writes[hex_int(slot)] = hex_int(value_)
                for _ in range(self.rng.randrange(1, 3)):
                    topics = [self.rng.choice(TOPICS), b"\x00" * 12 + sender]
                    if self.rng.random() < 0.5:
                        topics.append(keccak(text=f"extra {self.rng.randrange(3)}"))
                    logs.append(
                        {
                            "address": hex_bytes(to),
                            "topics": [hex_bytes(t) for t in topics],
                            "data": hex_bytes(self.rng.randrange(2**64).to_bytes(32, "big")),
                        }
                    )
            tx_hash = hex_bytes(signed.hash)
            txs.append(
                {
                    "hash": tx_hash,
                    "from": hex_bytes(sender),
                    "to": None if to is None else hex_bytes(to),
                    "nonce": hex_int(nonce),
                    "raw": hex_bytes(signed.raw_transaction),
                }
            )
            receipts.append(
                {
                    "transactionHash": tx_hash,
                    "status": hex_int(status),
                    "gasUsed": hex_int(gas_used),
                    "logs": logs,
                }
            )
            self.txs.append(
                {
                    "block": number,
                    "index": index,
                    "hash": tx_hash,
                    "from": sender,
                    "to": to,
                    "nonce": nonce,
                    "value": value,
                    "input": data,
                    "type": 2 if index % 2 else 0,
                    "status": status,
                    "gasUsed": gas_used,
                    "logs": logs,
                    "raw": bytes(signed.raw_transaction),
                }
            )
        changes = dict(touched)
        if number == 3:
            del self.state[self.doomed]
            changes[hex_bytes(self.doomed)] = None
        return self._finish(number, txs, receipts, changes)

    def build(self, blocks):
        """Blocks up to and including `blocks`."""
        while len(self.blocks) <= blocks:
            self.next_block()
        return self

    # ---- reading the input --------------------------------------------------------------

    @staticmethod
    def line(block):
        return json.dumps(block) + "\n"

    def logs(self):
        """Every log in chain order, with where it is."""
        out = []
        for number, block in enumerate(self.blocks):
            log_index = 0
            for index, receipt in enumerate(block["receipts"]):
                for log in receipt["logs"]:
                    out.append(
                        {
                            "blockNumber": number,
                            "blockHash": block["hash"],
                            "transactionIndex": index,
                            "transactionHash": receipt["transactionHash"],
                            "logIndex": log_index,
                            "address": log["address"],
                            "topics": log["topics"],
                            "data": log["data"],
                        }
                    )
                    log_index += 1
        return out
