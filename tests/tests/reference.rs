//! The runtime's f32 path against an independent implementation, and the
//! int8 hybrid path against f32.

use edgegru_runtime::writer::{ExportOptions, WeightKind};
use edgegru_runtime::{sampling, Isa, Model, Session};
use edgegru_tests::{char_model, Reference};

fn tokens(n: usize, vocab: u32, seed: u64) -> Vec<u32> {
    let mut rng = edgegru_runtime::Rng::new(seed);
    (0..n).map(|_| (rng.next_u64() % vocab as u64) as u32).collect()
}

#[test]
fn f32_path_matches_the_reference_on_several_shapes() {
    for (emb, hidden, dense, seed) in [(4, 8, 8, 1), (16, 64, 64, 2), (7, 13, 5, 3), (64, 256, 256, 4), (3, 33, 17, 5)] {
        let fm = char_model(emb, hidden, dense, seed);
        let bytes = fm.to_bytes(&ExportOptions::default());
        let mut model = Model::from_bytes(&bytes).unwrap();
        for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
            model.set_isa(isa).unwrap();
            let mut arena = vec![0u8; model.arena_size()];
            let mut s = Session::new(&model, &mut arena).unwrap();
            let mut r = Reference::new(&fm);
            for (t, &tok) in tokens(60, fm.dims.vocab, seed).iter().enumerate() {
                let want = r.step(tok);
                let got = s.step(tok).unwrap();
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()),
                        "{} {emb}/{hidden}/{dense} step {t} logit {i}: {g} vs {w}",
                        isa.name()
                    );
                }
                for (g, w) in s.hidden().iter().zip(&r.h) {
                    assert!((*g as f64 - w).abs() <= 1e-5, "state differs: {g} vs {w}");
                }
            }
        }
    }
}

#[test]
fn f16_weights_stay_close_to_f32() {
    let fm = char_model(16, 64, 64, 9);
    let opts = ExportOptions { weights: WeightKind::F16, embedding: WeightKind::F16, ..ExportOptions::default() };
    let bytes = fm.to_bytes(&opts);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena).unwrap();
    let mut r = Reference::new(&fm);
    for tok in tokens(100, fm.dims.vocab, 9) {
        let want = r.step(tok);
        let got = s.step(tok).unwrap();
        let err = got.iter().zip(&want).map(|(g, w)| (*g as f64 - w).abs()).fold(0.0, f64::max);
        assert!(err < 0.02, "f16 logit error {err}");
    }
}

/// Max |logit error| and greedy agreement of int8 against f32 over 1000
/// steps fed the f32 model's own greedy output.
fn int8_vs_f32(sparse: bool) -> (f32, usize) {
    let fm = char_model(64, 256, 256, 11);
    let f32_bytes = fm.to_bytes(&ExportOptions::default());
    let i8_bytes = fm.to_bytes(&ExportOptions::int8(sparse));
    let (mf, mq) = (Model::from_bytes(&f32_bytes).unwrap(), Model::from_bytes(&i8_bytes).unwrap());
    let (mut af, mut aq) = (vec![0u8; mf.arena_size()], vec![0u8; mq.arena_size()]);
    let (mut sf, mut sq) = (Session::new(&mf, &mut af).unwrap(), Session::new(&mq, &mut aq).unwrap());
    let (mut tok, mut max_err, mut agree) = (0u32, 0f32, 0);
    for _ in 0..1000 {
        let lf = sf.step(tok).unwrap().to_vec();
        let lq = sq.step(tok).unwrap();
        max_err = lf.iter().zip(lq).map(|(a, b)| (a - b).abs()).fold(max_err, f32::max);
        let (gf, gq) = (sampling::argmax(&lf), sampling::argmax(lq));
        agree += (gf == gq) as usize;
        tok = gf;
    }
    (max_err, agree)
}

#[test]
fn int8_path_stays_within_tolerance_of_f32() {
    let (max_err, agree) = int8_vs_f32(false);
    println!("int8 vs f32 over 1000 steps (config A shape, random weights): max |logit error| {max_err:.4}, greedy agreement {agree}/1000");
    // Logits of this random model span about ±6; per-row int8 keeps errors near 1% of that.
    assert!(max_err < 0.15, "max logit error {max_err}");
    assert!(agree >= 950, "greedy agreement {agree}/1000");
}
