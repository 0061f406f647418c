/*
 * edgegru on a Cortex-M microcontroller, from C: the model lies in flash
 * (firmware_model.c, written by `edgegru export --format c --name firmware_model`),
 * the session arena is a static buffer of exactly the size the model needs
 * (FIRMWARE_MODEL_ARENA_SIZE, from firmware_model.h), and the text goes out over
 * semihosting (QEMU prints it).
 * Prints the prompt and the generated text exactly as
 * `edgegru generate --greedy` does on the host, so the two can be compared.
 */
#include <stddef.h>
#include <stdint.h>

#include "edgegru.h"
#include "firmware_model.h"
#include "semihosting.h"

#ifndef PROMPT
#define PROMPT "The meaning of life is"
#endif
#ifndef TOKENS
#define TOKENS 80
#endif
/* The session's memory: the model's own figure, aligned for the runtime. */
static uint8_t arena[FIRMWARE_MODEL_ARENA_SIZE] __attribute__((aligned(16)));
static char text[4 * TOKENS + 1];

static size_t length(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

/* Prints "error: <what>: <status text>" and stops with a failure. */
static void fail(const char *what, enum egru_status status) {
    sh_write0("error: ");
    sh_write0(what);
    sh_write0(": ");
    sh_write0(egru_status_str(status));
    sh_write0("\n");
    sh_exit(1);
}

int main(void) {
    egru_model model;
    egru_session session;
    size_t need = 0, len = 0;
    enum egru_stop_reason stop;
    egru_sampling greedy = {0}; /* temperature 0: greedy; OOV never */
    enum egru_status st;

    st = egru_model_init(&model, firmware_model, FIRMWARE_MODEL_SIZE);
    if (st != EGRU_OK) fail("model", st);
    st = egru_model_arena_size(&model, &need);
    if (st != EGRU_OK) fail("arena size", st);
    if (need > sizeof arena) fail("arena", EGRU_ERR_ARENA_TOO_SMALL);
    st = egru_session_init(&session, &model, arena, sizeof arena);
    if (st != EGRU_OK) fail("session", st);
    greedy.top_p = 1.0f;
    st = egru_session_generate(&session, PROMPT, length(PROMPT), TOKENS, &greedy, text, sizeof text - 1, &len, &stop,
                               NULL, NULL);
    if (st != EGRU_OK) fail("generate", st);
    text[len] = '\0';
    sh_write0(PROMPT);
    sh_write0(text);
    sh_write0("\n");
    sh_exit(0);
    return 0;
}
