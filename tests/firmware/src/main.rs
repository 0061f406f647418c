//! Test firmware: loads a model from flash; a language model generates tokens
//! greedily from a fixed prompt, a feature model (sequence classifier)
//! streams sequences step by step. It prints the result over semihosting and
//! exits 0 only if it equals what the host produced for the same model and
//! inputs (text, or every step's output bits). Also reports the arena and
//! the peak stack the run used.

#![no_std]
#![no_main]

use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};

use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::debug;
use edgegru_runtime::{InputKind, Model, Rng, SamplingParams, Session};

/// The model's bytes, 4-aligned as a model in flash should be (some
/// kernels then read its row tables by words).
static MODEL: &[u8] = &ALIGNED.0;
#[repr(C, align(4))]
struct Aligned<T: ?Sized>(T);
static ALIGNED: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.egru")));
const PROMPT: &str = include_str!(concat!(env!("OUT_DIR"), "/prompt.txt"));
const EXPECTED: &str = include_str!(concat!(env!("OUT_DIR"), "/expected.txt"));
const TOKENS: usize = include!(concat!(env!("OUT_DIR"), "/tokens.rs"));
/// The host's text with seeded sampling (top-k, then top-p), when given.
#[cfg(not(feature = "quiet"))]
const SAMPLED: Option<(&str, &str)> = include!(concat!(env!("OUT_DIR"), "/sampled.rs"));
const ARENA_BYTES: usize = include!(concat!(env!("OUT_DIR"), "/arena.rs"));
// CHANNELS, FEATURES (f32 bits, time-major), STEPS and SEQUENCES of a feature model's inputs.
include!(concat!(env!("OUT_DIR"), "/features.rs"));
/// Room for the generated text (at most 4 UTF-8 bytes per character token),
/// or for one line of a feature model's output bits.
const OUT_BYTES: usize = if TOKENS > 0 { 4 * TOKENS + 64 } else { 1024 };

/// Prints over semihosting; prints nothing with the `quiet` feature, whose
/// build measures the code size of the runtime without `core::fmt`.
macro_rules! say {
    ($($arg:tt)*) => {
        #[cfg(not(feature = "quiet"))]
        cortex_m_semihosting::hprintln!($($arg)*);
    };
}

#[cfg(feature = "bench")]
mod bench;
#[cfg(not(any(feature = "quiet", feature = "baseline")))]
mod kernel_check;

/// The session arena and the output buffer, in static RAM (not on the stack).
static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];
static mut OUT: [u8; OUT_BYTES] = [0; OUT_BYTES];
/// Room for one product's int32 sums, when timing the products alone.
#[cfg(feature = "bench")]
static mut ACC: [i32; include!(concat!(env!("OUT_DIR"), "/acc.rs"))] = [0; include!(concat!(env!("OUT_DIR"), "/acc.rs"))];

/// Fill pattern of unused stack.
const PAINT: u32 = 0xA5A5_5A5A;

extern "C" {
    /// End of static data (start of the space the stack grows into), from cortex-m-rt's link.x.
    static __sheap: u32;
    /// Initial stack pointer (top of RAM), from cortex-m-rt's link.x.
    static _stack_start: u32;
}

fn stack_bounds() -> (usize, usize) {
    (addr_of!(__sheap) as usize, addr_of!(_stack_start) as usize)
}

/// Fills the free stack (below the current frame) with [`PAINT`].
fn paint_stack() {
    let (bottom, _) = stack_bounds();
    let end = cortex_m::register::msp::read() as usize - 256;
    let mut p = bottom.next_multiple_of(4);
    while p < end {
        // SAFETY: [bottom, end) lies between the end of static data and the live
        // stack frames (256 bytes below the stack pointer), memory nothing uses yet.
        unsafe { write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// The lowest stack address ever written (the stack grows down).
fn stack_low_water() -> usize {
    let (bottom, top) = stack_bounds();
    let mut p = bottom.next_multiple_of(4);
    // SAFETY: reads words of RAM between the end of static data and the stack top.
    while p < top && unsafe { read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    p
}

#[entry]
fn main() -> ! {
    paint_stack();
    #[cfg(feature = "bench")]
    if let Some(p) = cortex_m::Peripherals::take() {
        bench::start_timer(p.SYST);
    }
    let ok = run();
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}

// The runtime calls, kept out of line so that their stack use can be
// measured from the caller's stack pointer.

#[inline(never)]
fn load() -> edgegru_runtime::Result<Model<'static>> {
    Model::from_bytes(MODEL)
}

#[inline(never)]
fn new_session<'s>(model: &'s Model<'static>, arena: &'s mut [u8]) -> edgegru_runtime::Result<Session<'s, 'static>> {
    Session::new(model, arena)
}

#[inline(never)]
fn generate(session: &mut Session<'_, '_>, out: &mut [u8]) -> edgegru_runtime::Result<usize> {
    session.generate_into(PROMPT, TOKENS, &SamplingParams::GREEDY, &mut Rng::new(0), out)
}

/// What the run produced.
enum Outcome {
    /// A language model's text, `.0` bytes of the output buffer.
    Text(usize),
    /// A feature model's output lines, all equal to the host's.
    Lines(usize),
    /// A feature model's output line `line` differs (the device's line is `len` bytes of the buffer).
    Differs { line: usize, len: usize },
}

/// A byte buffer that lines are written into without `core::fmt`.
struct Line<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Line<'_> {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }

    fn decimal(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn hex32(&mut self, v: u32) {
        for shift in (0..8).rev() {
            self.push(&[b"0123456789abcdef"[((v >> (4 * shift)) & 0xf) as usize]]);
        }
    }
}

/// Streams each sequence through the session (reset between sequences),
/// writes every step's outputs into `line` as `edgegru predict --exact`
/// prints them, and compares each line with the host's. Returns the number
/// of lines compared, or the first line that differs (0-based) with the
/// device's line length in `line`.
#[inline(never)]
fn classify(session: &mut Session<'_, '_>, line: &mut [u8]) -> edgegru_runtime::Result<Result<usize, (usize, usize)>> {
    let mut values = FEATURES.chunks_exact(CHANNELS);
    let mut expected = EXPECTED.lines();
    let mut x = [0f32; 64];
    let mut n = 0;
    for (&index, &steps) in SEQUENCES.iter().zip(&STEPS) {
        session.reset();
        for t in 0..steps {
            let bits = values.next().unwrap_or(&[]);
            for (dst, &b) in x.iter_mut().zip(bits) {
                *dst = f32::from_bits(b);
            }
            let probs = session.step_features(&x[..bits.len().min(x.len())])?;
            let mut w = Line { buf: &mut *line, len: 0 };
            w.push(b"sequence ");
            w.decimal(index);
            w.push(b" step ");
            w.decimal(t);
            w.push(b":");
            for p in probs {
                w.push(b" ");
                w.hex32(p.to_bits());
            }
            let len = w.len;
            if expected.next().map(str::as_bytes) != Some(&line[..len]) || len == line.len() {
                return Ok(Err((n, len)));
            }
            n += 1;
        }
    }
    Ok(if expected.next().is_none() { Ok(n) } else { Err((n, 0)) })
}

/// The fixed-capacity (`heapless`) API a Rust firmware uses: the prompt
/// encodes and decodes back to itself, and the next-token suggestions come
/// most likely first. Not in the `quiet` build, whose code size is the
/// runtime's own.
#[cfg(not(feature = "quiet"))]
fn fixed_capacity_api(model: &Model<'_>, session: &mut Session<'_, '_>) -> bool {
    let Some(tok) = model.tokenizer() else { return false };
    let round_trip = tok.encode_vec::<64>(PROMPT).and_then(|ids| tok.decode_string::<128>(&ids));
    let same = matches!(&round_trip, Ok(back) if back.as_str() == PROMPT);
    say!("prompt through encode_vec and decode_string: {:?}", round_trip.as_ref().map(|s| s.as_str()));
    let top = session.top_k_vec::<3>(false);
    let ordered = matches!(&top, Ok(t) if t.len() == 3 && t.windows(2).all(|w| w[0].prob >= w[1].prob));
    if let Ok(top) = &top {
        for t in top {
            say!("next token {:?} p={}", tok.token_text(t.token).unwrap_or("?"), t.prob);
        }
    }
    same && ordered
}

#[cfg(feature = "quiet")]
fn fixed_capacity_api(_: &Model<'_>, _: &mut Session<'_, '_>) -> bool {
    true
}

/// Seeded sampling against the host's (`edgegru generate --temperature 0.8
/// --seed 7` with `--top-k 40`, then with `--top-p 0.9`): the same text, so
/// the same probabilities and draws, bit for bit. Not in the `quiet` build.
#[cfg(not(feature = "quiet"))]
fn sampling_equal(session: &mut Session<'_, '_>, out: &mut [u8]) -> bool {
    let Some((top_k, top_p)) = SAMPLED else {
        say!("seeded sampling not checked (EDGEGRU_FW_EXPECTED_TOP_K and EDGEGRU_FW_EXPECTED_TOP_P unset)");
        return true;
    };
    let warm = SamplingParams { temperature: 0.8, top_k: 0, top_p: 1.0, allow_oov: false };
    for (name, params, expected) in
        [("top-k 40", SamplingParams { top_k: 40, ..warm }, top_k), ("top-p 0.9", SamplingParams { top_p: 0.9, ..warm }, top_p)]
    {
        session.reset();
        let n = session.generate_into(PROMPT, TOKENS, &params, &mut Rng::new(7), out);
        let text = n.ok().and_then(|n| core::str::from_utf8(&out[..n]).ok());
        if text != Some(expected) {
            say!("FAIL: seeded sampling, {}: device {:?}, host {:?}", name, text, expected);
            return false;
        }
    }
    say!("PASS: seeded sampling (temperature 0.8, seed 7; top-k 40, then top-p 0.9) gives the host's text");
    true
}

#[cfg(feature = "quiet")]
fn sampling_equal(_: &mut Session<'_, '_>, _: &mut [u8]) -> bool {
    true
}

fn run() -> bool {
    let base = cortex_m::register::msp::read() as usize;
    let model = match load() {
        Ok(m) => m,
        Err(_e) => {
            say!("error: cannot load the model: {}", _e);
            return false;
        }
    };
    // SAFETY: `run` is called once, from `main`, and no interrupt handler touches
    // these buffers: these are the only references to them.
    let (arena, out) = unsafe { (&mut *addr_of_mut!(ARENA), &mut *addr_of_mut!(OUT)) };
    let mut session = match new_session(&model, arena) {
        Ok(s) => s,
        Err(_e) => {
            say!("error: {}", _e);
            return false;
        }
    };
    let outcome = match model.input() {
        InputKind::Tokens { .. } => generate(&mut session, out).map(Outcome::Text),
        InputKind::Features { .. } => classify(&mut session, out).map(|r| match r {
            Ok(lines) => Outcome::Lines(lines),
            Err((line, len)) => Outcome::Differs { line, len },
        }),
    };
    // Measured before anything is printed (printing uses stack too).
    let low = stack_low_water();
    let same = match outcome {
        Err(_e) => {
            say!("error: {}", _e);
            return false;
        }
        Ok(Outcome::Text(n)) => {
            let text = core::str::from_utf8(&out[..n]).unwrap_or("<not UTF-8>");
            say!("prompt {:?}", PROMPT);
            say!("device {:?}", text);
            if text != EXPECTED {
                say!("host   {:?}", EXPECTED);
            }
            text == EXPECTED && fixed_capacity_api(&model, &mut session) && sampling_equal(&mut session, out)
        }
        Ok(Outcome::Lines(_lines)) => {
            say!(
                "sequences {:?} ({} steps of {} features): all {} lines of output bits equal the host's",
                SEQUENCES,
                STEPS.iter().sum::<usize>(),
                CHANNELS,
                _lines
            );
            true
        }
        Ok(Outcome::Differs { line: _line, len: _len }) => {
            say!("line {} differs: device {:?}", _line, core::str::from_utf8(&out[.._len]).unwrap_or(""));
            say!("host   {:?}", EXPECTED.lines().nth(_line));
            false
        }
    };
    say!("model {} ({} bytes, numerics {}, kernels {})", model.provenance().name, MODEL.len(), model.numerics().name(), model.isa().name());
    let _runtime_stack = base.saturating_sub(low);
    say!(
        "arena {} bytes, runtime peak stack {} bytes (load, session, generate or classify), arena + stack {} bytes",
        model.arena_size(),
        _runtime_stack,
        model.arena_size() + _runtime_stack
    );
    say!("firmware peak stack {} bytes (everything, from reset)", stack_bounds().1 - low);
    say!(
        "{}",
        if same { "PASS: the device output equals the host output" } else { "FAIL: the device output differs from the host output" }
    );
    same && kernels_equal_scalar() && bench(arena, out)
}

/// The kernel sets of this core against the scalar kernels (after the stack
/// was measured: the check's buffers live on the stack).
#[cfg(not(any(feature = "quiet", feature = "baseline")))]
fn kernels_equal_scalar() -> bool {
    use edgegru_runtime::Isa;
    if !Isa::ALL.into_iter().any(|i| i.is_available() && i != Isa::Scalar) {
        return true;
    }
    match kernel_check::run() {
        Ok(n) => {
            say!(
                "PASS: kernels {:?} give the scalar kernels' results on {} random products, requantizations and element-wise steps (gates, int8 forms, f32 conversions, the greedy pick)",
                Isa::best().name(),
                n
            );
            true
        }
        Err((isa, shape)) => {
            say!("FAIL: kernels {} differ from the scalar kernels on shape {}", isa.name(), shape);
            false
        }
    }
}

/// Nothing to compare: no kernel sets but scalar (`baseline`), or no printing (`quiet`).
#[cfg(any(feature = "quiet", feature = "baseline"))]
fn kernels_equal_scalar() -> bool {
    true
}

/// The per-token cost of every kernel set (see `bench.rs`).
#[cfg(feature = "bench")]
fn bench(arena: &mut [u8], out: &mut [u8]) -> bool {
    // SAFETY: called once, from `run`; nothing else references ACC.
    let acc = unsafe { &mut *addr_of_mut!(ACC) };
    bench::run(arena, out, acc)
}

#[cfg(not(feature = "bench"))]
fn bench(_: &mut [u8], _: &mut [u8]) -> bool {
    true
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    say!("panic: {}", _info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    say!("hard fault at pc {:#010x}", _frame.pc());
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
