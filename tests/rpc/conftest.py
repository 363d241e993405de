"""Fixtures: a `chainstore serve --ingest -` process fed a chain made by chain.py.

The binary is $CHAINSTORE_BIN (default: target/debug/chainstore under $CARGO_TARGET_DIR or
./target)."""

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from web3 import Web3

from chain import Chain

ROOT = Path(__file__).resolve().parents[2]


def binary():
    if "CHAINSTORE_BIN" in os.environ:
        return os.environ["CHAINSTORE_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    return str(Path(target) / "debug" / "chainstore")


class Node:
    """A running `serve` process: its URL, a web3 client, and the acknowledgements it printed."""

    def __init__(self, data, args=(), ingest=True):
        cmd = [binary(), "--data", str(data), "serve", "--rpc", "127.0.0.1:0"]
        cmd += ["--chain-id", "1337", *args]
        if ingest:
            cmd += ["--ingest", "-"]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr = []
        self.metrics_url = None
        self.acks = queue.Queue()
        serving = queue.Queue()
        threading.Thread(target=self._read_stderr, args=(serving,), daemon=True).start()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        try:
            self.url = serving.get(timeout=30)
        except queue.Empty:
            self.stop()
            raise RuntimeError("serve did not start: " + "".join(self.stderr))
        self.w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 30}))

    def _read_stderr(self, serving):
        for line in self.proc.stderr:
            self.stderr.append(line)
            if "serving metrics on " in line:
                self.metrics_url = line.split("serving metrics on ")[1].strip()
            if "serving JSON-RPC on " in line:
                serving.put(line.split("serving JSON-RPC on ")[1].strip())

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.acks.put(line)

    def feed(self, block):
        """Sends one block line; returns its acknowledgement (the block is then readable)."""
        self.proc.stdin.write(Chain.line(block))
        self.proc.stdin.flush()
        try:
            return json.loads(self.acks.get(timeout=30))
        except queue.Empty:
            raise RuntimeError("no acknowledgement: " + "".join(self.stderr)) from None

    def rpc(self, method, params):
        """One raw call: the whole response object."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return requests.post(self.url, json=body, timeout=30).json()

    def post(self, data, **kwargs):
        return requests.post(
            self.url, data=data, headers={"Content-Type": "application/json"}, timeout=30, **kwargs
        )

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def chain():
    return Chain(seed=1).build(12)


@pytest.fixture(scope="session")
def node(chain, tmp_path_factory):
    """A node that ingested the whole chain, with small limits to test them."""
    n = Node(
        tmp_path_factory.mktemp("node") / "data",
        args=["--rpc-max-logs-range", "8", "--rpc-max-batch", "10", "--rpc-max-body-bytes", "65536"],
    )
    for block in chain.blocks:
        ack = n.feed(block)
        assert ack["hash"] == block["hash"]
        assert ack["stateRoot"] == block["stateRoot"]
    yield n
    n.stop()


def wait_for(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")
