/*
 * Load a model file, print the likeliest next tokens after a prompt, then
 * generate text token by token. No heap use by the library: the model is
 * read in place and the session lives in a static arena.
 *
 *   gcc -std=c99 -O2 -I ffi/include examples/c/generate.c target/release/libedgegru.a -lpthread -ldl -lm -o generate
 *   ./generate models/fortunes-char.egru "The meaning of life is" 200
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgegru.h"

static struct egru_model model;
static struct egru_session session;
static unsigned char arena[256 * 1024];

static bool print_token(uint32_t token, const char *text, size_t len, void *user) {
    int word_level = *(const int *)user;
    (void)token;
    if (word_level) fputc(' ', stdout);
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

static int fail(const char *what, enum egru_status s) {
    fprintf(stderr, "error: %s: %s\n", what, egru_status_str((int)s));
    return 1;
}

int main(int argc, char **argv) {
    const char *prompt = argc > 2 ? argv[2] : "The ";
    size_t max_tokens = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 200, n = 0, i;
    struct egru_model_info info;
    struct egru_token_prob top[5];
    struct egru_sampling sampling = {0.8f, 40, 0.95f, 42, 0};
    enum egru_status s;
    unsigned char *bytes;
    long len;
    int word_level;
    FILE *f;

    if (argc < 2 || !(f = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: %s MODEL.egru [PROMPT] [TOKENS]\n", argv[0]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    bytes = (unsigned char *)malloc((size_t)len); /* on a device: the model's address in flash */
    if (!bytes || fread(bytes, 1, (size_t)len, f) != (size_t)len) return fail("read", EGRU_ERR_NULL);
    fclose(f);

    if ((s = egru_model_init(&model, bytes, (size_t)len)) != EGRU_OK) return fail("model", s);
    if ((s = egru_model_info_get(&model, &info)) != EGRU_OK) return fail("info", s);
    if (info.head_kind != EGRU_HEAD_NEXT_TOKEN) return fail("model", EGRU_ERR_NOT_A_LANGUAGE_MODEL);
    if (info.arena_size > sizeof arena) return fail("arena", EGRU_ERR_ARENA_TOO_SMALL);
    if ((s = egru_session_init(&session, &model, arena, sizeof arena)) != EGRU_OK) return fail("session", s);
    word_level = (int)info.word_level;

    if ((s = egru_session_feed(&session, prompt, strlen(prompt))) != EGRU_OK) return fail("prompt", s);
    if ((s = egru_session_top_k(&session, top, 5, &n)) != EGRU_OK) return fail("top-k", s);
    printf("vocab %u, hidden %u, arena %zu bytes\nnext-token suggestions after \"%s\":", info.vocab, info.hidden, info.arena_size, prompt);
    for (i = 0; i < n; i++) {
        char text[64];
        size_t w = 0;
        if (egru_detokenize(&model, &top[i].token, 1, text, sizeof text, &w) == EGRU_OK) printf(" \"%s\" %.2f", text, top[i].prob);
    }
    printf("\n\n%s", prompt);
    s = egru_session_generate(&session, "", 0, max_tokens, &sampling, NULL, 0, NULL, NULL, print_token, &word_level);
    printf("\n");
    free(bytes);
    return s == EGRU_OK ? 0 : fail("generate", s);
}
