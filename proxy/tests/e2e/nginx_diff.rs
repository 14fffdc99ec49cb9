//! The differential test against real nginx: the same Ingress paths as nginx `location`
//! blocks (rendered as ingress-nginx renders them) and as Sluice routes, then thousands of
//! generated request paths sent to both. For each one, both must pick the same location, or
//! answer the same refusal status; and both proxy to one echo backend, which must receive the
//! same request-URI from each (the client's as sent, or the `rewrite-target` result).
//!
//! `SLUICE_DIFF_CASES` (default 2,000) and `SLUICE_DIFF_SEED` (fixed by default) size and
//! vary the run: `SLUICE_DIFF_CASES=100000 SLUICE_DIFF_SEED=$RANDOM cargo test -p sluice-proxy
//! --test e2e nginx_diff -- --include-ignored` runs a larger sample locally.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::net::TcpStream;

use super::support::{
    annotate, free_port, ingress, ingress_class, manifests, raw_exchange, service, Backends, Sluice,
};

/// `(pathType, path)` of the plain host; each becomes one Ingress.
const PLAIN: &[(&str, &str)] = &[
    ("Exact", "/exact"),
    ("Exact", "/a/b"),
    ("Exact", "/admin/login"),
    ("Prefix", "/admin"),
    ("Prefix", "/a"),
    ("Prefix", "/x/y"),
    ("Prefix", "/app"),
    ("Prefix", "/é"),
    ("ImplementationSpecific", "/img"),
    ("ImplementationSpecific", "/ab"),
    ("ImplementationSpecific", "/x/y/z"),
];

/// Paths of the `use-regex` host (ImplementationSpecific, rendered as `~* "^PATH"`).
const REGEX: &[&str] =
    &["/api/v[0-9]+", "/api", "/static/.*\\.css$", "/u/[a-z]+/profile", "/admin(/|$)", "/x;y"];

/// `(path, rewrite-target)` of the rewrite host (`use-regex` and `rewrite-target`).
const REWRITE: &[(&str, &str)] =
    &[("/api(/|$)(.*)", "/$2"), ("/old/([^/]+)/(.*)", "/new/$2/$1"), ("/keep", "/kept")];

const PLAIN_HOST: &str = "plain.test";
const REGEX_HOST: &str = "regex.test";
const REWRITE_HOST: &str = "rw.test";
const HOSTS: [&str; 3] = [PLAIN_HOST, REGEX_HOST, REWRITE_HOST];

fn marker(i: usize) -> String {
    format!("route-{i:03}-x")
}

/// The routes in Sluice's precedence order for regex hosts (longer first, then by text
/// descending), which is the order ingress-nginx writes regex locations in.
fn regex_order() -> Vec<(usize, &'static str)> {
    let mut order: Vec<(usize, &str)> =
        REGEX.iter().enumerate().map(|(i, p)| (PLAIN.len() + i, *p)).collect();
    order.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| b.1.cmp(a.1)));
    order
}

/// The routes of the rewrite host in Sluice's (and ingress-nginx's) order, with their index.
fn rewrite_order() -> Vec<(usize, &'static str, &'static str)> {
    let first = PLAIN.len() + REGEX.len();
    let mut order: Vec<_> = REWRITE.iter().enumerate().map(|(i, (p, t))| (first + i, *p, *t)).collect();
    order.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| b.1.cmp(a.1)));
    order
}

/// A location body: proxy to the echo backend with the route's marker, as ingress-nginx
/// proxies (`proxy_pass` without a URI part: the client's request-target goes upstream).
fn proxied(i: usize) -> String {
    format!(
        "{{ proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Host $http_host; \
         proxy_set_header X-Forwarded-Prefix {}; }}",
        marker(i)
    )
}

/// nginx's configuration: what ingress-nginx renders for these Ingresses.
fn nginx_conf(dir: &Path, port: u16, backend_port: u16) -> String {
    let d = dir.display();
    let mut conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  default_type text/plain;\n\
         client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
         uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         upstream echo {{ server 127.0.0.2:{backend_port}; keepalive 8; }}\n"
    );
    let _ = writeln!(conf, "  server {{\n    listen 127.0.0.1:{port};\n    server_name {PLAIN_HOST};");
    for (i, (kind, path)) in PLAIN.iter().enumerate() {
        let body = proxied(i);
        match *kind {
            "Exact" => {
                let _ = writeln!(conf, "    location = {path} {body}");
            }
            "Prefix" => {
                let _ = writeln!(conf, "    location = {path} {body}");
                let _ = writeln!(conf, "    location {path}/ {body}");
            }
            _ => {
                let _ = writeln!(conf, "    location {path} {body}");
            }
        }
    }
    conf.push_str("  }\n");
    let _ = writeln!(conf, "  server {{\n    listen 127.0.0.1:{port};\n    server_name {REGEX_HOST};");
    for (i, path) in regex_order() {
        let _ = writeln!(conf, "    location ~* \"^{path}\" {}", proxied(i));
    }
    conf.push_str("  }\n");
    let _ = writeln!(conf, "  server {{\n    listen 127.0.0.1:{port};\n    server_name {REWRITE_HOST};");
    for (i, path, target) in rewrite_order() {
        let body = proxied(i).replacen('{', &format!("{{ rewrite \"(?i){path}\" {target} break;"), 1);
        let _ = writeln!(conf, "    location ~* \"^{path}\" {body}");
    }
    conf.push_str("  }\n}\n");
    conf
}

/// A running nginx, stopped by its PID on drop.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Nginx {
    async fn start(backend_port: u16) -> Nginx {
        let binary = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("nginx is not installed (scripts/test.sh installs Debian's nginx-light)");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, nginx_conf(dir.path(), port, backend_port)).expect("write nginx.conf");
        let mut child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nginx");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        for _ in 0..200 {
            if TcpStream::connect(addr).await.is_ok() {
                return Nginx { child, addr, _dir: dir };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a proxy did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Served by the location or route with this index.
    Route(usize),
    /// Answered with this status and no route marker.
    Status(u16),
    /// No parsable answer.
    Broken(String),
}

/// Sends one raw request (the target byte for byte) and reads the answer to the end.
async fn send(addr: SocketAddr, host: &str, target: &[u8]) -> (Outcome, Vec<u8>) {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target);
    request.extend_from_slice(format!(" HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes());
    let (status, text) = match raw_exchange(addr, &request).await {
        Ok(answer) => answer,
        Err(e) => return (Outcome::Broken(e), Vec::new()),
    };
    let route = text.find("route-").and_then(|at| text.get(at + 6..at + 9)).and_then(|n| n.parse().ok());
    match (status, route) {
        (200, Some(i)) => (Outcome::Route(i), text.into_bytes()),
        _ => (Outcome::Status(status), text.into_bytes()),
    }
}

/// The request-URI the echo backend saw, from its JSON answer.
fn upstream_uri(answer: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(answer);
    let json: serde_json::Value = serde_json::from_str(&text[text.find('{')?..]).ok()?;
    json["uri"].as_str().map(str::to_owned)
}

/// SplitMix64: a fixed seed gives the same paths on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "admin", "ADMIN", "Admin", "a", "b", "ab", "exact", "img", "app", "x", "y", "z", "api", "API", "v1",
    "v22", "static", "s.css", "u", "bob", "profile", "login", "é", "x;y", "~", "a+b", "..a", "a..", "...",
];
/// First segments that lead somewhere on one of the hosts.
const STARTS: &[&str] = &["admin", "a", "exact", "img", "app", "x", "api", "static", "u", "ab", "é"];
const ODD: &[&str] = &[
    "", ".", "..", "%2e", "%2E", "%2e%2e", ".%2E", "%2f", "%2F", "%25", "%252e", "%00", ";", "%3b", "%3f",
    "%23", "%20", "%zz", "%", "%4", "%C3%A9", "%c3%a9", "%ff", "%e9", "\u{e9}", "%61", "%41", "%2fadmin",
    // Bytes nginx takes raw, and bytes it refuses in a request line.
    "\"", "<>", "\\", "^", "`", "{|}", "a b", "\t", "\u{7f}", "\u{1}",
];

/// Paths that some route serves, to be respelled.
const TEMPLATES: &[&str] = &[
    "/a/b",
    "/admin/login",
    "/admin",
    "/admin/x",
    "/x/y/z",
    "/x/y",
    "/static/s.css",
    "/u/bob/profile",
    "/api/v1",
    "/api/v22/x",
    "/exact",
    "/img/a",
    "/ab",
    "/app/é",
    "/é/a",
    "/x;y",
    "/api",
    "/api/a b/c",
    "/old/x/y/z",
    "/old/é/q",
    "/keep/it",
    "/API/q%r",
];
/// Noise put before a segment: each leaves the path's meaning unchanged in nginx.
const NOISE: &[&str] = &["./", "%2e/", "x/../", "x/%2e%2e/", "zz/.%2e/", "/", "%2f", ".%2f", "q/..%2f"];

/// A template path respelled: noise before some segments and some bytes percent-encoded.
fn respell(rng: &mut Rng) -> String {
    let template = rng.pick(TEMPLATES);
    let mut target = String::new();
    for segment in template.split('/').skip(1) {
        target.push('/');
        if rng.below(3) == 0 {
            target.push_str(rng.pick(NOISE));
        }
        for ch in segment.chars() {
            if rng.below(8) == 0 {
                let mut buf = [0u8; 4];
                for b in ch.encode_utf8(&mut buf).bytes() {
                    target.push_str(&format!("%{b:02X}"));
                }
            } else {
                target.push(ch);
            }
        }
    }
    if rng.below(4) == 0 {
        target.push_str(rng.pick(&["/", "/.", "/..", "/%2e", "//"]));
    }
    target
}

/// One generated request-target: a respelled route path, or segments of words and odd tokens
/// joined by one or more slashes (some percent-encoded); sometimes a query, sometimes very
/// long.
fn generate(rng: &mut Rng) -> Vec<u8> {
    if rng.below(2) == 0 {
        let mut target = respell(rng);
        if rng.below(10) == 0 {
            target.push_str("?a=%2e%2e/&b=1");
        }
        return target.into_bytes();
    }
    let mut target = String::new();
    let segments = 1 + rng.below(5);
    for n in 0..segments {
        let slashes = [1, 1, 1, 1, 2, 3][rng.below(6)];
        target.push_str(&"/".repeat(slashes));
        let word = match rng.below(3) {
            0 => rng.pick(ODD),
            1 if n == 0 => rng.pick(STARTS),
            _ => rng.pick(WORDS),
        };
        if rng.below(6) == 0 && !word.is_empty() && word.is_ascii() && !word.contains('%') {
            // Encode one byte of the word.
            let at = rng.below(word.len());
            let (head, tail) = word.split_at(at);
            let byte = tail.as_bytes()[0];
            let escaped = if rng.below(2) == 0 { format!("%{byte:02x}") } else { format!("%{byte:02X}") };
            target.push_str(head);
            target.push_str(&escaped);
            target.push_str(&tail[1..]);
        } else {
            target.push_str(word);
        }
    }
    if rng.below(8) == 0 {
        target.push('/');
    }
    if rng.below(60) == 0 {
        // Over long: 3 KB (served) or 12 KB (414 from both).
        let repeat = if rng.below(2) == 0 { 600 } else { 2_400 };
        target.push_str(&"/abcd".repeat(repeat));
    }
    match rng.below(10) {
        0 => target.push_str("?q=/../admin"),
        1 => target.push_str("?%2e%2e"),
        _ => {}
    }
    target.into_bytes()
}

/// An Ingress with one `use-regex` path, marked as route `i`, with `extra` annotations.
fn regex_ingress(name: &str, host: &str, path: &str, i: usize, extra: &[(&str, &str)]) -> String {
    let quoted = serde_json::to_string(path).expect("json");
    let yaml = ingress(name, host, &[("ImplementationSpecific", &quoted, "echo")]);
    let marker = marker(i);
    let mut annotations = vec![
        ("nginx.ingress.kubernetes.io/x-forwarded-prefix", marker.as_str()),
        ("nginx.ingress.kubernetes.io/use-regex", "true"),
    ];
    annotations.extend_from_slice(extra);
    annotate(&yaml, &annotations)
}

/// The echo backend, nginx in front of it, and Sluice on the same Ingresses.
async fn start_both() -> (Backends, Nginx, Sluice) {
    let backends = Backends::start("echo", &["127.0.0.2"]).await;
    let nginx = Nginx::start(backends.port).await;
    let files = sluice_manifests(backends.port);
    let files: Vec<(&str, String)> = files.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let sluice = Sluice::start(manifests(&files)).await;
    (backends, nginx, sluice)
}

fn sluice_manifests(backend_port: u16) -> Vec<(String, String)> {
    let mut files = vec![
        ("class.yaml".to_owned(), ingress_class()),
        ("svc.yaml".to_owned(), service("echo", backend_port, &["127.0.0.2"], true)),
    ];
    for (i, (kind, path)) in PLAIN.iter().enumerate() {
        let yaml = ingress(&format!("plain-{i}"), PLAIN_HOST, &[(kind, &format!("\"{path}\""), "echo")]);
        let yaml = annotate(&yaml, &[("nginx.ingress.kubernetes.io/x-forwarded-prefix", &marker(i))]);
        files.push((format!("plain-{i}.yaml"), yaml));
    }
    for (i, path, target) in rewrite_order() {
        let rewrite = [("nginx.ingress.kubernetes.io/rewrite-target", target)];
        files.push((
            format!("rw-{i}.yaml"),
            regex_ingress(&format!("rw-{i}"), REWRITE_HOST, path, i, &rewrite),
        ));
    }
    for (j, path) in REGEX.iter().enumerate() {
        let i = PLAIN.len() + j;
        files.push((
            format!("regex-{j}.yaml"),
            regex_ingress(&format!("regex-{j}"), REGEX_HOST, path, i, &[]),
        ));
    }
    files
}

#[tokio::test]
#[ignore = "needs nginx: scripts/test.sh installs it and runs this test"]
async fn sluice_picks_the_location_nginx_picks_for_every_spelling_of_a_path() {
    let cases: usize = std::env::var("SLUICE_DIFF_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let seed: u64 = std::env::var("SLUICE_DIFF_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x51u64);
    let (_backends, nginx, sluice) = start_both().await;

    let mut rng = Rng(seed);
    let mut requests: Vec<(&str, Vec<u8>)> =
        (0..cases).map(|_| (HOSTS[rng.below(HOSTS.len())], generate(&mut rng))).collect();
    // The spellings from the report, on both hosts.
    for spelling in
        ["/admin", "//admin", "/./admin", "/x/../admin", "/%61dmin", "/%2e/admin", "/x/%2e%2e/admin"]
    {
        requests.push((PLAIN_HOST, spelling.as_bytes().to_vec()));
        requests.push((REGEX_HOST, spelling.as_bytes().to_vec()));
    }
    let (theirs_at, ours_at) = (nginx.addr, sluice.http);
    let results: Vec<_> = stream::iter(requests.iter())
        .map(|(host, target)| async move {
            let (theirs, their_answer) = send(theirs_at, host, target).await;
            let (ours, answer) = send(ours_at, host, target).await;
            (*host, target, theirs, ours, (their_answer, answer))
        })
        .buffer_unordered(8)
        .collect()
        .await;

    let mut mismatches = Vec::new();
    let mut routed = 0;
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for (host, target, theirs, ours, answers) in &results {
        let shown = String::from_utf8_lossy(&target[..target.len().min(120)]).into_owned();
        *tally.entry(format!("{theirs:?}").chars().take(16).collect()).or_default() += 1;
        if theirs != ours {
            mismatches.push(format!("{host} {shown}: nginx {theirs:?}, sluice {ours:?}"));
            continue;
        }
        if let Outcome::Route(_) = ours {
            routed += 1;
            // The upstream gets what nginx sends it: the client's request-target as sent, or
            // the rewritten URI.
            let (theirs_up, ours_up) = (upstream_uri(&answers.0), upstream_uri(&answers.1));
            if theirs_up.is_none() || theirs_up != ours_up {
                mismatches
                    .push(format!("{host} {shown}: upstream got {ours_up:?}, from nginx {theirs_up:?}"));
            }
        }
    }
    eprintln!("{} requests, {routed} routed to the same location, outcomes: {tally:?}", results.len());
    assert!(
        mismatches.is_empty(),
        "{} of {} requests differ (seed {seed}):\n{}",
        mismatches.len(),
        results.len(),
        mismatches.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(routed > results.len() / 5, "too few routed requests ({routed}) for the test to mean much");
}

/// Hostile request heads that nginx refuses or serves in a particular way: Sluice must answer
/// each with nginx's status (request smuggling shapes, malformed lines and headers, methods).
/// The known differences, all refusals where nginx serves or a different refusal code, are
/// listed in the README's security model.
#[tokio::test]
#[ignore = "needs nginx: scripts/test.sh installs it and runs this test"]
async fn hostile_request_heads_get_the_answer_nginx_gives() {
    let (_backends, nginx, sluice) = start_both().await;
    let h = "Host: plain.test\r\nConnection: close\r\n";
    let probes: Vec<(&str, String)> = vec![
        ("plain", format!("GET /admin HTTP/1.1\r\n{h}\r\n")),
        ("Transfer-Encoding with Content-Length", format!("POST /admin HTTP/1.1\r\n{h}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
        ("two different Content-Lengths", format!("POST /admin HTTP/1.1\r\n{h}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde")),
        ("two equal Content-Lengths", format!("POST /admin HTTP/1.1\r\n{h}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd")),
        ("Content-Length list", format!("POST /admin HTTP/1.1\r\n{h}Content-Length: 4, 4\r\n\r\nabcd")),
        ("Content-Length +4", format!("POST /admin HTTP/1.1\r\n{h}Content-Length: +4\r\n\r\nabcd")),
        ("Content-Length -1", format!("POST /admin HTTP/1.1\r\n{h}Content-Length: -1\r\n\r\n")),
        ("chunked in HTTP/1.0", "POST /admin HTTP/1.0\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into()),
        ("space before a colon", "POST /admin HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding : chunked\r\nConnection: close\r\n\r\n0\r\n\r\n".into()),
        ("space before the Host colon", "GET /admin HTTP/1.1\r\nHost : plain.test\r\nConnection: close\r\n\r\n".into()),
        ("obsolete line folding", format!("GET /admin HTTP/1.1\r\n{h}X-A: b\r\n c\r\n\r\n")),
        ("bare LF line ends", "GET /admin HTTP/1.1\nHost: plain.test\nConnection: close\n\n".into()),
        ("NUL in a header value", format!("GET /admin HTTP/1.1\r\n{h}X-A: b\0c\r\n\r\n")),
        ("empty header name", format!("GET /admin HTTP/1.1\r\n{h}: x\r\n\r\n")),
        ("tab in Host", "GET /admin HTTP/1.1\r\nHost: plain\ttest\r\nConnection: close\r\n\r\n".into()),
        ("lower-case method", format!("get /admin HTTP/1.1\r\n{h}\r\n")),
        ("TRACE", format!("TRACE /admin HTTP/1.1\r\n{h}\r\n")),
        ("OPTIONS *", format!("OPTIONS * HTTP/1.1\r\n{h}\r\n")),
        ("chunk extension", format!("POST /admin HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n4;x=1\r\nabcd\r\n0\r\n\r\n")),
        ("bad chunk size", format!("POST /admin HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n")),
        ("overflowing chunk size", format!("POST /admin HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabcd\r\n0\r\n\r\n")),
        ("space in the target", format!("GET /ad min HTTP/1.1\r\n{h}\r\n")),
        ("tab in the target", format!("GET /ad\tmin HTTP/1.1\r\n{h}\r\n")),
        ("DEL in the target", format!("GET /ad\x7fmin HTTP/1.1\r\n{h}\r\n")),
        ("absolute https target", format!("GET https://plain.test/admin HTTP/1.1\r\n{h}\r\n")),
        ("absolute target, other Host", "GET http://plain.test/admin HTTP/1.1\r\nHost: regex.test\r\nConnection: close\r\n\r\n".into()),
        ("absolute target, bad authority", format!("GET http://pla..in/admin HTTP/1.1\r\n{h}\r\n")),
    ];
    let mut differences = Vec::new();
    for (name, request) in &probes {
        let theirs = raw_exchange(nginx.addr, request.as_bytes()).await.map(|(s, _)| s);
        let ours = raw_exchange(sluice.http, request.as_bytes()).await.map(|(s, _)| s);
        if theirs != ours {
            differences.push(format!("{name}: nginx {theirs:?}, sluice {ours:?}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
