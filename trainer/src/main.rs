//! The `edgegru` command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use edgegru_runtime::SamplingParams;
use edgegru_trainer::commands::{self, generate::GenerateOptions};

/// Train, compress, export and run GRU text models for edge devices.
#[derive(Parser)]
#[command(name = "edgegru", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what is inside a model file: dims, tokenizer, numerics, tensors, sizes.
    #[command(after_help = "Example:\n  edgegru inspect models/fortunes-char.egru")]
    Inspect {
        /// The .egru file.
        file: PathBuf,
    },
    /// Generate text from a prompt, token by token.
    #[command(
        after_help = "Examples:\n  edgegru generate --model m.egru --prompt \"The \" --max-tokens 200\n  edgegru generate --model m.egru --prompt \"The \" --temperature 0.8 --top-k 40 --seed 7"
    )]
    Generate {
        /// The .egru model to run.
        #[arg(long)]
        model: PathBuf,
        /// Text to start from.
        #[arg(long)]
        prompt: String,
        /// Number of tokens to generate.
        #[arg(long, default_value_t = 200)]
        max_tokens: usize,
        /// Always take the most likely token.
        #[arg(long)]
        greedy: bool,
        /// Softmax temperature (0 = greedy).
        #[arg(long, default_value_t = 0.8)]
        temperature: f32,
        /// Sample among the K most likely tokens (0 = all).
        #[arg(long, default_value_t = 0)]
        top_k: u32,
        /// Sample among the most likely tokens holding this much probability.
        #[arg(long, default_value_t = 1.0)]
        top_p: f32,
        /// Random seed of the sampler.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Inspect { file } => commands::inspect::run(&file),
        Command::Generate {
            model,
            prompt,
            max_tokens,
            greedy,
            temperature,
            top_k,
            top_p,
            seed,
        } => {
            let bytes = commands::read_file(&model)?;
            let params = if greedy {
                SamplingParams::GREEDY
            } else {
                SamplingParams {
                    temperature,
                    top_k,
                    top_p,
                }
            };
            params.validate().context("bad sampling option")?;
            let opts = GenerateOptions {
                prompt,
                max_tokens,
                params,
                seed,
            };
            let mut stdout = std::io::stdout();
            print!("{}", opts.prompt);
            commands::generate::generate_native(&bytes, &opts, &mut stdout)?;
            println!();
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(1);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(1)
        }
    }
}
