//! The runtime never touches the global allocator: a counting allocator
//! watches load, session creation, 1000 steps and a generate call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use edgegru_runtime::writer::ExportOptions;
use edgegru_runtime::{Activation, InputKind, Model, Rng, SamplingParams, Session, TokenProb};
use edgegru_tests::{char_model, feature_classifier, word_model, ToFile};

struct Counting;

thread_local! {
    /// Set on the thread under test only: the test harness's own threads
    /// allocate concurrently (output capture, timing), and must not count.
    static WATCHED: Cell<bool> = const { Cell::new(false) };
    /// Allocations this thread made while watched.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    if WATCHED.with(|w| w.get()) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

fn allocations() -> usize {
    ALLOCATIONS.with(|a| a.get())
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn run_without_allocating(file: &[u8], arena: &mut [u8], out: &mut [u8], state: &mut [u8]) -> usize {
    let before = allocations();
    WATCHED.with(|w| w.set(true));
    let model = Model::from_bytes(file).unwrap();
    let mut s = Session::new(&model, arena).unwrap();
    let mut n = 1;
    match model.input() {
        InputKind::Tokens { vocab, .. } => {
            for i in 0..1000u32 {
                s.step((i * 7) % vocab as u32).unwrap();
            }
            let mut top = [TokenProb::default(); 5];
            s.top_k_next(&mut top, false).unwrap();
            let params = SamplingParams { temperature: 0.9, top_k: 20, top_p: 0.9, allow_oov: false };
            let saved = s.save_state(state).unwrap();
            n = s.generate_into("the cat ", 50, &params, &mut Rng::new(1), out).unwrap();
            s.restore_state(&state[..saved]).unwrap();
            let mut ids = [0u32; 16];
            model.tokenizer().unwrap().encode("the cat", &mut ids).unwrap();
            let _: heapless::String<64> = s.generate_string("a", 5, &params, &mut Rng::new(2)).unwrap();
        }
        InputKind::Features { count } => {
            let mut f = [0.0f32; 64];
            for i in 0..1000 {
                f[i % count] = (i as f32 * 0.37).sin();
                s.step_features(&f[..count]).unwrap();
            }
            let saved = s.save_state(state).unwrap();
            s.restore_state(&state[..saved]).unwrap();
        }
    }
    WATCHED.with(|w| w.set(false));
    assert!(n > 0);
    allocations() - before
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    WATCHED.with(|w| w.set(true));
    let v = std::hint::black_box(vec![1u8; 64]);
    WATCHED.with(|w| w.set(false));
    drop(v);
    assert_eq!(allocations() - before, 1);
}

#[test]
fn load_session_steps_and_generate_allocate_nothing() {
    let char_files = [ExportOptions::default(), ExportOptions::int8(false), ExportOptions::int8(true), ExportOptions::integer(true)]
        .map(|o| char_model(16, 64, 64, 1).file(&o));
    let word_file = word_model(&["the", "cat", "sat"], 8, 16, 8, 2).file(&ExportOptions::int8(true));
    let stacked = feature_classifier(6, &[24, 16], &[(8, Activation::Tanh)], 4, 3);
    let feature_files = [ExportOptions::default(), ExportOptions::int8(true), ExportOptions::integer(false)].map(|o| stacked.file(&o));
    for file in char_files.iter().chain([&word_file]).chain(&feature_files) {
        let model = Model::from_bytes(file).unwrap();
        let mut arena = vec![0u8; model.arena_size()];
        let mut out = vec![0u8; 4096];
        let mut state = vec![0u8; 1 << 16];
        assert_eq!(run_without_allocating(file, &mut arena, &mut out, &mut state), 0);
    }
}
