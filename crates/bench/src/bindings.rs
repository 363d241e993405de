//! `chainstore bench bindings`: account reads/s and block commits/s through the C ABI
//! (`chainstore-ffi`) and the Python package against the same operations through the Rust
//! library, on copies of one store.
//!
//! The state is grown once (untimed), the store closed and copied three times, so each system
//! starts from the same files. Then each, in its own copy:
//! - reads the same 1,000 existing accounts, `rounds` times over (1 core, page cache warm): the
//!   library's `ChainStore::account`; `cs_store_account` with the address as a C string and the
//!   account returned as a JSON document, freed with `cs_string_free`; the package's
//!   `ChainStore.account`, returning a dict;
//! - commits the same blocks of the `commit-latency` shape (3,000 state updates, 200
//!   transactions), each durable before the next: `ChainStore::commit_block` on the decoded block;
//!   `cs_store_commit` on the block's JSON line; the package's `ChainStore.commit` on the line
//!   parsed into a dict beforehand.
//!
//! The C side is called from this process through the crate's exported functions, the same
//! machine code a C program links against. The Python side runs `bindings.py` (embedded in this
//! binary) in the interpreter given by `--python`, or `python3` if it can import `chainstore`
//! (otherwise the Python rows are skipped, and said so). The three stores must end at the same
//! state root, or the run fails.

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};
use std::process::Command;
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
struct Measured {
    reads: Duration,
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

    progress("bindings: rust library");
    let rust = measure_rust(&copy_store(&base, &dir.join("rust"))?, &addresses, &blocks, config)?;
    progress("bindings: C ABI");
    let c = measure_c(&copy_store(&base, &dir.join("c"))?, &addresses, &lines, config)?;
    let python = match python {
        Some(interpreter) => {
            progress("bindings: python package");
            let store = copy_store(&base, &dir.join("python"))?;
            Some(measure_python(&interpreter, dir, &store, &addresses, &lines, config)?)
        }
        None => None,
    };

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

fn measure_rust(
    dir: &Path,
    addresses: &[Address],
    blocks: &[chainstore_chain::BlockCommit],
    config: &BindingsConfig,
) -> Result<Measured> {
    let store = ChainStore::open(dir, Options::default())?;
    let started = Instant::now();
    for _ in 0..config.rounds {
        for &address in addresses {
            if store.account(address)?.is_none() {
                return Err(missing(RUST, address));
            }
        }
    }
    let reads = started.elapsed();
    let started = Instant::now();
    let mut state_root = B256::ZERO;
    for block in blocks {
        state_root = store.commit_block(block)?.state_root;
    }
    let commits = started.elapsed();
    store.close()?;
    Ok(Measured { reads, commits, state_root })
}

fn missing(system: &str, address: Address) -> ChainBenchError {
    BenchError::Check(format!("{system}: account {address} is missing")).into()
}

/// The C side, through the functions `chainstore.h` declares.
#[expect(unsafe_code, reason = "calls the C ABI as a C program does")]
fn measure_c(
    dir: &Path,
    addresses: &[Address],
    lines: &[String],
    config: &BindingsConfig,
) -> Result<Measured> {
    use chainstore_ffi::{
        CsStatus, CsStore, cs_last_error, cs_store_account, cs_store_close, cs_store_commit,
        cs_store_open, cs_string_free,
    };
    let c_string = |s: String| CString::new(s).expect("no NUL in hex and JSON text");
    let failed = |call: &str, status: CsStatus| -> ChainBenchError {
        // SAFETY: cs_last_error returns a NUL-terminated string owned by this thread.
        let message = unsafe { CStr::from_ptr(cs_last_error()) }.to_string_lossy().into_owned();
        BenchError::Check(format!("C ABI: {call} returned {status:?}: {message}")).into()
    };
    let path = c_string(dir.to_str().expect("a UTF-8 work directory").to_owned());
    let addresses: Vec<CString> = addresses.iter().map(|a| c_string(a.to_string())).collect();
    let lines: Vec<CString> = lines.iter().map(|l| c_string(l.clone())).collect();
    let mut store: *mut CsStore = ptr::null_mut();
    // SAFETY: a NUL-terminated path and a valid out pointer.
    let status = unsafe { cs_store_open(path.as_ptr(), 0, &mut store) };
    if status != CsStatus::Ok {
        return Err(failed("cs_store_open", status));
    }
    let mut out: *mut c_char = ptr::null_mut();
    let started = Instant::now();
    for _ in 0..config.rounds {
        for address in &addresses {
            // SAFETY: a live handle, a NUL-terminated address, no block, a valid out pointer.
            let status =
                unsafe { cs_store_account(store, address.as_ptr(), ptr::null(), &mut out) };
            if status != CsStatus::Ok {
                return Err(failed("cs_store_account", status));
            }
            // SAFETY: a string cs_store_account returned, freed once.
            unsafe { cs_string_free(out) };
        }
    }
    let reads = started.elapsed();
    let started = Instant::now();
    let mut head = String::new();
    for line in &lines {
        // SAFETY: a live handle, a NUL-terminated block line, a valid out pointer.
        let status = unsafe { cs_store_commit(store, line.as_ptr(), &mut out) };
        if status != CsStatus::Ok {
            return Err(failed("cs_store_commit", status));
        }
        // SAFETY: a NUL-terminated string cs_store_commit returned, copied, then freed once.
        head = unsafe { CStr::from_ptr(out) }.to_string_lossy().into_owned();
        unsafe { cs_string_free(out) };
    }
    let commits = started.elapsed();
    // SAFETY: the handle from cs_store_open, closed once.
    let status = unsafe { cs_store_close(store) };
    if status != CsStatus::Ok {
        return Err(failed("cs_store_close", status));
    }
    Ok(Measured { reads, commits, state_root: state_root_of(C, &head)? })
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

fn measure_python(
    interpreter: &Path,
    dir: &Path,
    store: &Path,
    addresses: &[Address],
    lines: &[String],
    config: &BindingsConfig,
) -> Result<Measured> {
    let write = |name: &str, text: String| -> Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(BenchError::io(&path))?;
        Ok(path)
    };
    let driver = write("bindings.py", PYTHON_DRIVER.to_owned())?;
    let addresses = write("addresses.txt", addresses.iter().map(|a| format!("{a}\n")).collect())?;
    let blocks = write("blocks.jsonl", lines.iter().map(|l| format!("{l}\n")).collect())?;
    let out = Command::new(interpreter)
        .arg(&driver)
        .args([store, &addresses, &blocks])
        .arg(config.rounds.to_string())
        .output()
        .map_err(BenchError::io(interpreter))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(BenchError::Check(format!("python side failed: {stderr}{stdout}")).into());
    }
    let doc: serde_json::Value = serde_json::from_str(stdout.trim())
        .map_err(|e| BenchError::Check(format!("python side printed {stdout:?}: {e}")))?;
    let seconds = |field: &str| -> Result<Duration> {
        doc[field].as_f64().map(Duration::from_secs_f64).ok_or_else(|| {
            BenchError::Check(format!("python side: no {field} in {stdout:?}")).into()
        })
    };
    Ok(Measured {
        reads: seconds("readSeconds")?,
        commits: seconds("commitSeconds")?,
        state_root: state_root_of(PYTHON, stdout.trim())?,
    })
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
                std::fs::copy(&source, &target).map_err(BenchError::io(&source))?;
            }
        }
        Ok(())
    }
    copy(from, to)?;
    Ok(to.to_path_buf())
}
