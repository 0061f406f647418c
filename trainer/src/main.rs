//! The `edgegru` command-line tool.

fn main() -> std::process::ExitCode {
    edgegru_trainer::cli::main()
}
