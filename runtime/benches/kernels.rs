//! The int8 products alone, at the shape of config A's recurrent matrix
//! (768 x 256): dense against 75% of the 8x4 blocks pruned at random, per
//! kernel set this CPU has, in the same run. Divide by the block count it
//! prints to get the time per block. `cargo bench -p edgegru-runtime --features std --bench kernels`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use edgegru_runtime::kernels::{block8x4_i8, matvec_i8, Block8x4};
use edgegru_runtime::{Isa, Rng};

const ROWS: usize = 768;
const COLS: usize = 256;

fn random_i8(rng: &mut Rng) -> i8 {
    ((rng.next_u64() % 255) as i32 - 127) as i8
}

fn bench_kernels(c: &mut Criterion) {
    let mut rng = Rng::new(5);
    let dense: Vec<i8> = (0..ROWS * COLS).map(|_| random_i8(&mut rng)).collect();
    let x: Vec<i8> = (0..COLS).map(|_| random_i8(&mut rng)).collect();
    // Keep a random quarter of the blocks of every row block.
    let (mut row_blocks, mut block_cols, mut blocks) = (0u32.to_le_bytes().to_vec(), Vec::new(), Vec::new());
    let mut count = 0u32;
    for rb in 0..ROWS / 8 {
        for g in 0..COLS / 4 {
            if rng.next_f32() < 0.25 {
                block_cols.extend_from_slice(&(g as u16).to_le_bytes());
                for r in 0..8 {
                    blocks.extend_from_slice(&dense[(rb * 8 + r) * COLS + g * 4..][..4]);
                }
                count += 1;
            }
        }
        row_blocks.extend_from_slice(&count.to_le_bytes());
    }
    let sparse = Block8x4::new(ROWS, COLS, &row_blocks, &block_cols, &blocks).expect("valid tables");
    let mut acc = vec![0i32; ROWS];
    let mut group = c.benchmark_group(format!("int8_768x256_{}_blocks_of_{}", sparse.block_count(), ROWS / 8 * COLS / 4));
    for isa in Isa::ALL.into_iter().filter(|isa| isa.is_available()) {
        group.bench_function(BenchmarkId::new("dense", isa.name()), |b| b.iter(|| matvec_i8(isa, &dense, COLS, &x, &mut acc)));
        group.bench_function(BenchmarkId::new("sparse75", isa.name()), |b| b.iter(|| block8x4_i8(isa, &sparse, &x, &mut acc)));
    }
    group.finish();
}

criterion_group!(benches, bench_kernels);
criterion_main!(benches);
