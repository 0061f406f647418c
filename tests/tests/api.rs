//! The runtime API as a user drives it: sessions, tokenizers, sampling,
//! generation and saved states.

use edgegru_runtime::writer::{ExportOptions, FloatInput};
use edgegru_runtime::{Activation, Error, Fill, InputKind, Model, Rng, SamplingParams, Session, StopReason, TokenProb};
use edgegru_tests::{char_model, feature_classifier, word_model, ToFile};

fn vocab(model: &Model<'_>) -> u32 {
    match model.input() {
        InputKind::Tokens { vocab, .. } => vocab as u32,
        InputKind::Features { .. } => 0,
    }
}

fn char_file() -> Vec<u8> {
    char_model(8, 32, 16, 5).file(&ExportOptions::int8(false))
}

#[test]
fn a_small_arena_is_refused_with_the_size_needed() {
    let file = char_file();
    let model = Model::from_bytes(&file).unwrap();
    let needed = model.arena_size();
    let mut arena = vec![0u8; needed - 1];
    assert_eq!(Session::new(&model, &mut arena).err(), Some(Error::ArenaTooSmall { needed, available: needed - 1 }));
    // Any alignment of the arena start works.
    let mut big = vec![0u8; needed + 7];
    for offset in 0..8 {
        Session::new(&model, &mut big[offset..offset + needed]).unwrap();
    }
}

#[test]
fn bad_token_ids_and_parameters_are_errors() {
    let file = char_file();
    let model = Model::from_bytes(&file).unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena).unwrap();
    let vocab = vocab(&model);
    assert_eq!(s.step(vocab).err(), Some(Error::TokenOutOfRange { token: vocab, vocab }));
    assert_eq!(s.sample(&SamplingParams::GREEDY, &mut Rng::new(0)).err(), Some(Error::EmptyPrompt));
    let mut out = [0u8; 16];
    assert_eq!(s.generate_into("", 4, &SamplingParams::GREEDY, &mut Rng::new(0), &mut out).err(), Some(Error::EmptyPrompt));
    let bad = SamplingParams { temperature: f32::NAN, ..SamplingParams::default() };
    assert!(matches!(s.generate_into("ab", 4, &bad, &mut Rng::new(0), &mut out), Err(Error::InvalidParameter { .. })));
    // A prompt with an unknown character changes nothing.
    s.step(1).unwrap();
    let before = s.hidden().to_vec();
    assert_eq!(s.feed("ab#c").err(), Some(Error::UnknownToken { offset: 2, character: '#' }));
    assert_eq!(s.hidden(), &before[..]);
}

#[test]
fn saved_state_reproduces_the_continuation() {
    let file = char_file();
    let model = Model::from_bytes(&file).unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena).unwrap();
    s.feed("the cat sat on the ").unwrap();
    let mut state = vec![0u8; s.state_size()];
    assert_eq!(s.save_state(&mut state).unwrap(), state.len());
    let params = SamplingParams { temperature: 0.8, top_k: 10, top_p: 0.95, allow_oov: false };
    let mut first = [0u8; 200];
    let n1 = s.generate_into("", 50, &params, &mut Rng::new(3), &mut first).unwrap();
    s.reset();
    s.restore_state(&state).unwrap();
    let mut second = [0u8; 200];
    let n2 = s.generate_into("", 50, &params, &mut Rng::new(3), &mut second).unwrap();
    assert_eq!(&first[..n1], &second[..n2]);
    assert_eq!(n1, 50);

    // A state from another model, or a damaged one, is refused and changes nothing.
    let other = char_model(8, 32, 16, 6).file(&ExportOptions::int8(false));
    let other = Model::from_bytes(&other).unwrap();
    let mut other_arena = vec![0u8; other.arena_size()];
    let mut o = Session::new(&other, &mut other_arena).unwrap();
    assert!(matches!(o.restore_state(&state), Err(Error::StateMismatch { .. })));
    assert!(matches!(s.restore_state(&state[..state.len() - 1]), Err(Error::StateDamaged { .. })));
    // A bit flipped anywhere (header, the state's middle, its end) is refused, and the session is unchanged.
    s.reset();
    s.feed("xy").unwrap();
    let before = s.hidden().to_vec();
    for i in [0, 5, 9, state.len() / 2, state.len() - 6, state.len() - 1] {
        let mut damaged = state.clone();
        damaged[i] ^= 0x10;
        assert!(matches!(s.restore_state(&damaged), Err(Error::StateDamaged { .. } | Error::StateMismatch { .. })), "byte {i}");
        assert_eq!(s.hidden(), &before[..], "byte {i}: the session changed");
    }
    let mut short = [0u8; 8];
    assert!(matches!(s.save_state(&mut short), Err(Error::BufferTooSmall { .. })));
}

#[test]
fn generation_is_token_by_token_and_stoppable() {
    let file = char_file();
    let model = Model::from_bytes(&file).unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena).unwrap();
    let mut seen = vec![];
    let g = s
        .generate("hello", 100, &SamplingParams::default(), &mut Rng::new(9), &mut [], |id, _| {
            seen.push(id);
            seen.len() < 7
        })
        .unwrap();
    assert_eq!((g.tokens, g.stop), (7, StopReason::Callback));
    // The same tokens come from stepping by hand with the same sampler.
    let mut arena2 = vec![0u8; model.arena_size()];
    let mut t = Session::new(&model, &mut arena2).unwrap();
    t.feed("hello").unwrap();
    let mut rng = Rng::new(9);
    for &id in &seen {
        let picked = t.sample(&SamplingParams::default(), &mut rng).unwrap();
        assert_eq!(picked, id);
        t.step(picked).unwrap();
    }
    // Output buffer full: generation stops at a whole token.
    s.reset();
    let mut small = [0u8; 5];
    assert_eq!(s.generate_into("ab", 100, &SamplingParams::GREEDY, &mut Rng::new(0), &mut small).unwrap(), 5);
}

#[test]
fn top_k_next_gives_sorted_probabilities() {
    let file = char_file();
    let model = Model::from_bytes(&file).unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena).unwrap();
    s.feed("the ").unwrap();
    let mut top = [TokenProb::default(); 5];
    assert_eq!(s.top_k_next(&mut top, false).unwrap(), 5);
    assert!(top.windows(2).all(|w| w[0].prob >= w[1].prob));
    let greedy = s.sample(&SamplingParams::GREEDY, &mut Rng::new(0)).unwrap();
    assert_eq!(top[0].token, greedy);
    let mut all = vec![TokenProb::default(); 100];
    let n = s.top_k_next(&mut all, false).unwrap();
    assert_eq!(n, vocab(&model) as usize);
    let total: f32 = all[..n].iter().map(|t| t.prob).sum();
    assert!((total - 1.0).abs() < 1e-4);
}

#[test]
fn char_tokenizer_round_trips() {
    let file = char_file();
    let model = Model::from_bytes(&file).unwrap();
    let tok = model.tokenizer().unwrap();
    let mut ids = [0u32; 32];
    let n = tok.encode("hello, world.", &mut ids).unwrap();
    assert_eq!(n, 13);
    let mut text = [0u8; 32];
    let len = tok.decode(&ids[..n], &mut text).unwrap();
    assert_eq!(std::str::from_utf8(&text[..len]).unwrap(), "hello, world.");
    // Too small: the size needed, and nothing written.
    let mut small = [7u32; 3];
    assert!(matches!(tok.encode("hello", &mut small), Err(Error::BufferTooSmall { needed: 5, available: 3 })));
    assert_eq!(small, [7; 3]);
    let mut short = [b'#'; 4];
    assert_eq!(tok.decode(&ids[..n], &mut short), Err(Error::BufferTooSmall { needed: 13, available: 4 }));
    assert_eq!(&short, b"####");
    // Fixed-capacity results for firmware written in Rust.
    let v: heapless::Vec<u32, 16> = tok.encode_vec("hello").unwrap();
    assert_eq!(&v[..], &ids[..5]);
    assert_eq!(tok.encode_vec::<4>("hello").err(), Some(Error::BufferTooSmall { needed: 5, available: 4 }));
    let text_h: heapless::String<16> = tok.decode_string(&ids[..5]).unwrap();
    assert_eq!(text_h.as_str(), "hello");
    assert!(matches!(tok.decode(&[999], &mut text), Err(Error::TokenOutOfRange { token: 999, .. })));
    assert_eq!(tok.encode("Hello", &mut ids).err(), Some(Error::UnknownToken { offset: 0, character: 'H' }));
}

#[test]
fn word_tokenizer_follows_keras_semantics() {
    // Keras: lower-case, filters become separators, split on ' ', unknown words -> OOV (id 1).
    let fm = word_model(&["the", "cat", "sat", "on", "mat", "naïve"], 8, 16, 8, 3);
    let file = fm.file(&ExportOptions::default());
    let model = Model::from_bytes(&file).unwrap();
    let tok = model.tokenizer().unwrap();
    let mut ids = [0u32; 16];
    let n = tok.encode("The CAT, sat\ton   the dog's mat! NAÏVE", &mut ids).unwrap();
    let word = |w: &str| tok.lookup(w).unwrap();
    // The apostrophe is not among Keras' default filters: "dog's" is one (unknown) word.
    assert_eq!(&ids[..n], &[word("the"), word("cat"), word("sat"), word("on"), word("the"), 1, word("mat"), word("naïve")]);
    let mut text = [0u8; 64];
    let len = tok.decode(&[0, word("the"), word("cat"), 1, 0], &mut text).unwrap();
    assert_eq!(std::str::from_utf8(&text[..len]).unwrap(), "the cat <OOV>");
    assert_eq!(tok.count_tokens("  ,, ").unwrap(), 0);
    let long = "x".repeat(500);
    assert_eq!(tok.count_tokens(&long).unwrap(), 1);

    // Word-level generation puts the separator before each word.
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena).unwrap();
    let mut out = [0u8; 256];
    let len = s.generate_into("the cat", 5, &SamplingParams::GREEDY, &mut Rng::new(0), &mut out).unwrap();
    let text = std::str::from_utf8(&out[..len]).unwrap();
    assert_eq!(text.matches(' ').count(), 5, "{text:?}");
    assert!(text.starts_with(' '));
    assert!(!text.contains("<OOV>"), "the OOV token is not generated unless allowed: {text:?}");
}

/// Text generated through a buffer too small for all of it, call after
/// call, is the text of one large call: a token that does not fit is not consumed.
#[test]
fn generation_in_chunks_equals_one_call() {
    let files = [
        char_model(8, 32, 16, 5).file(&ExportOptions::int8(false)),
        word_model(&["the", "cat", "sat", "on", "mat", "a", "dog"], 8, 16, 8, 3).file(&ExportOptions::int8(true)),
        char_model(8, 32, 16, 7).file(&ExportOptions::integer(false)),
    ];
    let params = SamplingParams { temperature: 0.9, top_k: 0, top_p: 1.0, allow_oov: false };
    for file in &files {
        let model = Model::from_bytes(file).unwrap();
        let mut arena = vec![0u8; model.arena_size()];
        let mut s = Session::new(&model, &mut arena).unwrap();
        let mut whole = vec![0u8; 4096];
        let g = s.generate("the ", 60, &params, &mut Rng::new(4), &mut whole, |_, _| true).unwrap();
        assert_eq!((g.tokens, g.stop), (60, StopReason::MaxTokens));
        let want = &whole[..g.bytes];
        for cap in [1usize, 2, 3, 5, 8, 13] {
            s.reset();
            let mut rng = Rng::new(4);
            let (mut got, mut tokens, mut prompt) = (Vec::new(), 0, "the ");
            let mut buf = vec![0u8; cap];
            let mut stalls = 0;
            while tokens < 60 {
                let g = s.generate(prompt, 60 - tokens, &params, &mut rng, &mut buf, |_, _| true).unwrap();
                prompt = "";
                got.extend_from_slice(&buf[..g.bytes]);
                tokens += g.tokens;
                if g.tokens == 0 {
                    // The next token does not fit at all: nothing was consumed.
                    assert_eq!(g.stop, StopReason::BufferFull);
                    stalls += 1;
                    buf = vec![0u8; buf.len() + 8];
                }
                assert!(stalls < 10);
            }
            assert_eq!(got, want, "buffer of {cap} bytes");
        }
    }
}

#[test]
fn feature_models_step_on_feature_vectors_only() {
    let fm = feature_classifier(4, &[16, 8], &[(8, Activation::Relu)], 3, 11);
    let file = fm.file(&ExportOptions::int8(false));
    let model = Model::from_bytes(&file).unwrap();
    assert_eq!(model.input(), InputKind::Features { count: 4 });
    assert_eq!((model.outputs(), model.output_name(2)), (3, Some("c2")));
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena).unwrap();
    let p = s.step_features(&[0.5, -1.0, 2.0, 0.0]).unwrap().to_vec();
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5 && p.iter().all(|&x| x > 0.0), "class probabilities: {p:?}");
    let before = s.hidden().to_vec();
    assert_eq!(s.step_features(&[1.0, 2.0]).err(), Some(Error::FeatureCount { expected: 4, found: 2 }));
    assert_eq!(s.step_features(&[1.0, f32::NAN, 0.0, 0.0]).err(), Some(Error::NonFiniteInput { index: 1 }));
    assert_eq!(s.step(0).err(), Some(Error::WrongInput { expected: "features" }));
    assert_eq!(s.feed("abc").err(), Some(Error::WrongInput { expected: "features" }));
    let mut out = [0u8; 8];
    assert_eq!(s.generate_into("", 3, &SamplingParams::GREEDY, &mut Rng::new(0), &mut out).err(), Some(Error::NotALanguageModel));
    assert_eq!(s.hidden(), &before[..], "errors change nothing");
    assert_eq!(s.hidden().len(), 16 + 8, "every layer's state");
    // The saved state covers every layer.
    let mut state = vec![0u8; s.state_size()];
    s.save_state(&mut state).unwrap();
    s.step_features(&[0.0; 4]).unwrap();
    s.restore_state(&state).unwrap();
    assert_eq!(s.hidden(), &before[..]);
    assert_eq!(s.output(), Some(&p[..]));
}

/// Every numerics: a step with missing values (NaN) gives the bits of the
/// step with the values the model's fill policy puts there; `Previous`
/// remembers the last values through save/restore and reset; infinities and
/// (with `Refuse`) NaNs are refused.
#[test]
fn missing_features_are_filled_as_the_file_says() {
    let mut fm = feature_classifier(3, &[12], &[], 2, 5);
    let FloatInput::Features { mean, .. } = &fm.input else { panic!("a feature model") };
    let mean = mean.clone();
    let nan = f32::NAN;
    for opts in [ExportOptions::default(), ExportOptions::int8(true), ExportOptions::integer(true)] {
        for fill in [Fill::Zero, Fill::Mean, Fill::Previous] {
            if let FloatInput::Features { fill: f, names, .. } = &mut fm.input {
                (*f, *names) = (fill, vec!["ax".into(), "ay".into(), "az".into()]);
            }
            let file = fm.file(&opts);
            let model = Model::from_bytes(&file).unwrap();
            // Integer numerics add the (aligned) row tables: version 6.
            let version = if opts.numerics().is_integer() { 6 } else { 4 };
            assert_eq!((model.fill(), model.feature_name(1), model.format_version()), (fill, Some("ay"), version));
            let (mut a1, mut a2) = (vec![0u8; model.arena_size()], vec![0u8; model.arena_size()]);
            let (mut gappy, mut full) = (Session::new(&model, &mut a1).unwrap(), Session::new(&model, &mut a2).unwrap());
            let first = [1.0, 2.0, 3.0];
            let second_missing = [nan, -1.0, nan];
            let second_filled = match fill {
                Fill::Zero => [0.0, -1.0, 0.0],
                Fill::Mean => [mean[0], -1.0, mean[2]],
                _ => [1.0, -1.0, 3.0],
            };
            // Before any value, `Previous` is the mean.
            let at_start = if fill == Fill::Zero { [0.0, 0.5, 0.0] } else { [mean[0], 0.5, mean[2]] };
            let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(gappy.step_features(&[nan, 0.5, nan]).unwrap()),
                bits(full.step_features(&at_start).unwrap()),
                "{fill:?} {opts:?}"
            );
            gappy.step_features(&first).unwrap();
            full.step_features(&first).unwrap();
            let mut state = vec![0u8; gappy.state_size()];
            gappy.save_state(&mut state).unwrap();
            gappy.reset();
            gappy.step_features(&[7.0, 7.0, 7.0]).unwrap();
            gappy.restore_state(&state).unwrap();
            let want = bits(full.step_features(&second_filled).unwrap());
            assert_eq!(bits(gappy.step_features(&second_missing).unwrap()), want, "{fill:?} {opts:?}: after a restore");
            assert_eq!(gappy.step_features(&[1.0, f32::INFINITY, 0.0]).err(), Some(Error::NonFiniteInput { index: 1 }));
        }
    }
    // The state of a `Previous` model holds the features too.
    let refuse = feature_classifier(3, &[12], &[], 2, 5).file(&ExportOptions::default());
    let previous = fm.file(&ExportOptions::default());
    let (r, p) = (Model::from_bytes(&refuse).unwrap(), Model::from_bytes(&previous).unwrap());
    assert_eq!(p.state_size(), r.state_size() + 3 * 4);
    assert_eq!((r.fill(), r.feature_name(0), r.format_version()), (Fill::Refuse, None, 2));
}

#[test]
fn heapless_results_for_rust_firmware() {
    let file = char_file();
    let model = Model::from_bytes(&file).unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena).unwrap();
    let text: heapless::String<32> = s.generate_string("ab", 10, &SamplingParams::GREEDY, &mut Rng::new(0)).unwrap();
    assert_eq!(text.chars().count(), 10);
    let short: heapless::String<4> = s.generate_string("", 10, &SamplingParams::GREEDY, &mut Rng::new(0)).unwrap();
    assert!(short.len() <= 4);
    let top: heapless::Vec<TokenProb, 3> = s.top_k_vec(false).unwrap();
    assert_eq!(top.len(), 3);
}
