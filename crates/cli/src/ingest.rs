//! `chainstore ingest FILE|-`: commits blocks read as JSON lines (the format of `docs/cli.md`,
//! "Block commit lines", parsed by [`chainstore_json::input`]). After each block is durable it
//! prints `{"number","hash","stateRoot"}` on one line and flushes stdout, so a reader may treat
//! every printed line as an acknowledgement. The first bad line stops the run with an error naming the
//! line and the field; that block changes nothing, earlier blocks stay committed.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal as _, Read, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use chainstore_chain::{ChainError, ChainStore};
use chainstore_json::input::{commit_error_field, parse_block};
use chainstore_json::output::head_json;
use indicatif::{ProgressBar, ProgressStyle};

use crate::Global;

/// Options of `chainstore ingest`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A file of block commits, one JSON object per line, or `-` for stdin.
    #[arg(value_name = "FILE|-")]
    input: PathBuf,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    // Open the input first: a missing file must not create an empty store.
    let (reader, size): (Box<dyn Read>, Option<u64>) = if args.input.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let file = File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let store = global.open()?;
    let progress = progress_bar(size);
    ingest(&store, BufReader::new(progress.wrap_read(reader)), &progress)?;
    progress.finish_and_clear();
    store.close().context("closing the store")?;
    Ok(())
}

/// A progress bar on stderr when it is a terminal (bytes of a file, or a block counter for
/// stdin); hidden otherwise.
fn progress_bar(size: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match size {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    }
}

/// Commits every line of `input`, printing one acknowledgement per durable block.
pub(crate) fn ingest(
    store: &ChainStore,
    mut input: impl BufRead,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let mut buf = Vec::new();
    for line_number in 1u64.. {
        buf.clear();
        let read = input
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("line {line_number}: cannot read the input"))?;
        if read == 0 {
            return Ok(());
        }
        let text = std::str::from_utf8(&buf)
            .map_err(|e| anyhow!("line {line_number}: not UTF-8 text: {e}"))?;
        if text.trim().is_empty() {
            continue;
        }
        let text = text.trim_end_matches(['\n', '\r']);
        let block = parse_block(text).map_err(|e| anyhow!("line {line_number}: {e}"))?;
        let info =
            store.commit_block(&block).map_err(|e| chain_error(line_number, block.number, e))?;
        let ack = head_json(info.number, info.hash, info.state_root);
        writeln!(stdout, "{ack}").and_then(|()| stdout.flush()).with_context(|| {
            format!(
                "line {line_number}: block {} is committed, but writing its acknowledgement failed",
                info.number
            )
        })?;
        progress.set_message(format!("block {}", info.number));
        progress.tick();
    }
    Ok(())
}

/// A commit error, prefixed with the line and (where one field is at fault) the field.
fn chain_error(line: u64, number: u64, e: ChainError) -> anyhow::Error {
    match commit_error_field(&e) {
        Some(field) => anyhow!("line {line}: field {field:?}: {e}"),
        None => {
            anyhow::Error::new(e).context(format!("line {line}: committing block {number} failed"))
        }
    }
}
