//! Helpers of the genesis/ingest tests: running the binary, generating block lines, reading the
//! store.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use chainstore_chain::synth::{SynthChain, SynthConfig};
use chainstore_chain::{BlockCommit, ChainStore, Header};
use serde_json::Value;

/// The block line parser and `block_to_json` the binary uses.
pub(crate) use chainstore_json::input as json_in;

/// The genesis file parser of the binary, compiled into the tests.
#[allow(dead_code, unreachable_pub, reason = "the tests use a part of the module")]
#[path = "../../src/genesis_file.rs"]
pub(crate) mod genesis_file;

/// `chainstore --data DIR`.
pub(crate) fn chainstore(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chainstore"));
    cmd.arg("--data").arg(data);
    cmd
}

/// Runs `chainstore --data DIR ARGS...` with `stdin` as input.
pub(crate) fn run(data: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = chainstore(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chainstore");
    let mut input = child.stdin.take().expect("stdin");
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&bytes));
    let out = child.wait_with_output().expect("wait for chainstore");
    // The child may stop reading early (on a bad line): a broken pipe is expected then.
    let _ = writer.join().expect("writer thread");
    out
}

/// Runs a command that must succeed; returns its stdout.
pub(crate) fn run_ok(data: &Path, args: &[&str], stdin: &[u8]) -> String {
    let out = run(data, args, stdin);
    assert!(
        out.status.success(),
        "chainstore {args:?} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 stdout")
}

/// Every stdout line as JSON.
pub(crate) fn json_lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// Accounts of the synthetic chains of these tests.
pub(crate) const SYNTH_ACCOUNTS: u64 = 300;
/// Token contracts of the synthetic chains of these tests.
pub(crate) const SYNTH_TOKENS: u64 = 4;

/// Storage writes of a large block ([`SynthChain::next_large_block`]): a write set of about
/// 1.5 MiB (the large-block crash loop checks it is over 1 MiB).
pub(crate) const LARGE_BLOCK_SLOTS: u64 = 4096;

fn synth_chain(seed: u64) -> SynthChain {
    SynthChain::new(SynthConfig {
        accounts: SYNTH_ACCOUNTS,
        tokens: SYNTH_TOKENS,
        txs_per_block: 12,
        seed,
    })
}

/// A small synthetic chain (block 0 funds every account).
pub(crate) fn synth_blocks(n: usize, seed: u64) -> Vec<BlockCommit> {
    let mut chain = synth_chain(seed);
    (0..n).map(|_| chain.next_block()).collect()
}

/// The same chain with large blocks: after block 0, every block also writes
/// [`LARGE_BLOCK_SLOTS`] storage slots.
pub(crate) fn synth_large_blocks(n: usize, seed: u64) -> Vec<BlockCommit> {
    let mut chain = synth_chain(seed);
    let genesis = chain.next_block();
    std::iter::once(genesis)
        .chain((1..n).map(|_| chain.next_large_block(LARGE_BLOCK_SLOTS)))
        .collect()
}

/// One commit line.
pub(crate) fn line(block: &BlockCommit) -> String {
    serde_json::to_string(&json_in::block_to_json(block)).expect("JSON") + "\n"
}

/// The lines of `blocks`, concatenated.
pub(crate) fn lines(blocks: &[BlockCommit]) -> String {
    blocks.iter().map(line).collect()
}

/// Opens the store in this process (no child may hold it).
pub(crate) fn open(data: &Path) -> ChainStore {
    ChainStore::open(data, Default::default()).expect("open the store")
}

/// The head, read by opening the store.
pub(crate) fn head(data: &Path) -> Option<Header> {
    open(data).head().expect("head")
}

/// `{"number","hash","stateRoot"}` of a header, as the CLI prints it.
pub(crate) fn head_json(h: &Header) -> Value {
    serde_json::json!({
        "number": format!("{:#x}", h.number),
        "hash": h.hash,
        "stateRoot": h.state_root,
    })
}

/// A file in the repository's `testdata/`.
pub(crate) fn testdata(relative: &str) -> PathBuf {
    manifest_dir().join("../../testdata").join(relative)
}

/// Runs `chainstore verify` and asserts it passes, unless it is still the stub.
pub(crate) fn assert_verifies(data: &Path) {
    let out = run(data, &["verify"], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed ({:?}): {stderr}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).contains("checked"), "verify said nothing");
}

/// The package directory, read when the test runs: a test binary built from a checkout at
/// another path (a shared target directory) must still find this checkout's files.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")), Into::into)
}
