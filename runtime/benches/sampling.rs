//! The cost of picking a token against the cost of a step, in the same run:
//! the shipped `fortunes-word` (5,002 words; its head is the largest product
//! of the step), one step, a product of the head's shape and density alone
//! (5002 x 256, a random quarter of the 8x4 blocks kept), then greedy
//! decoding, top-k 40, top-p 0.9 and plain temperature sampling on that
//! step's logits, and the top 5 words with their probabilities (next-word
//! suggestions).
//! `cargo bench -p edgegru-runtime --features std --bench sampling`.

use criterion::{criterion_group, criterion_main, Criterion};
use edgegru_runtime::kernels::{block8x4_i8, Block8x4};
use edgegru_runtime::{Model, Rng, SamplingParams, Session, TokenProb};
use std::hint::black_box;
use std::time::Duration;

fn bench_sampling(c: &mut Criterion) {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/fortunes-word.egru")).expect("models/fortunes-word.egru");
    let model = Model::from_bytes(&bytes).expect("model loads");
    let mut arena = vec![0u8; model.arena_size()];
    let mut session = Session::new(&model, &mut arena).expect("session");
    session.feed("The meaning of life is").expect("prompt");
    let mut group = c.benchmark_group("sampling_fortunes_word");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    let mut token = 2u32;
    group.bench_function("step", |b| {
        b.iter(|| {
            let logits = session.step(token).expect("step");
            token = 2 + (logits[0].to_bits() & 63);
        })
    });
    let head = HeadLike::new(5002, 256);
    let table = head.matrix();
    let (x, mut acc) = (vec![1i8; 256], vec![0i32; 5002]);
    let isa = model.isa();
    group.bench_function("head_product", |b| b.iter(|| block8x4_i8(isa, &table, black_box(&x), &mut acc)));
    // The same logits for every sampling bench, whatever the step bench ran.
    session.reset();
    session.feed("The meaning of life is").expect("prompt");
    let at = |temperature, top_k, top_p| SamplingParams { temperature, top_k, top_p, ..SamplingParams::GREEDY };
    let mut rng = Rng::new(7);
    for (name, params) in [
        ("greedy", SamplingParams::GREEDY),
        ("top_k_40", at(0.8, 40, 1.0)),
        ("top_p_0.9", at(0.8, 0, 0.9)),
        ("top_k_40_top_p_0.9", at(0.8, 40, 0.9)),
        ("temperature", at(0.8, 0, 1.0)),
    ] {
        group.bench_function(name, |b| b.iter(|| black_box(session.sample(&params, &mut rng).expect("sample"))));
    }
    let mut out = [TokenProb::default(); 5];
    group.bench_function("top_5_words", |b| b.iter(|| black_box(session.top_k_next(&mut out, false).expect("top 5"))));
    group.finish();
}

/// The tables of a block-sparse matrix with a random quarter of its 8x4
/// blocks kept (the shipped head's density).
struct HeadLike {
    rows: usize,
    cols: usize,
    row_blocks: Vec<u8>,
    block_cols: Vec<u8>,
    blocks: Vec<i8>,
}

impl HeadLike {
    fn new(rows: usize, cols: usize) -> Self {
        let mut rng = Rng::new(11);
        let (mut row_blocks, mut block_cols, mut blocks) = (0u32.to_le_bytes().to_vec(), Vec::new(), Vec::new());
        let mut count = 0u32;
        for _ in 0..rows.div_ceil(8) {
            for g in 0..cols / 4 {
                if rng.next_f32() < 0.25 {
                    block_cols.extend_from_slice(&(g as u16).to_le_bytes());
                    blocks.extend((0..32).map(|_| ((rng.next_u64() % 255) as i32 - 127) as i8));
                    count += 1;
                }
            }
            row_blocks.extend_from_slice(&count.to_le_bytes());
        }
        HeadLike { rows, cols, row_blocks, block_cols, blocks }
    }

    fn matrix(&self) -> Block8x4<'_> {
        Block8x4::new(self.rows, self.cols, &self.row_blocks, &self.block_cols, &self.blocks).expect("valid tables")
    }
}

criterion_group!(benches, bench_sampling);
criterion_main!(benches);
