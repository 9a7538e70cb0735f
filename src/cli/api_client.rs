//! The operator's Kubernetes API client: kube's own layers (base URI,
//! credentials with their refresh, extra headers such as the User-Agent,
//! retries of server errors) over a connection pool that lets go of idle
//! connections. kube's default client gives hyper's pool no timer, and
//! without one the pool never evicts an idle connection it does not try to
//! reuse: every connection a burst opened (a push makes a thousand pairs
//! write status at once, 64 at a time) stayed open for the life of the
//! process, each with its TLS session and buffers, some 40 KiB apiece
//! and as many sockets at the API server.

use std::time::Duration;

use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::ConfigExt;
use tower::ServiceBuilder;

/// How long a connection to the API server stays open with nothing on it.
/// Watches hold their own connections; the rest (status writes, Lease
/// renewals every two seconds, Events) find one open within this. Short:
/// the connections a push's burst opened (one per reconcile at once, each
/// with its TLS session and buffers, some 50 KiB) close seconds after it,
/// where at 30 s they held 3 MiB at 1,000 pairs for most of a minute.
pub const IDLE_CONNECTION: Duration = Duration::from_secs(5);

/// At most this many idle connections are kept: as many as reconciles run
/// at once by default, so that a push's burst reuses its connections rather
/// than opening (and shaking hands on) a new one for most calls; the idle
/// timeout above closes them once the burst is over.
pub const MAX_IDLE_CONNECTIONS: usize = 64;

/// A client for `config`, as kube would build it, with the pool above.
pub fn client(config: kube::Config) -> Result<kube::Client, kube::Error> {
    client_with(config, IDLE_CONNECTION)
}

fn client_with(config: kube::Config, idle: Duration) -> Result<kube::Client, kube::Error> {
    let mut connector = hyper_timeout::TimeoutConnector::new(config.rustls_https_connector()?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let http = HyperClient::builder(TokioExecutor::new())
        .pool_idle_timeout(idle)
        .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
        .pool_timer(TokioTimer::new())
        .build(connector);
    let retry = config
        .default_retry
        .then(|| tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry()));
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(retry)
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(http);
    Ok(kube::Client::new(service, config.default_namespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTP/1.1 server that answers `{}` after 100 ms on kept-alive
    /// connections and counts the connections open.
    async fn slow_server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let open = Arc::new(AtomicUsize::new(0));
        let count = open.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let count = count.clone();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                            if conn.write_all(answer.as_bytes()).await.is_err() {
                                break;
                            }
                        }
                    }
                    count.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        (url, open)
    }

    #[tokio::test]
    async fn connections_a_burst_opened_are_closed_once_idle() {
        let (url, open) = slow_server().await;
        let config = kube::Config::new(url.parse().expect("url"));
        let client = client_with(config, Duration::from_millis(300)).expect("client");
        let calls = (0..24).map(|_| {
            let client = client.clone();
            async move {
                let req = axum::http::Request::get("/version")
                    .body(Vec::new())
                    .expect("request");
                client.request_text(req).await
            }
        });
        for answer in futures::future::join_all(calls).await {
            assert_eq!(answer.expect("answer"), "{}");
        }
        let burst = open.load(Ordering::SeqCst);
        // Calls at once each took a connection of their own, all of which
        // the pool would keep (the burst is under its idle cap).
        assert!(
            (16..=MAX_IDLE_CONNECTIONS).contains(&burst),
            "the burst opened {burst} connections"
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while open.load(Ordering::SeqCst) > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {burst} connections still open 10 s after the burst",
                open.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The client still works after its pool emptied.
        let req = axum::http::Request::get("/version")
            .body(Vec::new())
            .expect("request");
        assert_eq!(client.request_text(req).await.expect("answer"), "{}");
    }
}
