//! reference-site: a site server implementing the whole site admin contract
//! (docs/site-api.md). Tests and the demo run it as a separate process.
//!
//! It keeps mode, epoch and service definitions in a state file written
//! atomically (temporary file, fsync, rename), so a restart loses nothing;
//! answers `PUT /mode` with 409 for an older epoch (fencing); can be told to
//! answer unhealthy (`PUT /_control/health`, or `--unhealthy`); writes a
//! request log of JSON lines saying which calls it received and when; and
//! serves HTTPS instead of HTTP with `--tls-cert` and `--tls-key` (PEM).
//!
//! `GET /services` carries a strong `ETag` (a hash of the service set, so it
//! changes whenever any service changes); a request whose `If-None-Match` is
//! exactly that tag gets `304 Not Modified`, no body, the same `ETag`. Any
//! other `If-None-Match` gets the full 200. With `--no-etag` it sends no
//! `ETag` and ignores `If-None-Match` (every listing whole), as ArcGIS
//! Server's and pygeoapi's admin APIs do.
//!
//! Virtual sites (`--virtual-sites N`, for load tests): one process serves N
//! independent sites named `<--name>-0` .. `<--name>-<N-1>`, each under the
//! path prefix `/v/<site>/` (its admin URL is `http://ADDR/v/<site>`), each
//! with its own mode, epoch, services, health and token: the token of site
//! `S` is `<--token>.S`. Their state lives in memory, or with `--state-dir
//! DIR` in one state file per site (`DIR/<site>.json`, written atomically).
//! Request log lines name the site (`site`) and give the path under its
//! prefix. Without the flag the process is one site at the root, as always.
//!
//! A client path (`--client-listen ADDR`, plain HTTP, no token): what the
//! site's clients use; the active answers 200 naming itself and its epoch,
//! a passive 503 (see `client`). Its address is the second line on stdout,
//! `client listening on ADDR`.
//!
//! Modules: `state` (one site's state, its persistence and entity tag),
//! `routes` (the contract's calls, auth, request log), `client` (the
//! client path), `tls` (HTTPS).

mod client;
mod routes;
mod state;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use clap::Parser;
use tokio::net::TcpListener;

use routes::{Server, Settings, Site, Sites};

/// A reference site server implementing the sitehapair site admin contract.
///
/// GET /services answers with a strong ETag (a hash of the service set);
/// If-None-Match with exactly that tag gets 304 Not Modified and no body.
/// With --virtual-sites N one process serves N independent sites under
/// /v/<name>/ (see --virtual-sites).
#[derive(Parser, Debug)]
#[command(name = "reference-site")]
struct Args {
    /// Address to listen on; port 0 picks a free port. The first line on
    /// stdout is `listening on ADDR`.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// State file (mode, epoch, services); created when absent. Required
    /// unless --virtual-sites.
    #[arg(
        long,
        required_unless_present = "virtual_sites",
        conflicts_with = "virtual_sites"
    )]
    state: Option<PathBuf>,
    /// Bearer token every call but the health check must carry. With
    /// --virtual-sites, the token of site S is `<token>.S`.
    #[arg(long, env = "REFERENCE_SITE_TOKEN", hide_env_values = true)]
    token: String,
    /// The site's name, reported by GET /info. With --virtual-sites, the
    /// prefix of the sites' names.
    #[arg(long)]
    name: String,
    /// Serve this many independent virtual sites, named `<name>-0` ..
    /// `<name>-<N-1>`, site S under the path prefix /v/S/ (admin URL
    /// http://ADDR/v/S), each with its own mode, epoch, services, health
    /// (PUT /v/S/_control/health) and token (`<token>.S`). State in memory
    /// unless --state-dir. Request log lines name the site and give the
    /// path under its prefix.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    virtual_sites: Option<u32>,
    /// With --virtual-sites: keep each site's state in DIR/<site>.json
    /// (read at start, written atomically on every change) instead of in
    /// memory only.
    #[arg(long, requires = "virtual_sites")]
    state_dir: Option<PathBuf>,
    /// Product version reported by GET /info.
    #[arg(long, default_value = "1.0")]
    version: String,
    /// Fingerprint of the shared token key reported by GET /info.
    #[arg(long)]
    token_key_fingerprint: Option<String>,
    /// Start answering the health check with 503 (every virtual site too).
    #[arg(long)]
    unhealthy: bool,
    /// Answer the health check with 503 while the site holds a service of
    /// this name (a change that breaks the site, for the tests).
    #[arg(long)]
    unhealthy_with_service: Option<String>,
    /// Where the open health check is served (a GIS server's load-balancer
    /// check lives at its own path, such as /arcgis/rest/info/healthCheck);
    /// under each site's prefix with --virtual-sites.
    #[arg(long, default_value = "/health")]
    health_path: String,
    /// Append one JSON line per request here: time, site, method, path, status.
    #[arg(long)]
    request_log: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM, the site's own
    /// certificate first); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve the client path on this address too (plain HTTP, no token):
    /// the active answers 200, a passive 503. Printed as the second line
    /// on stdout, `client listening on ADDR`. Not with --virtual-sites.
    #[arg(long, conflicts_with = "virtual_sites")]
    client_listen: Option<SocketAddr>,
    /// `GET /services` sends no `ETag` and ignores `If-None-Match`: every
    /// listing whole, as real products' admin APIs answer.
    #[arg(long)]
    no_etag: bool,
}

/// The sites this process serves, their state read from disk where kept there.
async fn sites(args: &Args) -> Result<Sites, String> {
    let healthy = !args.unhealthy;
    let read = |path: PathBuf| async move {
        state::load(&path)
            .await
            .map(|st| (st, path.clone()))
            .map_err(|e| format!("cannot read state {}: {e}", path.display()))
    };
    let Some(n) = args.virtual_sites else {
        let path = args.state.clone().ok_or("--state is required")?;
        let (st, path) = read(path).await?;
        let site = Site::new(
            args.name.clone(),
            args.token.clone(),
            Some(path),
            st,
            healthy,
        );
        return Ok(Sites::Single(Arc::new(site)));
    };
    if let Some(dir) = &args.state_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut all = HashMap::with_capacity(n as usize);
    for i in 0..n {
        let name = format!("{}-{i}", args.name);
        let token = format!("{}.{name}", args.token);
        let (st, file) = match &args.state_dir {
            Some(dir) => {
                let (st, path) = read(dir.join(format!("{name}.json"))).await?;
                (st, Some(path))
            }
            None => (state::SiteState::default(), None),
        };
        all.insert(
            name.clone(),
            Arc::new(Site::new(name, token, file, st, healthy)),
        );
    }
    Ok(Sites::Virtual(all))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let sites = match sites(&args).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reference-site: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let log = match &args.request_log {
        None => None,
        Some(p) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!(
                    "reference-site: cannot open request log {}: {e}",
                    p.display()
                );
                return std::process::ExitCode::from(2);
            }
        },
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match tls::tls_config(cert, key) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("reference-site: {e}");
                return std::process::ExitCode::from(2);
            }
        },
        _ => None,
    };
    let listen = args.listen;
    let server = Arc::new(Server {
        settings: Settings {
            version: args.version,
            token_key_fingerprint: args.token_key_fingerprint,
            unhealthy_with_service: args.unhealthy_with_service,
            health_path: args.health_path,
            no_etag: args.no_etag,
        },
        sites,
        log: std::sync::Mutex::new(log),
    });
    let app = Router::new()
        .fallback(routes::dispatch)
        .with_state(server.clone());
    let listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("reference-site: cannot listen on {listen}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => eprintln!("reference-site: {e}"),
    }
    if let (Some(addr), Sites::Single(site)) = (args.client_listen, &server.sites)
        && let Err(e) = serve_clients(addr, site.clone()).await
    {
        eprintln!("reference-site: cannot listen for clients on {addr}: {e}");
        return std::process::ExitCode::from(2);
    }
    match tls {
        None => serve(listener, app).await,
        Some(config) => match tls::TlsListener::new(listener, config) {
            Ok(l) => serve(l, app).await,
            Err(e) => {
                eprintln!("reference-site: {e}");
                std::process::ExitCode::from(2)
            }
        },
    }
}

/// Start the client path on `addr` (in the background) and say where.
async fn serve_clients(addr: SocketAddr, site: Arc<Site>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("client listening on {}", listener.local_addr()?);
    let app = Router::new().fallback(move || client::answer(site.clone()));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("reference-site: client path: {e}");
        }
    });
    Ok(())
}

/// Serve until Ctrl-C (SIGINT).
async fn serve<L>(listener: L, app: Router) -> std::process::ExitCode
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("reference-site: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests;
