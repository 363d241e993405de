import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import chainstore  # noqa: E402


@pytest.fixture
def store(tmp_path):
    s = chainstore.ChainStore(tmp_path / "chain", durability="buffered")
    yield s
    s.close()


@pytest.fixture
def db(tmp_path):
    d = chainstore.Database(tmp_path / "db", durability="buffered")
    yield d
    d.close()
