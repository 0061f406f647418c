//! The runtime API as a user drives it: sessions, tokenizers, sampling,
//! generation and saved states.

use edgegru_runtime::writer::ExportOptions;
use edgegru_runtime::{Error, Model, Rng, SamplingParams, Session, TokenProb};
use edgegru_tests::{char_model, word_model};

fn char_file() -> Vec<u8> {
    char_model(8, 32, 16, 5).to_bytes(&ExportOptions::int8(false))
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
    let vocab = model.dims().vocab;
    assert_eq!(s.step(vocab).err(), Some(Error::TokenOutOfRange { token: vocab, vocab }));
    assert_eq!(s.sample(&SamplingParams::GREEDY, &mut Rng::new(0)).err(), Some(Error::EmptyPrompt));
    let mut out = [0u8; 16];
    assert_eq!(s.generate_into("", 4, &SamplingParams::GREEDY, &mut Rng::new(0), &mut out).err(), Some(Error::EmptyPrompt));
    let bad = SamplingParams { temperature: f32::NAN, ..SamplingParams::default() };
    assert!(matches!(s.generate_into("ab", 4, &bad, &mut Rng::new(0), &mut out), Err(Error::InvalidParameter { .. })));
    // A prompt with an unknown character changes nothing.
    s.step(1).unwrap();
    let before = s.hidden().to_vec();
    assert_eq!(s.feed("ab#c").err(), Some(Error::UnknownToken { offset: 2 }));
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
    let params = SamplingParams { temperature: 0.8, top_k: 10, top_p: 0.95 };
    let mut first = [0u8; 200];
    let n1 = s.generate_into("", 50, &params, &mut Rng::new(3), &mut first).unwrap();
    s.reset();
    s.restore_state(&state).unwrap();
    let mut second = [0u8; 200];
    let n2 = s.generate_into("", 50, &params, &mut Rng::new(3), &mut second).unwrap();
    assert_eq!(&first[..n1], &second[..n2]);
    assert_eq!(n1, 50);

    // A state from another model, or a damaged one, is refused and changes nothing.
    let other = char_model(8, 32, 16, 6).to_bytes(&ExportOptions::int8(false));
    let other = Model::from_bytes(&other).unwrap();
    let mut other_arena = vec![0u8; other.arena_size()];
    let mut o = Session::new(&other, &mut other_arena).unwrap();
    assert!(matches!(o.restore_state(&state), Err(Error::StateMismatch { .. })));
    assert!(matches!(s.restore_state(&state[..state.len() - 1]), Err(Error::StateMismatch { .. })));
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
    let n = s.generate("hello", 100, &SamplingParams::default(), &mut Rng::new(9), |id, _| {
        seen.push(id);
        seen.len() < 7
    });
    assert_eq!(n.unwrap(), 7);
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
    assert_eq!(s.top_k_next(&mut top).unwrap(), 5);
    assert!(top.windows(2).all(|w| w[0].prob >= w[1].prob));
    let greedy = s.sample(&SamplingParams::GREEDY, &mut Rng::new(0)).unwrap();
    assert_eq!(top[0].token, greedy);
    let mut all = vec![TokenProb::default(); 100];
    let n = s.top_k_next(&mut all).unwrap();
    assert_eq!(n, model.dims().vocab as usize);
    let total: f32 = all[..n].iter().map(|t| t.prob).sum();
    assert!((total - 1.0).abs() < 1e-4);
}

#[test]
fn char_tokenizer_round_trips() {
    let file = char_file();
    let model = Model::from_bytes(&file).unwrap();
    let tok = model.tokenizer();
    let mut ids = [0u32; 32];
    let n = tok.encode("hello, world.", &mut ids).unwrap();
    assert_eq!(n, 13);
    let mut text = [0u8; 32];
    let len = tok.decode(&ids[..n], &mut text).unwrap();
    assert_eq!(std::str::from_utf8(&text[..len]).unwrap(), "hello, world.");
    assert!(matches!(tok.encode("hello", &mut ids[..3]), Err(Error::BufferTooSmall { needed: 5, available: 3 })));
    assert!(matches!(tok.decode(&ids[..n], &mut text[..4]), Err(Error::BufferTooSmall { .. })));
    assert!(matches!(tok.decode(&[999], &mut text), Err(Error::TokenOutOfRange { token: 999, .. })));
    assert_eq!(tok.encode("Hello", &mut ids).err(), Some(Error::UnknownToken { offset: 0 }));
}

#[test]
fn word_tokenizer_follows_keras_semantics() {
    // Keras: lower-case, filters become separators, split on ' ', unknown words -> OOV (id 1).
    let fm = word_model(&["the", "cat", "sat", "on", "mat", "naïve"], 8, 16, 8, 3);
    let file = fm.to_bytes(&ExportOptions::default());
    let model = Model::from_bytes(&file).unwrap();
    let tok = model.tokenizer();
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
}
