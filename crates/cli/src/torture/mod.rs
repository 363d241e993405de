//! `chainstore torture [--kills N] [--dir D] [--seed S]`: the crash soak (`docs/reliability.md`).
//! A child process (this binary, `torture --child`) commits small and large blocks, unwinds,
//! prunes and compacts at random, printing an [`event::Event`] line around each operation; the
//! parent kills it with SIGKILL at a random moment, reopens the store and checks it against what
//! was acknowledged ([`check::Model`]), then starts the next child on the same store.

mod check;
mod child;
mod event;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chainstore_chain::ChainStore;
use chainstore_chain::synth::SplitMix64;

use self::check::{Failure, Model, Moment, Tally};
use self::event::Event;
use crate::Global;
use crate::json_out::outln;

/// Options of `chainstore torture`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How many times to kill the child.
    #[arg(long, value_name = "N", default_value_t = 100)]
    kills: u64,
    /// The store's directory: created if missing; a store in it is checked, then continued.
    /// Default: a temporary directory, removed after a clean run.
    #[arg(long, value_name = "D")]
    dir: Option<PathBuf>,
    /// Seed of the operations and kill moments (default: from the clock; printed).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Run as the child: operations on the store in --dir until killed.
    #[arg(long, hide = true, requires = "dir")]
    child: bool,
}

/// The signal `Child::kill` sends on Unix.
const SIGKILL: i32 = 9;

/// A child that prints nothing for this long is reported as hung.
const STALL: Duration = Duration::from_secs(120);

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or_else(clock_seed);
    if args.child {
        let dir = args.dir.context("--child needs --dir")?;
        return child::run(global, &dir, seed);
    }
    let (dir, temp) = work_dir(args.dir)?;
    outln!("torture: seed {seed}, store {}, {} kills", dir.display(), args.kills);
    let mut soak = Soak {
        global,
        dir: &dir,
        rng: SplitMix64(seed),
        model: Model::default(),
        tally: Tally::default(),
        kills: 0,
    };
    let started = Instant::now();
    let result = soak.run(args.kills, started);
    let (lost, refused) = match &result {
        Err((Failure::Lost { blocks, .. }, _)) => (*blocks, 0),
        Err((Failure::Refused(_), _)) => (0, 1),
        _ => (0, 0),
    };
    let printed = soak.summary(lost, refused, started.elapsed());
    match result {
        Ok(()) => printed,
        Err((failure, context)) => {
            let kept = temp.map_or(dir.clone(), tempfile::TempDir::keep);
            eprintln!("{context}");
            bail!("{failure} (seed {seed}; the store is kept in {})", kept.display())
        }
    }
}

/// The seed when none is given.
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The store's directory, and the temporary directory that holds it when none was given.
fn work_dir(dir: Option<PathBuf>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    let Some(dir) = dir else {
        let temp = tempfile::Builder::new().prefix("chainstore-torture-").tempdir()?;
        return Ok((temp.path().to_path_buf(), Some(temp)));
    };
    let empty = !dir.exists() || std::fs::read_dir(&dir)?.next().is_none();
    if !empty && !dir.join("FORMAT").exists() {
        bail!("{} holds something other than a store; choose another --dir", dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok((dir, None))
}

struct Soak<'a> {
    global: &'a Global,
    dir: &'a Path,
    rng: SplitMix64,
    model: Model,
    tally: Tally,
    kills: u64,
}

/// What a child printed before it was killed.
struct ChildRun {
    events: Vec<Event>,
    stderr: String,
}

impl Soak<'_> {
    /// Checks the store as found, then kills `kills` children. On a failure: the failure, and
    /// where it happened.
    fn run(&mut self, kills: u64, started: Instant) -> Result<(), (Failure, String)> {
        self.start().map_err(|f| (f, "checking the store before the first kill".into()))?;
        let every = (kills / 10).max(1);
        while self.kills < kills {
            let seed = self.rng.next_u64();
            let run = self.kill_child(seed).map_err(|f| (f, format!("child seed {seed}")))?;
            self.kills += 1;
            let kill = self.kills;
            let context = |moment: Option<Moment>| {
                let tail: Vec<String> =
                    run.events.iter().rev().take(8).rev().map(|e| e.to_string()).collect();
                format!(
                    "kill {} (child seed {seed}, killed during {moment:?}); its last lines:\n  {}\n\
                     its stderr:\n{}",
                    kill,
                    tail.join("\n  "),
                    run.stderr
                )
            };
            let moment =
                self.model.apply(&run.events, &mut self.tally).map_err(|f| (f, context(None)))?;
            self.check(moment).map_err(|f| (f, context(Some(moment))))?;
            if self.kills.is_multiple_of(every) {
                // Progress only: a reader that went away does not stop the run (the summary's
                // write ends it).
                let _ = writeln!(
                    std::io::stdout(),
                    "kill {}/{kills}: head {}, {} acknowledged blocks, {:.1} s",
                    self.kills,
                    self.model.head().map_or("none".into(), |h| format!("block {h}")),
                    self.tally.blocks,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Ok(())
    }

    /// Opens the store as found (creating it if needed), takes its chain as acknowledged and
    /// checks it.
    fn start(&mut self) -> Result<(), Failure> {
        let store = self.open()?;
        self.model = Model::load(&store)?;
        self.model.check(&store, None, &mut self.tally)?;
        close(store)
    }

    /// Reopens the store and checks it (the operation of `moment` may have happened or not).
    fn check(&mut self, moment: Moment) -> Result<(), Failure> {
        let store = self.open()?;
        self.model.check(&store, moment.op(), &mut self.tally)?;
        close(store)
    }

    fn open(&self) -> Result<ChainStore, Failure> {
        self.global.open_at(self.dir).map_err(|e| Failure::Refused(format!("{e:#}")))
    }

    /// Starts a child, waits for a random number of its lines and a random delay, kills it with
    /// SIGKILL, and collects every complete line it printed. A child that ended by itself
    /// (it never does unless something failed) or hung is a failure.
    fn kill_child(&mut self, seed: u64) -> Result<ChildRun, Failure> {
        let fail = |what: &str, e: std::io::Error| Failure::Inconsistent(format!("{what}: {e}"));
        let wait_for = self.rng.below(12) as usize;
        let scale = [100, 1_000, 10_000, 100_000][self.rng.below(4) as usize];
        let delay = Duration::from_micros(self.rng.below(scale));
        let exe = std::env::current_exe().map_err(|e| fail("finding this program", e))?;
        let mut child = Command::new(exe)
            .args(["--backend", &self.global.backend, "torture", "--child", "--seed"])
            .arg(seed.to_string())
            .arg("--dir")
            .arg(self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail("starting the child", e))?;
        let lines = read_lines(child.stdout.take());
        let stderr_pipe = child.stderr.take();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = stderr_pipe {
                // A read error loses only the diagnostics of a failure.
                let _ = pipe.read_to_string(&mut text);
            }
            text
        });
        let mut printed = Vec::new();
        let mut stalled = false;
        while printed.len() < wait_for {
            match lines.recv_timeout(STALL) {
                Ok(line) => printed.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    stalled = true;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        std::thread::sleep(delay);
        child.kill().map_err(|e| fail("killing the child", e))?; // SIGKILL
        let status = child.wait().map_err(|e| fail("waiting for the child", e))?;
        printed.extend(lines.iter());
        let run = ChildRun {
            events: printed.iter().map(|l| Event::parse(l)).collect::<Result<_, _>>().map_err(
                |e| {
                    Failure::Inconsistent(format!(
                        "the child printed a line that is not an event: {e}"
                    ))
                },
            )?,
            stderr: stderr.join().unwrap_or_default(),
        };
        if stalled {
            return Err(Failure::Inconsistent(format!(
                "the child printed nothing for {} s; stderr:\n{}",
                STALL.as_secs(),
                run.stderr
            )));
        }
        if status.signal() != Some(SIGKILL) {
            let refused = !run.events.contains(&Event::Opened);
            let detail = format!("the child ended by itself ({status}); stderr:\n{}", run.stderr);
            return Err(if refused {
                Failure::Refused(detail)
            } else {
                Failure::Inconsistent(detail)
            });
        }
        Ok(run)
    }

    fn summary(&self, lost: u64, refused: u64, elapsed: Duration) -> anyhow::Result<()> {
        let t = &self.tally;
        outln!(
            "torture: {} kills, {} acknowledged blocks ({} large), {lost} lost, {refused} refused \
             reopenings, {:.1} s",
            self.kills,
            t.blocks,
            t.large_blocks,
            elapsed.as_secs_f64()
        );
        outln!(
            "  also acknowledged: {} unwinds, {} prunes, {} compactions; {} operations in flight \
             at a kill had happened",
            t.unwinds,
            t.prunes,
            t.compactions,
            t.unacknowledged_applied
        );
        let during: Vec<String> =
            t.killed_during.iter().map(|(moment, n)| format!("{moment} {n}")).collect();
        outln!("  killed during: {}", during.join(", "));
        Ok(())
    }
}

fn close(store: ChainStore) -> Result<(), Failure> {
    store.close().map_err(|e| Failure::Inconsistent(format!("closing the store: {e}")))
}

/// The complete lines of `pipe` (a line cut short by the kill is not an acknowledgement), sent
/// as they arrive; the channel closes at the end of the output.
fn read_lines(pipe: Option<std::process::ChildStdout>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Some(pipe) = pipe else { return };
        let mut out = BufReader::new(pipe);
        let mut line = String::new();
        while matches!(out.read_line(&mut line), Ok(n) if n > 0) {
            if line.ends_with('\n') && tx.send(line.trim_end().to_string()).is_err() {
                return;
            }
            line.clear();
        }
    });
    rx
}
