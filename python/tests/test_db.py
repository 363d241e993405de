"""The transactional database against a dict model: commits, rollbacks, snapshots, iteration,
conflicts."""

import random

import pytest

import chainstore


def test_random_transactions_match_a_dict(db):
    rng = random.Random(5)
    model = {}
    for round_ in range(30):
        staged = dict(model)
        fail = rng.random() < 0.3
        try:
            with db.write() as txn:
                for _ in range(rng.randint(1, 20)):
                    key = bytes([rng.randrange(40)])
                    if rng.random() < 0.25:
                        txn.delete("t", key)
                        staged.pop(key, None)
                    else:
                        value = rng.randbytes(rng.randint(0, 10))
                        txn.put("t", key, value)
                        staged[key] = value
                    assert txn.get("t", key) == staged.get(key)
                assert list(txn.range("t")) == sorted(staged.items())
                if fail:
                    raise KeyError("abort")
        except KeyError:
            pass
        else:
            model = staged
        snap = db.read()
        assert list(snap.range("t")) == sorted(model.items()), round_
        assert list(snap.range("t", reverse=True)) == sorted(model.items(), reverse=True)
        lo, hi = sorted(bytes([rng.randrange(40)]) for _ in range(2))
        assert list(snap.range("t", lo, hi)) == [(k, v) for k, v in sorted(model.items()) if lo <= k < hi]
        assert list(snap.range("t", start=lo)) == [(k, v) for k, v in sorted(model.items()) if lo <= k]


def test_prefix_iteration_and_tables(db):
    keys = [b"a", b"ab", b"abc", b"abd", b"b", b"\xff", b"\xff\xff"]
    with db.write() as txn:
        for k in keys:
            txn.put("p", k, k * 2)
        txn.put("q", b"x", b"")
    snap = db.read()
    assert [k for k, _ in snap.prefix("p", b"ab")] == [b"ab", b"abc", b"abd"]
    assert [k for k, _ in snap.prefix("p", b"\xff")] == [b"\xff", b"\xff\xff"]
    assert [k for k, _ in snap.prefix("p", b"")] == keys
    assert snap.tables() == ["p", "q"] and snap.get("q", b"x") == b""
    assert snap.get("p", b"zz") is None


def test_iterators_stream_many_pairs(db):
    with db.write() as txn:
        for i in range(5000):
            txn.put("big", i.to_bytes(4, "big"), b"v")
    it = db.read().range("big")
    assert next(it) == ((0).to_bytes(4, "big"), b"v")
    assert sum(1 for _ in it) == 4999


def test_snapshots_are_isolated(db):
    with db.write() as txn:
        txn.put("t", b"k", b"1")
    snap = db.read()
    it = snap.range("t")
    with db.write() as txn:
        txn.put("t", b"k", b"2")
        txn.put("t", b"k2", b"2")
    assert snap.get("t", b"k") == b"1" and list(it) == [(b"k", b"1")]
    assert db.read().get("t", b"k") == b"2"


def test_exception_rolls_back_and_propagates(db):
    with pytest.raises(ValueError, match="boom"):
        with db.write() as txn:
            txn.put("t", b"k", b"v")
            raise ValueError("boom")
    assert db.read().get("t", b"k") is None
    txn = db.write()
    txn.put("t", b"k", b"v")
    txn.rollback()
    with pytest.raises(chainstore.ChainstoreError, match="finished"):
        txn.put("t", b"k", b"v")
    assert db.read().get("t", b"k") is None


def test_first_committer_wins(db):
    a, b = db.write(), db.write()
    a.put("t", b"k", b"a")
    b.put("t", b"k", b"b")
    assert a.commit() > 0
    with pytest.raises(chainstore.Conflict):
        b.commit()
    assert db.read().get("t", b"k") == b"a"


def test_bad_input(db):
    with db.write() as txn:
        with pytest.raises(chainstore.InvalidInput) as e:
            txn.put("t", "not bytes", b"v")
        assert e.value.field == "key"
        with pytest.raises(chainstore.InvalidInput) as e:
            txn.put("__reserved", b"k", b"v")
        assert e.value.field == "table"
        with pytest.raises(chainstore.InvalidInput) as e:
            db.read().range("t", start=3)
        assert e.value.field == "start"


def test_quota(tmp_path):
    with chainstore.Database(tmp_path / "q", max_bytes=100_000) as db:
        with pytest.raises(chainstore.QuotaExceeded):
            with db.write() as txn:
                txn.put("t", b"k", b"x" * 200_000)
        assert db.read().get("t", b"k") is None
        with db.write() as txn:
            txn.put("t", b"small", b"x")
        assert db.read().get("t", b"small") == b"x"
