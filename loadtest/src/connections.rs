//! `sluice-loadtest conns`: resident bytes per idle, slow, TLS and HTTP/2 connection, Sluice and
//! nginx side by side (one worker each), from one command. See [`sluice_loadtest::conns`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};
use sluice_loadtest::conns::{self, Cost, Kind};

use crate::{configs, free_port, nginx_cmd, spawn, wait_port, Proc};

/// `sluice-loadtest conns` flags.
#[derive(Debug, clap::Args)]
pub struct ConnsArgs {
    /// The sluice binary (a release build).
    #[arg(long, default_value = "target/release/sluice")]
    sluice: PathBuf,
    /// The nginx binary.
    #[arg(long, default_value = "nginx")]
    nginx: PathBuf,
    /// Connections held per kind and proxy.
    #[arg(long, default_value_t = 4000)]
    count: usize,
    /// Where results go.
    #[arg(long, default_value = "target/loadtest/conns")]
    out: PathBuf,
}

const HOST: &str = "app.test";

/// Runs the measurement and prints the table.
pub fn run(args: &ConnsArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let run = args.out.canonicalize()?;
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec![HOST.to_owned()])?.self_signed(&key)?;
    std::fs::write(run.join("cert.pem"), cert.pem())?;
    std::fs::write(run.join("key.pem"), key.serialize_pem())?;

    let origin_port = free_port()?;
    std::fs::write(run.join("origin.conf"), configs::origin_conf(&run, origin_port))?;
    let _origin =
        spawn(&mut nginx_cmd(&args.nginx, &run.join("origin.conf")), None, &run.join("origin.log"))?;
    wait_port(origin_port)?;

    let manifests = run.join("manifests");
    std::fs::create_dir_all(&manifests)?;
    std::fs::write(manifests.join("routes.yaml"), routes(origin_port, &cert.pem(), &key.serialize_pem()))?;
    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let mut rows: Vec<(Kind, Cost, Cost)> = Vec::new();
    // Each kind against fresh processes, so that one kind's freed memory is not the next one's
    // baseline.
    for kind in Kind::ALL {
        let (plain, tls, h2c) = (free_port()?, free_port()?, free_port()?);
        std::fs::write(run.join("nginx.conf"), nginx_conf(&run, plain, tls, h2c, origin_port))?;
        let nginx =
            spawn(&mut nginx_cmd(&args.nginx, &run.join("nginx.conf")), None, &run.join("nginx.log"))?;
        let (http, https, admin) = (free_port()?, free_port()?, free_port()?);
        let mut cmd = Command::new(&args.sluice);
        cmd.arg("--manifests")
            .arg(&manifests)
            .args([
                "--http-addr",
                &format!("127.0.0.1:{http}"),
                "--https-addr",
                &format!("127.0.0.1:{https}"),
            ])
            .args(["--admin-addr", &format!("127.0.0.1:{admin}"), "--threads", "1", "--disable-access-log"])
            .args(["--shutdown-grace-period", "0s", "--shutdown-drain-timeout", "1s"])
            .env("RUST_LOG", "warn");
        let sluice = spawn(&mut cmd, None, &run.join("sluice.log")).context("starting sluice")?;
        for port in [plain, tls, h2c, http, https] {
            wait_port(port)?;
        }
        let (n_addr, s_addr) = match kind {
            Kind::Idle | Kind::Slow => (at(plain), at(http)),
            Kind::Tls => (at(tls), at(https)),
            Kind::H2 => (at(h2c), at(http)),
        };
        let n = conns::measure(pid(&nginx), kind, n_addr, HOST, args.count)
            .with_context(|| format!("nginx, {} connections", kind.name()))?;
        let s = conns::measure(pid(&sluice), kind, s_addr, HOST, args.count)
            .with_context(|| format!("sluice, {} connections", kind.name()))?;
        eprintln!(
            "{:5} nginx {:6.1} KiB/conn   sluice {:6.1} KiB/conn (RSS {} -> {} -> {} KiB {} s after close)",
            kind.name(),
            n.kib_per_conn(),
            s.kib_per_conn(),
            s.before_kib,
            s.held_kib,
            s.after_kib,
            conns::GIVE_BACK_WAIT.as_secs()
        );
        rows.push((kind, n, s));
    }
    let mut md = format!(
        "Resident memory per connection, {} connections per kind, one worker each:\n\n\
         | connection | nginx KiB/conn | Sluice KiB/conn | Sluice RSS before / held / 10 s after close (MiB) |\n|---|---|---|---|\n",
        args.count
    );
    for (kind, n, s) in &rows {
        md.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} / {:.1} / {:.1} |\n",
            kind.name(),
            n.kib_per_conn(),
            s.kib_per_conn(),
            s.before_kib as f64 / 1024.0,
            s.held_kib as f64 / 1024.0,
            s.after_kib as f64 / 1024.0
        ));
    }
    print!("{md}");
    std::fs::write(run.join("results.md"), &md)?;
    let json: Vec<_> =
        rows.iter().map(|(k, n, s)| serde_json::json!({"kind": k, "nginx": n, "sluice": s})).collect();
    std::fs::write(run.join("results.json"), serde_json::to_string_pretty(&json)?)?;
    Ok(())
}

fn pid(p: &Proc) -> u32 {
    p.0.id()
}

/// nginx with one worker: plain HTTP/1.1, TLS 1.3 and cleartext HTTP/2 listeners, proxying to
/// the origin with upstream keepalive.
fn nginx_conf(run: &std::path::Path, plain: u16, tls: u16, h2c: u16, origin: u16) -> String {
    let r = run.display();
    format!(
        "worker_processes 1;\npid {r}/nginx.pid;\nerror_log {r}/nginx.err warn;\nworker_rlimit_nofile 20000;\n\
         events {{ worker_connections 19000; }}\nhttp {{\n  access_log off;\n  keepalive_timeout 600s;\n  client_header_timeout 600s;\n\
         upstream origin {{ server 127.0.0.1:{origin}; keepalive 64; }}\n\
         server {{\n    listen 127.0.0.1:{plain};\n    listen 127.0.0.1:{tls} ssl;\n    listen 127.0.0.1:{h2c} http2;\n\
         ssl_certificate {r}/cert.pem;\n    ssl_certificate_key {r}/key.pem;\n    ssl_protocols TLSv1.3;\n    http2_idle_timeout 600s;\n\
         location / {{ proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n  }}\n}}\n"
    )
}

/// Sluice's manifests: `HOST` with TLS, to the origin.
fn routes(origin: u16, cert: &str, key: &str) -> String {
    let indent = |pem: &str| pem.lines().map(|l| format!("    {l}\n")).collect::<String>();
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {{name: sluice}}\nspec: {{controller: sluice.dev/ingress-controller}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: origin, namespace: bench}}\nspec: {{ports: [{{port: 80, targetPort: 8081}}]}}\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: origin-1, namespace: bench, labels: {{kubernetes.io/service-name: origin}}}}\n\
         addressType: IPv4\nports: [{{port: {origin}}}]\nendpoints: [{{addresses: [127.0.0.1]}}]\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {{name: app-tls, namespace: bench}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}---\n\
         apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: app\n  namespace: bench\n  annotations: {{nginx.ingress.kubernetes.io/ssl-redirect: \"false\"}}\n\
         spec:\n  ingressClassName: sluice\n  tls: [{{hosts: [{HOST}], secretName: app-tls}}]\n  rules:\n  - host: {HOST}\n    http:\n      paths:\n\
         \x20     - {{path: /, pathType: Prefix, backend: {{service: {{name: origin, port: {{number: 80}}}}}}}}\n",
        indent(cert),
        indent(key)
    )
}
