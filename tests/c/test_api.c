/*
 * The C API as firmware uses it, and every error path.
 * Usage: test_api MODEL.egru
 * Built with -DEGRU_COUNT_MALLOC it also proves that no API call touches the
 * heap: malloc, calloc, realloc and free are interposed and counted while
 * the API runs (run that build natively; run the plain build under valgrind).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgegru.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define EXPECT(call, status)                                                     \
    do {                                                                         \
        enum egru_status got_ = (call);                                          \
        checks++;                                                                \
        if (got_ != (status)) {                                                  \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s\n", __FILE__, __LINE__, #call, \
                    (int)got_, egru_status_str((int)got_), #status);             \
        }                                                                        \
    } while (0)

#ifdef EGRU_COUNT_MALLOC
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static volatile int counting = 0;
static volatile long heap_calls = 0;
void *malloc(size_t n) { if (counting) heap_calls++; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { if (counting) heap_calls++; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { if (counting) heap_calls++; return __libc_realloc(p, n); }
void free(void *p) { if (counting && p) heap_calls++; __libc_free(p); }
#define COUNT_START() (counting = 1)
#define COUNT_STOP() (counting = 0)
#else
#define COUNT_START() ((void)0)
#define COUNT_STOP() ((void)0)
#endif

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (unsigned char *)malloc((size_t)n + 8);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

struct stop_after { int seen; int limit; };

static bool stop_after_cb(uint32_t token, const char *text, size_t len, void *user) {
    struct stop_after *s = (struct stop_after *)user;
    (void)token; (void)text; (void)len;
    s->seen++;
    return s->seen < s->limit;
}

/* Static storage, as firmware would have it (zeroed: "not initialised"). */
static struct egru_model model;
static struct egru_model other_model;
static struct egru_session session;
static struct egru_session fresh_session;
static unsigned char arena[1 << 20];
static float logits[4096];
static unsigned char state[1 << 16];
static unsigned char state2[1 << 16];

int main(int argc, char **argv) {
    size_t len = 0, n = 0, written = 0, arena_size = 0, out_len = 0, i;
    unsigned char *bytes, *bad;
    const char *version = NULL;
    struct egru_model_info info;
    struct egru_token_prob top[8];
    struct egru_sampling greedy = {0.0f, 0, 1.0f, 0};
    struct egru_sampling sampled = {0.9f, 20, 0.95f, 1234};
    char out1[512], out2[512], small[6];
    uint32_t ids[64];
    struct stop_after stopper = {0, 5};

    if (argc < 2 || !(bytes = read_file(argv[1], &len))) {
        fprintf(stderr, "usage: %s MODEL.egru\n", argv[0]);
        return 2;
    }
    bad = (unsigned char *)malloc(len);

#ifdef EGRU_COUNT_MALLOC
    /* The interposer sees heap calls made inside the window. */
    COUNT_START();
    free(malloc(16));
    COUNT_STOP();
    CHECK(heap_calls == 2);
    heap_calls = 0;
#endif

    COUNT_START();

    /* Version and status strings. */
    EXPECT(egru_version(&version), EGRU_OK);
    CHECK(version != NULL && strlen(version) > 0);
    EXPECT(egru_version(NULL), EGRU_ERR_NULL);
    CHECK(strcmp(egru_status_str(EGRU_OK), "ok") == 0);
    CHECK(strcmp(egru_status_str(9999), "unknown status") == 0);
    CHECK(strcmp(egru_status_str(-1), "unknown status") == 0);
    for (i = 0; i <= (size_t)EGRU_ERR_INTERNAL; i++) CHECK(strlen(egru_status_str((int)i)) > 0);

    /* Use before init. */
    EXPECT(egru_model_arena_size(&model, &arena_size), EGRU_ERR_NOT_INITIALIZED);
    EXPECT(egru_session_step(&session, 0, NULL, 0), EGRU_ERR_NOT_INITIALIZED);
    EXPECT(egru_session_init(&session, &model, arena, sizeof arena), EGRU_ERR_NOT_INITIALIZED);

    /* Null pointers. */
    EXPECT(egru_model_init(NULL, bytes, len), EGRU_ERR_NULL);
    EXPECT(egru_model_init(&model, NULL, len), EGRU_ERR_NULL);
    EXPECT(egru_model_info_get(NULL, &info), EGRU_ERR_NULL);
    EXPECT(egru_session_init(NULL, &model, arena, sizeof arena), EGRU_ERR_NULL);
    EXPECT(egru_session_reset(NULL), EGRU_ERR_NULL);
    EXPECT(egru_session_step(NULL, 0, NULL, 0), EGRU_ERR_NULL);
    EXPECT(egru_tokenize(NULL, "a", 1, ids, 64, &n), EGRU_ERR_NULL);

    /* Corrupt models are refused, and a failed init keeps nothing. */
    memcpy(bad, bytes, len);
    bad[len / 2] ^= 0x10;
    EXPECT(egru_model_init(&model, bad, len), EGRU_ERR_CHECKSUM);
    EXPECT(egru_model_init(&model, bytes, len - 1), EGRU_ERR_CHECKSUM);
    EXPECT(egru_model_init(&model, bytes, 7), EGRU_ERR_BAD_MODEL);
    memcpy(bad, bytes, len);
    bad[0] = 'X';
    EXPECT(egru_model_init(&model, bad, len), EGRU_ERR_BAD_MODEL);
    memcpy(bad, bytes, len);
    bad[4] = 99;
    EXPECT(egru_model_init(&model, bad, len), EGRU_ERR_UNSUPPORTED_VERSION);
    EXPECT(egru_model_arena_size(&model, &arena_size), EGRU_ERR_NOT_INITIALIZED);

    /* Load, any alignment of the bytes. */
    memcpy(bad + 1, bytes, len - 1);
    EXPECT(egru_model_init(&model, bytes, len), EGRU_OK);
    EXPECT(egru_model_info_get(&model, &info), EGRU_OK);
    EXPECT(egru_model_arena_size(&model, &arena_size), EGRU_OK);
    CHECK(arena_size == info.arena_size && info.vocab > 0 && info.vocab <= 4096);
    EXPECT(egru_model_info_get(&model, NULL), EGRU_ERR_NULL);

    /* Sessions: the arena must be large enough; its alignment does not matter. */
    EXPECT(egru_session_init(&session, &model, arena, arena_size - 1), EGRU_ERR_ARENA_TOO_SMALL);
    EXPECT(egru_session_init(&session, &model, NULL, arena_size), EGRU_ERR_NULL);
    EXPECT(egru_session_init(&session, &model, arena + 3, arena_size), EGRU_OK);

    /* Steps. */
    EXPECT(egru_session_step(&session, info.vocab, logits, 4096), EGRU_ERR_TOKEN_OUT_OF_RANGE);
    EXPECT(egru_session_step(&session, 0, logits, info.vocab - 1), EGRU_ERR_BUFFER_TOO_SMALL);
    EXPECT(egru_session_step(&session, 0, (float *)((char *)logits + 1), 100), EGRU_ERR_MISALIGNED);
    EXPECT(egru_session_step(&session, 0, logits, info.vocab), EGRU_OK);
    EXPECT(egru_session_step(&session, 1, NULL, 0), EGRU_OK);
    EXPECT(egru_session_top_k(&session, top, 8, &written), EGRU_OK);
    CHECK(written == (info.vocab < 8 ? info.vocab : 8));
    for (i = 1; i < written; i++) CHECK(top[i - 1].prob >= top[i].prob);
    CHECK(top[0].prob > 0.0f && top[0].prob <= 1.0f);
    EXPECT(egru_session_top_k(&session, top, 8, NULL), EGRU_ERR_NULL);

    /* Generation: deterministic for a seed, stoppable, bounded by the buffer. */
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "", 0, 10, &greedy, out1, sizeof out1, &out_len, NULL, NULL), EGRU_ERR_EMPTY_PROMPT);
    EXPECT(egru_session_generate(&session, "\xff\xfe", 2, 10, &greedy, out1, sizeof out1, &out_len, NULL, NULL), EGRU_ERR_INVALID_UTF8);
    sampled.temperature = -1.0f;
    EXPECT(egru_session_generate(&session, "the ", 4, 10, &sampled, out1, sizeof out1, &out_len, NULL, NULL), EGRU_ERR_INVALID_PARAMETER);
    sampled.temperature = 0.9f;
    EXPECT(egru_session_generate(&session, "the ", 4, 100, &sampled, out1, sizeof out1, &out_len, NULL, NULL), EGRU_OK);
    CHECK(out_len > 0 && out1[out_len] == '\0');
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "the ", 4, 100, &sampled, out2, sizeof out2, &n, NULL, NULL), EGRU_OK);
    CHECK(n == out_len && memcmp(out1, out2, n) == 0);
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "the ", 4, 100, NULL, out1, sizeof out1, &out_len, stop_after_cb, &stopper), EGRU_OK);
    CHECK(stopper.seen == 5);
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "the ", 4, 100, &greedy, small, sizeof small, &n, NULL, NULL), EGRU_OK);
    CHECK(n <= sizeof small);

    /* Saved state: a prefix computed once continues identically. */
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_feed(&session, "the cat ", 8), EGRU_OK);
    EXPECT(egru_session_save_state(&session, state, info.state_size - 1, &written), EGRU_ERR_BUFFER_TOO_SMALL);
    EXPECT(egru_session_save_state(&session, state, sizeof state, &written), EGRU_OK);
    CHECK(written == info.state_size);
    EXPECT(egru_session_generate(&session, "", 0, 50, &sampled, out1, sizeof out1, &out_len, NULL, NULL), EGRU_OK);
    EXPECT(egru_session_restore_state(&session, state, written - 1), EGRU_ERR_STATE_MISMATCH);
    memcpy(state2, state, written);
    state2[5] ^= 1;
    EXPECT(egru_session_restore_state(&session, state2, written), EGRU_ERR_STATE_MISMATCH);
    EXPECT(egru_session_restore_state(&session, state, written), EGRU_OK);
    EXPECT(egru_session_generate(&session, "", 0, 50, &sampled, out2, sizeof out2, &n, NULL, NULL), EGRU_OK);
    CHECK(n == out_len && memcmp(out1, out2, n) == 0);
    EXPECT(egru_session_feed(&session, "\xc3", 1), EGRU_ERR_INVALID_UTF8);

    /* Tokenizer. */
    EXPECT(egru_tokenize(&model, "the cat", 7, ids, 64, &n), EGRU_OK);
    CHECK(n == (info.word_level ? 2u : 7u));
    EXPECT(egru_tokenize(&model, "the cat", 7, ids, 1, &n), EGRU_ERR_BUFFER_TOO_SMALL);
    /* A snowman is in no test vocabulary, and the character models have no OOV token. */
    if (!info.word_level) EXPECT(egru_tokenize(&model, "a\xe2\x98\x83", 4, ids, 64, &n), EGRU_ERR_UNKNOWN_TOKEN);
    if (!info.word_level) EXPECT(egru_session_feed(&session, "\xe2\x98\x83", 3), EGRU_ERR_UNKNOWN_TOKEN);
    EXPECT(egru_tokenize(&model, "the cat", 7, ids, 64, &n), EGRU_OK);
    EXPECT(egru_detokenize(&model, ids, n, out1, sizeof out1, &written), EGRU_OK);
    CHECK(written == 7 && strcmp(out1, "the cat") == 0);
    EXPECT(egru_detokenize(&model, ids, n, out1, 3, &written), EGRU_ERR_BUFFER_TOO_SMALL);
    ids[0] = info.vocab + 5;
    EXPECT(egru_detokenize(&model, ids, 1, out1, sizeof out1, &written), EGRU_ERR_TOKEN_OUT_OF_RANGE);

    /* A session whose model storage is re-initialised is stale; a new one works. */
    EXPECT(egru_model_init(&other_model, bytes, len), EGRU_OK);
    EXPECT(egru_model_init(&model, bytes, len), EGRU_OK);
    EXPECT(egru_session_step(&session, 0, NULL, 0), EGRU_ERR_STALE_SESSION);
    EXPECT(egru_session_init(&fresh_session, &model, arena, arena_size), EGRU_OK);
    EXPECT(egru_session_step(&fresh_session, 0, NULL, 0), EGRU_OK);

    COUNT_STOP();
#ifdef EGRU_COUNT_MALLOC
    CHECK(heap_calls == 0);
    printf("heap calls during API use: %ld\n", heap_calls);
#endif
    free(bad);
    free(bytes);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
