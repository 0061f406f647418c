//! The `edgegru` command line: the subcommands and the dispatch (each
//! command's arguments live in its module under `commands/`).

use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::{self, Status};

/// Train, compress, export and run GRU networks for edge devices.
#[derive(Parser)]
#[command(name = "edgegru", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Train(Box<commands::train::Args>),
    Prune(commands::prune::Args),
    Eval(commands::eval::Args),
    Export(commands::export::Args),
    Import(commands::import::Args),
    Generate(commands::generate::Args),
    Next(commands::next::Args),
    Predict(commands::predict::Args),
    Bench(commands::bench::Args),
    Pipeline(commands::pipeline::Args),
    Inspect(commands::inspect::Args),
    Models(commands::models::Args),
}

fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<Status> {
    match cli.command {
        Command::Train(a) => commands::train::run(*a, matches.subcommand_matches("train").unwrap_or(matches)),
        Command::Prune(a) => commands::prune::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Export(a) => commands::export::run(a),
        Command::Import(a) => commands::import::run(a),
        Command::Generate(a) => commands::generate::run(a),
        Command::Next(a) => commands::next::run(a),
        Command::Predict(a) => commands::predict::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Pipeline(a) => commands::pipeline::run(a),
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Models(a) => commands::models::run(a),
    }
}

/// Checks that `args` (program name first) form a valid command line, without running it.
pub fn check_args<I, T>(args: I) -> std::result::Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args).map(|_| ()).map_err(|e| e.to_string())
}

/// Runs the command line of this process. Exit code 0 on success, 1 with a
/// one-line `error: ...` otherwise, 130 when a training run was interrupted
/// (Ctrl-C or SIGTERM; its checkpoint is written).
pub fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(1) } else { ExitCode::SUCCESS };
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(1);
        }
    };
    match run(cli, &matches) {
        Ok(Status::Done) => ExitCode::SUCCESS,
        Ok(Status::Interrupted) => ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(1)
        }
    }
}
