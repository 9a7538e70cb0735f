//! The `sitehapair` binary: parse the command line and hand over to `cli`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = sitehapair::cli::Cli::parse();
    match sitehapair::cli::main(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sitehapair: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
