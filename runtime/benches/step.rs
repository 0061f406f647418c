//! Step latency at config A (vocab 98 chars, emb 64, hidden 256, dense 256),
//! one thread, state carried across steps: f32 vs int8 vs int8 with 75% of
//! the 8x4 blocks pruned, in the same run. `cargo bench -p edgegru-runtime --features std,writer`.
//!
//! Each sample reports its fastest chunk of [`CHUNK`] steps, scaled to the
//! sample's iterations, and each file is measured for 8 seconds. A shared
//! machine switches between a fast and a slow state, each lasting from a
//! fraction of a second to several seconds (in the slow one a step takes
//! 1.4-1.7x longer), and criterion measures the files one after the other, so
//! plain means would compare one file's fast spells with another's slow ones;
//! the fastest chunks give each file's speed when nothing else competes for
//! the core. `edgegru bench` interleaves the files instead and reports medians.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use edgegru_runtime::writer::ExportOptions;
use edgegru_runtime::{Model, Rng, Session};
use std::time::{Duration, Instant};

/// 98 printable characters, like the fortunes character vocabulary.
fn config_a_chars() -> String {
    (32u8..127).map(char::from).chain(['\n', '\t', '’']).collect()
}

/// Zeroes a random `fraction` of the 8x4 blocks of a `[rows, cols]` matrix.
fn prune_blocks(w: &mut [f32], rows: usize, cols: usize, fraction: f32, rng: &mut Rng) {
    for rb in 0..rows.div_ceil(8) {
        for g in 0..cols.div_ceil(4) {
            if rng.next_f32() < fraction {
                for r in rb * 8..(rb * 8 + 8).min(rows) {
                    for c in g * 4..(g * 4 + 4).min(cols) {
                        w[r * cols + c] = 0.0;
                    }
                }
            }
        }
    }
}

/// Steps per timed chunk (about 0.5-5 ms).
const CHUNK: u64 = 200;

fn bench_step(c: &mut Criterion) {
    let fm = edgegru_tests::random_char(&config_a_chars(), 64, 256, 256, 7);
    let mut pruned = fm.clone();
    let mut rng = Rng::new(1);
    let (v, e, h, d) = (98, 64, 256, 256);
    prune_blocks(&mut pruned.grus[0].input, 3 * h, e, 0.75, &mut rng);
    prune_blocks(&mut pruned.grus[0].recurrent, 3 * h, h, 0.75, &mut rng);
    prune_blocks(&mut pruned.dense[0].weight, d, h, 0.75, &mut rng);
    prune_blocks(&mut pruned.head.weight, v, d, 0.75, &mut rng);
    let files = [
        ("f32", fm.to_checked_bytes(&ExportOptions::default()).expect("f32 file")),
        ("int8", fm.to_checked_bytes(&ExportOptions::int8(false)).expect("int8 file")),
        ("int8-sparse75", pruned.to_checked_bytes(&ExportOptions::int8(true)).expect("sparse file")),
    ];
    let mut group = c.benchmark_group("step_config_a");
    group.warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(8));
    for (name, bytes) in &files {
        let model = Model::from_bytes(bytes).expect("model loads");
        let mut arena = vec![0u8; model.arena_size()];
        let mut session = Session::new(&model, &mut arena).expect("session");
        let mut token = 0u32;
        group.bench_function(BenchmarkId::new(*name, model.isa().name()), |b| {
            b.iter_custom(|iters| {
                let mut fastest = Duration::MAX;
                let mut done = 0;
                while done < iters {
                    let n = CHUNK.min(iters - done);
                    let start = Instant::now();
                    for _ in 0..n {
                        let logits = session.step(token).expect("step");
                        token = (token + 1 + (logits[0].to_bits() & 7)) % 98;
                    }
                    fastest = fastest.min(start.elapsed() / n as u32);
                    done += n;
                }
                fastest * iters as u32
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_step);
criterion_main!(benches);
