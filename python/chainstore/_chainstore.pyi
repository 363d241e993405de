"""Type stubs of the native module (``python/src``); ``chainstore`` re-exports all of it."""

from os import PathLike
from types import TracebackType
from typing import Any, Iterator, Literal, Mapping, Optional, Sequence, Union

Hex = str
"""``0x``-prefixed hex."""
BytesLike = Union[str, bytes, bytearray]
"""Hex text (with or without ``0x``, any case) or raw bytes."""
Quantity = Union[int, str]
"""An ``int``, or ``0x`` hex / decimal text."""
Document = dict[str, Any]
"""A JSON-RPC shaped document: quantities and data as ``0x`` hex strings."""
Backend = Literal["redb", "rocksdb"]
Durability = Literal["immediate", "buffered"]

PRUNE_BATCH_OPS: int

class ChainstoreError(Exception):
    """Base class of every error the chainstore package raises."""

class InvalidInput(ChainstoreError):
    """An argument or a block is malformed or does not fit the store; nothing was changed."""

    field: Optional[str]
    """The field at fault (e.g. ``"transactions[1].hash"``, ``"address"``), or None."""

class CorruptionError(ChainstoreError):
    """Stored data is damaged: a checksum or a decode failed."""

class Locked(ChainstoreError):
    """The directory is open in another process (or another object of this one)."""

class QuotaExceeded(ChainstoreError):
    """The commit would exceed ``max_bytes`` or the disk is full; nothing was written."""

class Conflict(ChainstoreError):
    """A write-write conflict; nothing was written, retry the transaction."""

class Pruned(ChainstoreError):
    """What was asked for is below the retained history window."""

class ChainStore:
    """A chain store: blocks, transactions, receipts, logs and Ethereum state with incremental
    state roots and EIP-1186 proofs. Thread-safe; the GIL is released while it works."""

    def __init__(
        self,
        path: Union[str, PathLike[str]],
        *,
        backend: Backend = "redb",
        durability: Durability = "immediate",
        retention: Optional[Mapping[str, Optional[int]]] = None,
        max_bytes: Optional[int] = None,
        read_only: bool = False,
    ) -> None: ...
    @property
    def path(self) -> str: ...
    def close(self) -> None: ...
    def __enter__(self) -> "ChainStore": ...
    def __exit__(self, *exc: object) -> bool: ...
    def commit(self, block: Mapping[str, Any]) -> Document:
        """Commits a block given in the CLI's block line fields; returns ``{number, hash,
        stateRoot}`` once durable."""
    def head(self) -> Optional[Document]: ...
    def block(self, id: Union[int, BytesLike]) -> Optional[Document]: ...
    def transaction(self, hash: BytesLike) -> Optional[Document]: ...
    def receipt(self, hash: BytesLike) -> Optional[Document]: ...
    def logs(
        self,
        *,
        from_block: Optional[Quantity] = None,
        to_block: Optional[Quantity] = None,
        address: Union[None, BytesLike, Sequence[BytesLike]] = None,
        topics: Optional[Sequence[Union[None, BytesLike, Sequence[BytesLike]]]] = None,
    ) -> list[Document]: ...
    def account(self, address: BytesLike, block: Optional[Quantity] = None) -> Optional[Document]: ...
    def storage(
        self, address: BytesLike, slot: Union[int, BytesLike], block: Optional[Quantity] = None
    ) -> Hex: ...
    def code(self, address: BytesLike, block: Optional[Quantity] = None) -> Hex: ...
    def proof(
        self,
        address: BytesLike,
        slots: Union[None, int, BytesLike, Sequence[Union[int, BytesLike]]] = None,
        block: Optional[Quantity] = None,
    ) -> Document:
        """An ``eth_getProof`` result against the head's or ``block``'s state root."""
    def unwind(self, to: Quantity) -> Optional[Document]: ...
    def prune(
        self, retention: Optional[Mapping[str, Optional[int]]] = None, *, batch_ops: int = ...
    ) -> Document: ...
    def verify(self) -> Document: ...
    def stats(self) -> Document: ...

class Database:
    """The transactional key-value database: named tables of ``bytes``, snapshot isolation.
    Thread-safe; the GIL is released while it works."""

    def __init__(
        self,
        path: Union[str, PathLike[str]],
        *,
        backend: Backend = "redb",
        durability: Durability = "immediate",
        max_bytes: Optional[int] = None,
        read_only: bool = False,
    ) -> None: ...
    @property
    def path(self) -> str: ...
    def write(self, *, durability: Optional[Durability] = None) -> WriteTxn: ...
    def read(self) -> Snapshot: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Database": ...
    def __exit__(self, *exc: object) -> bool: ...

Key = Union[bytes, bytearray]

class WriteTxn:
    """``with db.write() as txn:`` commits on success and rolls back on an exception."""

    def get(self, table: str, key: Key) -> Optional[bytes]: ...
    def put(self, table: str, key: Key, value: Key) -> None: ...
    def delete(self, table: str, key: Key) -> None: ...
    def range(
        self, table: str, start: Optional[Key] = None, end: Optional[Key] = None, *, reverse: bool = False
    ) -> PairIterator: ...
    def prefix(self, table: str, prefix: Key) -> PairIterator: ...
    def commit(self) -> int: ...
    def rollback(self) -> None: ...
    def __enter__(self) -> "WriteTxn": ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class Snapshot:
    """A consistent read snapshot."""

    @property
    def seq(self) -> int: ...
    def get(self, table: str, key: Key) -> Optional[bytes]: ...
    def tables(self) -> list[str]: ...
    def range(
        self, table: str, start: Optional[Key] = None, end: Optional[Key] = None, *, reverse: bool = False
    ) -> PairIterator: ...
    def prefix(self, table: str, prefix: Key) -> PairIterator: ...
    def __enter__(self) -> "Snapshot": ...
    def __exit__(self, *exc: object) -> bool: ...

class PairIterator(Iterator[tuple[bytes, bytes]]):
    def __iter__(self) -> "PairIterator": ...
    def __next__(self) -> tuple[bytes, bytes]: ...
