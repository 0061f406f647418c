//! The per-token cost harness: counts the instructions a step takes, with
//! every kernel set the core has, and the share of the matrix products.
//!
//! QEMU is not cycle-accurate, so this counts instructions: run with
//! `-icount shift=0`, QEMU's virtual clock advances one nanosecond per
//! instruction retired, and SysTick (clocked from that virtual clock) then
//! measures instructions. The firmware does not trust the board's clock
//! figure: it calibrates SysTick against a loop of known length (two
//! instructions per iteration) and converts ticks with that ratio. Without
//! `-icount` the ticks follow the host's clock and the figures mean nothing
//! (the calibration line shows it: the ratio is not a whole number).

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use edgegru_runtime::{InputKind, Isa, Matrix, Model, Rng, SamplingParams, Session, TensorName};

use crate::{Line, CHANNELS, EXPECTED, FEATURES, MODEL, PROMPT, STEPS, TOKENS};

/// SysTick wraps (every 2^24 ticks).
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.store(WRAPS.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Ticks since the timer started (the counter counts down from 2^24 - 1).
fn now() -> u64 {
    loop {
        let wraps = WRAPS.load(Ordering::Relaxed);
        let current = SYST::get_current();
        if WRAPS.load(Ordering::Relaxed) == wraps {
            return ((wraps as u64) << 24) + (0x00ff_ffff - current) as u64;
        }
    }
}

/// Starts SysTick on the core clock, free running, counting its wraps.
pub fn start_timer(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00ff_ffff);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Iterations of the calibration loop (two instructions each).
const CALIBRATION_LOOPS: u32 = 1_000_000;

/// Ticks that `2 * CALIBRATION_LOOPS` instructions take.
fn calibrate() -> u64 {
    let t0 = now();
    let mut n = CALIBRATION_LOOPS;
    // SAFETY: a register-only countdown loop (`subs` + `bne`, Thumb-1, so it
    // runs on every core).
    unsafe { core::arch::asm!("2:", "subs {n}, #1", "bne 2b", n = inout(reg) n, options(nomem, nostack)) };
    let _ = n;
    now() - t0
}

/// Converts ticks to instructions with the calibration.
struct Clock {
    ticks: u64,
}

impl Clock {
    fn instructions(&self, ticks: u64) -> u64 {
        (ticks * 2 * CALIBRATION_LOOPS as u64 + self.ticks / 2) / self.ticks.max(1)
    }
}

/// Runs the benchmark for every kernel set this core has; returns whether
/// every run gave the host's outputs.
pub fn run(arena: &mut [u8], out: &mut [u8], acc: &mut [i32]) -> bool {
    let clock = Clock { ticks: calibrate() };
    say!("bench calibration: {} instructions = {} SysTick ticks", 2 * CALIBRATION_LOOPS, clock.ticks);
    let mut ok = true;
    for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
        let Ok(mut model) = Model::from_bytes(MODEL) else { return false };
        if model.set_isa(isa).is_err() {
            return false;
        }
        let products = products(&model, isa, acc, &clock);
        let Ok(mut session) = Session::new(&model, &mut *arena) else { return false };
        let measured = match model.input() {
            InputKind::Tokens { .. } => tokens(&mut session, out, &clock),
            InputKind::Features { .. } => features(&mut session, out, &clock),
        };
        let Some((steps, instructions, same)) = measured else { return false };
        let macs: usize = model.matrices().filter(|(n, _)| *n != TensorName::Embedding).map(|(_, m)| macs_of(&m)).sum();
        say!(
            "bench kernels={} steps={} instructions_per_step={} product_instructions_per_step={} macs_per_step={} same_as_host={}",
            isa.name(),
            steps,
            instructions / steps.max(1) as u64,
            products.unwrap_or(0),
            macs,
            same
        );
        ok &= same && products.is_some();
    }
    ok
}

/// Multiply-accumulates of one product with `m`: every weight of a dense
/// matrix, 32 per stored 8x4 block of a sparse one (from its density, so
/// that a runtime without `Matrix::macs` is measured the same way).
fn macs_of(m: &Matrix<'_>) -> usize {
    if m.is_sparse() {
        let all = m.rows().div_ceil(8) * m.cols().div_ceil(4);
        (m.density() * all as f32 + 0.5) as usize * 32
    } else {
        m.rows() * m.cols()
    }
}

/// Instructions of one step's matrix products (the embedding is a lookup,
/// not a product), each product run with a fixed input; `None` if a matrix
/// is float or larger than the buffers. Without the `products` feature (a
/// build against a runtime that predates `Matrix::product_i8`), `Some(0)`.
#[cfg(not(feature = "products"))]
fn products(_: &Model<'_>, _: Isa, _: &mut [i32], _: &Clock) -> Option<u64> {
    Some(0)
}

#[cfg(feature = "products")]
fn products(model: &Model<'_>, isa: Isa, acc: &mut [i32], clock: &Clock) -> Option<u64> {
    let mut x = [0i8; 1024];
    for (i, v) in x.iter_mut().enumerate() {
        *v = ((i * 37 % 255) as i32 - 127) as i8;
    }
    let mut ticks = 0;
    for (_, m) in model.matrices().filter(|(n, _)| *n != TensorName::Embedding) {
        let padded = m.cols().div_ceil(4) * 4;
        let t0 = now();
        let done = m.product_i8(isa, x.get(..padded)?, acc);
        ticks += now() - t0;
        if !done {
            return None;
        }
    }
    Some(clock.instructions(ticks))
}

/// Greedy generation after the prompt: the instructions of `TOKENS` x
/// (sample + step), timed around those calls only; the text must be the host's.
fn tokens(session: &mut Session<'_, '_>, out: &mut [u8], clock: &Clock) -> Option<(usize, u64, bool)> {
    let tok = *session.model().tokenizer()?;
    session.feed(PROMPT).ok()?;
    let mut rng = Rng::new(0);
    let mut line = Line { buf: out, len: 0 };
    let (mut ticks, mut sample_ticks) = (0, 0);
    for _ in 0..TOKENS {
        let t0 = now();
        let t = session.sample(&SamplingParams::GREEDY, &mut rng).ok()?;
        let t1 = now();
        session.step(t).ok()?;
        let t2 = now();
        ticks += t2 - t0;
        sample_ticks += t1 - t0;
        line.push(tok.token_text(t).unwrap_or("").as_bytes());
    }
    let same = &line.buf[..line.len] == EXPECTED.as_bytes();
    say!("bench sampling: {} instructions per token", clock.instructions(sample_ticks) / TOKENS.max(1) as u64);
    Some((TOKENS, clock.instructions(ticks), same))
}

/// Every step of the chosen sequences, timed around `step_features` only;
/// every step's outputs must have the host's bits.
fn features(session: &mut Session<'_, '_>, out: &mut [u8], clock: &Clock) -> Option<(usize, u64, bool)> {
    let mut values = FEATURES.chunks_exact(CHANNELS);
    let mut expected = EXPECTED.lines();
    let mut x = [0f32; 64];
    let (mut steps, mut ticks, mut same) = (0, 0, true);
    for &n in &STEPS {
        session.reset();
        for _ in 0..n {
            let bits = values.next().unwrap_or(&[]);
            for (dst, &b) in x.iter_mut().zip(bits) {
                *dst = f32::from_bits(b);
            }
            let t0 = now();
            let probs = session.step_features(&x[..bits.len().min(x.len())]).ok()?;
            ticks += now() - t0;
            let mut line = Line { buf: &mut *out, len: 0 };
            for p in probs {
                line.push(b" ");
                line.hex32(p.to_bits());
            }
            let len = line.len;
            same &= expected.next().is_some_and(|e| e.as_bytes().ends_with(&out[..len]));
            steps += 1;
        }
    }
    Some((steps, clock.instructions(ticks), same))
}
