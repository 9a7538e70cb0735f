//! arcgis-emulator: an emulator of the part of Esri's ArcGIS Server
//! Administrator API and REST API that the ArcGIS site driver uses, run by
//! tests as a separate process (no ArcGIS Server can run here). Paths are
//! under the site root `http://ADDR/arcgis`.
//!
//! It follows Esri's public documentation (each module cites the pages):
//! generateToken and tokens signed with the site's shared key; the token
//! requirement (499 without, 498 invalid or expired, with HTTP 200); the
//! services root folder, folders (one level), services with their full JSON
//! (plus the fields a server adds), status, start, stop, createService,
//! edit, delete, createFolder, deleteFolder; the token manager configuration
//! (shared key); the site mode; and the REST info and health check.
//! Parameters come from the query and a form body, merged; `f=json|pjson`
//! answers JSON, anything else a minimal HTML page.
//!
//! Test controls (not ArcGIS): `PUT /_control/health`, `PUT
//! /_control/shared-key`. `--state FILE` keeps folders, services, states,
//! the shared key and the mode across restarts (written atomically);
//! `--request-log FILE` appends one JSON line per request (never a token,
//! password or body).
//!
//! Modules: `params` (parameters), `tokens` (token signing, lifetimes),
//! `model` (the site and its operations), `builtins` (the System and
//! Utilities services), `service_json` (a service as shown), `security`
//! (token configuration, site mode), `state` (persistence), `reply` (answer
//! shapes), `routes` (dispatch, REST info, health, controls, request log),
//! `admin` (the Administrator API).

mod admin;
mod builtins;
mod model;
mod params;
mod reply;
mod routes;
mod security;
mod service_json;
mod state;
mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use base64::Engine;
use clap::Parser;
use tokio::net::TcpListener;

use model::Site;
use routes::{Server, Settings};

/// An emulator of the ArcGIS Server Administrator API and REST API subset
/// used by the sitehapair ArcGIS driver. The site root is
/// http://ADDR/arcgis (admin at /arcgis/admin, health check at
/// /arcgis/rest/info/healthCheck).
#[derive(Parser, Debug)]
#[command(name = "arcgis-emulator")]
struct Args {
    /// Address to listen on; port 0 picks a free port. The first line on
    /// stdout is `listening on ADDR`.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The primary site administrator's user name (for generateToken).
    #[arg(long, default_value = "siteadmin")]
    username: String,
    /// The administrator's password.
    #[arg(long, env = "ARCGIS_EMULATOR_PASSWORD", hide_env_values = true)]
    password: String,
    /// Keep folders, services, states, token configuration and mode in this
    /// file (created when absent, written atomically on every change).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Append one JSON line per request here: at, method, path, operation,
    /// status, error_code.
    #[arg(long)]
    request_log: Option<PathBuf>,
    /// Full product version; currentVersion is derived from it (11.3.0 is
    /// 11.3).
    #[arg(long, default_value = "11.3.0")]
    version: String,
    /// Build number reported by /admin/info.
    #[arg(long, default_value = "0")]
    build: String,
    /// The token shared key (replaces the one in --state); a random key when
    /// neither gives one.
    #[arg(long)]
    shared_key: Option<String>,
    /// Cap on the lifetime a generateToken request gets, minutes.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    max_token_minutes: u64,
    /// Tests: every token lives this many seconds, whatever was asked.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    token_seconds: Option<u64>,
    /// Start answering the health check with 503.
    #[arg(long)]
    unhealthy: bool,
    /// Start without the built-in System and Utilities folders and services
    /// (only when the state file does not exist yet).
    #[arg(long)]
    no_builtin_services: bool,
}

/// The site to serve: from the state file, else new.
async fn load_site(args: &Args) -> Result<Site, String> {
    let loaded = match &args.state {
        None => None,
        Some(path) => state::load(path)
            .await
            .map_err(|e| format!("cannot read state {}: {e}", path.display()))?,
    };
    let mut site = match loaded {
        Some(site) => site,
        None => {
            let key = base64::engine::general_purpose::STANDARD.encode(tokens::random_bytes(32));
            Site::new(key, !args.no_builtin_services, routes::now_ms())
        }
    };
    if let Some(key) = &args.shared_key {
        if key.is_empty() {
            return Err("--shared-key must not be empty".into());
        }
        site.shared_key = key.clone();
    }
    state::persist(args.state.as_deref(), &site)
        .await
        .map_err(|e| format!("cannot write state: {e}"))?;
    Ok(site)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let site = match load_site(&args).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("arcgis-emulator: {e}");
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
                    "arcgis-emulator: cannot open request log {}: {e}",
                    p.display()
                );
                return std::process::ExitCode::from(2);
            }
        },
    };
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("arcgis-emulator: cannot listen on {}: {e}", args.listen);
            return std::process::ExitCode::from(2);
        }
    };
    let server = Arc::new(Server {
        settings: Settings {
            username: args.username,
            password: args.password,
            version: args.version,
            build: args.build,
            max_token_minutes: args.max_token_minutes,
            token_seconds: args.token_seconds,
        },
        site: tokio::sync::Mutex::new(site),
        state_file: args.state,
        health: std::sync::Mutex::new((!args.unhealthy, "started with --unhealthy".to_string())),
        log: std::sync::Mutex::new(log),
    });
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => eprintln!("arcgis-emulator: {e}"),
    }
    let app = Router::new()
        .fallback(routes::dispatch)
        .with_state(server)
        .into_make_service_with_connect_info::<SocketAddr>();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("arcgis-emulator: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests;
