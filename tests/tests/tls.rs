//! Outbound TLS (ClickHouse and the alert webhook): the real clients' rustls stacks
//! against local TLS endpoints.
//!
//! A TLS terminator with certificates generated here (a private CA and a `localhost`
//! leaf, rcgen) forwards to the stack's ClickHouse. With the CA in `clickhouse.ca_file`
//! queries and inserts work over `https://`; without it, or under a name the certificate
//! does not cover, the connection is refused with a certificate error.

use std::{net::SocketAddr, sync::Arc};

use pulse_runtime::clickhouse::ClickHouseConfig;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

struct Pki {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.distinguished_name.push(DnType::CommonName, "pulse test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).expect("leaf cert");
    Pki {
        ca_pem: ca_cert.pem(),
        leaf: leaf_cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

fn upstream() -> String {
    let url = std::env::var("PULSE_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    url.trim_start_matches("http://").trim_end_matches('/').to_owned()
}

/// A TLS acceptor serving the `localhost` leaf of `pki`.
fn acceptor(pki: &Pki) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf.clone()], pki.key.clone_key())
        .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Accepts TLS on a free port and pipes each connection to ClickHouse's HTTP port.
async fn tls_terminator(pki: &Pki) -> SocketAddr {
    let acceptor = acceptor(pki);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let up = upstream();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            let up = up.clone();
            tokio::spawn(async move {
                // A handshake refused by the client ends here: that is the point of the
                // negative cases.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = TcpStream::connect(&up).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

fn config(url: String, ca_file: Option<std::path::PathBuf>) -> ClickHouseConfig {
    ClickHouseConfig { url, database: "default".into(), ca_file, ..ClickHouseConfig::default() }
}

#[tokio::test]
async fn https_with_the_private_ca_works_and_without_it_fails_clearly() {
    let pki = pki();
    let addr = tls_terminator(&pki).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("write ca");

    // Trusted CA, matching name: queries and a typed insert round trip over TLS.
    let good = config(format!("https://localhost:{}", addr.port()), Some(ca.clone()));
    good.validate().expect("valid config");
    let v: String = good.client().query("SELECT version()").fetch_one().await.expect("query over https");
    assert!(!v.is_empty());
    let table = format!("tls_{}", uuid::Uuid::new_v4().simple());
    let ch = good.client();
    ch.query(&format!("CREATE TABLE {table} (n UInt32) ENGINE = Memory")).execute().await.expect("create");
    #[derive(clickhouse::Row, serde::Serialize)]
    struct N {
        n: u32,
    }
    let mut ins = ch.insert::<N>(&table).await.expect("insert");
    for n in 0..100 {
        ins.write(&N { n }).await.expect("write");
    }
    ins.end().await.expect("end insert");
    let sum: u64 = ch.query(&format!("SELECT sum(n) FROM {table}")).fetch_one().await.expect("sum");
    assert_eq!(sum, 4950);
    ch.query(&format!("DROP TABLE {table}")).execute().await.expect("drop");

    // Without the private CA: the server's certificate is not trusted.
    let untrusted = config(format!("https://localhost:{}", addr.port()), None);
    let err = untrusted.client().query("SELECT 1").fetch_one::<u8>().await.expect_err("untrusted CA");
    let msg = format!("{err:?}");
    assert!(msg.contains("UnknownIssuer") || msg.to_lowercase().contains("certificate"), "{msg}");

    // Trusted CA but a name the certificate does not cover.
    let wrong_name = config(format!("https://127.0.0.1:{}", addr.port()), Some(ca));
    let err = wrong_name.client().query("SELECT 1").fetch_one::<u8>().await.expect_err("wrong name");
    let msg = format!("{err:?}");
    assert!(msg.contains("NotValidForName") || msg.to_lowercase().contains("certificate"), "{msg}");
}

#[test]
fn an_unreadable_ca_file_is_refused_at_start_up_naming_the_key() {
    let cfg = config("https://localhost:1".into(), Some("/nonexistent/ca.pem".into()));
    let err = cfg.validate().expect_err("missing CA file");
    assert!(err.to_string().contains("clickhouse.ca_file"), "{err}");
}

/// A TLS endpoint that answers every HTTP request with 200 and counts them.
async fn tls_http_ok(pki: &Pki) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let acceptor = acceptor(pki);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, h) = (acceptor.clone(), h.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Read headers and a Content-Length body (the webhook's JSON).
                loop {
                    let Ok(n) = tls.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, hits)
}

#[tokio::test]
async fn the_webhook_client_posts_over_https_with_the_private_ca_and_refuses_without_it() {
    let pki = pki();
    let (addr, hits) = tls_http_ok(&pki).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("write ca");
    let url = format!("https://localhost:{}/hook", addr.port());
    let body = serde_json::json!({"text": "test"});

    let trusted = pulse_scorer::config::WebhookConfig { ca_file: Some(ca), ..Default::default() };
    let client = pulse_scorer::webhook::http_client(&trusted).expect("client");
    let resp = client.post(&url).json(&body).send().await.expect("post over https");
    assert_eq!(resp.status(), 200);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);

    let default = pulse_scorer::webhook::http_client(&Default::default()).expect("client");
    let err = default.post(&url).json(&body).send().await.expect_err("untrusted CA");
    let msg = format!("{err:?}");
    assert!(msg.contains("UnknownIssuer") || msg.to_lowercase().contains("certificate"), "{msg}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1, "nothing delivered to an untrusted server");

    let missing =
        pulse_scorer::config::WebhookConfig { ca_file: Some("/nonexistent.pem".into()), ..Default::default() };
    let err = pulse_scorer::webhook::http_client(&missing).expect_err("missing CA file");
    assert!(err.to_string().contains("scorer.webhook.ca_file"), "{err}");
}
