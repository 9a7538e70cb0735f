//! The `sitehapair` binary: parse the command line and hand over to `cli`.

use clap::Parser;

/// jemalloc rather than glibc's malloc: after a burst (a push reaching a
/// thousand pairs at once) it gives the freed pages back within seconds,
/// where glibc kept the burst's high-water mark as resident memory, and it
/// fragments less across the runtime's threads.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
