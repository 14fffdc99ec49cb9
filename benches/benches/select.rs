//! Endpoint selection: round robin over 1, 10 and 1,000 endpoints, and the retry path that
//! avoids a failed endpoint.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sluice_controller::{Backend, BackendKey};

fn select(c: &mut Criterion) {
    let mut group = c.benchmark_group("select");
    for n in [1usize, 10, 1_000] {
        let endpoints = (0..n).map(|i| SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 8080))).collect();
        let key = BackendKey { namespace: "ns".into(), service: "svc".into(), port: "80".into() };
        let backend = Backend::new(key, endpoints);
        let failed = backend.endpoints.first().copied();
        group.bench_with_input(BenchmarkId::new("round_robin", n), &backend, |b, backend| {
            b.iter(|| black_box(backend.select(None)))
        });
        group.bench_with_input(BenchmarkId::new("avoiding_failed", n), &backend, |b, backend| {
            b.iter(|| black_box(backend.select(black_box(failed))))
        });
    }
    group.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);
