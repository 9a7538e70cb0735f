//! Tests of the transport's classification against real loopback servers:
//! what is silence (no connection, no answer head before the timeout) and
//! what is an answer (TLS refused, closes, resets, bodies cut short).
use super::*;
use crate::api::SiteContact;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Read one request head (this test's requests have no body); false when
/// the connection closed first.
async fn read_head(c: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// A site that answers the first call on a kept-alive connection, then
/// closes that connection under the second call without answering, and
/// answers on any new connection. The base URL.
async fn closes_the_kept_connection() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        let Ok((mut first, _)) = l.accept().await else {
            return;
        };
        read_head(&mut first).await;
        let _ = first.write_all(ok).await;
        read_head(&mut first).await;
        drop(first);
        while let Ok((mut c, _)) = l.accept().await {
            read_head(&mut c).await;
            let _ = c.write_all(ok).await;
        }
    });
    format!("http://{addr}/")
}

async fn call(client: &reqwest::Client, method: Method, url: &str) -> Result<u16, SiteError> {
    let req = client.request(method, url);
    let resp = send("west", "call", Duration::from_secs(5), client, req).await?;
    Ok(resp.status().as_u16())
}

#[tokio::test]
async fn a_read_on_a_connection_the_site_closed_is_sent_again() {
    let url = closes_the_kept_connection().await;
    let client = build("west", Duration::from_secs(5), None, Calls::Admin).expect("client");
    assert_eq!(call(&client, Method::GET, &url).await.expect("first"), 200);
    assert_eq!(call(&client, Method::GET, &url).await.expect("again"), 200);
}

#[tokio::test]
async fn a_write_on_a_connection_the_site_closed_is_not_sent_again() {
    let url = closes_the_kept_connection().await;
    let client = build("west", Duration::from_secs(5), None, Calls::Admin).expect("client");
    assert_eq!(call(&client, Method::PUT, &url).await.expect("first"), 200);
    let e = call(&client, Method::PUT, &url).await.expect_err("closed");
    // The site took the call: an answer, never silence.
    assert!(matches!(e, SiteError::Broken { .. }), "{e}");
    assert_eq!(e.contact(), SiteContact::Failing, "{e}");
}

#[tokio::test]
async fn a_refused_connection_or_a_timeout_is_not_taken_for_a_closed_one() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", l.local_addr().expect("addr"));
    drop(l);
    let client = build("west", Duration::from_secs(5), None, Calls::Admin).expect("client");
    let e = client.get(&url).send().await.expect_err("refused");
    assert!(!closed_under_the_call(&e), "{e}");

    // A site that takes the call and never answers.
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", l.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let (mut c, _) = l.accept().await.expect("accept");
        read_head(&mut c).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let e = client
        .get(&url)
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .expect_err("timeout");
    assert!(!closed_under_the_call(&e), "{e}");
    held.abort();
}

#[tokio::test]
async fn sites_with_the_same_timeout_and_bundle_share_one_client() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", l.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                for _ in 0..8 {
                    read_head(&mut c).await;
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
                    if c.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    // A timeout no other test uses, so that this table entry is new.
    let t = Duration::from_millis(4321);
    let west = client("west", t, None).expect("client");
    let east = client("east", t, None).expect("client");
    assert_eq!(call(&west, Method::GET, &url).await.expect("west"), 200);
    assert_eq!(call(&east, Method::GET, &url).await.expect("east"), 200);
    // One pool: east's call went out on the connection west opened.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    let other = client("east", Duration::from_millis(4322), None).expect("client");
    assert_eq!(call(&other, Method::GET, &url).await.expect("other"), 200);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "another timeout, another client"
    );
}

/// A loopback site that answers every call on any connection, counting
/// the connections it took; its URL and the count.
async fn counting_site() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", l.local_addr().expect("addr"));
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                while read_head(&mut c).await {
                    let body = r#"{"mode":"active","epoch":1}"#;
                    let ok = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if c.write_all(ok.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, accepted)
}

/// Two trips' probes, further apart than an admin connection lives, go out
/// on one connection (no connect, no TLS handshake per trip); the admin
/// client's connection has closed by then and the second call connects
/// again.
#[tokio::test]
async fn a_sites_probes_keep_their_connection_from_one_trip_to_the_next() {
    use std::sync::atomic::Ordering;
    let (probe_url, probe_accepts) = counting_site().await;
    let (admin_url, admin_accepts) = counting_site().await;
    // A timeout no other test uses, so that these table entries are new.
    let t = Duration::from_millis(4323);
    let probes = probe_client("west", t, None).expect("probe client");
    let admin = client("west", t, None).expect("admin client");
    // One trip: a probe and an admin call.
    let trip = || async {
        let probe = call(&probes, Method::GET, &probe_url).await.expect("probe");
        let listing = call(&admin, Method::GET, &admin_url).await.expect("admin");
        assert_eq!((probe, listing), (200, 200));
    };
    trip().await;
    // The time between two trips, longer than an admin connection idles.
    tokio::time::sleep(IDLE_CONNECTION + Duration::from_millis(500)).await;
    trip().await;
    assert_eq!(probe_accepts.load(Ordering::SeqCst), 1, "probe connections");
    assert_eq!(admin_accepts.load(Ordering::SeqCst), 2, "admin connections");
}

/// A contract site's trip asks its health and its mode at once, on two
/// connections; the next trip, further away than an admin connection
/// lives, asks both on those same two.
#[tokio::test]
async fn a_contract_sites_health_and_mode_go_out_on_its_kept_probe_connections() {
    use crate::sites::Site;
    use std::sync::atomic::Ordering;
    let (url, accepted) = counting_site().await;
    let token = crate::sites::http::Token::new("t");
    let t = Duration::from_millis(4324);
    let site = crate::sites::http::HttpSite::new("west", &url, token, None, t).expect("site");
    for trip in 0..2 {
        let (health, mode) = futures::join!(site.health(), site.mode());
        assert!(health.expect("health"), "trip {trip}: healthy");
        assert_eq!(mode.expect("mode").epoch, 1, "trip {trip}");
        tokio::time::sleep(IDLE_CONNECTION + Duration::from_millis(500)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "connections taken");
}

/// A loopback site that runs `serve` on every connection it takes; its address.
async fn site<F, Fut>(serve: F) -> std::net::SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((c, _)) = l.accept().await {
            tokio::spawn(serve(c));
        }
    });
    addr
}

/// GET `url` and read the answer as the drivers do, with `timeout`.
async fn get(url: &str, timeout: Duration, ca_pem: Option<&[u8]>) -> SiteError {
    let client = build("west", timeout, ca_pem, Calls::Admin).expect("client");
    let req = client.get(url).timeout(timeout);
    match send("west", "GET /mode", timeout, &client, req).await {
        Ok(resp) => read("west", "GET /mode", timeout, 1 << 20, resp)
            .await
            .map(|(status, _)| status)
            .expect_err("the call fails"),
        Err(e) => e,
    }
}

/// A head promising 1000 bytes of body, and the first 10 of them.
const HEAD_AND_TEN: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789";

#[tokio::test]
async fn a_refused_connection_is_silence() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/mode", l.local_addr().expect("addr"));
    drop(l);
    let e = get(&url, Duration::from_secs(5), None).await;
    assert!(matches!(e, SiteError::Unreachable { .. }), "{e}");
    assert_eq!(e.contact(), SiteContact::NoAnswer, "{e}");
}

#[tokio::test]
async fn a_site_that_takes_the_connection_and_never_answers_is_silence() {
    // The kernel completes the handshake from the backlog and nobody
    // reads (a stopped process).
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/mode", l.local_addr().expect("addr"));
    let e = get(&url, Duration::from_millis(300), None).await;
    assert!(matches!(e, SiteError::Timeout { .. }), "{e}");
    assert_eq!(e.contact(), SiteContact::NoAnswer, "{e}");
    drop(l);
    // A process that takes the call and never answers.
    let addr = site(|mut c| async move {
        read_head(&mut c).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let e = get(
        &format!("http://{addr}/mode"),
        Duration::from_millis(300),
        None,
    )
    .await;
    assert!(matches!(e, SiteError::Timeout { .. }), "{e}");
    assert_eq!(e.contact(), SiteContact::NoAnswer, "{e}");
}

#[tokio::test]
async fn plain_http_bytes_to_a_tls_call_are_an_answer() {
    let addr = site(|mut c| async move {
        let mut hello = [0u8; 512];
        let _ = c.read(&mut hello).await;
        let _ = c
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let e = get(
        &format!("https://{addr}/mode"),
        Duration::from_secs(5),
        None,
    )
    .await;
    assert!(matches!(e, SiteError::Broken { .. }), "{e}");
    assert_eq!(e.contact(), SiteContact::Failing, "{e}");
    assert!(e.to_string().contains("broken: TLS: "), "{e}");
}

#[tokio::test]
async fn a_certificate_the_ca_does_not_sign_is_an_answer() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let served =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
    // The site's CA: another one, which signed nothing the site serves.
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "the site's CA");
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let trusted = ca.self_signed(&ca_key).expect("CA certificate");
    let key =
        PrivateKeyDer::from_pem_slice(served.signing_key.serialize_pem().as_bytes()).expect("key");
    let chain = vec![CertificateDer::from(served.cert.der().to_vec())];
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let addr = site(move |c| {
        let acceptor = acceptor.clone();
        async move {
            let _ = acceptor.accept(c).await;
        }
    })
    .await;
    let ca = trusted.pem();
    let url = format!("https://{addr}/mode");
    let e = get(&url, Duration::from_secs(5), Some(ca.as_bytes())).await;
    assert!(matches!(e, SiteError::Broken { .. }), "{e}");
    assert_eq!(e.contact(), SiteContact::Failing, "{e}");
    assert!(
        e.to_string()
            .contains("broken: TLS: invalid peer certificate: UnknownIssuer"),
        "{e}"
    );
}

#[tokio::test]
async fn an_answer_closed_or_reset_after_its_head_is_an_answer_cut_short() {
    for reset in [false, true] {
        let addr = site(move |mut c| async move {
            read_head(&mut c).await;
            let _ = c.write_all(HEAD_AND_TEN).await;
            // Time for the head to be read before the connection goes.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if reset {
                let _ = c.set_zero_linger();
            }
        })
        .await;
        let e = get(&format!("http://{addr}/mode"), Duration::from_secs(5), None).await;
        assert!(matches!(e, SiteError::Broken { .. }), "reset {reset}: {e}");
        assert_eq!(e.contact(), SiteContact::Failing, "reset {reset}: {e}");
        assert!(
            e.to_string().contains("broken: the answer was cut short: "),
            "reset {reset}: {e}"
        );
    }
}

#[tokio::test]
async fn an_answer_that_stalls_after_its_head_past_the_timeout_is_an_answer_cut_short() {
    let addr = site(|mut c| async move {
        read_head(&mut c).await;
        let _ = c.write_all(HEAD_AND_TEN).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let e = get(
        &format!("http://{addr}/mode"),
        Duration::from_millis(500),
        None,
    )
    .await;
    assert!(matches!(e, SiteError::Broken { .. }), "{e}");
    assert_eq!(e.contact(), SiteContact::Failing, "{e}");
    assert!(
        e.to_string()
            .contains("the answer was cut short: timed out after 500 ms"),
        "{e}"
    );
}

#[tokio::test]
async fn a_connection_taken_and_closed_without_a_byte_is_an_answer() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let taken = Arc::new(AtomicUsize::new(0));
    let counter = taken.clone();
    let addr = site(move |mut c| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            read_head(&mut c).await;
        }
    })
    .await;
    // Fresh connections both times: the read is sent again, and the
    // second try's failure is the error.
    let e = get(&format!("http://{addr}/mode"), Duration::from_secs(5), None).await;
    assert!(matches!(e, SiteError::Broken { .. }), "{e}");
    assert_eq!(e.contact(), SiteContact::Failing, "{e}");
    assert!(
        e.to_string()
            .contains("broken: the site took the connection but gave no HTTP answer: "),
        "{e}"
    );
    assert_eq!(taken.load(Ordering::SeqCst), 2, "the read is tried twice");
}

#[tokio::test]
async fn a_tls_connection_closed_during_the_handshake_is_an_answer() {
    let addr = site(|mut c| async move {
        let mut hello = [0u8; 512];
        let _ = c.read(&mut hello).await;
    })
    .await;
    let e = get(
        &format!("https://{addr}/mode"),
        Duration::from_secs(5),
        None,
    )
    .await;
    assert!(matches!(e, SiteError::Broken { .. }), "{e}");
    assert_eq!(e.contact(), SiteContact::Failing, "{e}");
    assert!(e.to_string().contains("broken: TLS: "), "{e}");
}

#[tokio::test]
async fn bytes_that_are_not_http_are_an_answer() {
    let addr = site(|mut c| async move {
        read_head(&mut c).await;
        let _ = c.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
    })
    .await;
    let e = get(&format!("http://{addr}/mode"), Duration::from_secs(5), None).await;
    assert!(matches!(e, SiteError::Broken { .. }), "{e}");
    assert_eq!(e.contact(), SiteContact::Failing, "{e}");
    assert!(e.to_string().contains("gave no HTTP answer: "), "{e}");
}

#[tokio::test]
async fn no_credential_of_the_url_shows_in_a_transport_error() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    let url = format!("http://bob:pw0rd@{addr}/mode?token=s3cr3t");
    let text = get(&url, Duration::from_secs(5), None).await.to_string();
    assert!(text.contains("unreachable"), "{text}");
    assert!(
        !text.contains("pw0rd") && !text.contains("s3cr3t") && !text.contains("bob"),
        "{text}"
    );
}
