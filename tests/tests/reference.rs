//! The runtime's f32 path against an independent implementation, and the
//! int8 hybrid path against f32.

use edgegru_runtime::writer::{ExportOptions, FloatModel, WeightKind};
use edgegru_runtime::{sampling, Activation, Isa, Model, Session};
use edgegru_tests::{char_model, feature_classifier, random_network, v1_bytes, NetShape, Reference, TestInput, ToFile, TEST_CHARS};

fn vocab(fm: &FloatModel) -> u32 {
    fm.tokenizer().map_or(0, |t| t.tokens.len() as u32)
}

fn tokens(n: usize, vocab: u32, seed: u64) -> Vec<u32> {
    let mut rng = edgegru_runtime::Rng::new(seed);
    (0..n).map(|_| (rng.next_u64() % vocab as u64) as u32).collect()
}

#[test]
fn f32_path_matches_the_reference_on_several_shapes() {
    for (emb, hidden, dense, seed) in [(4, 8, 8, 1), (16, 64, 64, 2), (7, 13, 5, 3), (64, 256, 256, 4), (3, 33, 17, 5)] {
        let fm = char_model(emb, hidden, dense, seed);
        let bytes = fm.file(&ExportOptions::default());
        let mut model = Model::from_bytes(&bytes).unwrap();
        for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
            model.set_isa(isa).unwrap();
            let mut arena = vec![0u8; model.arena_size()];
            let mut s = Session::new(&model, &mut arena).unwrap();
            let mut r = Reference::new(&fm);
            for (t, &tok) in tokens(60, vocab(&fm), seed).iter().enumerate() {
                let want = r.step(tok);
                let got = s.step(tok).unwrap();
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()),
                        "{} {emb}/{hidden}/{dense} step {t} logit {i}: {g} vs {w}",
                        isa.name()
                    );
                }
                for (g, w) in s.hidden().iter().zip(r.h.iter().flatten()) {
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
    let bytes = fm.file(&opts);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena).unwrap();
    let mut r = Reference::new(&fm);
    for tok in tokens(100, vocab(&fm), 9) {
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
    let f32_bytes = fm.file(&ExportOptions::default());
    let i8_bytes = fm.file(&ExportOptions::int8(sparse));
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

/// Stacked GRUs, every dense activation, and feature inputs with class and
/// regression heads, against the reference, on every kernel set.
#[test]
fn networks_match_the_reference_on_every_kernel_set() {
    use edgegru_runtime::writer::TokenizerSpec;
    use edgegru_runtime::HeadKind;
    let shapes = [
        NetShape {
            input: TestInput::Tokens(TokenizerSpec::chars(TEST_CHARS), 12),
            grus: vec![24, 16, 8],
            dense: vec![(20, Activation::Tanh), (12, Activation::Sigmoid), (10, Activation::Linear)],
            head: HeadKind::NextToken,
            names: vec![],
            outputs: 0,
        },
        NetShape {
            input: TestInput::Features(6),
            grus: vec![32, 32],
            dense: vec![],
            head: HeadKind::Classes,
            names: vec!["a".into(), "b".into(), "c".into()],
            outputs: 3,
        },
        NetShape {
            input: TestInput::Features(3),
            grus: vec![9],
            dense: vec![(7, Activation::Relu)],
            head: HeadKind::Regression,
            names: vec![],
            outputs: 2,
        },
    ];
    for (n, shape) in shapes.iter().enumerate() {
        let fm = random_network(shape, 40 + n as u64);
        let bytes = fm.file(&ExportOptions::default());
        let mut model = Model::from_bytes(&bytes).unwrap();
        for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
            model.set_isa(isa).unwrap();
            let mut arena = vec![0u8; model.arena_size()];
            let mut s = Session::new(&model, &mut arena).unwrap();
            let mut r = Reference::new(&fm);
            let mut rng = edgegru_runtime::Rng::new(n as u64);
            for t in 0..40 {
                let (got, want) = match &shape.input {
                    TestInput::Tokens(..) => {
                        let tok = (rng.next_u64() % vocab(&fm) as u64) as u32;
                        (s.step(tok).unwrap().to_vec(), r.step(tok))
                    }
                    TestInput::Features(count) => {
                        let f: Vec<f32> = (0..*count).map(|_| (rng.next_f32() - 0.5) * 6.0).collect();
                        (s.step_features(&f).unwrap().to_vec(), r.step_features(&f))
                    }
                };
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()), "network {n} {} step {t} output {i}: {g} vs {w}", isa.name());
                }
                for (g, w) in s.hidden().iter().zip(r.h.iter().flatten()) {
                    assert!((*g as f64 - w).abs() <= 1e-5, "network {n}: state differs: {g} vs {w}");
                }
            }
        }
    }
}

/// A feature classifier's int8 and integer-only paths stay close to f32 (class probabilities).
#[test]
fn quantized_classifiers_stay_close_to_f32() {
    let fm = feature_classifier(8, &[48, 32], &[(24, Activation::Relu)], 5, 21);
    let files = [ExportOptions::default(), ExportOptions::int8(false), ExportOptions::int8(true), ExportOptions::integer(false)]
        .map(|o| fm.file(&o));
    let models: Vec<Model> = files.iter().map(|f| Model::from_bytes(f).unwrap()).collect();
    let mut arenas: Vec<Vec<u8>> = models.iter().map(|m| vec![0u8; m.arena_size()]).collect();
    let mut sessions: Vec<Session> = models.iter().zip(arenas.iter_mut()).map(|(m, a)| Session::new(m, a).unwrap()).collect();
    let mut rng = edgegru_runtime::Rng::new(5);
    let mut worst = [0f32; 4];
    for _ in 0..200 {
        let f: Vec<f32> = (0..8).map(|_| (rng.next_f32() - 0.5) * 4.0).collect();
        let outs: Vec<Vec<f32>> = sessions.iter_mut().map(|s| s.step_features(&f).unwrap().to_vec()).collect();
        assert!((outs[0].iter().sum::<f32>() - 1.0).abs() < 1e-5, "class probabilities sum to 1");
        for (k, o) in outs.iter().enumerate() {
            worst[k] = o.iter().zip(&outs[0]).map(|(a, b)| (a - b).abs()).fold(worst[k], f32::max);
        }
    }
    println!("largest class-probability difference from f32: int8 {:.4}, int8 sparse {:.4}, integer {:.4}", worst[1], worst[2], worst[3]);
    assert!(worst[1] < 0.05 && worst[2] < 0.05 && worst[3] < 0.08, "{worst:?}");
}

/// A version-1 file and the version-2 file of the same weights (version 6,
/// with row tables, for integer numerics) give the same bits, for every
/// numerics and kernel set.
#[test]
fn version_1_and_version_2_files_of_one_model_give_the_same_bits() {
    let fm = char_model(16, 48, 40, 17);
    for opts in [ExportOptions::default(), ExportOptions::int8(false), ExportOptions::int8(true), ExportOptions::integer(true)] {
        let (old, new) = (v1_bytes(&fm, &opts), fm.file(&opts));
        let (mut m1, mut m2) = (Model::from_bytes(&old).unwrap(), Model::from_bytes(&new).unwrap());
        let version = if opts.numerics().is_integer() { 6 } else { 2 };
        assert_eq!((m1.format_version(), m2.format_version()), (1, version));
        for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
            m1.set_isa(isa).unwrap();
            m2.set_isa(isa).unwrap();
            let (mut a1, mut a2) = (vec![0u8; m1.arena_size()], vec![0u8; m2.arena_size()]);
            let (mut s1, mut s2) = (Session::new(&m1, &mut a1).unwrap(), Session::new(&m2, &mut a2).unwrap());
            for tok in tokens(80, vocab(&fm), 3) {
                let (l1, l2) = (s1.step(tok).unwrap().to_vec(), s2.step(tok).unwrap().to_vec());
                assert!(l1.iter().zip(&l2).all(|(a, b)| a.to_bits() == b.to_bits()), "{opts:?} {}", isa.name());
            }
        }
    }
}

/// Hybrid-int8 files (int8 products, f32 gates) give the same bits on every
/// kernel set of this CPU as on the portable scalar one: the products are
/// exact and the element-wise loops compiled for AVX2 and AVX-512 are the
/// same IEEE operations in the same order. (f32 weights are not: a vector
/// kernel sums a row's products in another order.)
#[test]
fn hybrid_numerics_give_the_same_bits_on_every_kernel_set() {
    let fm = char_model(20, 64, 40, 23);
    for opts in [ExportOptions::int8(false), ExportOptions::int8(true)] {
        let file = fm.file(&opts);
        let mut model = Model::from_bytes(&file).unwrap();
        let mut logits = |isa: Isa| -> Vec<u32> {
            model.set_isa(isa).unwrap();
            let mut arena = vec![0u8; model.arena_size()];
            let mut s = Session::new(&model, &mut arena).unwrap();
            tokens(200, vocab(&fm), 5)
                .into_iter()
                .flat_map(|t| s.step(t).unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                .collect()
        };
        let want = logits(Isa::Scalar);
        for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
            assert!(logits(isa) == want, "{opts:?}: {} differs from scalar", isa.name());
        }
    }
}
