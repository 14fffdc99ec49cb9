//! The soak's clients: keepalive HTTP/1.1 connections cycling through the routes, and a TLS
//! client that opens a new connection (a full handshake on the live certificate) per request.
//! Every answer other than 200 is a failure, counted by its status or by what went wrong.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

/// What one client thread saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Tally {
    /// Requests that got a 200.
    pub ok: u64,
    /// Failed requests by cause (`404`, `502`, `io: ...`, `closed`, `tls: ...`).
    pub failed: BTreeMap<String, u64>,
    /// The first few failures, with the request that failed.
    pub samples: Vec<String>,
}

impl Tally {
    fn fail(&mut self, cause: String, what: &str) {
        if self.samples.len() < 10 {
            self.samples.push(format!("{what}: {cause}"));
        }
        *self.failed.entry(cause).or_default() += 1;
    }

    /// Adds another thread's counts.
    pub fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        for (cause, n) in other.failed {
            *self.failed.entry(cause).or_default() += n;
        }
        self.samples.extend(other.samples.into_iter().take(10 - self.samples.len().min(10)));
    }

    /// Failed requests in total.
    pub fn failures(&self) -> u64 {
        self.failed.values().sum()
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs keepalive requests to `proxy` over `targets` (host, path) in turn until `stop`.
pub fn keepalive(proxy: SocketAddr, targets: &[(&str, &str)], stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<BufReader<TcpStream>> = None;
    for &(host, path) in targets.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let what = format!("http://{host}{path}");
        let stream = match conn.take() {
            Some(c) => c,
            None => match TcpStream::connect_timeout(&proxy, TIMEOUT) {
                Ok(s) => {
                    let _ = s.set_read_timeout(Some(TIMEOUT));
                    let _ = s.set_nodelay(true);
                    BufReader::new(s)
                }
                Err(e) => {
                    tally.fail(format!("connect: {}", e.kind()), &what);
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let mut stream = stream;
        match exchange(&mut stream, host, path, false) {
            Ok((200, keep)) => {
                tally.ok += 1;
                if keep {
                    conn = Some(stream);
                }
            }
            Ok((status, _)) => tally.fail(status.to_string(), &what),
            Err(cause) => tally.fail(cause, &what),
        }
    }
    tally
}

/// Runs one request per new TLS connection (SNI `host`, verified against `ca`) until `stop`.
pub fn tls(proxy: SocketAddr, host: &'static str, ca: Vec<u8>, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let mut roots = rustls::RootCertStore::empty();
    if let Err(e) = roots.add(CertificateDer::from(ca)) {
        tally.fail(format!("tls: CA: {e}"), "setup");
        return tally;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config =
        match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
            Ok(b) => Arc::new(b.with_root_certificates(roots).with_no_client_auth()),
            Err(e) => {
                tally.fail(format!("tls: config: {e}"), "setup");
                return tally;
            }
        };
    let what = format!("https://{host}/");
    while !stop.load(Ordering::Relaxed) {
        let result = TcpStream::connect_timeout(&proxy, TIMEOUT)
            .map_err(|e| format!("connect: {}", e.kind()))
            .and_then(|tcp| {
                let _ = tcp.set_read_timeout(Some(TIMEOUT));
                let name = ServerName::try_from(host).map_err(|e| format!("tls: {e}"))?;
                let session =
                    rustls::ClientConnection::new(config.clone(), name).map_err(|e| format!("tls: {e}"))?;
                let mut stream = BufReader::new(rustls::StreamOwned::new(session, tcp));
                exchange(&mut stream, host, "/", true)
            });
        match result {
            Ok((200, _)) => tally.ok += 1,
            Ok((status, _)) => tally.fail(status.to_string(), &what),
            Err(cause) => tally.fail(cause, &what),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    tally
}

/// Sends `GET path` and reads the whole answer: (status, whether the connection stays open).
pub(crate) fn exchange<S: Read + Write>(
    stream: &mut BufReader<S>,
    host: &str,
    path: &str,
    close: bool,
) -> Result<(u16, bool), String> {
    let connection = if close { "close" } else { "keep-alive" };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sluice-soak\r\nConnection: {connection}\r\n\r\n"
    );
    let io = crate::http1::io_cause;
    stream.get_mut().write_all(request.as_bytes()).map_err(io)?;
    stream.get_mut().flush().map_err(io)?;
    crate::http1::read_answer(stream, !close)
}
