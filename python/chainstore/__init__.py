"""chainstore: a storage engine for blockchain nodes.

``ChainStore`` keeps blocks, transactions, receipts, logs and Ethereum state with incremental
state roots and EIP-1186 proofs; ``Database`` is the transactional key-value engine beneath it.
Documents come back in the Ethereum JSON-RPC shapes (dicts of ``0x`` hex strings). See
``docs/bindings.md`` in the repository.
"""

from ._chainstore import (
    PRUNE_BATCH_OPS,
    ChainStore,
    ChainstoreError,
    Conflict,
    CorruptionError,
    Database,
    InvalidInput,
    Locked,
    PairIterator,
    Pruned,
    QuotaExceeded,
    Snapshot,
    WriteTxn,
)

__all__ = [
    "PRUNE_BATCH_OPS",
    "ChainStore",
    "ChainstoreError",
    "Conflict",
    "CorruptionError",
    "Database",
    "InvalidInput",
    "Locked",
    "PairIterator",
    "Pruned",
    "QuotaExceeded",
    "Snapshot",
    "WriteTxn",
]
