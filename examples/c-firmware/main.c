/*
 * edgegru on a Cortex-M microcontroller, from C: the model lies in flash
 * (model.S puts the .egru file there with .incbin), the session arena is a
 * static buffer, and the text goes out over semihosting (QEMU prints it).
 * Prints the prompt and the generated text exactly as
 * `edgegru generate --greedy` does on the host, so the two can be compared.
 */
#include <stddef.h>
#include <stdint.h>

#include "edgegru.h"
#include "semihosting.h"

#ifndef PROMPT
#define PROMPT "The meaning of life is"
#endif
#ifndef TOKENS
#define TOKENS 80
#endif
#ifndef ARENA_BYTES
#define ARENA_BYTES (64 * 1024)
#endif

/* The .egru file in flash, from model.S. */
extern const uint8_t egru_model_start[];
extern const uint8_t egru_model_end[];

static uint8_t arena[ARENA_BYTES];
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

    st = egru_model_init(&model, egru_model_start, (size_t)(egru_model_end - egru_model_start));
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
