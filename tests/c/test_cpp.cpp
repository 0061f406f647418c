/*
 * The C++ wrapper (edgegru.hpp) over the C library, with a model compiled in
 * as C source (`edgegru export --format c --name cpp_model`). Built as
 * C++11 without exceptions or RTTI, on the host (g++) and on a Cortex-M4F
 * (arm-none-eabi-g++, run under qemu-system-arm): both print the same text.
 *
 * It checks the wrapper's refusals (an unloaded model, a truncated file, a
 * small arena, a state of the wrong size), that the header's macros are the
 * model's figures, then streams a fixed sequence of feature vectors and
 * prints every step's outputs as `edgegru predict --exact` prints them,
 * after a `ts:` line holding the sequence as a .ts case (the test command
 * runs `edgegru predict --exact` on it and compares). Exits 1 on a failed
 * check. Output goes through sh_write0/sh_exit: semihosting on the device,
 * stdio on the host (host_semihosting.c).
 */
#include <stddef.h>
#include <stdint.h>

#include "cpp_model.h"
#include "edgegru.hpp"

extern "C" {
void sh_write0(const char *s);
void sh_exit(int code) __attribute__((noreturn));
}

namespace {

const unsigned STEPS = 24;
bool failed = false;

void check(bool ok, const char *what) {
    if (!ok) {
        sh_write0("FAILED: ");
        sh_write0(what);
        sh_write0("\n");
        failed = true;
    }
}

void put_hex(uint32_t v) {
    char s[9];
    for (int i = 7; i >= 0; i--) {
        s[i] = "0123456789abcdef"[v & 15u];
        v >>= 4;
    }
    s[8] = '\0';
    sh_write0(s);
}

void put_uint(unsigned v) {
    char s[12];
    int i = 11;
    s[i] = '\0';
    do {
        s[--i] = static_cast<char>('0' + v % 10u);
        v /= 10u;
    } while (v);
    sh_write0(s + i);
}

/* k/4 as decimal text: exact in binary and in decimal. */
void put_quarter(int k) {
    if (k < 0) sh_write0("-");
    unsigned a = static_cast<unsigned>(k < 0 ? -k : k);
    put_uint(a / 4u);
    const char *frac[4] = {".0", ".25", ".5", ".75"};
    sh_write0(frac[a % 4u]);
}

uint32_t bits(float f) {
    union {
        float f;
        uint32_t u;
    } x;
    x.f = f;
    return x.u;
}

/* The sequence: quarters in [-8, 8) from a linear congruential generator. */
int quarters[STEPS][CPP_MODEL_FEATURES];

void make_sequence() {
    uint32_t seed = 12345u;
    for (unsigned t = 0; t < STEPS; t++) {
        for (unsigned f = 0; f < CPP_MODEL_FEATURES; f++) {
            seed = seed * 1664525u + 1013904223u;
            quarters[t][f] = static_cast<int>((seed >> 16) % 64u) - 32;
        }
    }
}

void print_ts_case() {
    sh_write0("ts: ");
    for (unsigned f = 0; f < CPP_MODEL_FEATURES; f++) {
        for (unsigned t = 0; t < STEPS; t++) {
            put_quarter(quarters[t][f]);
            if (t + 1 < STEPS) sh_write0(",");
        }
        if (f + 1 < CPP_MODEL_FEATURES) sh_write0(":");
    }
    sh_write0("\n");
}

edgegru::Model model;
edgegru::Session session;
edgegru::Arena<CPP_MODEL_ARENA_SIZE> arena;
edgegru::Arena<64> small_arena;

void check_refusals() {
    edgegru::Model unloaded;
    size_t n = 0;
    check(unloaded.arena_size(n).code() == EGRU_ERR_NOT_INITIALIZED, "an unloaded model answers EGRU_ERR_NOT_INITIALIZED");
    edgegru::Model truncated;
    edgegru::Status st = truncated.load(cpp_model, 100);
    check(!st && !truncated.loaded() && st.message()[0] != '\0', "a truncated file is refused, with a message");
    edgegru::Session closed;
    float out[CPP_MODEL_OUTPUTS];
    float x[CPP_MODEL_FEATURES] = {0};
    check(closed.step_features(x, out).code() == EGRU_ERR_NOT_INITIALIZED, "a session never opened answers EGRU_ERR_NOT_INITIALIZED");
    edgegru::Session tight;
    check(tight.open(model, small_arena).code() == EGRU_ERR_ARENA_TOO_SMALL, "a small arena is refused");
}

void check_figures() {
    egru_model_info info;
    check(model.info(info).ok(), "info");
    check(info.arena_size == CPP_MODEL_ARENA_SIZE && info.state_size == CPP_MODEL_STATE_SIZE, "the macros give the arena and state sizes");
    check(info.outputs == CPP_MODEL_OUTPUTS && info.features == CPP_MODEL_FEATURES, "the macros give the outputs and features");
    check(info.format_version == CPP_MODEL_FORMAT_VERSION, "the macro gives the format version");
    check(reinterpret_cast<uintptr_t>(cpp_model) % 16u == 0, "the array is aligned to 16 bytes");
}

void stream() {
    float out[CPP_MODEL_OUTPUTS];
    uint8_t saved[CPP_MODEL_STATE_SIZE];
    size_t written = 0;
    float again[CPP_MODEL_OUTPUTS];
    check(session.reset().ok(), "reset");
    for (unsigned t = 0; t < STEPS; t++) {
        float x[CPP_MODEL_FEATURES];
        for (unsigned f = 0; f < CPP_MODEL_FEATURES; f++) x[f] = static_cast<float>(quarters[t][f]) / 4.0f;
        if (t == STEPS / 2) check(session.save_state(saved, sizeof saved, written).ok(), "save_state");
        check(session.step_features(x, out).ok(), "step_features");
        sh_write0("sequence 0 step ");
        put_uint(t);
        sh_write0(":");
        for (unsigned c = 0; c < CPP_MODEL_OUTPUTS; c++) {
            sh_write0(" ");
            put_hex(bits(out[c]));
        }
        sh_write0("\n");
    }
    /* Back to the middle, and the rest again: the same last outputs. */
    check(session.restore_state(saved, written).ok(), "restore_state");
    check(session.restore_state(saved, written - 1).code() != EGRU_OK, "a truncated state is refused");
    for (unsigned t = STEPS / 2; t < STEPS; t++) {
        float x[CPP_MODEL_FEATURES];
        for (unsigned f = 0; f < CPP_MODEL_FEATURES; f++) x[f] = static_cast<float>(quarters[t][f]) / 4.0f;
        check(session.step_features(x, again).ok(), "step_features after restore_state");
    }
    for (unsigned c = 0; c < CPP_MODEL_OUTPUTS; c++) check(bits(out[c]) == bits(again[c]), "a restored state gives the same outputs");
}

} // namespace

int main() {
    make_sequence();
    check(model.load(cpp_model, CPP_MODEL_SIZE).ok(), "the model loads");
    check_refusals();
    check_figures();
    check(session.open(model, arena).ok(), "the session opens");
    print_ts_case();
    stream();
    sh_write0(failed ? "C++ wrapper: FAILED\n" : "C++ wrapper: every check passed\n");
    sh_exit(failed ? 1 : 0);
}
