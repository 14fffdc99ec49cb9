//! `RoutingTable::lookup` for 1, 100 and 10k hosts with several paths each: exact hosts,
//! wildcard hosts, and a miss. Inputs (tables, request lists) are built before the timed loop.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sluice_benches::{snapshot, HostKind};
use sluice_controller::{translate, Options};

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    for hosts in [1usize, 100, 10_000] {
        for kind in [HostKind::Exact, HostKind::Wildcard] {
            let table =
                translate(&snapshot(hosts, hosts, kind), &Options::default(), SystemTime::now()).table;
            let requests: Vec<(String, &str)> = (0..1024)
                .map(|n| {
                    let i = (n * 7919) % hosts;
                    let host = match kind {
                        HostKind::Exact => format!("app-{i}.example.com"),
                        HostKind::Wildcard => format!("www.app-{i}.example.com"),
                    };
                    (host, ["/", "/api/v1/users", "/static/app.js", "/login", "/other"][n % 5])
                })
                .collect();
            let name = format!("{kind:?}").to_lowercase();
            group.bench_with_input(BenchmarkId::new(name, hosts), &requests, |b, reqs| {
                let mut n = 0;
                b.iter(|| {
                    let (host, path) = &reqs[n % reqs.len()];
                    n += 1;
                    black_box(table.lookup(black_box(host), black_box(path)))
                })
            });
        }
        let table =
            translate(&snapshot(hosts, hosts, HostKind::Exact), &Options::default(), SystemTime::now()).table;
        group.bench_function(BenchmarkId::new("miss", hosts), |b| {
            b.iter(|| black_box(table.lookup(black_box("unknown.example.org:8080"), black_box("/x"))))
        });
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
