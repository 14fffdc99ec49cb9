//! `translate` for 1k and 10k Ingresses with 50k endpoints in total (the snapshot is built
//! before the timed loop), and `translate_incremental` for one edited Ingress among them.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sluice_benches::{snapshot, HostKind};
use std::sync::Arc;

use sluice_controller::{translate, translate_incremental, Options, Previous};

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
    for ingresses in [1_000usize, 10_000] {
        let before = snapshot(ingresses, 50_000, HostKind::Exact);
        let options = Options::default();
        let live = translate(&before, &options, SystemTime::now());
        let mut after = before.clone();
        let (key, first) =
            after.ingresses.iter().next().map(|(k, v)| (k.clone(), v.clone())).expect("an Ingress");
        let mut edited = (*first).clone();
        let rule =
            edited.spec.as_mut().and_then(|s| s.rules.as_mut()).and_then(|r| r.first_mut()).expect("a rule");
        let path = rule.http.as_mut().and_then(|h| h.paths.first_mut()).expect("a path");
        path.path = Some("/edited".into());
        after.ingresses.insert(key, Arc::new(edited));
        group.bench_with_input(BenchmarkId::new("one_edit_incremental", ingresses), &after, |b, after| {
            b.iter(|| {
                let previous = Previous { snapshot: &before, table: &live.table, warnings: &live.warnings };
                black_box(translate_incremental(Some(previous), after, &options, SystemTime::now()))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, translate_bench);
criterion_main!(benches);
