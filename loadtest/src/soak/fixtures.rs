//! The soak's world: echo backends on 127.0.0.x, the manifests they are routed by, and the
//! certificates the TLS Secret rotates through.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};

/// The host the main Ingress serves (plain and TLS).
pub const APP_HOST: &str = "app.test";
/// The host of the Ingress that is deleted and re-created.
pub const EXTRA_HOST: &str = "extra.test";

/// Addresses the backends listen on: three live endpoints per Service and one address where
/// nothing listens, listed only as not ready (a request routed there would fail).
#[derive(Debug, Clone)]
pub struct Addresses {
    /// The port every endpoint uses.
    pub port: u16,
    /// Live endpoints of Service `a`.
    pub a: [Ipv4Addr; 3],
    /// Live endpoints of Service `b`.
    pub b: [Ipv4Addr; 3],
    /// An address with no listener.
    pub dead: Ipv4Addr,
}

impl Addresses {
    /// Addresses in 127.0.`block`.0/24, on `port`.
    pub fn new(block: u8, port: u16) -> Self {
        let ip = |last| Ipv4Addr::new(127, 0, block, last);
        Addresses { port, a: [ip(11), ip(12), ip(13)], b: [ip(21), ip(22), ip(23)], dead: ip(99) }
    }
}

/// The IngressClass and the controller ConfigMap (`soak/sluice`), revision `rev`.
pub fn config(rev: usize) -> String {
    let timeout = 60 + rev % 2;
    format!(
        "# revision {rev}\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {{name: sluice}}\n\
         spec: {{controller: sluice.dev/ingress-controller}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: sluice, namespace: soak}}\n\
         data: {{proxy-read-timeout: \"{timeout}\", use-forwarded-headers: \"false\"}}\n"
    )
}

/// Service `name` whose port named `http` has `number` (the Ingresses use the name).
pub fn service(name: &str, number: u16, rev: usize) -> String {
    format!(
        "# revision {rev}\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: soak}}\n\
         spec:\n  ports:\n  - {{name: http, port: {number}, targetPort: web}}\n"
    )
}

/// The EndpointSlice of Service `name`: of its three live endpoints, the one at `rev % 3` is
/// terminating (alternately still serving and not) and the other two ready, every other
/// revision one of those is instead listed twice as not ready; the dead address is always there,
/// never ready.
pub fn endpoints(name: &str, live: &[Ipv4Addr; 3], dead: Ipv4Addr, port: u16, rev: usize) -> String {
    let mut out = format!(
        "# revision {rev}\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata:\n  name: {name}-1\n  namespace: soak\n  labels: {{kubernetes.io/service-name: {name}}}\n\
         addressType: IPv4\nports:\n- {{name: http, port: {port}}}\nendpoints:\n"
    );
    let going = rev % 3;
    for (i, ip) in live.iter().enumerate() {
        let conditions = if i == going {
            format!("{{ready: false, serving: {}, terminating: true}}", rev % 2 == 0)
        } else {
            "{ready: true}".to_owned()
        };
        let _ = writeln!(out, "- addresses: [\"{ip}\"]\n  conditions: {conditions}");
    }
    let _ = writeln!(out, "- addresses: [\"{dead}\"]\n  conditions: {{ready: false}}");
    out
}

/// The main Ingress: `APP_HOST` with TLS, `/` to `a`, `/b` to `b`, and a probe path that each
/// revision renames.
pub fn app_ingress(rev: usize) -> String {
    format!(
        "# revision {rev}\napiVersion: networking.k8s.io/v1\nkind: Ingress\n\
         metadata:\n  name: app\n  namespace: soak\n  annotations: {{nginx.ingress.kubernetes.io/ssl-redirect: \"false\"}}\n\
         spec:\n  ingressClassName: sluice\n  tls:\n  - hosts: [{APP_HOST}]\n    secretName: app-tls\n  rules:\n  \
         - host: {APP_HOST}\n    http:\n      paths:\n{}{}{}",
        path("Prefix", "/", "a"),
        path("Prefix", "/b", "b"),
        path("Exact", &format!("/probe-{rev}"), "b"),
    )
}

/// The Ingress that is deleted and re-created: `EXTRA_HOST`, `/` to `b`.
pub fn extra_ingress(rev: usize) -> String {
    format!(
        "# revision {rev}\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: extra, namespace: soak}}\n\
         spec:\n  ingressClassName: sluice\n  rules:\n  - host: {EXTRA_HOST}\n    http:\n      paths:\n{}",
        path("Prefix", "/", "b")
    )
}

fn path(kind: &str, path: &str, service: &str) -> String {
    format!(
        "      - pathType: {kind}\n        path: {path}\n        backend:\n          service: {{name: {service}, port: {{name: http}}}}\n"
    )
}

/// The certificate authority the TLS client trusts; each rotation issues a new leaf from it.
pub struct Authority {
    cert: Certificate,
    key: KeyPair,
}

impl Authority {
    /// A fresh CA.
    pub fn new() -> Result<Self> {
        let mut params = CertificateParams::new(Vec::new()).context("CA params")?;
        params.distinguished_name.push(DnType::CommonName, "sluice soak CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().context("CA key")?;
        let cert = params.self_signed(&key).context("CA certificate")?;
        Ok(Authority { cert, key })
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    /// The TLS Secret `app-tls` with a new key and certificate for `APP_HOST`.
    pub fn secret(&self, rev: usize) -> Result<String> {
        let key = KeyPair::generate().context("leaf key")?;
        let mut params = CertificateParams::new(vec![APP_HOST.to_owned()]).context("leaf params")?;
        params.distinguished_name.push(DnType::CommonName, format!("{APP_HOST} revision {rev}"));
        let cert = params.signed_by(&key, &self.cert, &self.key).context("leaf certificate")?;
        let indent = |pem: String| pem.lines().map(|l| format!("    {l}\n")).collect::<String>();
        Ok(format!(
            "# revision {rev}\napiVersion: v1\nkind: Secret\nmetadata: {{name: app-tls, namespace: soak}}\n\
             type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
            indent(cert.pem()),
            indent(key.serialize_pem())
        ))
    }
}
