//! C API of edgegru (`libedgegru.a`, `libedgegru.so`, header
//! `include/edgegru.h`). Every symbol is prefixed `egru_`, every function
//! returns an [`egru_status`], nothing allocates, and misuse (null or
//! misaligned pointers, short buffers, bad ids, zeroed or stale handles,
//! corrupt models, calls from inside a session's own callback) is an error,
//! never undefined behaviour on the library's side. Rust panics never cross into C: with `std` each call runs
//! under `catch_unwind`; without it the runtime has no panicking paths on
//! input (it validates everything at load) and the crate can supply a
//! parking panic handler (feature `panic-handler`).
#![cfg_attr(not(feature = "std"), no_std)]
#![allow(non_camel_case_types)]
#![deny(missing_docs)]

use core::ffi::{c_char, c_void};
use core::mem::{align_of, size_of, MaybeUninit};

use edgegru_runtime::{Activation, Error, Fill, Head, InputKind, Layer, Model, Rng, SamplingParams, Session, StopReason, TokenProb};

/// Result of every call.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum egru_status {
    /// Success.
    EGRU_OK = 0,
    /// A required pointer was NULL.
    EGRU_ERR_NULL = 1,
    /// A pointer does not have the alignment its type needs.
    EGRU_ERR_MISALIGNED = 2,
    /// An output buffer is too small (nothing was changed).
    EGRU_ERR_BUFFER_TOO_SMALL = 3,
    /// The model bytes are not a valid .egru file (corrupt, truncated, inconsistent).
    EGRU_ERR_BAD_MODEL = 4,
    /// The .egru format version is not supported by this library: newer than it, or version 1 in a
    /// device build without the `format-v1` feature (`edgegru export --model OLD --out NEW` rewrites it as version 2).
    EGRU_ERR_UNSUPPORTED_VERSION = 5,
    /// The model bytes fail their CRC-32.
    EGRU_ERR_CHECKSUM = 6,
    /// The session arena is smaller than egru_model_arena_size().
    EGRU_ERR_ARENA_TOO_SMALL = 7,
    /// A token id is not below the vocabulary size.
    EGRU_ERR_TOKEN_OUT_OF_RANGE = 8,
    /// Text holds a token the vocabulary lacks and the model has no OOV token.
    EGRU_ERR_UNKNOWN_TOKEN = 9,
    /// The handle was never initialised (or its init failed).
    EGRU_ERR_NOT_INITIALIZED = 10,
    /// The session's model was re-initialised since the session was made.
    EGRU_ERR_STALE_SESSION = 11,
    /// A saved state does not belong to this model or is damaged.
    EGRU_ERR_STATE_MISMATCH = 12,
    /// A parameter is out of range (temperature, top_p, ...).
    EGRU_ERR_INVALID_PARAMETER = 13,
    /// Generation needs a prompt or an earlier step.
    EGRU_ERR_EMPTY_PROMPT = 14,
    /// Text is not valid UTF-8.
    EGRU_ERR_INVALID_UTF8 = 15,
    /// An internal error (a bug); the call had no effect that can be relied on.
    EGRU_ERR_INTERNAL = 16,
    /// The session is generating: a function of this session was called from
    /// inside its own token callback (nothing was done).
    EGRU_ERR_BUSY = 17,
    /// The model reads another kind of input: a token or text given to a
    /// feature model, features to a token model, or the wrong feature count.
    EGRU_ERR_WRONG_INPUT = 18,
    /// Text operations (feed, generate, top-k, tokenize) need a language
    /// model: token input and a next-token head.
    EGRU_ERR_NOT_A_LANGUAGE_MODEL = 19,
    /// The model has tensors in the arm-dsp layout or in 8x4 blocks, and this
    /// library was built without that layout (the `arm-dsp-layout` or
    /// `block-sparse` feature).
    EGRU_ERR_LAYOUT_NOT_BUILT_IN = 20,
    /// The model has float or hybrid-int8 numerics and this library was
    /// built for integer-only models (without the `float-numerics` feature).
    EGRU_ERR_NUMERICS_NOT_BUILT_IN = 21,
}

/// Why egru_session_generate() stopped.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum egru_stop_reason {
    /// `max_tokens` tokens were generated.
    EGRU_STOP_MAX_TOKENS = 0,
    /// The next token's text (with its separator and the terminating NUL) did
    /// not fit in `out`; that token was not consumed: the session and its
    /// random stream are as before it, so a later call continues exactly.
    EGRU_STOP_BUFFER_FULL = 1,
    /// The callback returned false (after it received its token, which was consumed).
    EGRU_STOP_CALLBACK = 2,
}

/// What a model reads per step.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum egru_input_kind {
    /// Token ids (text): egru_session_step(), egru_session_feed(), egru_session_generate().
    EGRU_INPUT_TOKENS = 0,
    /// A vector of `features` floats per step: egru_session_step_features().
    EGRU_INPUT_FEATURES = 1,
}

/// What a model's outputs are.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum egru_head_kind {
    /// Next-token logits (a language model).
    EGRU_HEAD_NEXT_TOKEN = 0,
    /// Class probabilities (softmax), one per class, in the file's class order.
    EGRU_HEAD_CLASSES = 1,
    /// Linear outputs (regression).
    EGRU_HEAD_REGRESSION = 2,
}

/// What a feature model does with a missing value (a NaN feature); infinities are always refused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum egru_fill {
    /// Refused with EGRU_ERR_INVALID_PARAMETER (token models, and files before format version 4).
    EGRU_FILL_REFUSE = 0,
    /// 0, as the raw feature value.
    EGRU_FILL_ZERO = 1,
    /// The feature's training mean.
    EGRU_FILL_MEAN = 2,
    /// The feature's last value in this session (its training mean before any; kept in a saved state).
    EGRU_FILL_PREVIOUS = 3,
}

/// Activation of a dense layer.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum egru_activation {
    /// `x`.
    EGRU_ACTIVATION_LINEAR = 0,
    /// `max(x, 0)`.
    EGRU_ACTIVATION_RELU = 1,
    /// `tanh(x)`.
    EGRU_ACTIVATION_TANH = 2,
    /// `1 / (1 + exp(-x))`.
    EGRU_ACTIVATION_SIGMOID = 3,
}

/// Most GRU layers a model has.
pub const EGRU_MAX_GRU_LAYERS: usize = 4;
/// Most dense layers a model has between its last GRU and its head.
pub const EGRU_MAX_DENSE_LAYERS: usize = 3;

// The header's limits are the runtime's (cbindgen needs the literals above).
const _: () = assert!(EGRU_MAX_GRU_LAYERS == edgegru_runtime::format::MAX_GRU_LAYERS);
const _: () = assert!(EGRU_MAX_DENSE_LAYERS == edgegru_runtime::format::MAX_DENSE_LAYERS);

use egru_status::*;

/// Storage of an [`egru_model`] in 64-bit words (the header defines it by
/// pointer width: 256 on 64-bit targets, 128 on 32-bit ones).
#[cfg(target_pointer_width = "64")]
pub const EGRU_MODEL_WORDS: usize = 256;
/// Storage of an [`egru_model`] in 64-bit words.
#[cfg(not(target_pointer_width = "64"))]
pub const EGRU_MODEL_WORDS: usize = 128;
/// Storage of an [`egru_session`] in 64-bit words (the header defines it by
/// pointer width: 48 on 64-bit targets, 32 on 32-bit ones).
#[cfg(target_pointer_width = "64")]
pub const EGRU_SESSION_WORDS: usize = 48;
/// Storage of an [`egru_session`] in 64-bit words.
#[cfg(not(target_pointer_width = "64"))]
pub const EGRU_SESSION_WORDS: usize = 32;

/// A loaded model. Opaque: declare one (static, global or on the stack; it
/// need not be zeroed) and pass its address to egru_model_init().
#[repr(C)]
pub struct egru_model {
    /// Private.
    pub opaque: [u64; EGRU_MODEL_WORDS],
}

/// One stream of steps through a model. Opaque: declare one (it need not be
/// zeroed) and pass its address to egru_session_init().
#[repr(C)]
pub struct egru_session {
    /// Private.
    pub opaque: [u64; EGRU_SESSION_WORDS],
}

/// What a model is and what it needs. For a language model, `vocab`, `emb`,
/// `hidden` and `dense` are its layer sizes as before networks existed; for
/// every model the `gru_*`, `dense_*`, input and head fields describe it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct egru_model_info {
    /// Token models: number of tokens (0 for feature models).
    pub vocab: u32,
    /// Token models: embedding width (0 for feature models).
    pub emb: u32,
    /// State width of the first GRU layer.
    pub hidden: u32,
    /// Width of the first dense layer (0 when there is none).
    pub dense: u32,
    /// Bytes of arena a session needs.
    pub arena_size: usize,
    /// Bytes egru_session_save_state() writes.
    pub state_size: usize,
    /// 1 for word-level tokens (joined by the tokenizer's separator, a space in Keras' default, when decoding), 0 otherwise.
    pub word_level: u32,
    /// An egru_input_kind: EGRU_INPUT_TOKENS or EGRU_INPUT_FEATURES.
    pub input_kind: u32,
    /// Feature models: floats per step (0 for token models).
    pub features: u32,
    /// Number of GRU layers (1 to EGRU_MAX_GRU_LAYERS).
    pub gru_layers: u32,
    /// State width of each GRU layer (unused entries 0).
    pub gru_hidden: [u32; EGRU_MAX_GRU_LAYERS],
    /// Number of dense layers between the last GRU and the head (0 to EGRU_MAX_DENSE_LAYERS).
    pub dense_layers: u32,
    /// Width of each dense layer (unused entries 0).
    pub dense_width: [u32; EGRU_MAX_DENSE_LAYERS],
    /// Activation (an egru_activation) of each dense layer.
    pub dense_activation: [u32; EGRU_MAX_DENSE_LAYERS],
    /// An egru_head_kind.
    pub head_kind: u32,
    /// Number of outputs: tokens, classes or regression values; egru_model_output_name() names each.
    pub outputs: u32,
    /// The .egru format version of the file (1 to 6).
    pub format_version: u32,
}

/// How generation picks tokens: the logits are divided by `temperature`,
/// turned into probabilities, cut to the `top_k` most likely tokens, then to
/// the smallest set holding `top_p` of the probability (both after the
/// temperature), and one token is drawn. Padding is never generated; the OOV
/// token only with `allow_oov`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct egru_sampling {
    /// Softmax temperature; 0 = greedy.
    pub temperature: f32,
    /// Keep the K most likely tokens; 0 = all.
    pub top_k: u32,
    /// Keep the most likely tokens holding this probability, in (0, 1]; 1 = all.
    pub top_p: f32,
    /// Seed of the sampler: the same seed gives the same text. The random
    /// stream continues across calls with the same seed (so generating in
    /// chunks gives the text of one call), until egru_session_reset(),
    /// egru_session_restore_state() or another seed starts it again.
    pub seed: u64,
    /// Non-zero: the out-of-vocabulary token may be generated (then greedy
    /// decoding is the source framework's argmax); zero (the default of a
    /// zero-initialised struct): never.
    pub allow_oov: u32,
}

/// Called with each generated token (`text` is its UTF-8 text, `len` bytes,
/// not NUL-terminated). Return true to continue, false to stop.
pub type egru_token_callback = Option<unsafe extern "C" fn(token: u32, text: *const c_char, len: usize, user: *mut c_void) -> bool>;

const MODEL_MAGIC: u64 = 0x4547_5255_4d4f_444c; // "EGRUMODL"
const SESSION_MAGIC: u64 = 0x4547_5255_5345_5353; // "EGRUSESS"

/// Generations of model inits: every successful egru_model_init() takes the
/// next one, so a session can tell that its model storage was initialised
/// again without egru_model_init() ever reading the caller's storage.
#[cfg(target_has_atomic = "64")]
static GENERATIONS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);
#[cfg(not(target_has_atomic = "64"))]
static GENERATIONS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);

/// The next init generation. Cores without atomic read-modify-write (Cortex-M0)
/// load and store: only an interrupt handler that initialises a model while
/// another init runs could make two inits share a generation.
fn next_generation() -> u64 {
    use core::sync::atomic::Ordering::Relaxed;
    #[cfg(any(target_has_atomic = "64", target_has_atomic = "32"))]
    {
        // A cast, not a no-op: the counter is 32-bit on cores without 64-bit atomics.
        #[allow(clippy::unnecessary_cast)]
        let g = GENERATIONS.fetch_add(1, Relaxed) as u64;
        g
    }
    #[cfg(not(any(target_has_atomic = "64", target_has_atomic = "32")))]
    {
        let g = GENERATIONS.load(Relaxed);
        GENERATIONS.store(g.wrapping_add(1), Relaxed);
        g as u64
    }
}

#[repr(C)]
struct ModelSlot {
    magic: u64,
    generation: u64,
    model: MaybeUninit<Model<'static>>,
}

#[repr(C)]
struct SessionSlot {
    magic: u64,
    model: *const ModelSlot,
    generation: u64,
    /// Set while egru_session_generate() runs (a callback may call back in).
    busy: bool,
    /// The sampler's random stream: live while `rng_live`, for seed `rng_seed`.
    rng_live: bool,
    rng_seed: u64,
    rng: Rng,
    session: MaybeUninit<Session<'static, 'static>>,
}

const _: () = assert!(size_of::<ModelSlot>() <= size_of::<egru_model>() && align_of::<ModelSlot>() <= align_of::<egru_model>());
const _: () = assert!(size_of::<SessionSlot>() <= size_of::<egru_session>() && align_of::<SessionSlot>() <= align_of::<egru_session>());

type Result<T> = core::result::Result<T, egru_status>;

fn status_of(e: Error) -> egru_status {
    match e {
        Error::UnsupportedVersion { .. } | Error::VersionNotBuiltIn { .. } => EGRU_ERR_UNSUPPORTED_VERSION,
        Error::ChecksumMismatch { .. } => EGRU_ERR_CHECKSUM,
        Error::ArenaTooSmall { .. } => EGRU_ERR_ARENA_TOO_SMALL,
        Error::BufferTooSmall { .. } => EGRU_ERR_BUFFER_TOO_SMALL,
        Error::TokenOutOfRange { .. } => EGRU_ERR_TOKEN_OUT_OF_RANGE,
        Error::UnknownToken { .. } => EGRU_ERR_UNKNOWN_TOKEN,
        Error::StateMismatch { .. } | Error::StateDamaged { .. } => EGRU_ERR_STATE_MISMATCH,
        Error::InvalidParameter { .. } | Error::KernelUnavailable { .. } | Error::NonFiniteInput { .. } => EGRU_ERR_INVALID_PARAMETER,
        Error::EmptyPrompt => EGRU_ERR_EMPTY_PROMPT,
        Error::WrongInput { .. } | Error::FeatureCount { .. } => EGRU_ERR_WRONG_INPUT,
        Error::NotALanguageModel => EGRU_ERR_NOT_A_LANGUAGE_MODEL,
        Error::LayoutNotBuiltIn { .. } => EGRU_ERR_LAYOUT_NOT_BUILT_IN,
        Error::NumericsNotBuiltIn { .. } => EGRU_ERR_NUMERICS_NOT_BUILT_IN,
        _ => EGRU_ERR_BAD_MODEL,
    }
}

/// Runs `f`, turning a panic (a bug) into `EGRU_ERR_INTERNAL`.
fn guard(f: impl FnOnce() -> Result<()>) -> egru_status {
    #[cfg(feature = "std")]
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(Err(EGRU_ERR_INTERNAL));
    #[cfg(not(feature = "std"))]
    let r = f();
    match r {
        Ok(()) => EGRU_OK,
        Err(s) => s,
    }
}

fn check_ptr<T>(p: *const T) -> Result<()> {
    if p.is_null() {
        Err(EGRU_ERR_NULL)
    } else if !(p as usize).is_multiple_of(align_of::<T>()) {
        Err(EGRU_ERR_MISALIGNED)
    } else {
        Ok(())
    }
}

/// A byte slice from C; NULL is allowed only with length 0.
///
/// # Safety
/// `p` must point to `len` readable bytes that stay valid for `'a`.
unsafe fn bytes_in<'a>(p: *const u8, len: usize) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    check_ptr(p)?;
    // SAFETY: p is non-null and the caller guarantees len readable bytes.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A slice of `T` from C; NULL is allowed only with length 0.
///
/// # Safety
/// `p` must point to `len` readable `T`s that stay valid for `'a`.
unsafe fn slice_in<'a, T>(p: *const T, len: usize) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    check_ptr(p)?;
    // SAFETY: p is non-null and aligned; the caller guarantees len readable elements.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A mutable slice from C; NULL is allowed only with capacity 0.
///
/// # Safety
/// `p` must point to `cap` writable `T`s, not aliased, valid for `'a`.
unsafe fn slice_out<'a, T>(p: *mut T, cap: usize) -> Result<&'a mut [T]> {
    if cap == 0 {
        return Ok(&mut []);
    }
    check_ptr(p)?;
    // SAFETY: p is non-null and aligned; the caller guarantees cap writable elements.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, cap) })
}

/// Writes an output value.
///
/// # Safety
/// `p` must be NULL or point to a writable `T`.
unsafe fn put<T>(p: *mut T, v: T) -> Result<()> {
    check_ptr(p)?;
    // SAFETY: checked non-null and aligned; the caller guarantees it is writable.
    unsafe { p.write(v) };
    Ok(())
}

/// Writes an optional output value (NULL: nothing).
///
/// # Safety
/// `p` must be NULL or point to a writable `T`.
unsafe fn put_opt<T>(p: *mut T, v: T) -> Result<()> {
    if p.is_null() {
        return Ok(());
    }
    // SAFETY: forwarded contract.
    unsafe { put(p, v) }
}

/// UTF-8 text from C (`len` bytes; NULL only with length 0).
///
/// # Safety
/// `p` must point to `len` readable bytes.
unsafe fn text_in<'a>(p: *const c_char, len: usize) -> Result<&'a str> {
    // SAFETY: forwarded contract.
    core::str::from_utf8(unsafe { bytes_in(p.cast::<u8>(), len)? }).map_err(|_| EGRU_ERR_INVALID_UTF8)
}

/// The initialised model in `m`.
///
/// # Safety
/// `m` must be NULL or point to an `egru_model` initialised by
/// egru_model_init() or zeroed.
unsafe fn model_ref<'a>(m: *const egru_model) -> Result<(&'a ModelSlot, &'a Model<'static>)> {
    check_ptr(m)?;
    // SAFETY: egru_model is at least as large and as aligned as ModelSlot (const asserts above).
    let slot = unsafe { &*(m as *const ModelSlot) };
    if slot.magic != MODEL_MAGIC {
        return Err(EGRU_ERR_NOT_INITIALIZED);
    }
    // SAFETY: the magic is only written after `model` was initialised.
    Ok((slot, unsafe { slot.model.assume_init_ref() }))
}

/// The initialised, current, idle session slot at `s`.
///
/// # Safety
/// `s` must be NULL or point to an `egru_session` initialised by
/// egru_session_init() or zeroed, whose model storage, if initialised, is
/// still alive.
unsafe fn session_slot(s: *mut egru_session) -> Result<*mut SessionSlot> {
    check_ptr(s)?;
    let slot = s as *mut SessionSlot;
    // SAFETY: egru_session is at least as large and as aligned as SessionSlot;
    // the fields are read through the raw pointer, so no reference to a slot
    // that a running generation borrows is made here.
    let (magic, model, generation, busy) = unsafe { ((*slot).magic, (*slot).model, (*slot).generation, (*slot).busy) };
    if magic != SESSION_MAGIC || model.is_null() {
        return Err(EGRU_ERR_NOT_INITIALIZED);
    }
    if busy {
        return Err(EGRU_ERR_BUSY);
    }
    // SAFETY: the session was made from this model slot, which the caller keeps alive.
    let m = unsafe { &*model };
    if m.magic != MODEL_MAGIC || m.generation != generation {
        return Err(EGRU_ERR_STALE_SESSION);
    }
    Ok(slot)
}

/// The initialised, current, idle session in `s`.
///
/// # Safety
/// As for [`session_slot`].
unsafe fn session_mut<'a>(s: *mut egru_session) -> Result<&'a mut Session<'static, 'static>> {
    // SAFETY: forwarded contract.
    let slot = unsafe { session_slot(s)? };
    // SAFETY: the magic is only written after `session` was initialised, and
    // the session is idle (not borrowed by a running generation).
    Ok(unsafe { (*slot).session.assume_init_mut() })
}

/// A static, human-readable name of a status (never NULL; an unknown value
/// gives "unknown status"). Takes an int so that any value C passes is defined.
#[no_mangle]
pub extern "C" fn egru_status_str(status: i32) -> *const c_char {
    const ALL: [egru_status; 22] = [
        EGRU_OK,
        EGRU_ERR_NULL,
        EGRU_ERR_MISALIGNED,
        EGRU_ERR_BUFFER_TOO_SMALL,
        EGRU_ERR_BAD_MODEL,
        EGRU_ERR_UNSUPPORTED_VERSION,
        EGRU_ERR_CHECKSUM,
        EGRU_ERR_ARENA_TOO_SMALL,
        EGRU_ERR_TOKEN_OUT_OF_RANGE,
        EGRU_ERR_UNKNOWN_TOKEN,
        EGRU_ERR_NOT_INITIALIZED,
        EGRU_ERR_STALE_SESSION,
        EGRU_ERR_STATE_MISMATCH,
        EGRU_ERR_INVALID_PARAMETER,
        EGRU_ERR_EMPTY_PROMPT,
        EGRU_ERR_INVALID_UTF8,
        EGRU_ERR_INTERNAL,
        EGRU_ERR_BUSY,
        EGRU_ERR_WRONG_INPUT,
        EGRU_ERR_NOT_A_LANGUAGE_MODEL,
        EGRU_ERR_LAYOUT_NOT_BUILT_IN,
        EGRU_ERR_NUMERICS_NOT_BUILT_IN,
    ];
    let Some(&status) = ALL.iter().find(|s| **s as i32 == status) else {
        return c"unknown status".as_ptr();
    };
    let s: &'static core::ffi::CStr = match status {
        EGRU_OK => c"ok",
        EGRU_ERR_NULL => c"a required pointer is NULL",
        EGRU_ERR_MISALIGNED => c"a pointer is misaligned for its type",
        EGRU_ERR_BUFFER_TOO_SMALL => c"an output buffer is too small (nothing was changed)",
        EGRU_ERR_BAD_MODEL => c"the model bytes are not a valid .egru file",
        EGRU_ERR_UNSUPPORTED_VERSION => c"the .egru format version is not supported (version 1 on a device: build with format-v1, or rewrite the file with edgegru export --model)",
        EGRU_ERR_CHECKSUM => c"the model bytes fail their CRC-32 (corrupted or truncated)",
        EGRU_ERR_ARENA_TOO_SMALL => c"the session arena is smaller than egru_model_arena_size()",
        EGRU_ERR_TOKEN_OUT_OF_RANGE => c"a token id is out of range",
        EGRU_ERR_UNKNOWN_TOKEN => c"text holds a token the vocabulary lacks",
        EGRU_ERR_NOT_INITIALIZED => c"the handle is not initialised",
        EGRU_ERR_STALE_SESSION => c"the session's model was re-initialised",
        EGRU_ERR_STATE_MISMATCH => c"the saved state is damaged or belongs to another model",
        EGRU_ERR_INVALID_PARAMETER => c"a parameter or input value is out of range",
        EGRU_ERR_EMPTY_PROMPT => c"generation needs a prompt or an earlier step",
        EGRU_ERR_INVALID_UTF8 => c"text is not valid UTF-8",
        EGRU_ERR_INTERNAL => c"internal error",
        EGRU_ERR_BUSY => c"the session is generating (called from its own callback)",
        EGRU_ERR_WRONG_INPUT => c"the model reads another kind or size of input",
        EGRU_ERR_NOT_A_LANGUAGE_MODEL => c"the model is not a language model",
        EGRU_ERR_LAYOUT_NOT_BUILT_IN => {
            c"the model's layout (arm-dsp, or block-sparse) is not built into this library: build it with arm-dsp-layout or block-sparse"
        }
        EGRU_ERR_NUMERICS_NOT_BUILT_IN => {
            c"the model has float or hybrid-int8 numerics; this library runs integer-only models (build it with float-numerics)"
        }
    };
    s.as_ptr()
}

/// The library version as a static NUL-terminated string, e.g. "0.1.0".
///
/// # Safety
/// `out` must be NULL (an error) or point to a writable `const char *`.
#[no_mangle]
pub unsafe extern "C" fn egru_version(out: *mut *const c_char) -> egru_status {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    // SAFETY: forwarded contract of `out`.
    guard(|| unsafe { put(out, VERSION.as_ptr().cast::<c_char>()) })
}

/// Loads a model from `len` bytes at `bytes` (an .egru file, e.g. in flash)
/// into `model`. The bytes are not copied: they must stay valid and
/// unchanged while the model is used. Any alignment. `model` is only
/// written, never read: its storage need not be initialised. On error
/// `model` (when it is a valid pointer) is marked not initialised: every
/// later call on it but init answers EGRU_ERR_NOT_INITIALIZED. Sessions
/// made from an earlier model in the same storage become stale
/// (EGRU_ERR_STALE_SESSION) whether the init succeeds or fails. Do not call
/// it on a model whose session is generating (from a token callback).
///
/// # Safety
/// `model` must point to writable egru_model storage; `bytes` to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn egru_model_init(model: *mut egru_model, bytes: *const u8, len: usize) -> egru_status {
    guard(|| {
        check_ptr(model)?;
        let slot = model as *mut ModelSlot;
        // SAFETY: egru_model storage is large and aligned enough for ModelSlot
        // (const asserts above); the field is written, not read. From here a
        // failure leaves the handle refusing every call.
        unsafe { core::ptr::addr_of_mut!((*slot).magic).write(0) };
        if bytes.is_null() {
            return Err(EGRU_ERR_NULL);
        }
        // SAFETY: the caller guarantees len bytes that outlive the model ('static here, by contract).
        let data: &'static [u8] = unsafe { bytes_in(bytes, len)? };
        let loaded = Model::from_bytes(data).map_err(status_of)?;
        // SAFETY: as above; each field is written through the raw pointer, none is read.
        unsafe {
            core::ptr::addr_of_mut!((*slot).model).write(MaybeUninit::new(loaded));
            core::ptr::addr_of_mut!((*slot).generation).write(next_generation());
            core::ptr::addr_of_mut!((*slot).magic).write(MODEL_MAGIC);
        }
        Ok(())
    })
}

fn activation_code(a: Activation) -> u32 {
    (match a {
        Activation::Linear => egru_activation::EGRU_ACTIVATION_LINEAR,
        Activation::Relu => egru_activation::EGRU_ACTIVATION_RELU,
        Activation::Tanh => egru_activation::EGRU_ACTIVATION_TANH,
        Activation::Sigmoid => egru_activation::EGRU_ACTIVATION_SIGMOID,
    }) as u32
}

fn model_info(m: &Model<'_>) -> egru_model_info {
    let mut v = egru_model_info {
        arena_size: m.arena_size(),
        state_size: m.state_size(),
        word_level: m.tokenizer().is_some_and(|t| t.separator().is_some()) as u32,
        outputs: m.outputs() as u32,
        format_version: m.format_version() as u32,
        head_kind: match m.head() {
            Head::NextToken => egru_head_kind::EGRU_HEAD_NEXT_TOKEN,
            Head::Classes(_) => egru_head_kind::EGRU_HEAD_CLASSES,
            Head::Regression(_) => egru_head_kind::EGRU_HEAD_REGRESSION,
        } as u32,
        ..egru_model_info::default()
    };
    match m.input() {
        InputKind::Tokens { vocab, emb } => (v.vocab, v.emb) = (vocab as u32, emb as u32),
        InputKind::Features { count } => (v.input_kind, v.features) = (egru_input_kind::EGRU_INPUT_FEATURES as u32, count as u32),
    }
    for layer in m.layers() {
        match layer {
            Layer::Gru { hidden } => {
                if let Some(slot) = v.gru_hidden.get_mut(v.gru_layers as usize) {
                    *slot = hidden as u32;
                }
                v.gru_layers += 1;
            }
            Layer::Dense { width, activation } => {
                let n = v.dense_layers as usize;
                if let (Some(w), Some(a)) = (v.dense_width.get_mut(n), v.dense_activation.get_mut(n)) {
                    (*w, *a) = (width as u32, activation_code(activation));
                }
                v.dense_layers += 1;
            }
        }
    }
    (v.hidden, v.dense) = (v.gru_hidden[0], v.dense_width[0]);
    v
}

/// What a model is (input, layers, head) and what it needs (arena, state size).
///
/// # Safety
/// `model` must point to egru_model storage; `info` to a writable egru_model_info.
#[no_mangle]
pub unsafe extern "C" fn egru_model_info_get(model: *const egru_model, info: *mut egru_model_info) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let (_, m) = unsafe { model_ref(model)? };
        // SAFETY: forwarded contract.
        unsafe { put(info, model_info(m)) }
    })
}

/// The name of output `index` (< egru_model_info.outputs): a class name, a
/// regression output's name, or a token's text. `*name` points into the model
/// bytes (not NUL-terminated), `*len` gets its length; an unnamed regression
/// output gives length 0.
///
/// # Safety
/// `model` must point to egru_model storage; `name` and `len` to writable values.
#[no_mangle]
pub unsafe extern "C" fn egru_model_output_name(
    model: *const egru_model,
    index: usize,
    name: *mut *const c_char,
    len: *mut usize,
) -> egru_status {
    guard(|| {
        check_ptr(name)?;
        check_ptr(len)?;
        // SAFETY: forwarded contract.
        let (_, m) = unsafe { model_ref(model)? };
        if index >= m.outputs() {
            return Err(EGRU_ERR_INVALID_PARAMETER);
        }
        let text = m.output_name(index).unwrap_or("");
        // SAFETY: forwarded contract.
        unsafe {
            put(name, text.as_ptr().cast::<c_char>())?;
            put(len, text.len())
        }
    })
}

/// The name of feature `index` (< egru_model_info.features) of a feature model
/// trained on named columns: `*name` points into the model bytes (not
/// NUL-terminated), `*len` gets its length; unnamed features (and files
/// before format version 4) give length 0. EGRU_ERR_INVALID_PARAMETER for an
/// index past the features (every index of a token model).
///
/// # Safety
/// `model` must point to egru_model storage; `name` and `len` to writable values.
#[no_mangle]
pub unsafe extern "C" fn egru_model_feature_name(
    model: *const egru_model,
    index: usize,
    name: *mut *const c_char,
    len: *mut usize,
) -> egru_status {
    guard(|| {
        check_ptr(name)?;
        check_ptr(len)?;
        // SAFETY: forwarded contract.
        let (_, m) = unsafe { model_ref(model)? };
        match m.input() {
            InputKind::Features { count } if index < count => {}
            _ => return Err(EGRU_ERR_INVALID_PARAMETER),
        }
        let text = m.feature_name(index).unwrap_or("");
        // SAFETY: forwarded contract.
        unsafe {
            put(name, text.as_ptr().cast::<c_char>())?;
            put(len, text.len())
        }
    })
}

/// What the model does with a missing (NaN) feature: an egru_fill in `*fill`.
///
/// # Safety
/// `model` must point to egru_model storage; `fill` to a writable uint32_t.
#[no_mangle]
pub unsafe extern "C" fn egru_model_fill(model: *const egru_model, fill: *mut u32) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let (_, m) = unsafe { model_ref(model)? };
        let code = match m.fill() {
            Fill::Refuse => egru_fill::EGRU_FILL_REFUSE,
            Fill::Zero => egru_fill::EGRU_FILL_ZERO,
            Fill::Mean => egru_fill::EGRU_FILL_MEAN,
            Fill::Previous => egru_fill::EGRU_FILL_PREVIOUS,
        };
        // SAFETY: forwarded contract.
        unsafe { put(fill, code as u32) }
    })
}

/// Bytes of arena a session over `model` needs (any alignment).
///
/// # Safety
/// `model` must point to egru_model storage; `out` to a writable size_t.
#[no_mangle]
pub unsafe extern "C" fn egru_model_arena_size(model: *const egru_model, out: *mut usize) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let (_, m) = unsafe { model_ref(model)? };
        // SAFETY: forwarded contract.
        unsafe { put(out, m.arena_size()) }
    })
}

/// Starts a session over `model` in the caller's `arena` (at least
/// egru_model_arena_size() bytes, any alignment). `session` is only written,
/// never read: its storage need not be initialised. The model storage and
/// the arena must outlive the session and not move. On error `session`
/// (when it is a valid pointer) is marked not initialised: every later call
/// on it but init answers EGRU_ERR_NOT_INITIALIZED.
///
/// # Safety
/// `session` must point to writable egru_session storage, `model` to an
/// egru_model, `arena` to `arena_len` writable bytes used by nothing else.
#[no_mangle]
pub unsafe extern "C" fn egru_session_init(
    session: *mut egru_session,
    model: *const egru_model,
    arena: *mut u8,
    arena_len: usize,
) -> egru_status {
    guard(|| {
        check_ptr(session)?;
        // SAFETY: egru_session storage is large and aligned enough for
        // SessionSlot; the field is written, not read. From here a failure
        // leaves the handle refusing every call.
        unsafe { core::ptr::addr_of_mut!((*(session as *mut SessionSlot)).magic).write(0) };
        // SAFETY: forwarded contract; the model outlives the session by contract.
        let (mslot, m) = unsafe { model_ref(model)? };
        if arena.is_null() {
            return Err(EGRU_ERR_NULL);
        }
        // SAFETY: the caller guarantees arena_len writable, unaliased bytes outliving the session.
        let arena: &'static mut [u8] = unsafe { slice_out(arena, arena_len)? };
        let s = Session::new(m, arena).map_err(status_of)?;
        let slot = SessionSlot {
            magic: SESSION_MAGIC,
            model: mslot as *const ModelSlot,
            generation: mslot.generation,
            busy: false,
            rng_live: false,
            rng_seed: 0,
            rng: Rng::new(0),
            session: MaybeUninit::new(s),
        };
        // SAFETY: egru_session storage is large and aligned enough for SessionSlot;
        // it is written whole, never read.
        unsafe { (session as *mut SessionSlot).write(slot) };
        Ok(())
    })
}

/// Back to the initial state (every GRU state zero, no outputs); the
/// sampler's random stream starts again at the next generation.
///
/// # Safety
/// `session` must point to egru_session storage whose model is alive.
#[no_mangle]
pub unsafe extern "C" fn egru_session_reset(session: *mut egru_session) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let slot = unsafe { session_slot(session)? };
        // SAFETY: the slot is initialised and idle.
        unsafe {
            (*slot).rng_live = false;
            (*slot).session.assume_init_mut().reset();
        }
        Ok(())
    })
}

/// Copies the session's outputs into `out` (`capacity` floats, at least
/// egru_model_info.outputs, else EGRU_ERR_BUFFER_TOO_SMALL) when `out` is
/// not NULL.
fn copy_outputs(outputs: &[f32], out: Option<&mut [f32]>) {
    if let Some(o) = out {
        o[..outputs.len()].copy_from_slice(outputs);
    }
}

/// An optional float output buffer, checked against the model's outputs first.
///
/// # Safety
/// `out` NULL or `capacity` writable floats.
unsafe fn outputs_out<'a>(out: *mut f32, capacity: usize, needed: usize) -> Result<Option<&'a mut [f32]>> {
    if out.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    let o = unsafe { slice_out(out, capacity)? };
    if o.len() < needed {
        return Err(EGRU_ERR_BUFFER_TOO_SMALL);
    }
    Ok(Some(o))
}

/// Feeds one token (a token model). If `logits` is not NULL, copies the
/// outputs (a language model's next-token logits) into it (`capacity`
/// floats, at least egru_model_info.outputs, else EGRU_ERR_BUFFER_TOO_SMALL
/// and nothing happens).
///
/// # Safety
/// `session` as for egru_session_reset; `logits` NULL or `capacity` writable floats.
#[no_mangle]
pub unsafe extern "C" fn egru_session_step(session: *mut egru_session, token: u32, logits: *mut f32, capacity: usize) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let s = unsafe { session_mut(session)? };
        // SAFETY: forwarded contract.
        let out = unsafe { outputs_out(logits, capacity, s.model().outputs())? };
        copy_outputs(s.step(token).map_err(status_of)?, out);
        Ok(())
    })
}

/// Feeds one feature vector (a feature model): `count` floats, exactly
/// egru_model_info.features of them, each finite or, when egru_model_fill()
/// is not EGRU_FILL_REFUSE, NaN for a missing value, filled as it says (else
/// EGRU_ERR_WRONG_INPUT or EGRU_ERR_INVALID_PARAMETER, and nothing happens). If `out` is not
/// NULL, copies the outputs into it: class probabilities in the file's class
/// order (EGRU_HEAD_CLASSES), or regression outputs (`capacity` floats, at
/// least egru_model_info.outputs, else EGRU_ERR_BUFFER_TOO_SMALL).
///
/// # Safety
/// `session` as for egru_session_reset; `features` `count` readable floats;
/// `out` NULL or `capacity` writable floats.
#[no_mangle]
pub unsafe extern "C" fn egru_session_step_features(
    session: *mut egru_session,
    features: *const f32,
    count: usize,
    out: *mut f32,
    capacity: usize,
) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let s = unsafe { session_mut(session)? };
        // SAFETY: forwarded contract.
        let f = unsafe { slice_in(features, count)? };
        if features.is_null() {
            return Err(EGRU_ERR_NULL);
        }
        // SAFETY: forwarded contract.
        let o = unsafe { outputs_out(out, capacity, s.model().outputs())? };
        copy_outputs(s.step_features(f).map_err(status_of)?, o);
        Ok(())
    })
}

/// Feeds UTF-8 text (`len` bytes, no NUL needed) to a token model (a
/// feature model answers EGRU_ERR_WRONG_INPUT). Nothing is fed if any of it
/// is not in the vocabulary (EGRU_ERR_UNKNOWN_TOKEN).
///
/// # Safety
/// `session` as for egru_session_reset; `text` `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn egru_session_feed(session: *mut egru_session, text: *const c_char, len: usize) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let s = unsafe { session_mut(session)? };
        // SAFETY: forwarded contract.
        let t = unsafe { text_in(text, len)? };
        s.feed(t).map(|_| ()).map_err(status_of)
    })
}

/// The `k` most likely next tokens of a language model with probabilities,
/// most likely first, into `out` (`k` entries); `written` gets how many (at
/// most the vocabulary). Padding and the OOV token are never listed.
///
/// # Safety
/// `session` as for egru_session_reset; `out` `k` writable entries; `written` a writable size_t.
#[no_mangle]
pub unsafe extern "C" fn egru_session_top_k(session: *mut egru_session, out: *mut TokenProb, k: usize, written: *mut usize) -> egru_status {
    guard(|| {
        check_ptr(written)?;
        // SAFETY: forwarded contract.
        let s = unsafe { session_mut(session)? };
        // SAFETY: forwarded contract.
        let o = unsafe { slice_out(out, k)? };
        let n = s.top_k_next(o, false).map_err(status_of)?;
        // SAFETY: forwarded contract.
        unsafe { put(written, n) }
    })
}

/// Feeds `prompt` (UTF-8, `prompt_len` bytes; may be empty after earlier
/// steps), then generates up to `max_tokens` tokens of a language model,
/// feeding each back.
///
/// - Text: when `out_cap` > 0, the generated text goes into `out`, always
///   NUL-terminated: a token is written only if it fits with its separator
///   (word tokens are each preceded by the tokenizer's separator) and the
///   NUL. A token that does not fit is not consumed; generation stops with
///   EGRU_STOP_BUFFER_FULL, and a later call (with the same seed) continues
///   exactly, so text generated in chunks equals the text of one call. With
///   `out` NULL and `out_cap` 0, nothing is written (streaming through the
///   callback only).
/// - `callback` (may be NULL) sees each token before it is fed back; return
///   false to stop after it (EGRU_STOP_CALLBACK). From inside the callback,
///   functions of this session answer EGRU_ERR_BUSY; other sessions may be used.
/// - `params` NULL means greedy. `out_len` (may be NULL) gets the bytes
///   written (NUL excluded), `stop` (may be NULL) why generation stopped.
///
/// The prompt is fed before the first token is sampled; on an error after
/// that, the tokens already generated stay fed.
///
/// # Safety
/// Pointers as their sizes say; `callback`, if set, must be safe to call with `user`.
#[no_mangle]
pub unsafe extern "C" fn egru_session_generate(
    session: *mut egru_session,
    prompt: *const c_char,
    prompt_len: usize,
    max_tokens: usize,
    params: *const egru_sampling,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
    stop: *mut egru_stop_reason,
    callback: egru_token_callback,
    user: *mut c_void,
) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let slot = unsafe { session_slot(session)? };
        // SAFETY: forwarded contract.
        let p = unsafe { text_in(prompt, prompt_len)? };
        let (sampling, seed) = if params.is_null() {
            (SamplingParams::GREEDY, 0)
        } else {
            check_ptr(params)?;
            // SAFETY: checked non-null and aligned; the caller guarantees it is readable.
            let q = unsafe { *params };
            (SamplingParams { temperature: q.temperature, top_k: q.top_k, top_p: q.top_p, allow_oov: q.allow_oov != 0 }, q.seed)
        };
        check_ptr_opt(out_len)?;
        check_ptr_opt(stop)?;
        // SAFETY: forwarded contract.
        let buf = unsafe { slice_out(out.cast::<u8>(), out_cap)? };
        // Room for the NUL: the text goes into all but the last byte.
        let text_cap = out_cap.saturating_sub(1);
        // SAFETY: the slot is initialised and idle.
        let mut rng = unsafe {
            if !(*slot).rng_live || (*slot).rng_seed != seed {
                (*slot).rng = Rng::new(seed);
                (*slot).rng_seed = seed;
                (*slot).rng_live = true;
            }
            (*slot).rng
        };
        // SAFETY: as above; re-entrant calls from the callback fail before
        // they touch the session until `busy` is dropped (also on a panic).
        let busy = unsafe { Busy::enter(slot) };
        // SAFETY: as above; the session is borrowed only for this call.
        let s = unsafe { (*slot).session.assume_init_mut() };
        let (text, _) = buf.split_at_mut(text_cap.min(buf.len()));
        // A 1-byte buffer holds only the NUL: no token fits, so none is
        // generated (an empty text slice would mean streaming-only mode).
        let room_for_none = out_cap == 1;
        let max = if room_for_none { 0 } else { max_tokens };
        let result = s.generate(p, max, &sampling, &mut rng, text, |id, piece| match callback {
            // SAFETY: the caller guarantees the callback is safe to call with `user`;
            // `piece` is valid for the duration of the call.
            Some(cb) => unsafe { cb(id, piece.as_ptr().cast::<c_char>(), piece.len(), user) },
            None => true,
        });
        drop(busy);
        // SAFETY: the slot is still ours; the generation is over.
        unsafe { (*slot).rng = rng };
        let g = result.map_err(status_of)?;
        if out_cap > 0 {
            buf[g.bytes] = 0;
        }
        let reason = match g.stop {
            StopReason::MaxTokens if room_for_none && max_tokens > 0 => egru_stop_reason::EGRU_STOP_BUFFER_FULL,
            StopReason::MaxTokens => egru_stop_reason::EGRU_STOP_MAX_TOKENS,
            StopReason::BufferFull => egru_stop_reason::EGRU_STOP_BUFFER_FULL,
            StopReason::Callback => egru_stop_reason::EGRU_STOP_CALLBACK,
        };
        // SAFETY: forwarded contract (checked above).
        unsafe {
            put_opt(out_len, g.bytes)?;
            put_opt(stop, reason)
        }
    })
}

/// A session marked busy (a generation running) until this is dropped, on
/// return or while a panic unwinds to [`guard`].
struct Busy(*mut SessionSlot);

impl Busy {
    /// Marks the session busy.
    ///
    /// # Safety
    /// `slot` must be an initialised session slot that stays valid while this lives.
    unsafe fn enter(slot: *mut SessionSlot) -> Busy {
        // SAFETY: forwarded contract.
        unsafe { (*slot).busy = true };
        Busy(slot)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // SAFETY: the slot is valid while this lives (contract of `enter`).
        unsafe { (*self.0).busy = false };
    }
}

/// Checks an optional pointer (NULL is fine; a misaligned one is not).
fn check_ptr_opt<T>(p: *const T) -> Result<()> {
    if p.is_null() {
        Ok(())
    } else {
        check_ptr(p)
    }
}

/// Saves the recurrent state of every layer and the last outputs
/// (egru_model_info.state_size bytes, with a CRC-32 over all of it) so that
/// a prompt prefix can be computed once and restored. `written` (may be
/// NULL) gets the bytes written; with EGRU_ERR_BUFFER_TOO_SMALL it gets the
/// size needed and `buf` is unchanged.
///
/// # Safety
/// `session` as for egru_session_reset; `buf` `cap` writable bytes; `written` NULL or a writable size_t.
#[no_mangle]
pub unsafe extern "C" fn egru_session_save_state(session: *mut egru_session, buf: *mut u8, cap: usize, written: *mut usize) -> egru_status {
    guard(|| {
        check_ptr_opt(written)?;
        // SAFETY: forwarded contract.
        let s = unsafe { session_mut(session)? };
        // SAFETY: forwarded contract.
        let b = unsafe { slice_out(buf, cap)? };
        match s.save_state(b) {
            Ok(n) => {
                // SAFETY: forwarded contract.
                unsafe { put_opt(written, n) }
            }
            Err(e) => {
                // SAFETY: forwarded contract.
                unsafe { put_opt(written, s.state_size())? };
                Err(status_of(e))
            }
        }
    })
}

/// Restores a state saved from a session of the same model. A damaged
/// state (any byte changed, a wrong length) or one of another model is
/// refused with EGRU_ERR_STATE_MISMATCH, and then the session is unchanged.
/// The sampler's random stream starts again at the next generation.
///
/// # Safety
/// `session` as for egru_session_reset; `buf` `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn egru_session_restore_state(session: *mut egru_session, buf: *const u8, len: usize) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let slot = unsafe { session_slot(session)? };
        // SAFETY: forwarded contract.
        let b = unsafe { bytes_in(buf, len)? };
        // SAFETY: the slot is initialised and idle.
        unsafe {
            (*slot).session.assume_init_mut().restore_state(b).map_err(status_of)?;
            (*slot).rng_live = false;
        }
        Ok(())
    })
}

/// Encodes UTF-8 text into token ids (`cap` entries) with a token model's
/// tokenizer (a feature model has none: EGRU_ERR_WRONG_INPUT); `count` gets
/// how many. When they do not fit (or `ids` is NULL with `cap` 0, to size a
/// buffer), EGRU_ERR_BUFFER_TOO_SMALL: `count` gets the number needed and
/// `ids` is unchanged.
///
/// # Safety
/// `model` an egru_model; `text` `len` readable bytes; `ids` `cap` writable u32; `count` a writable size_t.
#[no_mangle]
pub unsafe extern "C" fn egru_tokenize(
    model: *const egru_model,
    text: *const c_char,
    len: usize,
    ids: *mut u32,
    cap: usize,
    count: *mut usize,
) -> egru_status {
    guard(|| {
        check_ptr(count)?;
        // SAFETY: forwarded contract.
        let (_, m) = unsafe { model_ref(model)? };
        let tok = m.tokenizer().ok_or(EGRU_ERR_WRONG_INPUT)?;
        // SAFETY: forwarded contract.
        let t = unsafe { text_in(text, len)? };
        // SAFETY: forwarded contract.
        let out = unsafe { slice_out(ids, cap)? };
        match tok.encode(t, out) {
            // SAFETY: forwarded contract.
            Ok(n) => unsafe { put(count, n) },
            Err(Error::BufferTooSmall { needed, .. }) => {
                // SAFETY: forwarded contract.
                unsafe { put(count, needed)? };
                Err(EGRU_ERR_BUFFER_TOO_SMALL)
            }
            Err(e) => Err(status_of(e)),
        }
    })
}

/// Writes the text of `n` token ids into `out`, NUL-terminated (padding
/// skipped, word tokens joined by the tokenizer's separator); `written` gets
/// the text's length, NUL excluded: `out` needs `*written + 1` bytes. When
/// that does not fit (or `out` is NULL with `cap` 0, to size a buffer),
/// EGRU_ERR_BUFFER_TOO_SMALL: `written` gets the length and `out` is unchanged.
///
/// # Safety
/// `model` an egru_model; `ids` `n` readable u32; `out` `cap` writable bytes; `written` a writable size_t.
#[no_mangle]
pub unsafe extern "C" fn egru_detokenize(
    model: *const egru_model,
    ids: *const u32,
    n: usize,
    out: *mut c_char,
    cap: usize,
    written: *mut usize,
) -> egru_status {
    guard(|| {
        check_ptr(written)?;
        // SAFETY: forwarded contract.
        let (_, m) = unsafe { model_ref(model)? };
        let tok = m.tokenizer().ok_or(EGRU_ERR_WRONG_INPUT)?;
        // SAFETY: forwarded contract.
        let ids = unsafe { slice_in(ids, n)? };
        let len = tok.decoded_len(ids).map_err(status_of)?;
        if len >= cap {
            // SAFETY: forwarded contract.
            unsafe { put(written, len)? };
            return Err(EGRU_ERR_BUFFER_TOO_SMALL);
        }
        // SAFETY: forwarded contract.
        let buf = unsafe { slice_out(out.cast::<u8>(), cap)? };
        let len = tok.decode(ids, &mut buf[..cap - 1]).map_err(status_of)?;
        buf[len] = 0;
        // SAFETY: forwarded contract.
        unsafe { put(written, len) }
    })
}

#[cfg(all(feature = "panic-handler", not(feature = "std"), not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // The runtime has no panicking path on input; if a bug ever gets here,
    // park the core so a watchdog can reset it.
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    static TINY: &[u8] = include_bytes!("../../models/tiny.egru");

    /// A model and a session over `arena`, in boxed storage.
    fn open(arena: &mut [u8]) -> (Box<egru_model>, Box<egru_session>) {
        let mut model = Box::new(egru_model { opaque: [0; EGRU_MODEL_WORDS] });
        let mut session = Box::new(egru_session { opaque: [0; EGRU_SESSION_WORDS] });
        // SAFETY: valid storage and bytes that outlive the handles (static).
        unsafe {
            assert_eq!(egru_model_init(&mut *model, TINY.as_ptr(), TINY.len()), EGRU_OK);
            assert_eq!(egru_session_init(&mut *session, &*model, arena.as_mut_ptr(), arena.len()), EGRU_OK);
        }
        (model, session)
    }

    #[test]
    fn a_panic_inside_a_generation_leaves_the_session_usable() {
        let mut arena = vec![0u8; 16 * 1024];
        let (_model, mut session) = open(&mut arena);
        let slot = &mut *session as *mut egru_session as *mut SessionSlot;
        // What egru_session_generate does around the runtime's generate, with a panic inside.
        let status = guard(|| {
            // SAFETY: an initialised slot that outlives the guard.
            let _busy = unsafe { Busy::enter(slot) };
            panic!("a bug inside a generation");
        });
        assert_eq!(status, EGRU_ERR_INTERNAL);
        // SAFETY: an initialised session.
        assert_eq!(unsafe { egru_session_reset(&mut *session) }, EGRU_OK, "the session is not left busy");
    }

    #[test]
    fn a_failed_init_leaves_handles_that_every_call_refuses() {
        let mut arena = vec![0u8; 16 * 1024];
        let (mut model, mut session) = open(&mut arena);
        let mut size = 0usize;
        let corrupt = [0u8; 64];
        // SAFETY: valid storage and buffers throughout.
        unsafe {
            assert_ne!(egru_model_init(&mut *model, corrupt.as_ptr(), corrupt.len()), EGRU_OK);
            assert_eq!(egru_model_arena_size(&*model, &mut size), EGRU_ERR_NOT_INITIALIZED);
            assert_eq!(egru_session_reset(&mut *session), EGRU_ERR_STALE_SESSION, "sessions of the earlier model are stale");
            assert_eq!(egru_session_init(&mut *session, &*model, arena.as_mut_ptr(), arena.len()), EGRU_ERR_NOT_INITIALIZED);
            assert_eq!(egru_session_reset(&mut *session), EGRU_ERR_NOT_INITIALIZED, "a failed session init marks the session");
            assert_eq!(egru_model_init(&mut *model, TINY.as_ptr(), TINY.len()), EGRU_OK, "init works again on the same storage");
            assert_eq!(egru_model_arena_size(&*model, &mut size), EGRU_OK);
        }
    }
}
