//! The `sitehapair` binary: parse the command line and hand over to `cli`.

use clap::Parser;

/// jemalloc rather than glibc's malloc: after a burst (a push reaching a
/// thousand pairs at once) it gives the freed pages back within seconds,
/// where glibc kept the burst's high-water mark as resident memory, and it
/// fragments less across the runtime's threads.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: a background thread hands
/// pages freed for a second back to the system (`dirty_decay_ms`), at once
/// rather than through a second lazy stage (`muzzy_decay_ms`), so that
/// the operator's resident memory follows what it holds. By default jemalloc
/// keeps freed pages ten seconds and purges them only when it is called,
/// and an operator at rest calls it little: the memory of a push's burst
/// stayed resident. One arena (`narenas`): jemalloc's default is four per
/// CPU of the node, not of the pod (256 on a 64-core node), and each new
/// arena a thread is handed costs metadata and half-empty pages of its
/// own; at 1,000 pairs the first push's git thread opened one that kept
/// 2 MiB of metadata and the parsed revision's pages for good. The
/// operator's threads are few and mostly waiting, so they share one
/// without contention worth measuring. `_RJEM_MALLOC_CONF` in the
/// environment still overrides these.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static malloc_conf: Option<&'static std::ffi::c_char> =
    // SAFETY: a pointer to the first byte of a static C string.
    Some(unsafe {
        &*c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:1".as_ptr()
    });

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

#[cfg(test)]
mod tests {
    /// The options above reach jemalloc (a misspelt symbol would leave its
    /// defaults in place without a word).
    #[test]
    fn jemalloc_runs_with_the_operators_options() {
        let background =
            tikv_jemalloc_ctl::opt::background_thread::read().expect("opt.background_thread");
        assert!(background, "jemalloc's background thread is off");
        // SAFETY: opt.dirty_decay_ms and opt.muzzy_decay_ms are ssize_t.
        let dirty: isize = unsafe { tikv_jemalloc_ctl::raw::read(b"opt.dirty_decay_ms\0") }
            .expect("opt.dirty_decay_ms");
        let muzzy: isize = unsafe { tikv_jemalloc_ctl::raw::read(b"opt.muzzy_decay_ms\0") }
            .expect("opt.muzzy_decay_ms");
        assert_eq!((dirty, muzzy), (1000, 0));
        // SAFETY: opt.narenas is unsigned.
        let arenas: u32 =
            unsafe { tikv_jemalloc_ctl::raw::read(b"opt.narenas\0") }.expect("opt.narenas");
        assert_eq!(arenas, 1);
    }
}
