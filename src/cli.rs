//! The command line. **API boundary**: only this module prints to stdout/stderr (besides
//! `tracing` logs); library modules return values and typed errors.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::ingest::{self, IngestError, IngestOptions, Outcome, Summary};
use crate::progress::Progress;
use crate::stats::{self, DEFAULT_COPURCHASE_THRESHOLD, Stats};
use crate::store::{OpenMode, Store};

/// DemandLink recommends high-demand products to marketplace sellers.
///
/// A database is a folder (`--db`). Each quarter's drop folder is ingested into it; later
/// stages (featurize, train, index, recommend) read only the database.
#[derive(Parser, Debug)]
#[command(name = "demandlink", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply drop folders to the database, in the order given, each exactly once.
    ///
    /// A drop is validated whole before anything is written: a file with more than
    /// --max-bad-fraction rejected rows refuses the drop. Rejected rows are listed in
    /// DB/rejects/<drop>.tsv. An interrupted ingest (Ctrl-C, kill, crash) continues where it
    /// stopped when rerun with the same arguments; re-ingesting an applied drop does nothing.
    Ingest {
        /// Database folder (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// Largest allowed share of rejected rows per file (0.001 = 0.1 %).
        #[arg(long, default_value_t = 0.001)]
        max_bad_fraction: f64,
        /// Rows per committed chunk (a crash loses at most one chunk of work).
        #[arg(long, default_value_t = 100_000)]
        batch_rows: usize,
        /// Drop folders (.tsv / .tsv.gz files; see schema/drop.md).
        #[arg(required = true)]
        drops: Vec<PathBuf>,
    },
    /// Counts of sellers, products, edges, views and drops.
    ///
    /// Opens the database read-only, so it works while another process writes.
    Stats {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
        /// Print one JSON object with stable keys instead of text.
        #[arg(long)]
        json: bool,
        /// Co-purchase count at which a pair becomes a graph edge.
        #[arg(long, default_value_t = DEFAULT_COPURCHASE_THRESHOLD)]
        copurchase_threshold: u64,
    },
    /// Print every record of the database as text, one line per key (for debugging and tests).
    Dump {
        /// Database folder.
        #[arg(long)]
        db: PathBuf,
    },
}

/// Runs the CLI and returns the process exit code: 0 success, 1 error, 2 usage, 130
/// interrupted.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(io::stderr)
        .init();
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            let interrupted = e
                .downcast_ref::<IngestError>()
                .is_some_and(|e| matches!(e, IngestError::Cancelled));
            if interrupted { 130 } else { 1 }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Ingest {
            db,
            max_bad_fraction,
            batch_rows,
            drops,
        } => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&max_bad_fraction),
                "--max-bad-fraction must be between 0 and 1, got {max_bad_fraction}"
            );
            anyhow::ensure!(batch_rows > 0, "--batch-rows must be at least 1");
            let store = Store::open(&db, OpenMode::ReadWrite)?;
            let cancel = cancel_on_ctrl_c();
            let opts = IngestOptions {
                max_bad_fraction,
                batch_rows,
            };
            for dir in &drops {
                let outcome = ingest::ingest_drop(&store, dir, &opts, &Bars::default(), &cancel)
                    .with_context(|| format!("drop {} not applied", dir.display()))?;
                print_outcome(dir, &outcome);
            }
            Ok(())
        }
        Command::Stats {
            db,
            json,
            copurchase_threshold,
        } => {
            let store = Store::open(&db, OpenMode::ReadOnly)?;
            let s = stats::compute(&store, copurchase_threshold)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print_stats(&s);
            }
            Ok(())
        }
        Command::Dump { db } => {
            let store = Store::open(&db, OpenMode::ReadOnly)?;
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            store.dump(&mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// A flag set by the first Ctrl-C; long operations stop at their next commit.
fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // Failing to install the handler only loses graceful Ctrl-C; a kill is still safe.
    let _ = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("interrupting at the next commit (Ctrl-C again to stop now)…");
    });
    flag
}

fn print_outcome(dir: &std::path::Path, outcome: &Outcome) {
    match outcome {
        Outcome::AlreadyApplied { name, seq } => println!(
            "{}: already applied as drop #{seq} `{name}`; nothing to do",
            dir.display()
        ),
        Outcome::Applied(s) => print_summary(s),
    }
}

fn print_summary(s: &Summary) {
    let r = &s.record;
    let applied: u64 = r.files.iter().map(|f| f.applied).sum();
    let files: Vec<String> = r
        .files
        .iter()
        .map(|f| {
            if f.rejected > 0 {
                format!("{} {} ({} rejected)", f.name, f.applied, f.rejected)
            } else {
                format!("{} {}", f.name, f.applied)
            }
        })
        .collect();
    let secs = s.elapsed.as_secs_f64();
    println!(
        "{}: {} drop #{} in {secs:.2} s ({:.0} rows/s): {}; {} new sellers, {} new products ({} without text)",
        r.name,
        if s.resumed {
            "finished interrupted"
        } else {
            "applied"
        },
        r.seq,
        applied as f64 / secs.max(1e-9),
        files.join(", "),
        r.new_sellers,
        r.new_products,
        r.products_without_text,
    );
    for rej in &s.rejects {
        println!("  rejected {}:{}: {}", rej.file, rej.line, rej.reason);
    }
    let total_rejected: u64 = r.files.iter().map(|f| f.rejected).sum();
    if let Some(path) = &s.rejects_file
        && total_rejected > s.rejects.len() as u64
    {
        println!(
            "  … {} rejected rows in all, listed in {}",
            total_rejected,
            path.display()
        );
    }
    if !s.ignored.is_empty() {
        println!("  ignored (not drop files): {}", s.ignored.join(", "));
    }
}

fn print_stats(s: &Stats) {
    let p = &s.products;
    println!("sellers                 {}", s.sellers);
    println!(
        "products                {} (listed {}, high-demand {}, auxiliary {}, without text {})",
        p.total, p.listed, p.high_demand, p.auxiliary, p.without_text
    );
    println!("listing edges           {}", s.listings);
    println!(
        "co-purchase pairs       {} ({} with count ≥ {})",
        s.copurchase_pairs, s.copurchase_pairs_above_threshold, s.copurchase_threshold
    );
    println!(
        "views                   {} over {} period(s), {} products viewed",
        s.views.total, s.views.periods, s.views.products_with_views
    );
    println!("sparsity                {:.6}", s.sparsity);
    let d = &s.listings_per_seller;
    println!(
        "listings per seller     median {}, p90 {}, max {}",
        d.median, d.p90, d.max
    );
    for drop in &s.drops {
        let rows: u64 = drop.files.iter().map(|f| f.applied).sum();
        let rejected: u64 = drop.files.iter().map(|f| f.rejected).sum();
        println!(
            "drop #{:<3} {:<20} {:<9} {} rows, {} rejected",
            drop.seq, drop.name, drop.state, rows, rejected
        );
    }
}

/// Progress bars on stderr for phases over a few MiB (hidden when stderr is not a terminal).
#[derive(Default)]
struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

/// Smaller phases finish too fast for a bar to help.
const BAR_MIN_BYTES: u64 = 4 << 20;

impl Progress for Bars {
    fn start(&self, label: &str, total: u64) {
        let mut slot = self.bar.lock().expect("progress lock");
        if total < BAR_MIN_BYTES {
            *slot = None;
            return;
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        *slot = Some(bar);
    }

    fn set(&self, position: u64) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            bar.set_position(position);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}
