//! Opening one connection of each kind and bringing it to its held state.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

use super::Kind;
use crate::soak::client::exchange;

/// A connection held open (dropping it closes it).
pub enum Held {
    /// Plain TCP (HTTP/1.1 or HTTP/2).
    Tcp(TcpStream),
    /// TLS.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Opens one connection of `kind` and brings it to its held state.
pub fn one(kind: Kind, addr: SocketAddr, host: &str, tls: &Arc<ClientConfig>) -> Result<Held> {
    let tcp = TcpStream::connect_timeout(&addr, TIMEOUT).with_context(|| format!("connecting to {addr}"))?;
    tcp.set_read_timeout(Some(TIMEOUT))?;
    tcp.set_nodelay(true)?;
    match kind {
        Kind::Idle => {
            let mut stream = BufReader::new(tcp);
            answered(exchange(&mut stream, host, "/", false))?;
            Ok(Held::Tcp(stream.into_inner()))
        }
        Kind::Slow => {
            let mut tcp = tcp;
            write!(tcp, "GET / HTTP/1.1\r\nHost: {host}\r\nX-Never-Finished: ")?;
            Ok(Held::Tcp(tcp))
        }
        Kind::Tls => {
            let name = ServerName::try_from(host.to_owned())?;
            let session = ClientConnection::new(tls.clone(), name)?;
            let mut stream = BufReader::new(StreamOwned::new(session, tcp));
            answered(exchange(&mut stream, host, "/", false))?;
            Ok(Held::Tls(Box::new(stream.into_inner())))
        }
        Kind::H2 => {
            let mut tcp = tcp;
            h2_request(&mut tcp, host)?;
            Ok(Held::Tcp(tcp))
        }
    }
}

fn answered(result: Result<(u16, bool), String>) -> Result<()> {
    match result {
        Ok((_, true)) => Ok(()),
        Ok((status, false)) => bail!("the proxy closed the connection after its {status}"),
        Err(cause) => bail!("no answer: {cause}"),
    }
}

/// Sends the HTTP/2 preface, an empty SETTINGS frame and `GET /` on stream 1 (HPACK: static
/// table entries and one literal authority), then reads frames until stream 1 ends,
/// acknowledging the server's SETTINGS.
fn h2_request(tcp: &mut TcpStream, host: &str) -> Result<()> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&frame(0x4, 0, 0, &[]));
    let mut block = vec![0x82, 0x86, 0x84, 0x41, host.len() as u8];
    block.extend_from_slice(host.as_bytes());
    out.extend_from_slice(&frame(0x1, 0x5, 1, &block));
    tcp.write_all(&out)?;
    loop {
        let mut head = [0u8; 9];
        tcp.read_exact(&mut head).context("reading an HTTP/2 frame")?;
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        tcp.read_exact(&mut payload)?;
        match kind {
            0x4 if flags & 0x1 == 0 => tcp.write_all(&frame(0x4, 0x1, 0, &[]))?,
            0x7 => bail!("GOAWAY from the proxy"),
            0x0 | 0x1 if stream == 1 && flags & 0x1 != 0 => return Ok(()),
            _ => {}
        }
    }
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A client configuration that accepts any certificate (the harness measures memory, not
/// trust), offering `http/1.1` only.
pub fn tls_config() -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any certificate; still checks the handshake signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
