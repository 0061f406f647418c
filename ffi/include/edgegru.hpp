/*
 * edgegru.hpp: a header-only C++ wrapper over the edgegru C library
 * (edgegru.h). C++11; no heap, no exceptions, no RTTI: it compiles with
 * -fno-exceptions -fno-rtti on a Cortex-M toolchain.
 *
 *     #include "edgegru.hpp"
 *     #include "my_model.h"                        // edgegru export --format c
 *
 *     static edgegru::Arena<MY_MODEL_ARENA_SIZE> arena;
 *     static edgegru::Model model;
 *     static edgegru::Session session;
 *
 *     if (!model.load(my_model, MY_MODEL_SIZE)) { ... model.status().message() ... }
 *     edgegru::Status st = session.open(model, arena);
 *     float probs[MY_MODEL_OUTPUTS];
 *     st = session.step_features(reading, MY_MODEL_FEATURES, probs);
 *
 * Every call returns a Status ([[nodiscard]] where the compiler has it):
 * test it (it converts to bool: true on success), or read code() and
 * message(). The objects hold the C library's handles in themselves,
 * zeroed until loaded or opened (the C library then answers
 * EGRU_ERR_NOT_INITIALIZED); the model bytes and the arena are the
 * caller's and must outlive them. A Model or Session is neither copied nor
 * moved: a session refers to its model by address.
 */
#ifndef EDGEGRU_HPP
#define EDGEGRU_HPP

#include <stddef.h>
#include <stdint.h>

#include "edgegru.h"

#if __cplusplus >= 201703L
#define EDGEGRU_NODISCARD [[nodiscard]]
#elif defined(__GNUC__) || defined(__clang__)
#define EDGEGRU_NODISCARD __attribute__((warn_unused_result))
#else
#define EDGEGRU_NODISCARD
#endif

namespace edgegru {

/** The result of a call: EGRU_OK, or why it failed. */
class Status {
  public:
    /** A status from the C library's code. */
    constexpr Status(egru_status code = EGRU_OK) noexcept : code_(code) {}
    /** Whether the call succeeded. */
    bool ok() const noexcept { return code_ == EGRU_OK; }
    /** Whether the call succeeded. */
    explicit operator bool() const noexcept { return ok(); }
    /** The C library's code. */
    egru_status code() const noexcept { return code_; }
    /** A static, human-readable description of the code. */
    const char *message() const noexcept { return egru_status_str(static_cast<int32_t>(code_)); }

  private:
    egru_status code_;
};

/** Session memory of N bytes, aligned as the runtime needs: a static or global of the program. */
template <size_t N> class Arena {
  public:
    /** The bytes. */
    uint8_t *data() noexcept { return bytes_; }
    /** N. */
    static constexpr size_t size() noexcept { return N; }

  private:
    alignas(16) uint8_t bytes_[N];
};

/** A loaded model: the C library's egru_model over bytes the caller keeps (in flash). */
class Model {
  public:
    constexpr Model() noexcept : handle_(), loaded_(false) {}
    Model(const Model &) = delete;
    Model &operator=(const Model &) = delete;

    /** Checks and loads the .egru file at bytes[0..len) (every size and index, the CRC). */
    EDGEGRU_NODISCARD Status load(const uint8_t *bytes, size_t len) noexcept {
        Status st = egru_model_init(&handle_, bytes, len);
        loaded_ = st.ok();
        return st;
    }
    /** Whether load() succeeded. */
    bool loaded() const noexcept { return loaded_; }
    /** The network's shape, sizes and kind. */
    EDGEGRU_NODISCARD Status info(egru_model_info &out) const noexcept { return egru_model_info_get(&handle_, &out); }
    /** Bytes of arena a session of this model needs. */
    EDGEGRU_NODISCARD Status arena_size(size_t &out) const noexcept { return egru_model_arena_size(&handle_, &out); }
    /** Output `index`'s name (a class), not NUL-terminated: `len` bytes. */
    EDGEGRU_NODISCARD Status output_name(size_t index, const char *&name, size_t &len) const noexcept {
        return egru_model_output_name(&handle_, index, &name, &len);
    }
    /** The C handle, for the C API's other calls. */
    const egru_model *get() const noexcept { return &handle_; }

  private:
    egru_model handle_;
    bool loaded_;
};

/** One stream of steps through a model, in an arena the caller owns. */
class Session {
  public:
    constexpr Session() noexcept : handle_(), open_(false) {}
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    /** Opens a session of `model` in arena[0..len) (at least Model::arena_size bytes). */
    EDGEGRU_NODISCARD Status open(const Model &model, uint8_t *arena, size_t len) noexcept {
        Status st = egru_session_init(&handle_, model.get(), arena, len);
        open_ = st.ok();
        return st;
    }
    /** Opens a session of `model` in `arena`. */
    template <size_t N> EDGEGRU_NODISCARD Status open(const Model &model, Arena<N> &arena) noexcept {
        return open(model, arena.data(), N);
    }
    /** Whether open() succeeded. */
    bool is_open() const noexcept { return open_; }
    /** Back to the initial state. */
    EDGEGRU_NODISCARD Status reset() noexcept { return egru_session_reset(&handle_); }
    /** Feeds a token; writes the logits to out[0..capacity). */
    EDGEGRU_NODISCARD Status step(uint32_t token, float *out, size_t capacity) noexcept {
        return egru_session_step(&handle_, token, out, capacity);
    }
    /** Feeds one step's `count` features; writes the outputs to out[0..capacity). */
    EDGEGRU_NODISCARD Status step_features(const float *features, size_t count, float *out, size_t capacity) noexcept {
        return egru_session_step_features(&handle_, features, count, out, capacity);
    }
    /** step_features with arrays: the sizes are the arrays'. */
    template <size_t F, size_t C> EDGEGRU_NODISCARD Status step_features(const float (&features)[F], float (&out)[C]) noexcept {
        return step_features(features, F, out, C);
    }
    /** Feeds `len` bytes of UTF-8 text. */
    EDGEGRU_NODISCARD Status feed(const char *text, size_t len) noexcept { return egru_session_feed(&handle_, text, len); }
    /** The k most likely next tokens into out[0..k); `written` says how many. */
    EDGEGRU_NODISCARD Status top_k(egru_token_prob *out, size_t k, size_t &written) noexcept {
        return egru_session_top_k(&handle_, out, k, &written);
    }
    /** Feeds the prompt, generates up to max_tokens tokens as text into out[0..cap) (`len` bytes written). */
    EDGEGRU_NODISCARD Status generate(const char *prompt, size_t prompt_len, size_t max_tokens, const egru_sampling &params, char *out,
                                      size_t cap, size_t &len, egru_stop_reason &stop) noexcept {
        return egru_session_generate(&handle_, prompt, prompt_len, max_tokens, &params, out, cap, &len, &stop, 0, 0);
    }
    /** Saves the state into buf[0..cap) (`written` bytes). */
    EDGEGRU_NODISCARD Status save_state(uint8_t *buf, size_t cap, size_t &written) noexcept {
        return egru_session_save_state(&handle_, buf, cap, &written);
    }
    /** Restores a state saved from a session of the same model; anything else is refused. */
    EDGEGRU_NODISCARD Status restore_state(const uint8_t *buf, size_t len) noexcept {
        return egru_session_restore_state(&handle_, buf, len);
    }
    /** The C handle, for the C API's other calls. */
    egru_session *get() noexcept { return &handle_; }

  private:
    egru_session handle_;
    bool open_;
};

} // namespace edgegru

#endif
