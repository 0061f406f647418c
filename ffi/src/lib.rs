//! C API of edgegru (`libedgegru.a`, `libedgegru.so`, header
//! `include/edgegru.h`). Every symbol is prefixed `egru_`, every function
//! returns an [`egru_status`], nothing allocates, and misuse (null or
//! misaligned pointers, short buffers, bad ids, uninitialised or stale
//! handles, corrupt models) is an error, never undefined behaviour on the
//! library's side. Rust panics never cross into C: with `std` each call runs
//! under `catch_unwind`; without it the runtime has no panicking paths on
//! input (it validates everything at load) and the crate can supply a
//! parking panic handler (feature `panic-handler`).
#![cfg_attr(not(feature = "std"), no_std)]
#![allow(non_camel_case_types)]
#![deny(missing_docs)]

use core::ffi::{c_char, c_void};
use core::mem::{align_of, size_of, MaybeUninit};

use edgegru_runtime::{Error, Model, Rng, SamplingParams, Session, TokenProb};

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
    /// The .egru format version is not supported by this library.
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
}

use egru_status::*;

/// Storage of an [`egru_model`] in 64-bit words.
pub const EGRU_MODEL_WORDS: usize = 128;
/// Storage of an [`egru_session`] in 64-bit words.
pub const EGRU_SESSION_WORDS: usize = 48;

/// A loaded model. Opaque: declare one (static, global or on the stack) and
/// pass its address to egru_model_init().
#[repr(C)]
pub struct egru_model {
    /// Private.
    pub opaque: [u64; EGRU_MODEL_WORDS],
}

/// One token stream through a model. Opaque: declare one and pass its
/// address to egru_session_init().
#[repr(C)]
pub struct egru_session {
    /// Private.
    pub opaque: [u64; EGRU_SESSION_WORDS],
}

/// Layer sizes and memory needs of a model.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct egru_model_info {
    /// Number of tokens.
    pub vocab: u32,
    /// Embedding width.
    pub emb: u32,
    /// GRU state width.
    pub hidden: u32,
    /// Dense layer width.
    pub dense: u32,
    /// Bytes of arena a session needs.
    pub arena_size: usize,
    /// Bytes egru_session_save_state() writes.
    pub state_size: usize,
    /// 1 for word-level tokens (joined by a space when decoding), 0 for characters.
    pub word_level: u32,
}

/// How generation picks tokens.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct egru_sampling {
    /// Softmax temperature; 0 = greedy.
    pub temperature: f32,
    /// Keep the K most likely tokens; 0 = all.
    pub top_k: u32,
    /// Keep the most likely tokens holding this probability, in (0, 1]; 1 = all.
    pub top_p: f32,
    /// Seed of the sampler: the same seed gives the same text.
    pub seed: u64,
}

/// Called with each generated token (`text` is its UTF-8 text, `len` bytes,
/// not NUL-terminated). Return true to continue, false to stop.
pub type egru_token_callback = Option<unsafe extern "C" fn(token: u32, text: *const c_char, len: usize, user: *mut c_void) -> bool>;

const MODEL_MAGIC: u64 = 0x4547_5255_4d4f_444c; // "EGRUMODL"
const SESSION_MAGIC: u64 = 0x4547_5255_5345_5353; // "EGRUSESS"

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
    session: MaybeUninit<Session<'static, 'static>>,
}

const _: () = assert!(size_of::<ModelSlot>() <= size_of::<egru_model>() && align_of::<ModelSlot>() <= align_of::<egru_model>());
const _: () = assert!(size_of::<SessionSlot>() <= size_of::<egru_session>() && align_of::<SessionSlot>() <= align_of::<egru_session>());

type Result<T> = core::result::Result<T, egru_status>;

fn status_of(e: Error) -> egru_status {
    match e {
        Error::UnsupportedVersion { .. } => EGRU_ERR_UNSUPPORTED_VERSION,
        Error::ChecksumMismatch { .. } => EGRU_ERR_CHECKSUM,
        Error::ArenaTooSmall { .. } => EGRU_ERR_ARENA_TOO_SMALL,
        Error::BufferTooSmall { .. } => EGRU_ERR_BUFFER_TOO_SMALL,
        Error::TokenOutOfRange { .. } => EGRU_ERR_TOKEN_OUT_OF_RANGE,
        Error::UnknownToken { .. } => EGRU_ERR_UNKNOWN_TOKEN,
        Error::StateMismatch { .. } => EGRU_ERR_STATE_MISMATCH,
        Error::InvalidParameter { .. } | Error::KernelUnavailable { .. } => EGRU_ERR_INVALID_PARAMETER,
        Error::EmptyPrompt => EGRU_ERR_EMPTY_PROMPT,
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

/// The initialised model in `m`.
///
/// # Safety
/// `m` must be NULL or point to an `egru_model` (initialised or not).
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

/// The initialised, current session in `s`.
///
/// # Safety
/// `s` must be NULL or point to an `egru_session` (initialised or not) whose
/// model storage, if initialised, is still alive.
unsafe fn session_mut<'a>(s: *mut egru_session) -> Result<&'a mut Session<'static, 'static>> {
    check_ptr(s)?;
    // SAFETY: egru_session is at least as large and as aligned as SessionSlot.
    let slot = unsafe { &mut *(s as *mut SessionSlot) };
    if slot.magic != SESSION_MAGIC || slot.model.is_null() {
        return Err(EGRU_ERR_NOT_INITIALIZED);
    }
    // SAFETY: the session was made from this model slot, which the caller keeps alive.
    let model = unsafe { &*slot.model };
    if model.magic != MODEL_MAGIC || model.generation != slot.generation {
        return Err(EGRU_ERR_STALE_SESSION);
    }
    // SAFETY: the magic is only written after `session` was initialised.
    Ok(unsafe { slot.session.assume_init_mut() })
}

/// A static, human-readable name of a status (never NULL; an unknown value
/// gives "unknown status"). Takes an int so that any value C passes is defined.
#[no_mangle]
pub extern "C" fn egru_status_str(status: i32) -> *const c_char {
    const ALL: [egru_status; 17] = [
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
    ];
    let Some(&status) = ALL.iter().find(|s| **s as i32 == status) else {
        return c"unknown status".as_ptr();
    };
    let s: &'static core::ffi::CStr = match status {
        EGRU_OK => c"ok",
        EGRU_ERR_NULL => c"a required pointer is NULL",
        EGRU_ERR_MISALIGNED => c"a pointer is misaligned for its type",
        EGRU_ERR_BUFFER_TOO_SMALL => c"an output buffer is too small",
        EGRU_ERR_BAD_MODEL => c"the model bytes are not a valid .egru file",
        EGRU_ERR_UNSUPPORTED_VERSION => c"the .egru format version is not supported",
        EGRU_ERR_CHECKSUM => c"the model bytes fail their CRC-32 (corrupted or truncated)",
        EGRU_ERR_ARENA_TOO_SMALL => c"the session arena is smaller than egru_model_arena_size()",
        EGRU_ERR_TOKEN_OUT_OF_RANGE => c"a token id is out of range",
        EGRU_ERR_UNKNOWN_TOKEN => c"text holds a token the vocabulary lacks",
        EGRU_ERR_NOT_INITIALIZED => c"the handle is not initialised",
        EGRU_ERR_STALE_SESSION => c"the session's model was re-initialised",
        EGRU_ERR_STATE_MISMATCH => c"the saved state does not belong to this model",
        EGRU_ERR_INVALID_PARAMETER => c"a parameter is out of range",
        EGRU_ERR_EMPTY_PROMPT => c"generation needs a prompt or an earlier step",
        EGRU_ERR_INVALID_UTF8 => c"text is not valid UTF-8",
        EGRU_ERR_INTERNAL => c"internal error",
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
/// unchanged while the model is used. Any alignment. On error `model` keeps
/// what it held before (an earlier model stays usable).
///
/// # Safety
/// `model` must point to writable egru_model storage; `bytes` to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn egru_model_init(model: *mut egru_model, bytes: *const u8, len: usize) -> egru_status {
    guard(|| {
        check_ptr(model)?;
        if bytes.is_null() {
            return Err(EGRU_ERR_NULL);
        }
        // SAFETY: the caller guarantees len bytes that outlive the model ('static here, by contract).
        let data: &'static [u8] = unsafe { bytes_in(bytes, len)? };
        let loaded = Model::from_bytes(data).map_err(status_of)?;
        // SAFETY: egru_model storage is large and aligned enough for ModelSlot.
        let slot = unsafe { &mut *(model as *mut ModelSlot) };
        let generation = if slot.magic == MODEL_MAGIC { slot.generation.wrapping_add(1) } else { 1 };
        slot.magic = 0;
        slot.model = MaybeUninit::new(loaded);
        slot.generation = generation;
        slot.magic = MODEL_MAGIC;
        Ok(())
    })
}

/// Layer sizes, arena size and state size of a model.
///
/// # Safety
/// `model` must point to egru_model storage; `info` to a writable egru_model_info.
#[no_mangle]
pub unsafe extern "C" fn egru_model_info_get(model: *const egru_model, info: *mut egru_model_info) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let (_, m) = unsafe { model_ref(model)? };
        let d = m.dims();
        let v = egru_model_info {
            vocab: d.vocab,
            emb: d.emb,
            hidden: d.hidden,
            dense: d.dense,
            arena_size: m.arena_size(),
            state_size: 12 + 4 * (d.hidden as usize + d.vocab as usize),
            word_level: m.tokenizer().separator().is_some() as u32,
        };
        // SAFETY: forwarded contract.
        unsafe { put(info, v) }
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
/// egru_model_arena_size() bytes, any alignment). The model storage and the
/// arena must outlive the session and not move.
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
        // SAFETY: forwarded contract; the model outlives the session by contract.
        let (mslot, m) = unsafe { model_ref(model)? };
        if arena.is_null() {
            return Err(EGRU_ERR_NULL);
        }
        // SAFETY: the caller guarantees arena_len writable, unaliased bytes outliving the session.
        let arena: &'static mut [u8] = unsafe { slice_out(arena, arena_len)? };
        let s = Session::new(m, arena).map_err(status_of)?;
        // SAFETY: egru_session storage is large and aligned enough for SessionSlot.
        let slot = unsafe { &mut *(session as *mut SessionSlot) };
        slot.magic = 0;
        slot.session = MaybeUninit::new(s);
        slot.model = mslot as *const ModelSlot;
        slot.generation = mslot.generation;
        slot.magic = SESSION_MAGIC;
        Ok(())
    })
}

/// Back to the initial state (GRU state zero, no logits).
///
/// # Safety
/// `session` must point to egru_session storage whose model is alive.
#[no_mangle]
pub unsafe extern "C" fn egru_session_reset(session: *mut egru_session) -> egru_status {
    // SAFETY: forwarded contract.
    guard(|| unsafe { session_mut(session) }.map(|s| s.reset()))
}

/// Feeds one token. If `logits` is not NULL, copies the next-token logits
/// into it (`capacity` floats, at least the vocabulary size, else
/// EGRU_ERR_BUFFER_TOO_SMALL and nothing happens).
///
/// # Safety
/// `session` as for egru_session_reset; `logits` NULL or `capacity` writable floats.
#[no_mangle]
pub unsafe extern "C" fn egru_session_step(session: *mut egru_session, token: u32, logits: *mut f32, capacity: usize) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let s = unsafe { session_mut(session)? };
        let vocab = s.model().dims().vocab;
        let out: Option<&mut [f32]> = if logits.is_null() {
            None
        } else {
            // SAFETY: forwarded contract.
            Some(unsafe { slice_out(logits, capacity)? })
        };
        if out.as_ref().is_some_and(|o| o.len() < vocab as usize) {
            return Err(EGRU_ERR_BUFFER_TOO_SMALL);
        }
        let l = s.step(token).map_err(status_of)?;
        if let Some(o) = out {
            o[..l.len()].copy_from_slice(l);
        }
        Ok(())
    })
}

/// Feeds UTF-8 text (`len` bytes, no NUL needed). Nothing is fed if any of
/// it is not in the vocabulary (EGRU_ERR_UNKNOWN_TOKEN).
///
/// # Safety
/// `session` as for egru_session_reset; `text` `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn egru_session_feed(session: *mut egru_session, text: *const c_char, len: usize) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let s = unsafe { session_mut(session)? };
        // SAFETY: forwarded contract.
        let t = core::str::from_utf8(unsafe { bytes_in(text.cast::<u8>(), len)? }).map_err(|_| EGRU_ERR_INVALID_UTF8)?;
        s.feed(t).map(|_| ()).map_err(status_of)
    })
}

/// The `k` most likely next tokens with probabilities, most likely first,
/// into `out` (`k` entries); `written` gets how many (at most the vocabulary).
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
        let n = s.top_k_next(o).map_err(status_of)?;
        // SAFETY: forwarded contract.
        unsafe { put(written, n) }
    })
}

/// Feeds `prompt` (UTF-8, `prompt_len` bytes; may be empty after earlier
/// steps), then generates up to `max_tokens` tokens, feeding each back.
/// The text goes into `out` (`out_cap` bytes; NUL-terminated when there is
/// room; word tokens each preceded by a space) and `callback` (may be NULL)
/// sees each token and may stop generation. Stops early when `out` is full.
/// `params` NULL means greedy. `out_len` (may be NULL) gets the bytes written.
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
    callback: egru_token_callback,
    user: *mut c_void,
) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let s = unsafe { session_mut(session)? };
        // SAFETY: forwarded contract.
        let p = core::str::from_utf8(unsafe { bytes_in(prompt.cast::<u8>(), prompt_len)? }).map_err(|_| EGRU_ERR_INVALID_UTF8)?;
        let (sampling, seed) = if params.is_null() {
            (SamplingParams::GREEDY, 0)
        } else {
            check_ptr(params)?;
            // SAFETY: checked non-null and aligned; the caller guarantees it is readable.
            let q = unsafe { *params };
            (SamplingParams { temperature: q.temperature, top_k: q.top_k, top_p: q.top_p }, q.seed)
        };
        // SAFETY: forwarded contract.
        let buf = unsafe { slice_out(out.cast::<u8>(), out_cap)? };
        let sep = s.model().tokenizer().separator();
        let mut len = 0usize;
        let mut rng = Rng::new(seed);
        s.generate(p, max_tokens, &sampling, &mut rng, |id, text| {
            let mut piece_buf = [0u8; 4];
            let sep_bytes: &[u8] = match sep {
                Some(c) => c.encode_utf8(&mut piece_buf).as_bytes(),
                None => &[],
            };
            let need = sep_bytes.len() + text.len();
            if out_cap > 0 && len + need > out_cap {
                return false;
            }
            if out_cap > 0 {
                buf[len..len + sep_bytes.len()].copy_from_slice(sep_bytes);
                buf[len + sep_bytes.len()..len + need].copy_from_slice(text.as_bytes());
                len += need;
            }
            match callback {
                // SAFETY: the caller guarantees the callback is safe to call with `user`;
                // `text` is valid for the duration of the call.
                Some(cb) => unsafe { cb(id, text.as_ptr().cast::<c_char>(), text.len(), user) },
                None => true,
            }
        })
        .map_err(status_of)?;
        if len < out_cap {
            buf[len] = 0;
        }
        if !out_len.is_null() {
            // SAFETY: forwarded contract.
            unsafe { put(out_len, len)? };
        }
        Ok(())
    })
}

/// Saves the recurrent state and last logits (egru_model_info.state_size
/// bytes) so that a prompt prefix can be computed once and restored.
///
/// # Safety
/// `session` as for egru_session_reset; `buf` `cap` writable bytes; `written` NULL or a writable size_t.
#[no_mangle]
pub unsafe extern "C" fn egru_session_save_state(session: *mut egru_session, buf: *mut u8, cap: usize, written: *mut usize) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let s = unsafe { session_mut(session)? };
        // SAFETY: forwarded contract.
        let b = unsafe { slice_out(buf, cap)? };
        let n = s.save_state(b).map_err(status_of)?;
        if !written.is_null() {
            // SAFETY: forwarded contract.
            unsafe { put(written, n)? };
        }
        Ok(())
    })
}

/// Restores a state saved from a session of the same model. On error the
/// session is unchanged.
///
/// # Safety
/// `session` as for egru_session_reset; `buf` `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn egru_session_restore_state(session: *mut egru_session, buf: *const u8, len: usize) -> egru_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let s = unsafe { session_mut(session)? };
        // SAFETY: forwarded contract.
        let b = unsafe { bytes_in(buf, len)? };
        s.restore_state(b).map_err(status_of)
    })
}

/// Encodes UTF-8 text into token ids (`cap` entries); `count` gets how many.
/// EGRU_ERR_BUFFER_TOO_SMALL if they do not fit.
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
        // SAFETY: forwarded contract.
        let t = core::str::from_utf8(unsafe { bytes_in(text.cast::<u8>(), len)? }).map_err(|_| EGRU_ERR_INVALID_UTF8)?;
        // SAFETY: forwarded contract.
        let out = unsafe { slice_out(ids, cap)? };
        let n = m.tokenizer().encode(t, out).map_err(status_of)?;
        // SAFETY: forwarded contract.
        unsafe { put(count, n) }
    })
}

/// Writes the text of `n` token ids into `out` (`cap` bytes, NUL-terminated
/// when there is room); `written` gets the bytes written (NUL excluded).
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
        let ids: &[u32] = if n == 0 {
            &[]
        } else {
            check_ptr(ids)?;
            // SAFETY: checked non-null and aligned; the caller guarantees n readable ids.
            unsafe { core::slice::from_raw_parts(ids, n) }
        };
        // SAFETY: forwarded contract.
        let buf = unsafe { slice_out(out.cast::<u8>(), cap)? };
        let len = m.tokenizer().decode(ids, buf).map_err(status_of)?;
        if len < cap {
            buf[len] = 0;
        }
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
