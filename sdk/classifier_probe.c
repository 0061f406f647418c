/*
 * The smallest classifier firmware: a feature model (exported with
 * `edgegru export --format c --name firmware_model`), a session, steps of
 * feature vectors; no text. scripts/c-sdk.sh links it against each core's
 * library to measure the library code a classifier needs (the SDK README's
 * table); it is not run. With PROBE_SAVED_STATE it also saves and restores
 * the session's state, to measure what that costs.
 */
#include <stdint.h>

#include "edgegru.h"
#include "firmware_model.h"
#include "semihosting.h"

static uint8_t arena[FIRMWARE_MODEL_ARENA_SIZE] __attribute__((aligned(16)));

int main(void) {
    static egru_model model;
    static egru_session session;
    float x[FIRMWARE_MODEL_FEATURES] = {0}, p[FIRMWARE_MODEL_OUTPUTS];
    if (egru_model_init(&model, firmware_model, FIRMWARE_MODEL_SIZE) != EGRU_OK) return 1;
    if (egru_session_init(&session, &model, arena, sizeof arena) != EGRU_OK) return 1;
    for (int t = 0; t < 10; t++) {
        if (egru_session_step_features(&session, x, FIRMWARE_MODEL_FEATURES, p, FIRMWARE_MODEL_OUTPUTS) != EGRU_OK) return 1;
    }
#ifdef PROBE_SAVED_STATE
    {
        static uint8_t state[FIRMWARE_MODEL_STATE_SIZE];
        size_t len = 0;
        if (egru_session_save_state(&session, state, sizeof state, &len) != EGRU_OK) return 1;
        if (egru_session_restore_state(&session, state, len) != EGRU_OK) return 1;
    }
#endif
    sh_write0(p[0] > p[1] ? "0\n" : "1\n");
    return 0;
}
