//! `translate` for 1k and 10k Ingresses with 50k endpoints in total (the snapshot is built
//! before the timed loop).

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sluice_benches::{snapshot, HostKind};
use sluice_controller::{translate, Options};

fn translate_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("translate");
    group.sample_size(10);
    for ingresses in [1_000usize, 10_000] {
        let snap = snapshot(ingresses, 50_000, HostKind::Exact);
        let options = Options::default();
        group.bench_with_input(BenchmarkId::new("ingresses_50k_endpoints", ingresses), &snap, |b, snap| {
            b.iter(|| black_box(translate(snap, &options, SystemTime::now())))
        });
    }
    group.finish();
}

criterion_group!(benches, translate_bench);
criterion_main!(benches);
