//! `chainstore bench metrics`: what the Prometheus metrics cost a node that commits blocks.
//!
//! One store grows to the configured state (untimed), then commits rounds of blocks of the
//! `ingest` shape (3,000 state updates each, every commit durable), each round in one of three
//! modes, the order rotated from round to round so that no mode always runs first:
//!
//! - **off**: the library's `metrics::counter!`/`histogram!`/`gauge!` calls reach a recorder
//!   that drops them (what a node without `--metrics` pays);
//! - **on**: they reach the Prometheus recorder `serve --metrics` installs (same buckets);
//! - **on, scraped at 1 Hz**: the same, and a thread renders the text exposition once a second
//!   (what a Prometheus server scraping the endpoint costs, without the HTTP round trip).
//!
//! Each round starts with the indexer caught up (a flush, untimed) and holds fewer blocks than
//! fill the memtable, so rounds do not inherit each other's backpressure; the indexer runs,
//! and records its metrics, during the rounds.
//!
//! The recorder is installed once for the process (the `metrics` crate allows one) behind a
//! switch that the rounds turn; "off" is then one atomic load per call more than no recorder.
//! Rates are blocks over the rounds' summed time per mode; the goals compare "on" and "scraped"
//! with "off" in the same run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

use crate::BenchError;
use crate::commit_latency::{CaptureFs, Result, UPDATES_PER_BLOCK, Workload, open_store};
use crate::report::{Goal, Report, Row, commit_percentile_rows};
use crate::system;

/// Sizes of one `metrics` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Accounts in the state before the measured blocks.
    pub accounts: u64,
    /// Rounds per mode.
    pub rounds: usize,
    /// Blocks per round.
    pub blocks_per_round: usize,
}

impl MetricsConfig {
    /// CI size: seconds in a debug build.
    pub fn quick() -> Self {
        Self { accounts: 2_000, rounds: 2, blocks_per_round: 3 }
    }

    /// The documented run: rounds of about two seconds, so a 1 Hz scraper renders in each.
    pub fn standard() -> Self {
        Self { accounts: 100_000, rounds: 6, blocks_per_round: 40 }
    }
}

/// The exporter under test: a recorder for the library's calls and a way to render what it
/// holds (the text a scrape returns).
pub struct Exporter {
    /// The recorder (`serve --metrics`'s, with its buckets).
    pub recorder: Box<dyn Recorder + Send + Sync>,
    /// Renders the exposition text.
    pub render: Box<dyn Fn() -> String + Send + Sync>,
}

/// Passes the library's calls to the exporter's recorder while on, and drops them while off.
struct Switch {
    on: Arc<AtomicBool>,
    inner: Box<dyn Recorder + Send + Sync>,
}

impl Recorder for Switch {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        match self.on.load(Ordering::Relaxed) {
            true => self.inner.register_counter(key, metadata),
            false => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        match self.on.load(Ordering::Relaxed) {
            true => self.inner.register_gauge(key, metadata),
            false => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match self.on.load(Ordering::Relaxed) {
            true => self.inner.register_histogram(key, metadata),
            false => Histogram::noop(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Off,
    On,
    Scraped,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Off, Mode::On, Mode::Scraped];

    fn system(self) -> &'static str {
        match self {
            Mode::Off => "chainstore, metrics off",
            Mode::On => "chainstore, metrics on",
            Mode::Scraped => "chainstore, metrics on, scraped at 1 Hz",
        }
    }
}

/// What one mode's rounds add up to.
#[derive(Default)]
struct Tally {
    blocks: usize,
    time: Duration,
    latencies: Vec<Duration>,
}

/// Runs the scenario in `dir` (an existing directory) with `exporter` installed as the process's
/// recorder: fails if a recorder is installed already.
pub fn run(
    config: &MetricsConfig,
    dir: &Path,
    exporter: Exporter,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let hardware = system::hardware(dir, 30, "warm")?;
    let on = Arc::new(AtomicBool::new(false));
    let render = Arc::new(exporter.render);
    metrics::set_global_recorder(Switch { on: on.clone(), inner: exporter.recorder }).map_err(
        |_| BenchError::Check("a metrics recorder is already installed in this process".into()),
    )?;
    let capture = CaptureFs::default();
    let store = open_store(&dir.join("store"), &capture)?;
    let mut work = Workload::new(5);
    progress(&format!("metrics: growing the state to {} accounts", config.accounts));
    work.grow_to(&store, &capture, config.accounts)?;
    capture.clear();
    let mut tallies = [Tally::default(), Tally::default(), Tally::default()];
    let scrapes = Arc::new(AtomicU64::new(0));
    let mut rendered_bytes = 0usize;
    for round in 0..config.rounds {
        progress(&format!("metrics: round {} of {}", round + 1, config.rounds));
        for k in 0..Mode::ALL.len() {
            let mode = Mode::ALL[(round + k) % Mode::ALL.len()];
            // Each round starts with the indexer caught up (untimed), so that no round meets
            // the backpressure another one built up; the scraper starts after it, so that every
            // scrape falls in the timed commits.
            store.database().flush().map_err(chainstore_chain::ChainError::from)?;
            on.store(mode != Mode::Off, Ordering::Relaxed);
            let scraping = Arc::new(AtomicBool::new(mode == Mode::Scraped));
            let scraper = (mode == Mode::Scraped).then(|| {
                let (scraping, render, scrapes) =
                    (scraping.clone(), render.clone(), scrapes.clone());
                std::thread::spawn(move || scrape(&scraping, &*render, &scrapes))
            });
            let tally = &mut tallies[mode as usize];
            let started = Instant::now();
            for _ in 0..config.blocks_per_round {
                let block = work.next_block();
                let commit_started = Instant::now();
                store.commit_block(&block)?;
                tally.latencies.push(commit_started.elapsed());
                capture.clear();
            }
            tally.time += started.elapsed();
            tally.blocks += config.blocks_per_round;
            scraping.store(false, Ordering::Relaxed);
            if let Some(scraper) = scraper {
                rendered_bytes = rendered_bytes.max(scraper.join().unwrap_or(0));
            }
        }
    }
    on.store(false, Ordering::Relaxed);
    store.close()?;
    if rendered_bytes == 0 || !render().contains("chainstore_chain_commit_seconds") {
        return Err(BenchError::Check(
            "the exporter rendered no chainstore_chain_commit_seconds: the recorder saw no commits"
                .into(),
        )
        .into());
    }
    let case = format!("{} accounts, {} blocks per mode", config.accounts, tallies[0].blocks);
    let mut rows = Vec::new();
    let mut rates = [0.0; 3];
    for mode in Mode::ALL {
        let tally = &mut tallies[mode as usize];
        let rate = tally.blocks as f64 / tally.time.as_secs_f64();
        rates[mode as usize] = rate;
        let system = mode.system();
        rows.push(Row::new(system, &case, "blocks/s", rate, "1/s"));
        rows.push(Row::new(system, &case, "updates/s", rate * UPDATES_PER_BLOCK as f64, "1/s"));
        commit_percentile_rows(&mut rows, system, &case, &mut tally.latencies);
    }
    let scraped = Mode::Scraped.system();
    rows.push(Row::new(scraped, &case, "scrapes", scrapes.load(Ordering::Relaxed) as f64, "1"));
    rows.push(Row::new(scraped, &case, "exposition", rendered_bytes as f64 / 1024.0, "KiB"));
    let off = rates[Mode::Off as usize];
    let goals = vec![
        Goal::at_least("updates/s, metrics on ÷ off".into(), rates[Mode::On as usize] / off, 0.98),
        Goal::at_least(
            "updates/s, metrics on and scraped at 1 Hz ÷ off".into(),
            rates[Mode::Scraped as usize] / off,
            0.98,
        ),
    ];
    Ok(Report { scenario: "metrics".into(), hardware, rows, goals })
}

/// Renders the exposition at once and then every second until `scraping` is cleared; returns
/// the largest exposition's size.
fn scrape(
    scraping: &AtomicBool,
    render: &(dyn Fn() -> String + Send + Sync),
    scrapes: &AtomicU64,
) -> usize {
    let mut largest = 0;
    let mut next = Instant::now();
    while scraping.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            largest = largest.max(render().len());
            scrapes.fetch_add(1, Ordering::Relaxed);
            next += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    largest
}
