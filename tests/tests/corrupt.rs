//! Loading never panics and never reads out of bounds: mutated files either
//! load (and then run) or give a precise error.

use edgegru_runtime::format::{self, Body, TensorDesc};
use edgegru_runtime::writer::{encode_file, fix_checksum, ExportOptions, WeightKind};
use edgegru_runtime::{Error, Model, Rng, SamplingParams, Session, TensorName};
use edgegru_tests::{char_model, word_model};

fn valid_files() -> Vec<Vec<u8>> {
    let c = char_model(8, 16, 16, 1);
    let w = word_model(&["the", "cat", "sat", "on", "mat"], 8, 16, 8, 2);
    vec![
        c.to_bytes(&ExportOptions::default()),
        c.to_bytes(&ExportOptions::int8(false)),
        c.to_bytes(&ExportOptions::int8(true)),
        w.to_bytes(&ExportOptions::int8(true)),
        c.to_bytes(&ExportOptions::integer(true)),
    ]
}

/// Whatever loads must also run without panicking.
fn exercise(bytes: &[u8]) -> Result<(), Error> {
    let model = Model::from_bytes(bytes)?;
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena)?;
    for t in 0..model.dims().vocab.min(4) {
        s.step(t)?;
    }
    let mut out = [0u8; 64];
    let _ = s.generate_into("", 8, &SamplingParams::default(), &mut Rng::new(1), &mut out);
    Ok(())
}

fn mutate(rng: &mut Rng, file: &[u8]) -> Vec<u8> {
    let mut m = file.to_vec();
    match rng.next_u64() % 4 {
        0 => m.truncate((rng.next_u64() % m.len() as u64) as usize),
        1 => {
            for _ in 0..1 + rng.next_u64() % 4 {
                let i = (rng.next_u64() % m.len() as u64) as usize;
                m[i] ^= 1 << (rng.next_u64() % 8);
            }
        }
        2 => {
            let i = (rng.next_u64() % m.len() as u64) as usize;
            m[i] = rng.next_u64() as u8;
        }
        _ => {
            // Insert or delete a run of bytes (shifts every later field).
            let i = (rng.next_u64() % m.len() as u64) as usize;
            if rng.next_u64().is_multiple_of(2) {
                let n = (1 + rng.next_u64() % 8) as usize;
                m.splice(i..i, (0..n).map(|_| rng.next_u64() as u8));
            } else {
                let n = ((1 + rng.next_u64() % 8) as usize).min(m.len() - i);
                m.drain(i..i + n);
            }
        }
    }
    m
}

#[test]
fn thousands_of_mutants_never_panic() {
    let files = valid_files();
    let mut rng = Rng::new(2024);
    let (mut loaded, mut refused, mut past_crc) = (0, 0, 0);
    for i in 0..8000 {
        let file = &files[i % files.len()];
        let mut m = mutate(&mut rng, file);
        if i % 2 == 0 {
            // Half of the mutants carry a correct CRC, so the parser behind it is exercised.
            fix_checksum(&mut m);
        }
        match exercise(&m) {
            Ok(()) => loaded += 1,
            Err(e) => {
                refused += 1;
                past_crc += !matches!(
                    e,
                    Error::ChecksumMismatch { .. } | Error::TooShort { .. } | Error::BadMagic { .. } | Error::UnsupportedVersion { .. }
                ) as usize;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    println!("mutants: {loaded} loaded and ran, {refused} refused ({past_crc} by the body parser or validation)");
    assert!(past_crc > 2000, "too few mutants reached the parser: {past_crc}");
}

fn rewrite(file: &[u8], edit: impl FnOnce(&mut Body<'_>)) -> Vec<u8> {
    let (mut body, _) = format::decode(file).unwrap();
    edit(&mut body);
    encode_file(&body)
}

#[test]
fn container_errors_are_precise() {
    let file = &valid_files()[0];
    assert_eq!(Model::from_bytes(&file[..5]).unwrap_err(), Error::TooShort { len: 5, needed: 10 });
    let mut m = file.clone();
    m[0] = b'X';
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::BadMagic { found: *b"XGRU" });
    let mut m = file.clone();
    m[4] = 9;
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::UnsupportedVersion { found: 9, supported: 1 });
    let mut m = file.clone();
    let last = m.len() - 1;
    m[last] ^= 0x40;
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::ChecksumMismatch { .. }));
    let mut m = file[..file.len() - 3].to_vec();
    fix_checksum(&mut m);
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::Decode { reason: "unexpected end of data" });
    let mut m = file.clone();
    m.extend_from_slice(&[0, 0]);
    fix_checksum(&mut m);
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::TrailingBytes { count: 2 });
}

#[test]
fn inconsistent_fields_are_named() {
    let files = valid_files();
    let (f32_file, sparse_file) = (&files[0], &files[2]);

    let m = rewrite(f32_file, |b| b.header.dims.hidden += 1);
    assert!(matches!(
        Model::from_bytes(&m).unwrap_err(),
        Error::TensorShape { tensor: TensorName::GruInput, expected: (51, 8), found: (48, 8) }
    ));

    let m = rewrite(f32_file, |b| b.header.dims.emb = 0);
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::BadDimension { name: "emb", value: 0, max: 65536 });

    let m = rewrite(f32_file, |b| b.header.dims.vocab = u32::MAX);
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::BadDimension { name: "vocab", .. }));

    let m = rewrite(f32_file, |b| {
        if let TensorDesc::F32 { data, .. } = &mut b.tensors.dense {
            *data = &data[..data.len() - 4];
        }
    });
    assert_eq!(
        Model::from_bytes(&m).unwrap_err(),
        Error::TensorLength { tensor: TensorName::Dense, part: "data", expected: 1024, found: 1020 }
    );

    let m = rewrite(f32_file, |b| b.tensors.output_bias = &b.tensors.output_bias[4..]);
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::TensorLength { tensor: TensorName::OutputBias, .. }));

    // Dims at their limits with tensors left small: the first tensor whose shape disagrees is named.
    let m = rewrite(f32_file, |b| {
        b.header.dims.hidden = 65536;
        b.header.dims.emb = 65536;
    });
    assert_eq!(
        Model::from_bytes(&m).unwrap_err(),
        Error::TensorShape { tensor: TensorName::Embedding, expected: (31, 65536), found: (31, 8) }
    );

    let bad_index = 99u16.to_le_bytes();
    let mut cols_copy = Vec::new();
    let m = rewrite(sparse_file, |b| {
        if let TensorDesc::Int8Block8x4 { block_cols, .. } = &mut b.tensors.gru_recurrent {
            cols_copy = block_cols.to_vec();
            cols_copy[..2].copy_from_slice(&bad_index);
        }
    });
    // Rewrite again with the owned copy borrowed for the encode.
    let m = {
        let (mut body, _) = format::decode(&m).unwrap();
        if let TensorDesc::Int8Block8x4 { block_cols, .. } = &mut body.tensors.gru_recurrent {
            *block_cols = &cols_copy;
        }
        encode_file(&body)
    };
    assert!(matches!(
        Model::from_bytes(&m).unwrap_err(),
        Error::SparseIndex { tensor: TensorName::GruRecurrent, row_block: 0, value: 99, .. }
    ));

    let nan = f32::NAN.to_le_bytes();
    let mut scales_copy = Vec::new();
    let (body, _) = format::decode(sparse_file).unwrap();
    if let TensorDesc::Int8Block8x4 { scales, .. } = &body.tensors.output {
        scales_copy = scales.to_vec();
        scales_copy[8..12].copy_from_slice(&nan);
    }
    let mut body2 = body.clone();
    if let TensorDesc::Int8Block8x4 { scales, .. } = &mut body2.tensors.output {
        *scales = &scales_copy;
    }
    assert_eq!(Model::from_bytes(&encode_file(&body2)).unwrap_err(), Error::BadScale { tensor: TensorName::Output, row: 2 });

    let m = rewrite(f32_file, |b| b.header.numerics = edgegru_runtime::Numerics::HybridInt8 { weight_scale: format::ScaleRule::MaxAbs });
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::NumericsMismatch { tensor: TensorName::GruInput, .. }));

    // Integer numerics read int8 embedding rows: a float embedding is refused.
    let float_embedding = char_model(8, 16, 16, 1).to_bytes(&ExportOptions { embedding: WeightKind::F32, ..ExportOptions::int8(false) });
    let m =
        rewrite(&float_embedding, |b| b.header.numerics = edgegru_runtime::Numerics::Integer { weight_scale: format::ScaleRule::MaxAbs });
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::NumericsMismatch { tensor: TensorName::Embedding, .. }));
}

#[test]
fn broken_tokenizer_tables_are_refused() {
    let word_file = &valid_files()[3];
    let (body, _) = format::decode(word_file).unwrap();
    let t = &body.header.tokenizer;

    let mut swapped = t.sorted.to_vec();
    let n = swapped.len();
    swapped.swap(0, n - 4);
    swapped.swap(1, n - 3);
    swapped.swap(2, n - 2);
    swapped.swap(3, n - 1);
    let mut b = body.clone();
    b.header.tokenizer.sorted = &swapped;
    assert!(
        matches!(Model::from_bytes(&encode_file(&b)).unwrap_err(), Error::Tokenizer { reason, .. } if reason.contains("strictly increasing"))
    );

    let mut b = body.clone();
    b.header.tokenizer.ends = &t.ends[..t.ends.len() - 4];
    assert!(matches!(Model::from_bytes(&encode_file(&b)).unwrap_err(), Error::Tokenizer { .. }));

    let mut b = body.clone();
    b.header.tokenizer.oov = Some(1000);
    assert_eq!(Model::from_bytes(&encode_file(&b)).unwrap_err(), Error::Tokenizer { reason: "oov id is out of range", index: 1000 });

    let bad_utf8 = [t.text, &[0xff]].concat();
    let mut b = body.clone();
    b.header.tokenizer.text = &bad_utf8;
    assert!(matches!(Model::from_bytes(&encode_file(&b)).unwrap_err(), Error::Tokenizer { reason: "token text is not UTF-8", .. }));

    let mut ends = t.ends.to_vec();
    ends[8..12].copy_from_slice(&0u32.to_le_bytes());
    let mut b = body.clone();
    b.header.tokenizer.ends = &ends;
    assert!(matches!(Model::from_bytes(&encode_file(&b)).unwrap_err(), Error::Tokenizer { .. }));
}
