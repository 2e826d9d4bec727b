//! The command line, in rooms: `args` (the clap definitions), `cmd/` (one `exec` per command:
//! arguments → the stage's options → one library call → the printer), `print` (text and JSON
//! output) and `progress` (bars and the Ctrl-C handler); this file dispatches and turns errors
//! into one `error:` line and an exit code.
//!
//! **API boundary**: only this module prints to stdout/stderr (besides `tracing` logs); library
//! modules return values and typed errors.

mod args;
mod cmd;
mod print;
mod progress;

use std::io;

use clap::Parser;

use crate::progress::Cancelled;
use args::{Cli, Command};

/// Runs the CLI and returns the process exit code: 0 success, 1 error, 2 usage, 130
/// interrupted.
pub fn main() -> i32 {
    // Like other Unix tools, end quietly when the reader of stdout goes away (`| head`)
    // instead of panicking on the failed write.
    // SAFETY: restoring the default disposition of a signal has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    // A watch runs unattended: its log is its output.
    let default_filter = match cli.command {
        Command::Watch(_) => "warn,demandlink=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()))
        .init();
    match dispatch(cli.command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            exit_code(&e)
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Ingest(a) => cmd::ingest::exec(a),
        Command::Stats(a) => cmd::stats::exec(a),
        Command::Featurize(a) => cmd::featurize::exec(a),
        Command::Train(a) => cmd::train::exec(a),
        Command::Export(a) => cmd::export::exec(a),
        Command::ImportEmbeddings(a) => cmd::import_embeddings::exec(a),
        Command::Index(a) => cmd::index::exec(a),
        Command::Recommend(a) => cmd::recommend::exec(a),
        Command::Inspect(a) => cmd::inspect::exec(a),
        Command::Split(a) => cmd::split::exec(a),
        Command::Eval(a) => cmd::eval::exec(a),
        Command::Serve(a) => cmd::serve::exec(a),
        Command::Tokens { command } => cmd::tokens::exec(command),
        Command::Refresh(a) => cmd::refresh::exec(a),
        Command::Jobs(a) => cmd::jobs::exec(a),
        Command::Watch(a) => cmd::watch::exec(a),
        Command::Dump(a) => cmd::dump::exec(a),
        Command::Verify(a) => cmd::verify::exec(a),
        Command::Checkpoints(a) => cmd::checkpoints::exec(a),
        Command::Restore(a) => cmd::restore::exec(a),
    }
}

/// The error and its causes on one line, joined by `: ` — without a [`Cancelled`], whose
/// wrapper already says what stopped and how to continue, and without a cause whose text its
/// wrapper already ends with (`{path}: {source}` errors that also name the source as their
/// cause would print it twice).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain().filter(|c| !c.is::<Cancelled>()) {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line += ": ";
        }
        line += &text;
    }
    line
}

/// 130 when the error is a cancellation (Ctrl-C; a [`Cancelled`] anywhere in its chain), like a
/// shell's code for SIGINT; 1 otherwise.
fn exit_code(e: &anyhow::Error) -> i32 {
    match e.chain().any(|c| c.is::<Cancelled>()) {
        true => 130,
        false => 1,
    }
}
