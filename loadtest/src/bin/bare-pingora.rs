//! `bare-pingora`: the smallest Pingora proxy (one `upstream_peer`, nothing else), built from the
//! workspace with the same (patched) Pingora and allocator as `sluice`, so the side-by-side run
//! shows what Sluice's own features cost on top of Pingora's. `LISTEN` (127.0.0.1:6188),
//! `UPSTREAM` (127.0.0.1:8081) and `THREADS` (1) configure it; it proxies every request to the
//! one upstream over pooled keep-alive connections.

use async_trait::async_trait;
use pingora::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The proxy: every request goes to `upstream`.
struct Bare {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream.as_str(), false, String::new())))
    }
}

fn main() {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let listen = env("LISTEN", "127.0.0.1:6188");
    let upstream = env("UPSTREAM", "127.0.0.1:8081");
    let threads = env("THREADS", "1").parse().unwrap_or(1);
    let conf = pingora::server::configuration::ServerConf { work_stealing: false, ..Default::default() };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = http_proxy_service(&server.configuration, Bare { upstream });
    service.add_tcp(&listen);
    service.threads = Some(threads);
    server.add_service(service);
    server.run_forever();
}
