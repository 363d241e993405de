//! `chainstore bench bindings`: account reads/s and block commits/s through the C ABI
//! (`chainstore-ffi`) and the Python package against the same operations through the Rust
//! library, on copies of one store.
//!
//! The state is grown once (untimed), the store closed and copied three times, so each system
//! starts from the same files. Each, in its own copy:
//! - reads the same 1,000 existing accounts, `rounds` times over (1 core, page cache warm): the
//!   library's `ChainStore::account`; `cs_store_account_fields` with the address as 20 bytes and
//!   the fields written to a `CsAccount`, and also (a row of its own) `cs_store_account` with the
//!   address as hex and the account returned as a JSON document, freed with `cs_string_free`;
//!   the package's `ChainStore.account`, returning a dict;
//! - commits the same blocks of the `commit-latency` shape (3,000 state updates, 200
//!   transactions), each durable before the next: `ChainStore::commit_block` on the decoded block;
//!   `cs_store_commit` on the block's JSON line; the package's `ChainStore.commit` on the line
//!   parsed into a dict beforehand.
//!
//! The systems take turns (a round of reads each, then a block each), so that a change in the
//! machine's load falls on all alike. The C side is called from this process through the
//! crate's exported functions, the same machine code a C program links against. The Python side
//! is `bindings.py` (embedded in this binary) in a child process, answering one command per
//! line, run by the interpreter given with `--python`, or by `python3` if it can import
//! `chainstore` (otherwise the Python rows are skipped, and said so). The stores must end at the
//! same state root, or the run fails.

use std::ffi::{CStr, CString, c_char};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::ptr;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use chainstore_chain::ChainStore;
use chainstore_chain::synth::SynthChain;
use chainstore_engine::db::Options;

use crate::BenchError;
use crate::commit_latency::{
    CaptureFs, ChainBenchError, Result, UPDATES_PER_BLOCK, Workload, open_store, ratio,
};
use crate::report::{Goal, Report, Row};
use crate::system;

/// Sizes of one `bindings` run, and the Python interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingsConfig {
    /// Accounts in the state.
    pub accounts: u64,
    /// Blocks each system commits.
    pub blocks: usize,
    /// Times each system reads the set of hot accounts.
    pub rounds: usize,
    /// The Python interpreter; `None` tries `python3` and skips Python if it cannot import
    /// `chainstore`.
    pub python: Option<PathBuf>,
}

impl BindingsConfig {
    /// CI size: seconds in a debug build.
    pub fn quick() -> Self {
        Self { accounts: 2_000, blocks: 3, rounds: 5, python: None }
    }

    /// The documented run.
    pub fn standard() -> Self {
        Self { accounts: 100_000, blocks: 20, rounds: 200, python: None }
    }
}

/// Distinct accounts in the read set.
const HOT_SET: usize = 1_000;
const RUST: &str = "rust library";
const C: &str = "C ABI";
const PYTHON: &str = "python package";
/// The Python side, written into the work directory and run there.
const PYTHON_DRIVER: &str = include_str!("bindings.py");

/// What one system measured.
#[derive(Default)]
struct Measured {
    reads: Duration,
    /// The C side's reads through the JSON call.
    json_reads: Option<Duration>,
    commits: Duration,
    state_root: B256,
}

/// Runs the scenario in `dir` (an existing directory).
pub fn run(config: &BindingsConfig, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Report> {
    let hardware = system::hardware(dir, 30, "warm")?;
    let python = python_interpreter(config.python.as_deref(), progress)?;
    let base = dir.join("base");
    let capture = CaptureFs::default();
    let mut work = Workload::new(17);
    progress(&format!("bindings: growing the state to {} accounts", config.accounts));
    {
        let store = open_store(&base, &capture)?;
        work.grow_to(&store, &capture, config.accounts)?;
        store.close()?;
    }
    let addresses: Vec<Address> =
        (0..HOT_SET).map(|_| SynthChain::account(work.below(work.accounts))).collect();
    let blocks: Vec<_> = (0..config.blocks).map(|_| work.next_block()).collect();
    let lines: Vec<String> =
        blocks.iter().map(|b| chainstore_json::input::block_to_json(b).to_string()).collect();

    let python = match python {
        Some(interpreter) => {
            let store = copy_store(&base, &dir.join("python"))?;
            Some(PythonStore::spawn(&interpreter, dir, &store, &addresses, &lines)?)
        }
        None => None,
    };
    progress("bindings: the library, the C ABI and the package take turns");
    let (rust_dir, c_dir) =
        (copy_store(&base, &dir.join("rust"))?, copy_store(&base, &dir.join("c"))?);
    let Measurements { rust, c, python } =
        measure(&rust_dir, &c_dir, python, &addresses, &blocks, &lines, config)?;

    let case = format!("{} accounts", config.accounts);
    let reads = (HOT_SET * config.rounds) as f64;
    let commits = config.blocks as f64;
    let mut rows = Vec::new();
    let mut systems = vec![(RUST, &rust), (C, &c)];
    if let Some(p) = &python {
        systems.push((PYTHON, p));
    }
    for (system, m) in &systems {
        if m.state_root != rust.state_root {
            return Err(BenchError::Check(format!(
                "{system} ended at state root {} where the library ended at {}",
                m.state_root, rust.state_root
            ))
            .into());
        }
        rows.push(Row::new(system, &case, "account reads/s", reads / secs(m.reads), "1/s"));
        rows.push(Row::new(system, &case, "per read", secs(m.reads) * 1e9 / reads, "ns"));
        if let Some(json) = m.json_reads {
            rows.push(Row::new(system, &case, "account reads/s (JSON)", reads / secs(json), "1/s"));
        }
        rows.push(Row::new(system, &case, "block commits/s", commits / secs(m.commits), "1/s"));
        let updates = commits * UPDATES_PER_BLOCK as f64;
        rows.push(Row::new(system, &case, "updates/s", updates / secs(m.commits), "1/s"));
    }
    // A rate's ratio to the library's is the inverse ratio of the times.
    let versus =
        |m: &Measured, part: fn(&Measured) -> Duration| ratio(secs(part(&rust)), secs(part(m)));
    let mut goals = vec![
        Goal::at_least("C account reads/s ÷ Rust".into(), versus(&c, |m| m.reads), 0.9),
        Goal::at_least("C block commits/s ÷ Rust".into(), versus(&c, |m| m.commits), 0.9),
    ];
    if let Some(p) = &python {
        goals.push(Goal::at_least(
            "Python account reads/s ÷ Rust".into(),
            versus(p, |m| m.reads),
            0.3,
        ));
        goals.push(Goal::at_least(
            "Python block commits/s ÷ Rust".into(),
            versus(p, |m| m.commits),
            0.9,
        ));
    }
    Ok(Report { scenario: "bindings".into(), hardware, rows, goals })
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64().max(1e-9)
}

/// What the systems measured: the library, the C ABI, and the package if it is measured.
struct Measurements {
    rust: Measured,
    c: Measured,
    python: Option<Measured>,
}

/// The systems, each in its own copy of the store, taking turns: a round of reads each, then a
/// block each, so that a change in the machine's load falls on all alike.
fn measure(
    rust_dir: &Path,
    c_dir: &Path,
    mut python: Option<PythonStore>,
    addresses: &[Address],
    blocks: &[chainstore_chain::BlockCommit],
    lines: &[String],
    config: &BindingsConfig,
) -> Result<Measurements> {
    let store = ChainStore::open(rust_dir, Options::default())?;
    let c = CStore::open(c_dir)?;
    let hex: Vec<CString> = addresses.iter().map(|a| c_text(a.to_string())).collect();
    let lines: Vec<CString> = lines.iter().map(|l| c_text(l.clone())).collect();
    let mut rust = Measured::default();
    let mut c_side = Measured::default();
    let mut c_json_reads = Duration::ZERO;
    let mut python_side = python.as_ref().map(|_| Measured::default());
    for _ in 0..config.rounds {
        let started = Instant::now();
        for &address in addresses {
            if store.account(address)?.is_none() {
                return Err(missing(RUST, address));
            }
        }
        rust.reads += started.elapsed();
        let started = Instant::now();
        for address in addresses {
            c.account_fields(address)?;
        }
        c_side.reads += started.elapsed();
        let started = Instant::now();
        for address in &hex {
            c.account_json(address)?;
        }
        c_json_reads += started.elapsed();
        if let (Some(py), Some(m)) = (&mut python, &mut python_side) {
            m.reads += py.reads()?;
        }
    }
    for (block, line) in blocks.iter().zip(&lines) {
        let started = Instant::now();
        rust.state_root = store.commit_block(block)?.state_root;
        rust.commits += started.elapsed();
        let started = Instant::now();
        let head = c.commit(line)?;
        c_side.commits += started.elapsed();
        c_side.state_root = state_root_of(C, &head)?;
        if let (Some(py), Some(m)) = (&mut python, &mut python_side) {
            let (took, root) = py.commit()?;
            (m.commits, m.state_root) = (m.commits + took, root);
        }
    }
    store.close()?;
    c.close()?;
    if let Some(py) = python {
        py.close()?;
    }
    c_side.json_reads = Some(c_json_reads);
    Ok(Measurements { rust, c: c_side, python: python_side })
}

fn missing(system: &str, address: Address) -> ChainBenchError {
    BenchError::Check(format!("{system}: account {address} is missing")).into()
}

/// Text without NULs (hex and JSON) as a C string.
fn c_text(s: String) -> CString {
    CString::new(s).expect("no NUL in hex and JSON text")
}

/// A store opened through the C ABI, called as a C program calls `chainstore.h`.
struct CStore(*mut chainstore_ffi::CsStore);

#[expect(unsafe_code, reason = "calls the C ABI as a C program does")]
mod c_abi {
    use super::*;
    use chainstore_ffi::{
        CsAccount, CsStatus, cs_last_error, cs_store_account, cs_store_account_fields,
        cs_store_close, cs_store_commit, cs_store_open, cs_string_free,
    };

    /// The error of a call that returned `status`, with the ABI's message.
    fn failed(call: &str, status: CsStatus) -> ChainBenchError {
        // SAFETY: cs_last_error returns a NUL-terminated string owned by this thread.
        let message = unsafe { CStr::from_ptr(cs_last_error()) }.to_string_lossy().into_owned();
        BenchError::Check(format!("C ABI: {call} returned {status:?}: {message}")).into()
    }

    fn check(call: &str, status: CsStatus) -> Result<()> {
        if status == CsStatus::Ok { Ok(()) } else { Err(failed(call, status)) }
    }

    impl CStore {
        pub(super) fn open(dir: &Path) -> Result<Self> {
            let path = c_text(dir.to_str().expect("a UTF-8 work directory").to_owned());
            let mut store = ptr::null_mut();
            // SAFETY: a NUL-terminated path and a valid out pointer.
            check("cs_store_open", unsafe { cs_store_open(path.as_ptr(), 0, &mut store) })?;
            Ok(Self(store))
        }

        /// Reads an account's binary fields.
        pub(super) fn account_fields(&self, address: &Address) -> Result<CsAccount> {
            let mut account =
                CsAccount { nonce: 0, balance: [0; 32], code_hash: [0; 32], storage_root: [0; 32] };
            // SAFETY: a live handle, 20 address bytes, no block, a valid out pointer.
            let status = unsafe {
                cs_store_account_fields(self.0, address.as_ptr(), ptr::null(), &mut account)
            };
            check("cs_store_account_fields", status)?;
            Ok(account)
        }

        /// Reads an account as a JSON document, and frees it.
        pub(super) fn account_json(&self, address: &CStr) -> Result<()> {
            let mut out: *mut c_char = ptr::null_mut();
            // SAFETY: a live handle, a NUL-terminated address, no block, a valid out pointer.
            let status =
                unsafe { cs_store_account(self.0, address.as_ptr(), ptr::null(), &mut out) };
            check("cs_store_account", status)?;
            // SAFETY: the string cs_store_account returned, freed once.
            unsafe { cs_string_free(out) };
            Ok(())
        }

        /// Commits a block line; returns the head document.
        pub(super) fn commit(&self, line: &CStr) -> Result<String> {
            let mut out: *mut c_char = ptr::null_mut();
            // SAFETY: a live handle, a NUL-terminated block line, a valid out pointer.
            check("cs_store_commit", unsafe { cs_store_commit(self.0, line.as_ptr(), &mut out) })?;
            // SAFETY: the NUL-terminated string cs_store_commit returned, copied, freed once.
            let head = unsafe { CStr::from_ptr(out) }.to_string_lossy().into_owned();
            // SAFETY: as above.
            unsafe { cs_string_free(out) };
            Ok(head)
        }

        pub(super) fn close(mut self) -> Result<()> {
            let store = std::mem::replace(&mut self.0, ptr::null_mut());
            // SAFETY: the handle from cs_store_open, closed once (Drop sees NULL).
            check("cs_store_close", unsafe { cs_store_close(store) })
        }
    }

    impl Drop for CStore {
        fn drop(&mut self) {
            // SAFETY: the handle from cs_store_open or NULL (a no-op), closed once.
            unsafe { cs_store_close(self.0) };
        }
    }
}

/// The `stateRoot` of a `{number, hash, stateRoot}` document.
fn state_root_of(system: &str, doc: &str) -> Result<B256> {
    let value: serde_json::Value = serde_json::from_str(doc)
        .map_err(|e| BenchError::Check(format!("{system}: bad head document {doc:?}: {e}")))?;
    value["stateRoot"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| BenchError::Check(format!("{system}: no stateRoot in {doc:?}")).into())
}

/// The interpreter to run the Python side with: the one asked for, or `python3` if it has the
/// package; `None` (Python skipped, and said so) otherwise.
fn python_interpreter(
    asked: Option<&Path>,
    progress: &mut dyn FnMut(&str),
) -> Result<Option<PathBuf>> {
    let interpreter = asked.map_or_else(|| PathBuf::from("python3"), Path::to_path_buf);
    let probe = Command::new(&interpreter).args(["-c", "import chainstore"]).output();
    match probe {
        Ok(out) if out.status.success() => Ok(Some(interpreter)),
        result => {
            let why = match result {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                Err(e) => e.to_string(),
            };
            if asked.is_some() {
                return Err(BenchError::Check(format!(
                    "{} cannot import chainstore: {why}",
                    interpreter.display()
                ))
                .into());
            }
            progress(&format!(
                "bindings: python3 cannot import chainstore ({}); the Python rows are skipped \
                 (build the package with maturin, or pass --python)",
                why.lines().last().unwrap_or_default()
            ));
            Ok(None)
        }
    }
}

/// The Python side: `bindings.py` in a child process, answering one command at a time.
struct PythonStore {
    child: Child,
    commands: ChildStdin,
    answers: BufReader<ChildStdout>,
}

impl PythonStore {
    /// Starts the driver on the store in `store`, with its inputs written into `dir`; returns
    /// once it has loaded them and opened the store.
    fn spawn(
        interpreter: &Path,
        dir: &Path,
        store: &Path,
        addresses: &[Address],
        lines: &[String],
    ) -> Result<Self> {
        let write = |name: &str, text: String| -> Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(BenchError::io(&path))?;
            Ok(path)
        };
        let driver = write("bindings.py", PYTHON_DRIVER.to_owned())?;
        let addresses =
            write("addresses.txt", addresses.iter().map(|a| format!("{a}\n")).collect())?;
        let blocks = write("blocks.jsonl", lines.iter().map(|l| format!("{l}\n")).collect())?;
        let mut child = Command::new(interpreter)
            .arg(&driver)
            .args([store, &addresses, &blocks])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(BenchError::io(interpreter))?;
        let (Some(commands), Some(answers)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both are piped");
        };
        let mut python = Self { child, commands, answers: BufReader::new(answers) };
        let ready = python.answer()?;
        if ready != "ready" {
            return Err(
                BenchError::Check(format!("python side: {ready:?} instead of ready")).into()
            );
        }
        Ok(python)
    }

    /// The next line the driver prints (its error, on standard error, is the process's).
    fn answer(&mut self) -> Result<String> {
        let mut line = String::new();
        let read = self.answers.read_line(&mut line).map_err(BenchError::io("python stdout"))?;
        if read == 0 {
            let status = self.child.wait().map_err(BenchError::io("python"))?;
            return Err(BenchError::Check(format!("python side exited ({status})")).into());
        }
        Ok(line.trim_end().to_owned())
    }

    /// Sends `command`; returns the answer's fields.
    fn ask(&mut self, command: &str) -> Result<Vec<String>> {
        writeln!(self.commands, "{command}").map_err(BenchError::io("python stdin"))?;
        self.commands.flush().map_err(BenchError::io("python stdin"))?;
        Ok(self.answer()?.split(' ').map(str::to_owned).collect())
    }

    /// The seconds the driver measured, in the first field of an answer.
    fn seconds(answer: &[String]) -> Result<Duration> {
        answer
            .first()
            .and_then(|s| s.parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .ok_or_else(|| BenchError::Check(format!("python side answered {answer:?}")).into())
    }

    fn reads(&mut self) -> Result<Duration> {
        let answer = self.ask("reads")?;
        Self::seconds(&answer)
    }

    /// Commits the next block; returns the time and the state root.
    fn commit(&mut self) -> Result<(Duration, B256)> {
        let answer = self.ask("commit")?;
        let root = answer.get(1).and_then(|r| r.parse().ok()).ok_or_else(|| {
            ChainBenchError::from(BenchError::Check(format!("python side answered {answer:?}")))
        })?;
        Ok((Self::seconds(&answer)?, root))
    }

    fn close(mut self) -> Result<()> {
        writeln!(self.commands, "close").map_err(BenchError::io("python stdin"))?;
        drop(self.commands);
        let status = self.child.wait().map_err(BenchError::io("python"))?;
        if status.success() {
            Ok(())
        } else {
            Err(BenchError::Check(format!("python side exited ({status})")).into())
        }
    }
}

/// Copies a closed store's directory (its files and the log's) to `to`; returns `to`.
fn copy_store(from: &Path, to: &Path) -> Result<PathBuf> {
    fn copy(from: &Path, to: &Path) -> std::result::Result<(), BenchError> {
        std::fs::create_dir_all(to).map_err(BenchError::io(to))?;
        for entry in std::fs::read_dir(from).map_err(BenchError::io(from))? {
            let entry = entry.map_err(BenchError::io(from))?;
            let (source, target) = (entry.path(), to.join(entry.file_name()));
            if entry.file_type().map_err(BenchError::io(&source))?.is_dir() {
                copy(&source, &target)?;
            } else {
                crate::system::copy_file(&source, &target)?;
            }
        }
        Ok(())
    }
    copy(from, to)?;
    Ok(to.to_path_buf())
}
