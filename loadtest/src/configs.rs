//! The two proxies' configurations for one table size: the manifests folder Sluice reads and
//! the equivalent nginx.conf (one server block per Ingress host, the same forwarding headers,
//! an upstream keepalive pool, a buffered access log). Both are written as files; nothing is
//! ever interpreted from them by Sluice beyond its typed manifest parser.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

/// The host a cell's requests carry (the last Ingress of the table).
pub fn request_host(ingresses: usize) -> String {
    format!("app-{}.example.com", ingresses - 1)
}

/// Writes `dir/routes.yaml`: an IngressClass, the origin Service and EndpointSlice, and
/// `ingresses` Ingresses with one host each.
pub fn manifests(dir: &Path, ingresses: usize, origin_port: u16) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut y = String::new();
    y.push_str("apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: sluice}\nspec: {controller: sluice.dev/ingress-controller}\n---\n");
    y.push_str("apiVersion: v1\nkind: Service\nmetadata: {name: origin, namespace: bench}\nspec: {ports: [{port: 80, targetPort: 8081}]}\n---\n");
    let _ = write!(
        y,
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: origin-1, namespace: bench, labels: {{kubernetes.io/service-name: origin}}}}\n\
         addressType: IPv4\nports: [{{port: {origin_port}}}]\nendpoints: [{{addresses: [127.0.0.1]}}]\n"
    );
    for i in 0..ingresses {
        let _ = write!(
            y,
            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: app-{i}, namespace: bench}}\n\
             spec: {{ingressClassName: sluice, rules: [{{host: app-{i}.example.com, http: {{paths: [{{path: /, pathType: Prefix, \
             backend: {{service: {{name: origin, port: {{number: 80}}}}}}}}]}}}}]}}\n"
        );
    }
    std::fs::write(dir.join("routes.yaml"), y)?;
    Ok(())
}

/// The origin: nginx answering `200 ok` from one worker.
pub fn origin_conf(run: &Path, port: u16) -> String {
    let r = run.display();
    format!(
        "worker_processes 1;\npid {r}/origin.pid;\nerror_log {r}/origin.err warn;\nevents {{ worker_connections 8192; }}\n\
         http {{ access_log off; keepalive_requests 1000000;\n  server {{ listen 127.0.0.1:{port} reuseport backlog=4096; location / {{ return 200 \"ok\\n\"; }} }} }}\n"
    )
}

/// The nginx proxy doing what Sluice does: host routing, forwarding headers as ingress-nginx
/// sets them, upstream keepalive, 404 for unknown hosts, and a buffered access log.
pub fn proxy_conf(run: &Path, port: u16, origin_port: u16, workers: usize, ingresses: usize) -> String {
    let r = run.display();
    let mut c = format!(
        "worker_processes {workers};\npid {r}/proxy.pid;\nerror_log {r}/proxy.err warn;\nevents {{ worker_connections 16384; }}\n\
         http {{\n  access_log {r}/nginx-access.log combined buffer=64k flush=1s;\n  keepalive_requests 1000000;\n\
         server_names_hash_max_size 65536;\n  server_names_hash_bucket_size 128;\n\
         upstream origin {{ server 127.0.0.1:{origin_port}; keepalive 1024; }}\n\
         server {{ listen 127.0.0.1:{port} reuseport backlog=4096 default_server; return 404; }}\n"
    );
    let location =
        "location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; \
        proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; \
        proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-Proto $scheme; \
        proxy_set_header X-Forwarded-Host $host; proxy_set_header X-Forwarded-Port $server_port; \
        proxy_set_header X-Request-ID $request_id; }";
    for i in 0..ingresses {
        let _ = writeln!(
            c,
            "  server {{ listen 127.0.0.1:{port}; server_name app-{i}.example.com; {location} }}"
        );
    }
    c.push_str("}\n");
    c
}
