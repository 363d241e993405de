"""`serve --metrics`: the Prometheus endpoint, scraped over HTTP and read with the reference
Python client's text-format parser; its counters move as blocks commit and calls fail."""

import json
import re
import socket
import subprocess

import requests
from prometheus_client.parser import text_string_to_metric_families

from chain import Chain
from conftest import ROOT, Node, binary


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(node):
    """Every sample of the endpoint: {(name, sorted labels): value}, and the families' types."""
    response = requests.get(node.metrics_url, timeout=30)
    assert response.status_code == 200
    samples, types = {}, {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def state_updates(block):
    """One per state entry and one per storage write: the count the library reports."""
    changes = block["state"].values()
    return len(block["state"]) + sum(len(c.get("storage", {})) for c in changes if c)


def test_counters_move_as_blocks_commit(tmp_path):
    chain = Chain(seed=5).build(6)
    node = Node(tmp_path / "data", args=["--metrics", f"127.0.0.1:{free_port()}"])
    try:
        assert node.metrics_url and node.metrics_url.endswith("/metrics")
        first, second = chain.blocks[:3], chain.blocks[3:]
        for block in first:
            node.feed(block)
        before, types = scrape(node)
        for block in second:
            node.feed(block)
        after, types = scrape(node)

        assert value(before, "chainstore_chain_blocks_total") == len(first)
        assert value(after, "chainstore_chain_blocks_total") == len(chain.blocks)
        moved = value(after, "chainstore_chain_state_updates_total") - value(
            before, "chainstore_chain_state_updates_total"
        )
        assert moved == sum(state_updates(b) for b in second)
        assert value(after, "chainstore_chain_head_block") == len(chain.blocks) - 1

        # Latency histograms are Prometheus histograms with one observation per commit.
        for name in ["chainstore_chain_commit_seconds", "chainstore_chain_state_root_seconds"]:
            assert types[name] == "histogram", name
            assert value(after, name + "_count") == len(chain.blocks)
            assert value(after, name + "_bucket", le="+Inf") == len(chain.blocks)
            assert value(after, name + "_sum") > 0
        assert types["chainstore_wal_fsync_seconds"] == "histogram"
        assert value(after, "chainstore_wal_fsync_seconds_count") >= 1
        assert value(after, "chainstore_wal_written_bytes_total") > value(
            before, "chainstore_wal_written_bytes_total"
        )

        # A failed call is counted by its JSON-RPC code.
        errors = value(after, "chainstore_rpc_errors_total", code="-32602")
        bad = node.rpc("eth_getBalance", ["0x1234", "latest"])
        assert bad["error"]["code"] == -32602
        later, _ = scrape(node)
        assert value(later, "chainstore_rpc_errors_total", code="-32602") == errors + 1
    finally:
        node.stop()


def test_a_remote_metrics_address_needs_to_be_allowed(tmp_path):
    data = tmp_path / "data"
    cmd = [binary(), "--data", str(data), "serve", "--rpc", "127.0.0.1:0", "--ingest", "-"]
    refused = subprocess.run(
        cmd + ["--metrics", f"0.0.0.0:{free_port()}"], input="", capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "--metrics-allow-remote" in refused.stderr
    assert not data.exists(), "a refused address must not create a store"


def documented_names():
    text = (ROOT / "docs" / "metrics.md").read_text()
    return set(re.findall(r"`(chainstore_[a-z_]+)", text))


def test_scraped_and_dashboard_metrics_are_documented(tmp_path):
    documented = documented_names()
    chain = Chain(seed=6).build(2)
    node = Node(tmp_path / "data", args=["--metrics", f"127.0.0.1:{free_port()}"])
    try:
        for block in chain.blocks:
            node.feed(block)
        _, types = scrape(node)
    finally:
        node.stop()
    # A counter's family drops `_total`; the documented name keeps it.
    scraped = {n + "_total" if t == "counter" else n for n, t in types.items()}
    assert scraped - documented == set()
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = re.findall(r"chainstore_[a-z_]+", target["expr"])
            used |= {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}
    assert used - documented == set()
