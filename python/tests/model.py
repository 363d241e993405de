"""An independent model of the chain store, for the tests: random blocks in the CLI's block line
format, the state they produce, and that state's root computed with py-trie's ``HexaryTrie``
(py-trie, ``rlp`` and ``eth-hash``: none of chainstore's code)."""

import random

import rlp
from eth_hash.auto import keccak
from trie import HexaryTrie

EMPTY_CODE_HASH = keccak(b"")
EMPTY_ROOT = HexaryTrie({}).root_hash


def h(b: bytes) -> str:
    return "0x" + b.hex()


def unhex(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def quantity(s: str) -> int:
    return int(s, 16)


class Account:
    def __init__(self):
        self.nonce = 0
        self.balance = 0
        self.code = b""
        self.storage = {}  # slot int -> value int (non-zero only)

    def copy(self):
        a = Account()
        a.nonce, a.balance, a.code, a.storage = self.nonce, self.balance, self.code, dict(self.storage)
        return a

    def storage_trie(self) -> HexaryTrie:
        t = HexaryTrie({})
        for slot, value in self.storage.items():
            t[keccak(slot.to_bytes(32, "big"))] = rlp.encode(value)
        return t

    def rlp(self) -> bytes:
        root = self.storage_trie().root_hash
        return rlp.encode([self.nonce, self.balance, root, keccak(self.code)])


class Model:
    """State after each block, by block number."""

    def __init__(self):
        self.state = {}  # address bytes -> Account
        self.history = []  # per block: {address: Account}

    def apply(self, block: dict):
        for addr_hex, change in block.get("state", {}).items():
            addr = unhex(addr_hex)
            if change is None:
                self.state.pop(addr, None)
                continue
            acct = self.state.setdefault(addr, Account())
            if "nonce" in change:
                acct.nonce = change["nonce"]
            if "balance" in change:
                acct.balance = change["balance"]
            if "code" in change:
                acct.code = unhex(change["code"])
            for slot_hex, value in change.get("storage", {}).items():
                slot = int(slot_hex, 16)
                if value:
                    acct.storage[slot] = value
                else:
                    acct.storage.pop(slot, None)
        self.history.append({a: acct.copy() for a, acct in self.state.items()})

    def state_trie(self, number=None) -> HexaryTrie:
        state = self.state if number is None else self.history[number]
        t = HexaryTrie({})
        for addr, acct in state.items():
            t[keccak(addr)] = acct.rlp()
        return t

    def root(self, number=None) -> bytes:
        return self.state_trie(number).root_hash

    def at(self, number=None) -> dict:
        return self.state if number is None else self.history[number]


class ChainGen:
    """Random blocks over a small pool of addresses (so that they are touched repeatedly),
    with transactions, receipts and logs."""

    def __init__(self, seed: int, accounts: int = 12):
        self.rng = random.Random(seed)
        self.pool = [self.rng.randbytes(20) for _ in range(accounts)]
        self.contracts = self.pool[:3]
        self.topics = [self.rng.randbytes(32) for _ in range(4)]
        self.number = 0
        self.parent = b"\0" * 32
        self.live = set()

    def block(self) -> dict:
        rng = self.rng
        number, block_hash = self.number, rng.randbytes(32)
        state = {}
        for addr in rng.sample(self.pool, rng.randint(1, 6)):
            if addr in self.live and rng.random() < 0.08:
                state[h(addr)] = None
                self.live.discard(addr)
                continue
            change = {"balance": rng.choice([rng.randint(1, 10**6), rng.getrandbits(200) + 1])}
            if rng.random() < 0.5:
                change["nonce"] = rng.randint(0, 1000)
            if rng.random() < 0.15:
                change["code"] = h(rng.randbytes(rng.randint(0, 40)))
            if rng.random() < 0.6:
                change["storage"] = {
                    hex(rng.randint(0, 20)): rng.choice([0, rng.randint(1, 5), rng.getrandbits(256)])
                    for _ in range(rng.randint(1, 5))
                }
            state[h(addr)] = change
            self.live.add(addr)
        txs, receipts = [], []
        for _ in range(rng.randint(0, 4)):
            tx_hash = rng.randbytes(32)
            sender, to = rng.sample(self.pool, 2)
            txs.append({"hash": h(tx_hash), "from": h(sender), "to": h(to) if rng.random() < 0.9 else None,
                        "nonce": rng.randint(0, 100), "raw": h(rng.randbytes(rng.randint(1, 30)))})
            logs = [{"address": h(rng.choice(self.contracts)),
                     "topics": [h(t) for t in rng.sample(self.topics, rng.randint(0, 3))],
                     "data": h(rng.randbytes(rng.randint(0, 8)))} for _ in range(rng.randint(0, 3))]
            receipts.append({"transactionHash": h(tx_hash), "status": rng.randint(0, 1),
                             "gasUsed": rng.randint(21000, 10**6), "logs": logs})
        block = {"number": number, "hash": h(block_hash), "parentHash": h(self.parent),
                 "timestamp": 1_700_000_000 + 12 * number, "transactions": txs, "receipts": receipts,
                 "state": state}
        self.number += 1
        self.parent = block_hash
        return block
