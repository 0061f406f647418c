//! Every SIMD kernel against the scalar one, on every kernel set this CPU runs.

use super::*;
use crate::sampling::Rng;

fn available() -> impl Iterator<Item = Isa> {
    Isa::ALL.into_iter().filter(|isa| isa.is_available())
}

fn random_i8(rng: &mut Rng, n: usize, lo: i32, hi: i32) -> std::vec::Vec<i8> {
    (0..n).map(|_| (lo + (rng.next_u64() % (hi - lo + 1) as u64) as i32) as i8).collect()
}

/// Shapes that cover the SIMD main loops, their tails (of 16 columns and
/// fewer), the 4-row groups, the 8-row groups of 16 columns and the 4-row
/// groups of 64 and 256 with the inputs held in registers.
const SHAPES: [(usize, usize); 14] =
    [(1, 1), (3, 7), (4, 32), (5, 33), (8, 64), (13, 100), (768, 64), (19, 64), (102, 256), (9, 31), (6, 16), (19, 16), (7, 48), (5, 50)];

#[test]
fn int8_dense_kernels_equal_scalar_exactly() {
    let mut rng = Rng::new(1);
    for (rows, cols) in SHAPES {
        let w = random_i8(&mut rng, rows * cols, -127, 127);
        let x = random_i8(&mut rng, cols, -127, 127);
        let mut expected = vec![0i32; rows];
        scalar::matvec_i8(&w, cols, &x, &mut expected);
        for isa in available() {
            let mut got = vec![0i32; rows];
            matvec_i8(isa, &w, cols, &x, &mut got);
            assert_eq!(got, expected, "{} {rows}x{cols}", isa.name());
        }
    }
}

#[test]
fn int8_kernels_do_not_saturate_at_the_extremes() {
    // |w| = |x| = 127 in every lane: the largest pair sums vpmaddubsw can see.
    for (wv, xv) in [(-127i8, 127i8), (-127, -127), (127, 127), (127, -127)] {
        let (rows, cols) = (8, 96);
        let w = vec![wv; rows * cols];
        let x = vec![xv; cols];
        let want = wv as i32 * xv as i32 * cols as i32;
        for isa in available() {
            let mut got = vec![0i32; rows];
            matvec_i8(isa, &w, cols, &x, &mut got);
            assert!(got.iter().all(|&g| g == want), "{} w={wv} x={xv}: {got:?} != {want}", isa.name());
            let blocks = std::vec::Vec::from_iter(w.iter().map(|&v| v as u8));
            let t = (0..cols / 4).map(|g| g as u16).collect::<std::vec::Vec<_>>();
            let mut rb = vec![];
            rb.extend_from_slice(&0u32.to_le_bytes());
            rb.extend_from_slice(&((cols / 4) as u32).to_le_bytes());
            let bc: std::vec::Vec<u8> = t.iter().flat_map(|g| g.to_le_bytes()).collect();
            let m = Block8x4::new(rows, cols, &rb, &bc, bytemuck::cast_slice(&blocks)).expect("valid tables");
            block8x4_i8(isa, &m, &x, &mut got);
            assert!(got.iter().all(|&g| g == want), "sparse {} w={wv} x={xv}: {got:?}", isa.name());
        }
    }
}

#[test]
fn f32_kernels_match_scalar() {
    let mut rng = Rng::new(2);
    for (rows, cols) in SHAPES {
        let w: std::vec::Vec<f32> = (0..rows * cols).map(|_| rng.next_f32() - 0.5).collect();
        let x: std::vec::Vec<f32> = (0..cols).map(|_| rng.next_f32() - 0.5).collect();
        let wb: std::vec::Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut expected = vec![0f32; rows];
        scalar::matvec_f32(&wb, cols, &x, &mut expected);
        for isa in available() {
            let mut got = vec![0f32; rows];
            matvec_f32(isa, &wb, cols, &x, &mut got);
            for (g, e) in got.iter().zip(&expected) {
                // Summation order differs; the bound is relative to the terms' magnitudes.
                assert!((g - e).abs() <= 1e-5 * cols as f32, "{} {rows}x{cols}: {g} vs {e}", isa.name());
            }
        }
    }
}

/// A random block-sparse matrix: (row_blocks, block_cols, blocks).
fn random_sparse(rng: &mut Rng, rows: usize, cols: usize, density: f32) -> (std::vec::Vec<u8>, std::vec::Vec<u8>, std::vec::Vec<i8>) {
    let (mut rb, mut bc, mut blocks) = (vec![], vec![], vec![]);
    rb.extend_from_slice(&0u32.to_le_bytes());
    let mut n = 0u32;
    for _ in 0..rows.div_ceil(8) {
        for g in 0..cols.div_ceil(4) {
            if rng.next_f32() < density {
                bc.extend_from_slice(&(g as u16).to_le_bytes());
                blocks.extend(random_i8(rng, 32, -127, 127));
                n += 1;
            }
        }
        rb.extend_from_slice(&n.to_le_bytes());
    }
    (rb, bc, blocks)
}

#[test]
fn block_sparse_kernels_equal_scalar_and_the_dense_product() {
    let mut rng = Rng::new(3);
    for (rows, cols) in SHAPES {
        for density in [0.0, 0.1, 0.25, 1.0] {
            let (rb, bc, blocks) = random_sparse(&mut rng, rows, cols, density);
            let m = Block8x4::new(rows, cols, &rb, &bc, &blocks).expect("valid tables");
            let mut x = random_i8(&mut rng, cols.div_ceil(4) * 4, -127, 127);
            x[cols..].iter_mut().for_each(|v| *v = 0);
            // Dense equivalent, built from the blocks.
            let mut dense = vec![0i8; rows * cols];
            for b in 0..m.row_block_count() {
                for k in m.blocks_of(b) {
                    let g = m.block_col(k);
                    for i in 0..8 {
                        for j in 0..4 {
                            if b * 8 + i < rows && g * 4 + j < cols {
                                dense[(b * 8 + i) * cols + g * 4 + j] = blocks[k * 32 + i * 4 + j];
                            }
                        }
                    }
                }
            }
            // Padding weights (outside rows/cols) multiply zero inputs or are dropped.
            let mut expected = vec![0i32; rows];
            scalar::matvec_i8(&dense, cols, &x[..cols], &mut expected);
            let widened: std::vec::Vec<u8> = blocks.chunks_exact(32).flat_map(arm_dsp_layout::widen_block).collect();
            let mw = Block8x4::new_arm_dsp(rows, cols, &rb, &bc, &widened).expect("valid arm-dsp layout tables");
            for isa in available() {
                let mut got = vec![7i32; rows];
                block8x4_i8(isa, &m, &x, &mut got);
                assert_eq!(got, expected, "{} {rows}x{cols} density {density}", isa.name());
                let mut got = vec![7i32; rows];
                block8x4_i8(isa, &mw, &x, &mut got);
                assert_eq!(got, expected, "arm-dsp layout {} {rows}x{cols} density {density}", isa.name());
            }
        }
    }
}

#[test]
fn arm_dsp_layout_dense_products_equal_the_int8_products() {
    let mut rng = Rng::new(11);
    for (rows, cols) in SHAPES {
        let w = random_i8(&mut rng, rows * cols, -127, 127);
        let mut x = random_i8(&mut rng, cols.div_ceil(4) * 4, -127, 127);
        x[cols..].iter_mut().for_each(|v| *v = 0);
        let mut expected = vec![0i32; rows];
        scalar::matvec_i8(&w, cols, &x[..cols], &mut expected);
        let mut widened = vec![0u8; arm_dsp_layout::dense_bytes(rows, cols).unwrap()];
        arm_dsp_layout::widen_dense(&w, rows, cols, &mut widened);
        for r in 0..rows {
            for c in 0..cols {
                assert_eq!(
                    arm_dsp_layout::value_at(&widened, arm_dsp_layout::dense_offset(cols.div_ceil(4), r, c)),
                    w[r * cols + c] as i16
                );
            }
        }
        for isa in available() {
            let mut got = vec![7i32; rows];
            matvec_arm_dsp(isa, &widened, cols, &x, &mut got);
            assert_eq!(got, expected, "{} {rows}x{cols}", isa.name());
        }
        // A short weight buffer or input never panics: missing values count as zero.
        let mut got = vec![0i32; rows];
        matvec_arm_dsp(Isa::Scalar, &widened[..widened.len() / 2], cols, &x[..cols / 2], &mut got);
    }
}

#[test]
fn block_sparse_kernels_handle_every_block_count_in_a_row_block() {
    // Row blocks holding 0 to 11 blocks: every count of the 4-block main loop
    // and every tail length of 0 to 3 blocks, in increasing order and in
    // decreasing order (so the matrix also ends on short row blocks).
    let mut rng = Rng::new(11);
    let (rows, cols) = (8 * 12, 64);
    for counts in [(0..12u16).collect::<std::vec::Vec<_>>(), (0..12u16).rev().collect()] {
        let (mut rb, mut bc, mut blocks) = (vec![], vec![], vec![]);
        rb.extend_from_slice(&0u32.to_le_bytes());
        let mut n = 0u32;
        for &count in &counts {
            // Increasing column groups, spread over the 16 of the input.
            for g in 0..count {
                bc.extend_from_slice(&(g * 16 / count).to_le_bytes());
                blocks.extend(random_i8(&mut rng, 32, -127, 127));
            }
            n += u32::from(count);
            rb.extend_from_slice(&n.to_le_bytes());
        }
        let m = Block8x4::new(rows, cols, &rb, &bc, &blocks).expect("valid tables");
        let x = random_i8(&mut rng, cols, -127, 127);
        let mut want = vec![0i32; rows];
        scalar::block8x4_i8(&m, &x, &mut want);
        for (rows, &count) in want.chunks(8).zip(&counts) {
            assert_eq!(rows.iter().all(|&v| v == 0), count == 0, "a row block of {count} blocks: only empty ones sum to zero");
        }
        for isa in available() {
            let mut got = vec![7i32; rows];
            block8x4_i8(isa, &m, &x, &mut got);
            assert_eq!(got, want, "{} with row blocks of {counts:?} blocks", isa.name());
        }
    }
}

#[test]
fn detection_names_round_trip() {
    for isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
    assert!(Isa::Scalar.is_available());
    assert!(Isa::best().is_available());
}

/// The test command names the kernel sets the machine must run
/// (`EDGEGRU_EXPECT_KERNELS=avx2` on x86-64, `neon,neon-dot` under
/// `qemu-aarch64 -cpu max`), so that a build where SIMD silently fell back to
/// scalar fails instead of passing on the scalar kernels alone.
#[test]
fn expected_kernel_sets_are_available() {
    let Ok(names) = std::env::var("EDGEGRU_EXPECT_KERNELS") else {
        return;
    };
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let isa = Isa::from_name(name).unwrap_or_else(|| panic!("unknown kernel set {name}"));
        assert!(isa.is_available(), "kernel set {name} is expected on this machine but not available");
    }
}

#[test]
fn block_tables_are_checked_once_when_made() {
    let mut rng = Rng::new(4);
    let (rows, cols) = (16, 12);
    let (rb, bc, blocks) = random_sparse(&mut rng, rows, cols, 1.0);
    assert!(Block8x4::new(rows, cols, &rb, &bc, &blocks).is_ok());
    // A column group past the matrix (3 groups of 4 inputs: 0, 1, 2).
    let mut bad = bc.clone();
    bad[0..2].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(Block8x4::new(rows, cols, &rb, &bad, &blocks).unwrap_err(), Block8x4Error::Index { row_block: 0, value: 3, limit: 3 });
    // Groups out of order within a row block.
    let mut bad = bc.clone();
    bad[0..2].copy_from_slice(&2u16.to_le_bytes());
    assert!(matches!(Block8x4::new(rows, cols, &rb, &bad, &blocks), Err(Block8x4Error::Index { row_block: 0, .. })));
    // A row-block offset past the block count, and a decreasing one.
    let mut bad = rb.clone();
    bad[4..8].copy_from_slice(&7u32.to_le_bytes());
    assert!(matches!(Block8x4::new(rows, cols, &bad, &bc, &blocks), Err(Block8x4Error::Index { row_block: 0, value: 7, .. })));
    // Short tables.
    assert!(matches!(Block8x4::new(rows, cols, &rb[..8], &bc, &blocks), Err(Block8x4Error::Length { part: "row_blocks", .. })));
    assert!(matches!(Block8x4::new(rows, cols, &rb, &bc[..5], &blocks), Err(Block8x4Error::Length { part: "block_cols", .. })));
    assert!(matches!(Block8x4::new(rows, cols, &rb, &bc, &blocks[..40]), Err(Block8x4Error::Length { part: "blocks", .. })));
}

#[test]
fn block_sparse_kernels_skip_groups_beyond_a_short_input() {
    let mut rng = Rng::new(5);
    let (rows, cols) = (24, 40);
    let (rb, bc, blocks) = random_sparse(&mut rng, rows, cols, 0.5);
    let m = Block8x4::new(rows, cols, &rb, &bc, &blocks).expect("valid tables");
    let x = random_i8(&mut rng, 21, -127, 127);
    let mut expected = vec![0i32; rows];
    scalar::block8x4_i8(&m, &x, &mut expected);
    // The same as a zero-padded input that holds only the first 5 groups.
    let mut padded = x[..20].to_vec();
    padded.resize(cols, 0);
    let mut want = vec![0i32; rows];
    scalar::block8x4_i8(&m, &padded, &mut want);
    assert_eq!(expected, want);
    for isa in available() {
        let mut got = vec![7i32; rows];
        block8x4_i8(isa, &m, &x, &mut got);
        assert_eq!(got, expected, "{}", isa.name());
    }
}

#[test]
fn requantization_is_the_row_definition_and_leaves_rows_past_the_tables() {
    use crate::fixed::{requantize_row, Mul, ACT_FRAC, PRE_ACT_LIMIT};
    let mut rng = Rng::new(5);
    let to_act = Mul::from_ratio(3, 1000).times(Mul::pow2(ACT_FRAC as i32));
    let (rows, extra) = (37, 3);
    let scales: std::vec::Vec<u8> = (0..rows).flat_map(|r| (0.001f32 * (r + 1) as f32).to_le_bytes()).collect();
    // The last bias is table-short by one row: rows past `rows - 1` keep their sums.
    let bias: std::vec::Vec<u8> = (0..rows - 1).flat_map(|r| (r as f32 * 0.37 - 6.0).to_le_bytes()).collect();
    let sums: std::vec::Vec<i32> = (0..rows + extra).map(|_| (rng.next_u64() as i32) >> 10).collect();
    for isa in available() {
        let mut acc = sums.clone();
        requantize(isa, &mut acc, &scales, &bias, to_act, PRE_ACT_LIMIT);
        for (r, (&got, &sum)) in acc.iter().zip(&sums).enumerate() {
            let want = if r < rows - 1 {
                let word = |t: &[u8]| u32::from_le_bytes([t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3]]);
                requantize_row(to_act, sum, word(&scales), word(&bias), PRE_ACT_LIMIT)
            } else {
                sum
            };
            assert_eq!(got, want, "{} row {r}", isa.name());
            assert!(r >= rows - 1 || got.abs() <= PRE_ACT_LIMIT);
        }
    }
}

/// Rows of every kind for the requantization tests: scales and biases
/// (f32 LE) of every kind (zero, negative zero, subnormal, tiny, usual,
/// huge) and sums up to the i32 extremes.
fn rows_of_every_kind(rng: &mut Rng, rows: usize) -> (std::vec::Vec<u8>, std::vec::Vec<u8>, std::vec::Vec<i32>) {
    let special = [0.0f32, -0.0, 1e-40, 1e-30, 1e-5, 6e-5, 0.003, 0.0078, 0.0157, 0.5, 1.0, 2047.9, 2048.0, 1e9, -1e-5, -0.7, -3000.0];
    let mut pick = || -> f32 {
        let r = rng.next_u64();
        if r.is_multiple_of(3) {
            special[(r >> 8) as usize % special.len()]
        } else {
            (rng.next_f32() - 0.5) * 2f32.powi((r >> 16) as i32 % 24 - 14)
        }
    };
    let scales = (0..rows).flat_map(|_| pick().abs().to_le_bytes()).collect();
    let bias = (0..rows).flat_map(|_| pick().to_le_bytes()).collect();
    let sums = (0..rows)
        .map(|r| match r % 7 {
            0 => i32::MAX,
            1 => i32::MIN,
            2 => 0,
            _ => (rng.next_u64() as i32) >> (rng.next_u64() % 24),
        })
        .collect();
    (scales, bias, sums)
}

#[test]
fn requantization_of_every_kind_of_row_is_the_definition() {
    use crate::fixed::{requantize_row, Mul, ACT_FRAC, LOGIT_LIMIT, PRE_ACT_LIMIT};
    let mut rng = Rng::new(17);
    for (n, to_act) in [Mul::from_ratio(3, 1000), Mul::pow2(-7), Mul::from_ratio(1, 3), Mul::pow2(20), Mul::ZERO].into_iter().enumerate() {
        let to_act = to_act.times(Mul::pow2(ACT_FRAC as i32));
        let (scales, bias, sums) = rows_of_every_kind(&mut rng, 61);
        for limit in [PRE_ACT_LIMIT, LOGIT_LIMIT, 1, 1 << 30] {
            for isa in available() {
                let mut acc = sums.clone();
                requantize(isa, &mut acc, &scales, &bias, to_act, limit);
                for (r, (&got, &sum)) in acc.iter().zip(&sums).enumerate() {
                    let word = |t: &[u8]| u32::from_le_bytes([t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3]]);
                    let want = requantize_row(to_act, sum, word(&scales), word(&bias), limit);
                    assert_eq!(got, want, "{} multiplier {n} limit {limit} row {r}", isa.name());
                }
            }
        }
    }
}

#[test]
fn requantization_by_row_tables_is_the_definition_for_every_kind_of_row() {
    use crate::fixed::{Mul, ACT_FRAC, LOGIT_LIMIT, PRE_ACT_LIMIT};
    let mut rng = Rng::new(29);
    for to_act in [Mul::from_ratio(3, 1000), Mul::pow2(-7), Mul::from_ratio(1, 3), Mul::pow2(20), Mul::ZERO] {
        let to_act = to_act.times(Mul::pow2(ACT_FRAC as i32));
        // 91 rows: sixteen-row groups, an eight-row group and three rows by the definition.
        let (scales, bias, sums) = rows_of_every_kind(&mut rng, 91);
        requantize_tables_match_the_definition(&scales, &bias, &sums, to_act, &[PRE_ACT_LIMIT, LOGIT_LIMIT, 1, 1 << 30]);
    }
}

#[test]
fn requantization_of_usual_rows_by_row_tables_is_the_definition() {
    use crate::fixed::{Mul, ACT_FRAC, LOGIT_LIMIT, PRE_ACT_LIMIT};
    let mut rng = Rng::new(37);
    // Weight scales as trained models have them, by input scales that put
    // every row's shift in 1..=32, every one in 33..=62, and some of each in
    // one sixteen-row group: [`Mul::apply`]'s two usual cases, which the
    // sixteen-lane kernel takes in 32-bit lanes, lane by lane.
    type Expected = fn(&[i32]) -> bool;
    let kinds: [(u32, Expected); 3] = [
        (127, |s| s.iter().all(|&s| (1..=32).contains(&s))),
        (127 * 64, |s| s.iter().all(|&s| (33..=62).contains(&s))),
        (127 * 4, |s| s.chunks(16).any(|g| g.iter().any(|&s| s <= 32) && g.iter().any(|&s| s > 32))),
    ];
    for (divisor, expected) in kinds {
        let rows = 64;
        let scales: std::vec::Vec<u8> = (0..rows).flat_map(|_| (0.004 + 0.02 * rng.next_f32()).to_le_bytes()).collect();
        let bias: std::vec::Vec<u8> = (0..rows).flat_map(|_| (4.0 * rng.next_f32() - 2.0).to_le_bytes()).collect();
        let sums: std::vec::Vec<i32> = (0..rows)
            .map(|r| match r % 9 {
                // Every sixteen-row group but the third holds a sum that does
                // not fit after the shift up (the 64-bit lanes take it).
                0 if r / 16 != 2 => i32::MAX,
                1 if r / 16 != 2 => i32::MIN,
                2 => 0,
                _ => (rng.next_u64() as i32) >> (7 + rng.next_u64() % 16),
            })
            .collect();
        let to_act = Mul::from_ratio(1, divisor).times(Mul::pow2(ACT_FRAC as i32));
        for shifts in requantize_tables_match_the_definition(&scales, &bias, &sums, to_act, &[PRE_ACT_LIMIT, LOGIT_LIMIT]) {
            assert!(expected(&shifts), "input scale 1/{divisor}: shifts {shifts:?}");
        }
    }
}

/// Row tables of `scales` and `bias` (both inputs) requantize `sums` as the
/// definition does, for each of `limits`; returns each table's rows' shifts
/// (the step's included).
fn requantize_tables_match_the_definition(
    scales: &[u8],
    bias: &[u8],
    sums: &[i32],
    to_act: crate::fixed::Mul,
    limits: &[i32],
) -> std::vec::Vec<std::vec::Vec<i32>> {
    use crate::fixed::requantize_row;
    let word = |t: &[u8], r: usize| u32::from_le_bytes([t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3]]);
    let mut all_shifts = std::vec::Vec::new();
    for &limit in limits {
        for input in [RowInput::Fixed(to_act), RowInput::PerStep] {
            let mut t: [std::vec::Vec<u8>; 3] = Default::default();
            let mut shifts = std::vec::Vec::new();
            for r in 0..sums.len() {
                let (m, shift, b) = row_entry(word(scales, r), word(bias, r), input, limit);
                shifts.push(shift as i32 + if input == RowInput::PerStep { to_act.parts().1 } else { 0 });
                t[0].extend_from_slice(&m.to_le_bytes());
                t[1].push(shift as u8);
                t[2].extend_from_slice(&b.to_le_bytes());
            }
            let table = RowsRef::new(&t[0], &t[1], &t[2]);
            let step = (input == RowInput::PerStep).then_some(to_act);
            for isa in available() {
                let mut acc = sums.to_vec();
                requantize_table(isa, &mut acc, table, step, limit);
                for (r, (&got, &sum)) in acc.iter().zip(sums).enumerate() {
                    let want = requantize_row(to_act, sum, word(scales, r), word(bias, r), limit);
                    assert_eq!(got, want, "{} {input:?} limit {limit} row {r}", isa.name());
                }
            }
            all_shifts.push(shifts);
        }
    }
    all_shifts
}

#[test]
fn the_int8_form_of_every_kernel_set_is_the_definition() {
    use crate::fixed::Mul;
    let mut rng = Rng::new(41);
    for trial in 0..600 {
        let n = 1 + trial * 7 % 77;
        let d: std::vec::Vec<i32> = (0..n)
            .map(|i| match (i + trial) % 11 {
                0 => i32::MAX,
                1 => i32::MIN,
                2 => 0,
                _ => (rng.next_u64() as i32) >> (8 + rng.next_u64() % 22),
            })
            .collect();
        // What the session derives from the largest magnitude (a shift of 33
        // and more for Q.12 values), and multipliers of every shift: the
        // kernels' two 32-bit ranges and beyond.
        let max = d.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0).max(1);
        let mul = match trial % 3 {
            0 => Mul::from_ratio(127, max),
            _ => Mul::from_parts((rng.next_u64() as u32) >> 2 | 1 << 30, (rng.next_u64() % 70) as i32 - 3),
        };
        let mut want = std::vec![0i8; n];
        scalar::scale_to_int8(&d, mul, &mut want);
        for isa in available() {
            let mut got = std::vec![0x55i8; n];
            scale_to_int8(isa, &d, mul, &mut got);
            assert_eq!(got, want, "{} trial {trial} n {n} {mul:?}", isa.name());
        }
    }
}

#[test]
fn the_state_quantization_of_every_kernel_set_is_the_definition() {
    let mut rng = Rng::new(31);
    let h: std::vec::Vec<i16> = (0..77)
        .map(|i| match i % 5 {
            0 => 32767,
            1 => -32767,
            _ => ((rng.next_u64() % 65535) as i32 - 32767) as i16,
        })
        .collect();
    for n in [1usize, 7, 8, 9, 16, 64, 77] {
        let mut want = [0i8; 80];
        scalar::quantize_state(&h[..n], &mut want[..n]);
        for (v, w) in h[..n].iter().zip(&want) {
            assert_eq!(*w as i32, ((*v as i32 + 128) >> 8).clamp(-127, 127));
        }
        for isa in available() {
            let mut got = [0x55i8; 80];
            quantize_state(isa, &h[..n], &mut got[..n]);
            assert_eq!(got[..n], want[..n], "{} n {n}", isa.name());
            assert!(got[n..].iter().all(|&b| b == 0x55), "{}: bytes past the state", isa.name());
        }
    }
}

#[test]
fn the_gru_update_of_every_kernel_set_is_the_definition() {
    use crate::fixed::PRE_ACT_LIMIT;
    let mut rng = Rng::new(23);
    // (Sixteen units at a time where the core has AVX-512F, then eight, then one.)
    for n in [1usize, 7, 8, 9, 16, 24, 31, 64, 67] {
        // Pre-activations over the whole allowed range, the extremes and 0 often.
        let value = |rng: &mut Rng| match rng.next_u64() % 8 {
            0 => PRE_ACT_LIMIT,
            1 => -PRE_ACT_LIMIT,
            2 => 0,
            3 => (rng.next_u64() % 4096) as i32 - 2048,
            _ => (rng.next_u64() % (2 * PRE_ACT_LIMIT as u64 + 1)) as i32 - PRE_ACT_LIMIT,
        };
        let gx: std::vec::Vec<i32> = (0..3 * n).map(|_| value(&mut rng)).collect();
        let gh: std::vec::Vec<i32> = (0..3 * n).map(|_| value(&mut rng)).collect();
        let h0: std::vec::Vec<i16> = (0..n).map(|i| if i % 5 == 0 { 32767 } else { (rng.next_u64() % 65535) as i16 }).collect();
        let mut want = h0.clone();
        scalar::gru_update_fixed(&mut want, &gx, &gh);
        for isa in available() {
            let mut h = h0.clone();
            gru_update_fixed(isa, &mut h, &gx, &gh);
            assert_eq!(h, want, "{} with {n} units", isa.name());
        }
    }
}

/// A float pre-activation: mostly within the gates' working range, at times
/// far outside it (the exponential's clamp), a NaN, an infinity or a
/// subnormal.
fn float_pre_activation(rng: &mut Rng) -> f32 {
    match rng.next_u64() % 16 {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => f32::from_bits(1 + (rng.next_u64() % 0x7f_ffff) as u32) * if rng.next_u64().is_multiple_of(2) { 1.0 } else { -1.0 },
        4 => (rng.next_f32() - 0.5) * 400.0,
        5 => -0.0,
        _ => (rng.next_f32() * 2.0 - 1.0) * 12.0,
    }
}

/// The bits of `v`, every NaN as the one quiet NaN: the compiler may commute
/// an operation's operands, and which NaN (with its sign) an operation with
/// two NaNs passes on is the hardware's choice, so NaN results are the same
/// value, not always the same bits.
fn bits_any_nan(v: f32) -> u32 {
    if v.is_nan() {
        f32::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

#[test]
fn the_float_gru_update_of_every_kernel_set_gives_the_bits_of_the_gate_formulas() {
    let mut rng = Rng::new(11);
    for n in [1usize, 4, 7, 37, 256] {
        let gx: std::vec::Vec<f32> = (0..3 * n).map(|_| float_pre_activation(&mut rng)).collect();
        let gh: std::vec::Vec<f32> = (0..3 * n).map(|_| float_pre_activation(&mut rng)).collect();
        let h0: std::vec::Vec<f32> = (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let want: std::vec::Vec<u32> = (0..n)
            .map(|i| {
                let z = crate::math::sigmoid(gx[i] + gh[i]);
                let r = crate::math::sigmoid(gx[n + i] + gh[n + i]);
                let cand = crate::math::tanh(gx[2 * n + i] + r * gh[2 * n + i]);
                bits_any_nan((1.0 - z) * cand + z * h0[i])
            })
            .collect();
        let mut by_unit = h0.clone();
        scalar::gru_update_float_from(&mut by_unit, &gx, &gh, 0);
        assert_eq!(by_unit.iter().map(|&v| bits_any_nan(v)).collect::<std::vec::Vec<_>>(), want, "unit by unit, {n} units");
        for isa in available() {
            let (mut h, mut x, mut u) = (h0.clone(), gx.clone(), gh.clone());
            gru_update_float(isa, &mut h, &mut x, &mut u);
            assert_eq!(h.iter().map(|&v| bits_any_nan(v)).collect::<std::vec::Vec<_>>(), want, "{} with {n} units", isa.name());
        }
    }
}

#[test]
fn max_abs_of_every_kernel_set_equals_a_sequential_fold() {
    let mut rng = Rng::new(9);
    for len in [0usize, 1, 7, 8, 9, 64, 113, 256, 257] {
        for special in [None, Some(f32::NAN), Some(f32::INFINITY), Some(f32::NEG_INFINITY), Some(-0.0)] {
            let mut x: [f32; 257] = core::array::from_fn(|_| (rng.next_f32() - 0.5) * 8.0);
            if let (Some(v), true) = (special, len > 0) {
                x[len / 2] = v;
                x[len - 1] = v;
            }
            let x = &x[..len];
            let want = x.iter().fold(0.0f32, |m, v| if v.abs() > m { v.abs() } else { m });
            for isa in available() {
                assert_eq!(max_abs(isa, x).to_bits(), want.to_bits(), "{} len {len}, {special:?}", isa.name());
            }
        }
    }
}
