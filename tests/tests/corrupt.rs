//! Loading never panics and never reads out of bounds: mutated files either
//! load (and then run) or give a precise error.

use edgegru_runtime::format::{self, v1, AnyBody, Body, Extension, HeadKindDesc, InputDesc, TensorDesc};
use edgegru_runtime::writer::{encode_file, relayout, ExportOptions, FloatInput, FloatModel, Layout, OwnedTensor, WeightKind};
use edgegru_runtime::{Activation, Error, Fill, InputKind, Model, Rng, SamplingParams, Session, TensorName};
use edgegru_tests::{char_model, feature_classifier, fix_checksum, v1_bytes, word_model, ToFile};

/// A feature model with named features and a fill policy (a version-4 file).
fn named(mut m: FloatModel, fill: Fill) -> FloatModel {
    if let FloatInput::Features { mean, names, fill: f, .. } = &mut m.input {
        *names = (0..mean.len()).map(|i| format!("sensor {i}")).collect();
        *f = fill;
    }
    m
}

/// Version-1 files (the format before networks), then version-2 networks,
/// then version-3 networks (the arm-dsp layout), then version-4 ones
/// (feature names and a fill policy).
fn valid_files() -> Vec<Vec<u8>> {
    let c = char_model(8, 16, 16, 1);
    let w = word_model(&["the", "cat", "sat", "on", "mat"], 8, 16, 8, 2);
    let stacked = feature_classifier(5, &[16, 8], &[(12, Activation::Tanh), (8, Activation::Sigmoid)], 3, 4);
    let previous = named(stacked.clone(), Fill::Previous);
    vec![
        v1_bytes(&c, &ExportOptions::default()),
        v1_bytes(&c, &ExportOptions::int8(false)),
        v1_bytes(&c, &ExportOptions::int8(true)),
        v1_bytes(&w, &ExportOptions::int8(true)),
        v1_bytes(&c, &ExportOptions::integer(true)),
        c.file(&ExportOptions::int8(true)),
        w.file(&ExportOptions::integer(false)),
        stacked.file(&ExportOptions::default()),
        stacked.file(&ExportOptions::int8(true)),
        stacked.file(&ExportOptions::integer(true)),
        c.file(&ExportOptions { layout: Layout::ArmDsp, ..ExportOptions::int8(true) }),
        stacked.file(&ExportOptions { layout: Layout::ArmDsp, ..ExportOptions::integer(false) }),
        stacked.file(&ExportOptions { layout: Layout::ArmDsp, ..ExportOptions::integer(true) }),
        previous.file(&ExportOptions::int8(true)),
        named(stacked.clone(), Fill::Mean).file(&ExportOptions { layout: Layout::ArmDsp, ..ExportOptions::integer(true) }),
    ]
}

/// Whatever loads must also run without panicking.
fn exercise(bytes: &[u8]) -> Result<(), Error> {
    let model = Model::from_bytes(bytes)?;
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena)?;
    match model.input() {
        InputKind::Tokens { vocab, .. } => {
            for t in 0..(vocab as u32).min(4) {
                s.step(t)?;
            }
            let mut out = [0u8; 64];
            let _ = s.generate_into("", 8, &SamplingParams::default(), &mut Rng::new(1), &mut out);
        }
        InputKind::Features { count } => {
            for i in 0..4 {
                let mut f: Vec<f32> = (0..count).map(|j| (i * count + j) as f32 * 0.3 - 1.0).collect();
                f[i % count] = if i == 1 { f32::NAN } else { f[i % count] };
                // A NaN is filled or refused, as the file says; either way nothing panics.
                let _ = s.step_features(&f);
            }
        }
    }
    let mut state = vec![0u8; s.state_size()];
    s.save_state(&mut state)?;
    s.restore_state(&state)?;
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

/// The body of a version-1 file.
fn v1_body(file: &[u8]) -> v1::Body<'_> {
    match format::decode(file).unwrap().0 {
        AnyBody::V1(b) => b,
        AnyBody::V2(_) | AnyBody::V4(..) | AnyBody::V5(..) => panic!("a version-1 file"),
    }
}

/// The body of a version-2 or 3 file, or of a version-5 file whose
/// extension is empty (an integer-numerics model with no feature names).
fn v2_body(file: &[u8]) -> Body<'_> {
    match format::decode(file).unwrap().0 {
        AnyBody::V2(b) => b,
        AnyBody::V5(b, e, _) if e.feature_ends.is_empty() && e.fill == Fill::Refuse => b,
        AnyBody::V1(_) | AnyBody::V4(..) | AnyBody::V5(..) => panic!("a version-2 file"),
    }
}

fn encode_v1(body: &v1::Body<'_>) -> Vec<u8> {
    encode_file(1, body).unwrap()
}

fn encode_v2(body: &Body<'_>) -> Vec<u8> {
    encode_file(2, body).unwrap()
}

fn rewrite<'a>(file: &'a [u8], edit: impl FnOnce(&mut v1::Body<'a>)) -> Vec<u8> {
    let mut body = v1_body(file);
    edit(&mut body);
    encode_v1(&body)
}

fn rewrite_v2<'a>(file: &'a [u8], edit: impl FnOnce(&mut Body<'a>)) -> Vec<u8> {
    let mut body = v2_body(file);
    edit(&mut body);
    encode_v2(&body)
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
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::UnsupportedVersion { found: 9, supported: 6 });
    let mut m = file.clone();
    m[4] = 7;
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::UnsupportedVersion { found: 7, supported: 6 });
    let mut m = file.clone();
    m[4] = 0;
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::UnsupportedVersion { found: 0, supported: 6 });
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
        Error::TensorShape { tensor: TensorName::GruInput(0), expected: (51, 8), found: (48, 8) }
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
        Error::TensorLength { tensor: TensorName::Dense(0), part: "data", expected: 1024, found: 1020 }
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
        let mut body = v1_body(&m);
        if let TensorDesc::Int8Block8x4 { block_cols, .. } = &mut body.tensors.gru_recurrent {
            *block_cols = &cols_copy;
        }
        encode_v1(&body)
    };
    assert!(matches!(
        Model::from_bytes(&m).unwrap_err(),
        Error::SparseIndex { tensor: TensorName::GruRecurrent(0), row_block: 0, value: 99, .. }
    ));

    let nan = f32::NAN.to_le_bytes();
    let mut scales_copy = Vec::new();
    let body = v1_body(sparse_file);
    if let TensorDesc::Int8Block8x4 { scales, .. } = &body.tensors.output {
        scales_copy = scales.to_vec();
        scales_copy[8..12].copy_from_slice(&nan);
    }
    let mut body2 = body.clone();
    if let TensorDesc::Int8Block8x4 { scales, .. } = &mut body2.tensors.output {
        *scales = &scales_copy;
    }
    assert_eq!(Model::from_bytes(&encode_v1(&body2)).unwrap_err(), Error::BadScale { tensor: TensorName::Output, row: 2 });

    let m = rewrite(f32_file, |b| b.header.numerics = edgegru_runtime::Numerics::HybridInt8 { weight_scale: format::ScaleRule::MaxAbs });
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::NumericsMismatch { tensor: TensorName::GruInput(0), .. }));

    // Integer numerics read int8 embedding rows: a float embedding is refused.
    let float_embedding = v1_bytes(&char_model(8, 16, 16, 1), &ExportOptions { embedding: WeightKind::F32, ..ExportOptions::int8(false) });
    let m =
        rewrite(&float_embedding, |b| b.header.numerics = edgegru_runtime::Numerics::Integer { weight_scale: format::ScaleRule::MaxAbs });
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::NumericsMismatch { tensor: TensorName::Embedding, .. }));
}

#[test]
fn broken_tokenizer_tables_are_refused() {
    let word_file = &valid_files()[3];
    let body = v1_body(word_file);
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
        matches!(Model::from_bytes(&encode_v1(&b)).unwrap_err(), Error::Tokenizer { reason, .. } if reason.contains("strictly increasing"))
    );

    let mut b = body.clone();
    b.header.tokenizer.ends = &t.ends[..t.ends.len() - 4];
    assert!(matches!(Model::from_bytes(&encode_v1(&b)).unwrap_err(), Error::Tokenizer { .. }));

    let mut b = body.clone();
    b.header.tokenizer.oov = Some(1000);
    assert_eq!(Model::from_bytes(&encode_v1(&b)).unwrap_err(), Error::Tokenizer { reason: "oov id is out of range", index: 1000 });

    let bad_utf8 = [t.text, &[0xff]].concat();
    let mut b = body.clone();
    b.header.tokenizer.text = &bad_utf8;
    assert!(matches!(Model::from_bytes(&encode_v1(&b)).unwrap_err(), Error::Tokenizer { reason: "token text is not UTF-8", .. }));

    let mut ends = t.ends.to_vec();
    ends[8..12].copy_from_slice(&0u32.to_le_bytes());
    let mut b = body.clone();
    b.header.tokenizer.ends = &ends;
    assert!(matches!(Model::from_bytes(&encode_v1(&b)).unwrap_err(), Error::Tokenizer { .. }));
}

#[test]
fn inconsistent_networks_are_named() {
    let files = valid_files();
    let (float, integer) = (&files[7], &files[9]);
    // Layer counts the format does not hold.
    let m = rewrite_v2(float, |b| b.grus.clear());
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::LayerCount { kind: "GRU", count: 0, min: 1, max: 4 });
    // Five GRU layers on the wire (a list with a std Vec has the same encoding).
    #[derive(serde::Serialize)]
    struct ArmDspBody<'a> {
        header: format::Header<'a>,
        input: InputDesc<'a>,
        grus: Vec<format::GruDesc<'a>>,
        dense: Vec<format::DenseDesc<'a>>,
        head: format::HeadDesc<'a>,
    }
    let b = v2_body(float);
    let arm_dsp = ArmDspBody {
        header: b.header.clone(),
        input: b.input.clone(),
        grus: vec![b.grus[1].clone(); 5],
        dense: b.dense.to_vec(),
        head: b.head.clone(),
    };
    let err = Model::from_bytes(&encode_file(2, &arm_dsp).unwrap()).unwrap_err();
    assert!(matches!(err, Error::Decode { reason } if reason.contains("more layers than the format allows")), "{err}");
    // A layer that does not read what the one below gives: the second GRU reads the first's 16 states.
    let m = rewrite_v2(float, |b| b.grus.swap(0, 1));
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::TensorShape { tensor: TensorName::GruInput(0), .. }));
    let m = rewrite_v2(float, |b| {
        let d = b.dense[1].clone();
        b.dense[0] = d;
    });
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::TensorShape { tensor: TensorName::Dense(0), .. }));
    // Heads that do not fit: a next-token head on features; a class table of the wrong size.
    let m = rewrite_v2(float, |b| b.head.kind = HeadKindDesc::NextToken);
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::HeadMismatch { reason: "a next-token head needs token input" });
    let m = rewrite_v2(float, |b| {
        if let HeadKindDesc::Classes { ends, .. } = &mut b.head.kind {
            *ends = &ends[..4];
        }
    });
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::Names { .. }));
    // Feature normalization: NaN, and no features.
    let nan_mean = [f32::NAN.to_le_bytes(), [0; 4], [0; 4], [0; 4], [0; 4]].concat();
    let m = rewrite_v2(float, |b| {
        if let InputDesc::Features { mean, .. } = &mut b.input {
            *mean = &nan_mean;
        }
    });
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::NonFinite { tensor: TensorName::FeatureMean, index: 0 });
    let m = rewrite_v2(float, |b| {
        if let InputDesc::Features { count, .. } = &mut b.input {
            *count = 0;
        }
    });
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::BadDimension { name: "features", value: 0, .. }));
    // Integer numerics need a usable input scale.
    let m = rewrite_v2(integer, |b| {
        if let InputDesc::Features { quant_scale, .. } = &mut b.input {
            *quant_scale = 0.0;
        }
    });
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::BadScale { tensor: TensorName::FeatureScale, .. }));
}

/// The body of a version-3 file with `edit` applied, encoded as `version`.
fn rewrite_arm_dsp<'a>(file: &'a [u8], version: u16, edit: impl FnOnce(&mut Body<'a>)) -> Vec<u8> {
    let mut body = v2_body(file);
    edit(&mut body);
    encode_file(version, &body).unwrap()
}

/// The arm-dsp layout data of a dense tensor, or the blocks of a sparse one.
fn arm_dsp_bytes(t: &TensorDesc<'_>) -> Vec<u8> {
    match t {
        TensorDesc::Int8ArmDsp { data, .. } => data.to_vec(),
        TensorDesc::Int8ArmDspBlock8x4 { blocks, .. } => blocks.to_vec(),
        other => panic!("not an arm-dsp layout tensor: {}", other.kind_name()),
    }
}

/// `t` with its arm-dsp layout bytes replaced.
fn with_arm_dsp_bytes<'a>(t: &TensorDesc<'a>, bytes: &'a [u8]) -> TensorDesc<'a> {
    match t.clone() {
        TensorDesc::Int8ArmDsp { rows, cols, scales, .. } => TensorDesc::Int8ArmDsp { rows, cols, scales, data: bytes },
        TensorDesc::Int8ArmDspBlock8x4 { rows, cols, scales, row_blocks, block_cols, .. } => {
            TensorDesc::Int8ArmDspBlock8x4 { rows, cols, scales, row_blocks, block_cols, blocks: bytes }
        }
        other => other,
    }
}

#[test]
fn arm_dsp_layout_tensors_are_checked() {
    let files = valid_files();
    let (char_sparse, dense, sparse) = (&files[10], &files[11], &files[12]);
    // The arm-dsp layout is version 3; with integer numerics' row tables, 6.
    for (f, version) in [(char_sparse, 3), (dense, 6), (sparse, 6)] {
        assert_eq!(u16::from_le_bytes([f[4], f[5]]), version);
        exercise(f).unwrap();
    }
    // GRU 0 of the feature model reads 5 features: one padding column per group of its last group.
    let b = v2_body(dense);
    let mut bytes = arm_dsp_bytes(&b.grus[0].input);
    bytes[0..2].copy_from_slice(&128i16.to_le_bytes());
    let m = rewrite_arm_dsp(dense, 3, |b| b.grus[0].input = with_arm_dsp_bytes(&b.grus[0].input, &bytes));
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::ArmDspValue { tensor: TensorName::GruInput(0), index: 0 });
    // Column 5 of row 0 is padding (group 1, slot 2, as `[q4, q6, q5, q7]` stores it).
    let mut bytes = arm_dsp_bytes(&b.grus[0].input);
    let at = edgegru_runtime::kernels::arm_dsp_layout::dense_offset(2, 0, 5);
    bytes[at..at + 2].copy_from_slice(&1i16.to_le_bytes());
    let m = rewrite_arm_dsp(dense, 3, |b| b.grus[0].input = with_arm_dsp_bytes(&b.grus[0].input, &bytes));
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::ArmDspValue { tensor: TensorName::GruInput(0), index: at / 2 });
    // A sparse block's value out of range.
    let b = v2_body(sparse);
    let mut blocks = arm_dsp_bytes(&b.grus[1].recurrent);
    blocks[2..4].copy_from_slice(&(-128i16).to_le_bytes());
    let m = rewrite_arm_dsp(sparse, 3, |b| b.grus[1].recurrent = with_arm_dsp_bytes(&b.grus[1].recurrent, &blocks));
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::ArmDspValue { tensor: TensorName::GruRecurrent(1), .. }));
    // A wrong length.
    let m = rewrite_arm_dsp(sparse, 3, |b| b.grus[1].recurrent = with_arm_dsp_bytes(&b.grus[1].recurrent, &blocks[..blocks.len() - 2]));
    assert!(matches!(Model::from_bytes(&m).unwrap_err(), Error::TensorLength { tensor: TensorName::GruRecurrent(1), .. }));
    // The arm-dsp layout kinds only in a version-3 file, and never as an embedding.
    let m = rewrite_arm_dsp(dense, 2, |_| {});
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::UnsupportedTensorKind { tensor: TensorName::GruInput(0), kind: "int8-arm-dsp" });
    let b = v2_body(char_sparse);
    let InputDesc::Tokens { embedding, .. } = &b.input else { panic!("a token model") };
    let arm_dsp_embedding = OwnedTensor::from_desc(embedding, Layout::ArmDsp);
    let m = rewrite_arm_dsp(char_sparse, 3, |b| {
        if let InputDesc::Tokens { embedding, .. } = &mut b.input {
            *embedding = arm_dsp_embedding.desc();
        }
    });
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::UnsupportedTensorKind { tensor: TensorName::Embedding, kind: "int8-arm-dsp" });
}

/// The bits of every output of a few steps.
fn output_bits(file: &[u8]) -> Vec<u32> {
    let model = Model::from_bytes(file).unwrap();
    let mut arena = vec![0u8; model.arena_size()];
    let mut s = Session::new(&model, &mut arena).unwrap();
    let mut bits = vec![];
    for i in 0..6u32 {
        let out = match model.input() {
            InputKind::Tokens { vocab, .. } => s.step(i % vocab as u32).unwrap(),
            InputKind::Features { count } => {
                s.step_features(&(0..count).map(|j| (i as usize * count + j) as f32 * 0.37 - 1.5).collect::<Vec<_>>()).unwrap()
            }
        };
        bits.extend(out.iter().map(|v| v.to_bits()));
    }
    bits
}

#[test]
fn relayout_keeps_every_value_and_refuses_what_it_cannot_do() {
    let files = valid_files();
    for (i, f) in files.iter().enumerate() {
        let model = Model::from_bytes(f).unwrap();
        if !model.numerics().is_int8() {
            let err = relayout(f, Layout::ArmDsp).unwrap_err().to_string();
            assert!(err.contains("int8"), "{err}");
            continue;
        }
        let arm_dsp = relayout(f, Layout::ArmDsp).unwrap();
        assert_eq!(output_bits(&arm_dsp), output_bits(f), "file {i}: the arm-dsp layout computes the same bits");
        let float = |b: &[u8]| FloatModel::from_model(&Model::from_bytes(b).unwrap()).unwrap();
        assert_eq!(float(&arm_dsp), float(f), "file {i}: the same weights, read back (inspect, ONNX export)");
        let back = relayout(&arm_dsp, Layout::Portable).unwrap();
        assert_eq!(relayout(&back, Layout::ArmDsp).unwrap(), arm_dsp, "file {i}: the layouts convert both ways without loss");
        // Versions 2 and 3 go to 3 and back to 2; version 4 (its extension
        // kept) stays 4; integer numerics (row tables) are version 6.
        let (dsp_version, back_version) = match f[4] {
            _ if model.numerics().is_integer() => (6, 6),
            4 => (4, 4),
            _ => (3, 2),
        };
        assert_eq!(u16::from_le_bytes([arm_dsp[4], arm_dsp[5]]), dsp_version, "file {i}");
        assert_eq!(u16::from_le_bytes([back[4], back[5]]), back_version, "file {i}");
        // (valid_files()' files 6, 9 and 13 are portable ones of versions 4 and 6.)
        if f[4] == 2 || [6, 9, 13].contains(&i) {
            assert_eq!(&back, f, "file {i}: a portable file comes back byte for byte");
        }
    }
    assert!(matches!(relayout(&files[0][..20], Layout::ArmDsp), Err(edgegru_runtime::writer::WriteError::Load(_))));
}

/// A version-4 file's body and extension.
fn v4_parts(file: &[u8]) -> (Body<'_>, Extension<'_>) {
    match format::decode(file).unwrap().0 {
        AnyBody::V4(b, e) => (b, e),
        _ => panic!("a version-4 file"),
    }
}

#[test]
fn version_4_names_and_fill_are_checked() {
    let m = named(feature_classifier(3, &[8], &[], 2, 7), Fill::Previous);
    let file = m.file(&ExportOptions::int8(true));
    let model = Model::from_bytes(&file).unwrap();
    assert_eq!((model.format_version(), model.fill(), model.feature_name(2)), (4, Fill::Previous, Some("sensor 2")));
    assert_eq!(model.feature_name(3), None);
    let (body, ext) = v4_parts(&file);
    let write = |b: &Body<'_>, e: &Extension<'_>| encode_file(format::EXTENSION_VERSION, &(b, e)).unwrap();
    // Two names for three features.
    let ends: Vec<u8> = ext.feature_ends[..8].to_vec();
    let err = Model::from_bytes(&write(&body, &Extension { feature_ends: &ends, ..ext.clone() })).unwrap_err();
    assert!(matches!(err, Error::Names { .. }), "{err:?}");
    // An end past the text.
    let mut ends = ext.feature_ends.to_vec();
    ends[8..12].copy_from_slice(&1000u32.to_le_bytes());
    let err = Model::from_bytes(&write(&body, &Extension { feature_ends: &ends, ..ext.clone() })).unwrap_err();
    assert!(matches!(err, Error::Names { .. }), "{err:?}");
    // Names are not UTF-8.
    let text = vec![0xffu8; ext.feature_names.len()];
    let err = Model::from_bytes(&write(&body, &Extension { feature_names: &text, ..ext.clone() })).unwrap_err();
    assert!(matches!(err, Error::Names { .. }), "{err:?}");
    // A token model with a fill policy.
    let c = char_model(8, 16, 16, 1).file(&ExportOptions::int8(true));
    let token_body = v2_body(&c);
    let fill_only = Extension { feature_names: &[], feature_ends: &[], fill: Fill::Zero };
    let err = Model::from_bytes(&write(&token_body, &fill_only)).unwrap_err();
    assert_eq!(err, Error::Names { reason: "feature names or a fill policy in a token model", index: 0 });
    // An unknown fill: a decode error, not a model.
    let mut bad = write(&body, &ext);
    let last = bad.len() - 1;
    bad[last] = 9;
    fix_checksum(&mut bad);
    assert!(matches!(Model::from_bytes(&bad).unwrap_err(), Error::Decode { .. }));
    // Relayout keeps the extension.
    let moved = relayout(&file, Layout::ArmDsp).unwrap();
    let model = Model::from_bytes(&moved).unwrap();
    assert_eq!((model.format_version(), model.fill(), model.feature_name(0)), (4, Fill::Previous, Some("sensor 0")));
}

/// A version-5 or 6 file's row tables, body and extension.
fn table_parts(file: &[u8]) -> (format::RowTables<'_>, Body<'_>, Extension<'_>) {
    match format::decode(file).unwrap().0 {
        AnyBody::V5(b, e, t) => (t, b, e),
        _ => panic!("a file with row tables"),
    }
}

/// Where `part` starts in `file`.
fn offset_in(file: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - file.as_ptr() as usize
}

#[test]
fn row_tables_give_the_same_bits_and_are_checked() {
    let files = valid_files();
    // Every integer-numerics file is written with row tables (version 6);
    // without them (as version 2 or 4) it computes the same bits, and adding
    // them back (`with_row_tables`, then `align_sections`: what `edgegru
    // export --model` does) restores the file; so does the version-5 file
    // of the same tables.
    let integer: Vec<&Vec<u8>> = files.iter().filter(|f| f[4] == 6).collect();
    assert_eq!(integer.len(), 5, "the integer-numerics files of valid_files()");
    for f in integer {
        let (tables, body, ext) = table_parts(f);
        let rows = tables.shifts.len();
        assert!(rows > 0 && tables.multipliers.len() == 4 * rows && tables.biases.len() == 4 * rows);
        // Version 6 puts both word sections at multiples of 4 from the file's start.
        assert_eq!((offset_in(f, tables.multipliers) % 4, offset_in(f, tables.biases) % 4), (0, 0), "{rows} rows");
        let without = encode_file(format::EXTENSION_VERSION, &(&body, &ext)).unwrap();
        assert_eq!(output_bits(&without), output_bits(f), "the row tables change no output bit");
        let restored = edgegru_runtime::writer::with_row_tables(without).and_then(edgegru_runtime::writer::align_sections).unwrap();
        assert_eq!(&restored, f);
        let v5 = encode_file(format::ROW_TABLES_VERSION, &(&tables, &body, &ext)).unwrap();
        assert_eq!(output_bits(&v5), output_bits(f), "a version-5 file of the same tables");
        // Each kind of damage (the CRC fixed, so that it reaches the checks), in either version.
        let v5_of = |t: &format::RowTables<'_>| encode_file(format::ROW_TABLES_VERSION, &(t, &body, &ext)).unwrap();
        let v6_of = |t: &format::RowTables<'_>| {
            encode_file(format::ALIGNED_TABLES_VERSION, &(&format::AlignedRowTables::new(t, format::PREFIX_LEN), &body, &ext)).unwrap()
        };
        for write in [&v5_of as &dyn Fn(&format::RowTables<'_>) -> Vec<u8>, &v6_of] {
            for (section, at) in [(0usize, 4 * (rows - 1)), (1, rows / 2), (2, 0)] {
                let mut bytes = [tables.multipliers.to_vec(), tables.shifts.to_vec(), tables.biases.to_vec()];
                bytes[section][at] ^= 1;
                let t = format::RowTables { multipliers: &bytes[0], shifts: &bytes[1], biases: &bytes[2] };
                assert!(matches!(Model::from_bytes(&write(&t)).unwrap_err(), Error::RowTable { .. }), "section {section}");
            }
            let short = format::RowTables { shifts: &tables.shifts[1..], ..tables.clone() };
            assert!(matches!(Model::from_bytes(&write(&short)).unwrap_err(), Error::TensorLength { part: "shifts", .. }));
        }
        // Padding must be 0 to 3 zero bytes.
        let aligned = format::AlignedRowTables::new(&tables, format::PREFIX_LEN);
        for (lead, gap) in [(&[1u8][..], aligned.gap), (aligned.lead, &[0u8; 4][..])] {
            let t = format::AlignedRowTables { lead, gap, ..aligned.clone() };
            let file = encode_file(format::ALIGNED_TABLES_VERSION, &(&t, &body, &ext)).unwrap();
            assert!(matches!(Model::from_bytes(&file).unwrap_err(), Error::Decode { reason } if reason.contains("padding")));
            assert!(format::decode(&file).is_err());
        }
    }
    // The first entry of the head's table names the head.
    let f = &files[6];
    let (tables, body, ext) = table_parts(f);
    let head_rows = Model::from_bytes(f).unwrap().outputs();
    let mut biases = tables.biases.to_vec();
    let at = biases.len() - 4 * head_rows;
    biases[at] ^= 1;
    let t = format::RowTables { biases: &biases, ..tables.clone() };
    let m = encode_file(format::ROW_TABLES_VERSION, &(&t, &body, &ext)).unwrap();
    assert_eq!(Model::from_bytes(&m).unwrap_err(), Error::RowTable { tensor: TensorName::Output, row: 0 });
    // Numerics other than integer have no products to requantize: their tables must be empty.
    let (hybrid, empty) = (&files[5], format::RowTables { multipliers: &[], shifts: &[], biases: &[] });
    let body = v2_body(hybrid);
    let no_ext = Extension { feature_names: &[], feature_ends: &[], fill: Fill::Refuse };
    exercise(&encode_file(format::ROW_TABLES_VERSION, &(&empty, &body, &no_ext)).unwrap()).unwrap();
    let (t, ..) = table_parts(&files[6]);
    let err = Model::from_bytes(&encode_file(format::ROW_TABLES_VERSION, &(&t, &body, &no_ext)).unwrap()).unwrap_err();
    assert!(matches!(err, Error::TensorLength { part: "multipliers", expected: 0, .. }), "{err:?}");
}
