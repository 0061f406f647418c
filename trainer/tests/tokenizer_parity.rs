//! One tokenizer: what training encodes is what the device encodes. A
//! vocabulary fitted by the trainer (characters, and Keras-style words with
//! lower-casing) goes into an `.egru` file; the runtime's tokenizer read from
//! that file encodes Debian's fortunes and a non-ASCII text to exactly the
//! ids training used. Needs the `fortunes` package.

use std::path::Path;

use edgegru_runtime::writer::ExportOptions;
use edgegru_runtime::HeadKind;
use edgegru_runtime::Model;
use edgegru_tests::{random_network, NetShape, TestInput, ToFile};
use edgegru_trainer::data::{read_corpus, Utf8Policy};
use edgegru_trainer::tokenize::{Vocabulary, WordOptions};

/// Letters whose lower case is longer than they are (İ), title case (ǅ),
/// accents, Greek, a dash, a word over the 128-byte word limit.
const NON_ASCII: &str = "ÄRGER über Öl — naïve café; ΑΒΓ δέλτα STRASSE İstanbul ǅemal Ωmega! ";

fn device_ids(v: &Vocabulary, text: &str) -> Vec<u32> {
    let shape = NetShape {
        input: TestInput::Tokens(v.spec().clone(), 4),
        grus: vec![4],
        dense: vec![],
        head: HeadKind::NextToken,
        names: vec![],
        outputs: v.len(),
    };
    let file = random_network(&shape, 1).file(&ExportOptions::default());
    let model = Model::from_bytes(&file).unwrap();
    let tok = model.tokenizer().unwrap();
    let mut ids = vec![u32::MAX; text.len() + 1];
    let n = tok.encode(text, &mut ids).unwrap();
    ids.truncate(n);
    ids
}

#[test]
fn training_and_the_device_encode_alike() {
    let fortunes = read_corpus(Path::new("/usr/share/games/fortunes"), Utf8Policy::Strict).expect("the fortunes corpus");
    let long_word = "x".repeat(200);
    let text = format!("{fortunes}{NON_ASCII}{long_word} {NON_ASCII}");
    let chars = Vocabulary::fit_chars(&text).unwrap();
    let words = Vocabulary::fit_words(&text, &WordOptions::default()).unwrap();
    for (name, v) in [("characters", &chars), ("words", &words)] {
        for (what, t) in [("fortunes", fortunes.as_str()), ("non-ASCII", NON_ASCII), ("all", text.as_str())] {
            let trained = v.encode(t).unwrap();
            assert!(!trained.is_empty());
            assert_eq!(device_ids(v, t), trained, "{name} on {what}");
        }
    }
    // Lower-casing per character: İ becomes "i̇" (two characters) in words.
    let small = Vocabulary::fit_words(NON_ASCII, &WordOptions::default()).unwrap();
    let ids = small.encode("İstanbul").unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(small.tokenizer().token_text(ids[0]).unwrap(), "i\u{307}stanbul");
    assert_eq!(device_ids(&small, "İstanbul"), ids);
}
