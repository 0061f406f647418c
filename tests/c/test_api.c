/*
 * The C API as firmware uses it, and every error path.
 * Usage: test_api MODEL.egru [FEATURE_MODEL.egru]
 * MODEL is a language model (character, word or integer-only); the optional
 * second model reads feature vectors (a sequence classifier).
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

/* Counts tokens and their bytes (word tokens with their separator). */
struct counter { size_t tokens; int word_level; };

static bool count_cb(uint32_t token, const char *text, size_t len, void *user) {
    struct counter *c = (struct counter *)user;
    (void)token; (void)text; (void)len;
    c->tokens++;
    return true;
}

/* Calls back into its own session: the library must refuse (EGRU_ERR_BUSY). */
struct reenter { struct egru_session *session; enum egru_status step, reset, generate; int calls; };

static bool reenter_cb(uint32_t token, const char *text, size_t len, void *user) {
    struct reenter *r = (struct reenter *)user;
    char buf[8];
    (void)text; (void)len;
    r->calls++;
    r->step = egru_session_step(r->session, token, NULL, 0);
    r->reset = egru_session_reset(r->session);
    r->generate = egru_session_generate(r->session, "", 0, 1, NULL, buf, sizeof buf, NULL, NULL, NULL, NULL);
    return r->calls < 3;
}

static struct egru_session session;

/*
 * Text generated in chunks through an out buffer of `cap` bytes equals the
 * text of one call with the same seed: a token that does not fit is not
 * consumed. Returns the number of mismatches.
 */
static int chunked_equals_whole(const struct egru_sampling *params, size_t total, const char *whole, size_t whole_len, size_t cap) {
    char chunk[64], joined[1024];
    size_t joined_len = 0, n = 0, calls = 0;
    struct counter c = {0, 0};
    enum egru_stop_reason stop = EGRU_STOP_MAX_TOKENS;
    enum egru_status st;
    if (egru_session_reset(&session) != EGRU_OK) return 1;
    st = egru_session_generate(&session, "the ", 4, 0, params, chunk, cap, &n, &stop, NULL, NULL);
    if (st != EGRU_OK || n != 0 || chunk[0] != '\0') return 1;
    while (c.tokens < total && calls++ < 4 * total + 8) {
        size_t before = c.tokens;
        st = egru_session_generate(&session, "", 0, total - c.tokens, params, chunk, cap, &n, &stop, count_cb, &c);
        if (st != EGRU_OK || chunk[n] != '\0' || n >= cap || joined_len + n >= sizeof joined) return 1;
        memcpy(joined + joined_len, chunk, n);
        joined_len += n;
        /* Too small for any token: nothing consumed, and it says so. */
        if (c.tokens == before) {
            /* The next token's text (len + NUL > cap) is still to come in the whole text. */
            if (stop != EGRU_STOP_BUFFER_FULL || n != 0) return 1;
            return joined_len + cap <= whole_len && memcmp(joined, whole, joined_len) == 0 ? 0 : 1;
        }
        if (stop == EGRU_STOP_BUFFER_FULL && c.tokens >= total) return 1;
    }
    if (c.tokens != total) return 1;
    return joined_len == whole_len && memcmp(joined, whole, whole_len) == 0 ? 0 : 1;
}

/*
 * Model and session handles declared on the stack and never zeroed: init
 * only writes them. Greedy text equals what the static handles gave
 * (`expect`). Returns the number of failed checks.
 */
static int stack_handles(const unsigned char *bytes, size_t len, const char *expect, size_t expect_len) {
    struct egru_model m;
    struct egru_session s;
    static unsigned char stack_arena[1 << 20];
    struct egru_sampling greedy = {0.0f, 0, 1.0f, 0, 0};
    char out[512];
    size_t n = 0;
    int bad = 0;
    bad += egru_model_init(&m, bytes, len) != EGRU_OK;
    bad += egru_session_init(&s, &m, stack_arena, sizeof stack_arena) != EGRU_OK;
    bad += egru_session_generate(&s, "the ", 4, 30, &greedy, out, sizeof out, &n, NULL, NULL, NULL) != EGRU_OK;
    bad += n == 0 || n != expect_len || strcmp(out, expect) != 0;
    checks += 4;
    if (bad) fprintf(stderr, "stack handles: %d checks failed\n", bad);
    return bad;
}

/*
 * Handles on the stack that were never written, whose init fails: the failed
 * init marks them, so every later call is refused (valgrind checks that no
 * call reads storage the library did not write). Returns the number of
 * failed checks.
 */
static int failed_init_handles(const unsigned char *bytes, size_t len) {
    struct egru_model m;
    struct egru_session s;
    static unsigned char small_arena[16];
    size_t size = 0;
    int bad = 0;
    bad += egru_model_init(&m, bytes, 7) != EGRU_ERR_BAD_MODEL;
    bad += egru_model_arena_size(&m, &size) != EGRU_ERR_NOT_INITIALIZED;
    bad += egru_session_init(&s, &m, small_arena, sizeof small_arena) != EGRU_ERR_NOT_INITIALIZED;
    bad += egru_session_reset(&s) != EGRU_ERR_NOT_INITIALIZED;
    bad += egru_session_step(&s, 0, NULL, 0) != EGRU_ERR_NOT_INITIALIZED;
    /* A model that loads, and a session whose arena is too small. */
    bad += egru_model_init(&m, bytes, len) != EGRU_OK;
    bad += egru_session_init(&s, &m, small_arena, sizeof small_arena) != EGRU_ERR_ARENA_TOO_SMALL;
    bad += egru_session_reset(&s) != EGRU_ERR_NOT_INITIALIZED;
    checks += 8;
    if (bad) fprintf(stderr, "failed init: %d checks failed\n", bad);
    return bad;
}

/*
 * A feature model (sequence classifier): steps of feature vectors give class
 * probabilities; text functions and token steps are refused, and a token
 * model refuses feature steps. Returns the number of failed checks.
 */
static int feature_model(const char *path, const unsigned char *text_bytes, size_t text_len) {
    static struct egru_model fm, tm;
    static struct egru_session fs, ts;
    static unsigned char farena[1 << 20], tarena[1 << 20];
    struct egru_model_info fi;
    float x[64], probs[64], sum = 0.0f;
    const char *name = NULL;
    size_t flen = 0, n = 0, j, name_len = 0, k;
    uint32_t fill = 99;
    int named = 0;
    char text[16];
    unsigned char *fbytes;
    int before = failures;
    COUNT_STOP(); /* reading the file is the test's own heap use */
    fbytes = read_file(path, &flen);
    COUNT_START();
    CHECK(fbytes != NULL);
    if (!fbytes) return 1;
    EXPECT(egru_model_init(&fm, fbytes, flen), EGRU_OK);
    EXPECT(egru_model_info_get(&fm, &fi), EGRU_OK);
    CHECK(fi.input_kind == EGRU_INPUT_FEATURES && fi.head_kind == EGRU_HEAD_CLASSES && fi.vocab == 0);
    CHECK(fi.features > 0 && fi.features <= 64 && fi.outputs > 1 && fi.outputs <= 64 && fi.gru_layers >= 1);
    for (j = 0; j < fi.outputs; j++) {
        EXPECT(egru_model_output_name(&fm, j, &name, &name_len), EGRU_OK);
        CHECK(name != NULL && name_len > 0);
    }
    EXPECT(egru_model_output_name(&fm, fi.outputs, &name, &name_len), EGRU_ERR_INVALID_PARAMETER);
    /* Feature names: all named or none; past the features, refused. */
    for (j = 0; j < fi.features; j++) {
        EXPECT(egru_model_feature_name(&fm, j, &name, &name_len), EGRU_OK);
        CHECK(name != NULL);
        if (j == 0) named = name_len > 0;
        CHECK((name_len > 0) == named);
    }
    EXPECT(egru_model_feature_name(&fm, fi.features, &name, &name_len), EGRU_ERR_INVALID_PARAMETER);
    EXPECT(egru_model_feature_name(&fm, 0, NULL, &name_len), EGRU_ERR_NULL);
    EXPECT(egru_model_fill(&fm, &fill), EGRU_OK);
    CHECK(fill <= EGRU_FILL_PREVIOUS);
    CHECK(fi.format_version == 4 || (fill == EGRU_FILL_REFUSE && !named));
    COUNT_STOP(); /* printing is the test's own heap use */
    printf("feature model: format %u, features %s, fill %u\n", (unsigned)fi.format_version, named ? "named" : "unnamed", (unsigned)fill);
    COUNT_START();
    EXPECT(egru_session_init(&fs, &fm, farena, sizeof farena), EGRU_OK);
    for (j = 0; j < fi.features; j++) x[j] = 0.25f * (float)j - 0.5f;
    for (k = 0; k < 20; k++) EXPECT(egru_session_step_features(&fs, x, fi.features, probs, 64), EGRU_OK);
    for (j = 0; j < fi.outputs; j++) {
        CHECK(probs[j] >= 0.0f && probs[j] <= 1.0f);
        sum += probs[j];
    }
    CHECK(sum > 0.999f && sum < 1.001f);
    EXPECT(egru_session_step_features(&fs, x, fi.features - 1, probs, 64), EGRU_ERR_WRONG_INPUT);
    /* A missing value (NaN) is filled when the model says how, else refused;
       an infinity is always refused. */
    x[0] = 0.0f / 0.0f;
    EXPECT(egru_session_step_features(&fs, x, fi.features, probs, 64), fill == EGRU_FILL_REFUSE ? EGRU_ERR_INVALID_PARAMETER : EGRU_OK);
    if (fill != EGRU_FILL_REFUSE) {
        sum = 0.0f;
        for (j = 0; j < fi.outputs; j++) sum += probs[j];
        CHECK(sum > 0.999f && sum < 1.001f);
    }
    x[0] = 1.0f / 0.0f;
    EXPECT(egru_session_step_features(&fs, x, fi.features, probs, 64), EGRU_ERR_INVALID_PARAMETER);
    x[0] = 0.0f;
    EXPECT(egru_session_step_features(&fs, x, fi.features, probs, fi.outputs - 1), EGRU_ERR_BUFFER_TOO_SMALL);
    EXPECT(egru_session_step(&fs, 0, NULL, 0), EGRU_ERR_WRONG_INPUT);
    EXPECT(egru_session_feed(&fs, "a", 1), EGRU_ERR_WRONG_INPUT);
    EXPECT(egru_session_generate(&fs, "a", 1, 3, NULL, text, sizeof text, &n, NULL, NULL, NULL), EGRU_ERR_NOT_A_LANGUAGE_MODEL);
    EXPECT(egru_tokenize(&fm, "a", 1, NULL, 0, &n), EGRU_ERR_WRONG_INPUT);
    /* A token model refuses feature steps. */
    EXPECT(egru_model_init(&tm, text_bytes, text_len), EGRU_OK);
    EXPECT(egru_session_init(&ts, &tm, tarena, sizeof tarena), EGRU_OK);
    EXPECT(egru_session_step_features(&ts, x, 4, NULL, 0), EGRU_ERR_WRONG_INPUT);
    COUNT_STOP();
    free(fbytes);
    COUNT_START();
    return failures - before;
}

/* Static storage, as firmware would have it (zeroed: "not initialised"). */
static struct egru_model model;
static struct egru_model other_model;
static struct egru_session fresh_session;
static unsigned char arena[1 << 20];
static float logits[8192];
static unsigned char state[1 << 16];
static unsigned char state2[1 << 16];

int main(int argc, char **argv) {
    size_t len = 0, n = 0, written = 0, arena_size = 0, out_len = 0, i;
    unsigned char *bytes, *bad;
    const char *version = NULL;
    struct egru_model_info info;
    struct egru_token_prob top[8];
    struct egru_sampling greedy = {0.0f, 0, 1.0f, 0, 0};
    struct egru_sampling sampled = {0.9f, 20, 0.95f, 1234, 0};
    char out1[512], out2[512], small[6];
    uint32_t ids[64];
    struct stop_after stopper = {0, 5};
    struct counter counter = {0, 0};
    struct reenter reenter = {NULL, EGRU_OK, EGRU_OK, EGRU_OK, 0};
    enum egru_stop_reason stop = EGRU_STOP_MAX_TOKENS;

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
    for (i = 0; i <= (size_t)EGRU_ERR_NUMERICS_NOT_BUILT_IN; i++) CHECK(strcmp(egru_status_str((int)i), "unknown status") != 0);

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
    CHECK(arena_size == info.arena_size && info.vocab > 0 && info.vocab <= 8192);
    EXPECT(egru_model_info_get(&model, NULL), EGRU_ERR_NULL);

    /* Sessions: the arena must be large enough; its alignment does not matter. */
    EXPECT(egru_session_init(&session, &model, arena, arena_size - 1), EGRU_ERR_ARENA_TOO_SMALL);
    EXPECT(egru_session_init(&session, &model, NULL, arena_size), EGRU_ERR_NULL);
    EXPECT(egru_session_init(&session, &model, arena + 3, arena_size), EGRU_OK);

    /* Steps. */
    EXPECT(egru_session_step(&session, info.vocab, logits, 8192), EGRU_ERR_TOKEN_OUT_OF_RANGE);
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
    EXPECT(egru_session_generate(&session, "", 0, 10, &greedy, out1, sizeof out1, &out_len, NULL, NULL, NULL), EGRU_ERR_EMPTY_PROMPT);
    EXPECT(egru_session_generate(&session, "\xff\xfe", 2, 10, &greedy, out1, sizeof out1, &out_len, NULL, NULL, NULL), EGRU_ERR_INVALID_UTF8);
    sampled.temperature = -1.0f;
    EXPECT(egru_session_generate(&session, "the ", 4, 10, &sampled, out1, sizeof out1, &out_len, NULL, NULL, NULL), EGRU_ERR_INVALID_PARAMETER);
    sampled.temperature = 0.9f;
    EXPECT(egru_session_generate(&session, "the ", 4, 100, &sampled, out1, sizeof out1, &out_len, NULL, NULL, NULL), EGRU_OK);
    CHECK(out_len > 0 && out1[out_len] == '\0');
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "the ", 4, 100, &sampled, out2, sizeof out2, &n, NULL, NULL, NULL), EGRU_OK);
    CHECK(n == out_len && memcmp(out1, out2, n) == 0);
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "the ", 4, 100, NULL, out1, sizeof out1, &out_len, NULL, stop_after_cb, &stopper), EGRU_OK);
    CHECK(stopper.seen == 5);
    /* Why generation stopped. */
    stopper.seen = 0;
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "the ", 4, 100, NULL, out1, sizeof out1, &out_len, &stop, stop_after_cb, &stopper), EGRU_OK);
    CHECK(stopper.seen == 5 && stop == EGRU_STOP_CALLBACK);
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "the ", 4, 7, &greedy, out1, sizeof out1, &out_len, &stop, NULL, NULL), EGRU_OK);
    CHECK(stop == EGRU_STOP_MAX_TOKENS);
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "the ", 4, 100, &greedy, small, sizeof small, &n, &stop, NULL, NULL), EGRU_OK);
    CHECK(n < sizeof small && small[n] == '\0' && stop == EGRU_STOP_BUFFER_FULL);

    /* Streaming only: out NULL and out_cap 0; every token reaches the callback. */
    EXPECT(egru_session_reset(&session), EGRU_OK);
    counter.tokens = 0;
    EXPECT(egru_session_generate(&session, "the ", 4, 30, &sampled, NULL, 0, &n, &stop, count_cb, &counter), EGRU_OK);
    CHECK(n == 0 && counter.tokens == 30 && stop == EGRU_STOP_MAX_TOKENS);
    EXPECT(egru_session_generate(&session, "the ", 4, 30, &sampled, NULL, 5, &n, &stop, NULL, NULL), EGRU_ERR_NULL);

    /* Chunks through buffers of 1 byte up give the text of one call (same
       seed), sampled and greedy: a token that does not fit is never consumed. */
    for (i = 0; i < 2; i++) {
        const struct egru_sampling *p = i == 0 ? &sampled : &greedy;
        size_t cap;
        EXPECT(egru_session_reset(&session), EGRU_OK);
        EXPECT(egru_session_generate(&session, "the ", 4, 40, p, out1, sizeof out1, &out_len, &stop, NULL, NULL), EGRU_OK);
        CHECK(stop == EGRU_STOP_MAX_TOKENS);
        for (cap = 1; cap <= 24; cap++) {
            int bad_chunks = chunked_equals_whole(p, 40, out1, out_len, cap);
            CHECK(bad_chunks == 0);
            if (bad_chunks) fprintf(stderr, "  chunks of %zu bytes (%s) differ from one call\n", cap, i == 0 ? "sampled" : "greedy");
        }
    }
    /* A 1-byte buffer: no token, nothing consumed, and it says why. */
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_feed(&session, "the ", 4), EGRU_OK);
    EXPECT(egru_session_save_state(&session, state, sizeof state, &written), EGRU_OK);
    EXPECT(egru_session_generate(&session, "", 0, 5, &greedy, small, 1, &n, &stop, NULL, NULL), EGRU_OK);
    CHECK(n == 0 && small[0] == '\0' && stop == EGRU_STOP_BUFFER_FULL);
    EXPECT(egru_session_save_state(&session, state2, sizeof state2, &n), EGRU_OK);
    CHECK(n == written && memcmp(state, state2, n) == 0);

    /* Re-entrant use from the callback is refused; the generation goes on. */
    reenter.session = &session;
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "the ", 4, 10, &greedy, out1, sizeof out1, &n, &stop, reenter_cb, &reenter), EGRU_OK);
    CHECK(reenter.calls == 3 && stop == EGRU_STOP_CALLBACK);
    CHECK(reenter.step == EGRU_ERR_BUSY && reenter.reset == EGRU_ERR_BUSY && reenter.generate == EGRU_ERR_BUSY);
    EXPECT(egru_session_step(&session, 0, NULL, 0), EGRU_OK);

    /* Saved state: a prefix computed once continues identically. */
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_feed(&session, "the cat ", 8), EGRU_OK);
    EXPECT(egru_session_save_state(&session, state, info.state_size - 1, &written), EGRU_ERR_BUFFER_TOO_SMALL);
    EXPECT(egru_session_save_state(&session, state, sizeof state, &written), EGRU_OK);
    CHECK(written == info.state_size);
    EXPECT(egru_session_generate(&session, "", 0, 50, &sampled, out1, sizeof out1, &out_len, NULL, NULL, NULL), EGRU_OK);
    EXPECT(egru_session_restore_state(&session, state, written - 1), EGRU_ERR_STATE_MISMATCH);
    /* A byte changed anywhere (model check, a value in the middle, the last
       byte) is refused, and the refused state changes nothing. */
    {
        size_t where[3];
        where[0] = 5;
        where[1] = written / 2;
        where[2] = written - 1;
        for (i = 0; i < 3; i++) {
            memcpy(state2, state, written);
            state2[where[i]] ^= 0x04;
            EXPECT(egru_session_restore_state(&session, state2, written), EGRU_ERR_STATE_MISMATCH);
        }
    }
    EXPECT(egru_session_restore_state(&session, state, written), EGRU_OK);
    EXPECT(egru_session_generate(&session, "", 0, 50, &sampled, out2, sizeof out2, &n, NULL, NULL, NULL), EGRU_OK);
    CHECK(n == out_len && memcmp(out1, out2, n) == 0);
    EXPECT(egru_session_feed(&session, "\xc3", 1), EGRU_ERR_INVALID_UTF8);

    /* Tokenizer. */
    EXPECT(egru_tokenize(&model, "the cat", 7, ids, 64, &n), EGRU_OK);
    CHECK(n == (info.word_level ? 2u : 7u));
    /* Too small: the count needed comes back and the buffer is unchanged. */
    ids[0] = 0xdeadbeefu;
    EXPECT(egru_tokenize(&model, "the cat", 7, ids, 1, &n), EGRU_ERR_BUFFER_TOO_SMALL);
    CHECK(n == (info.word_level ? 2u : 7u) && ids[0] == 0xdeadbeefu);
    EXPECT(egru_tokenize(&model, "the cat", 7, NULL, 0, &n), EGRU_ERR_BUFFER_TOO_SMALL);
    CHECK(n == (info.word_level ? 2u : 7u));
    /* A snowman is in no test vocabulary, and the character models have no OOV token. */
    if (!info.word_level) EXPECT(egru_tokenize(&model, "a\xe2\x98\x83", 4, ids, 64, &n), EGRU_ERR_UNKNOWN_TOKEN);
    if (!info.word_level) EXPECT(egru_session_feed(&session, "\xe2\x98\x83", 3), EGRU_ERR_UNKNOWN_TOKEN);
    EXPECT(egru_tokenize(&model, "the cat", 7, ids, 64, &n), EGRU_OK);
    EXPECT(egru_detokenize(&model, ids, n, out1, sizeof out1, &written), EGRU_OK);
    CHECK(written == 7 && strcmp(out1, "the cat") == 0);
    memset(out1, 'x', 8);
    EXPECT(egru_detokenize(&model, ids, n, out1, 3, &written), EGRU_ERR_BUFFER_TOO_SMALL);
    CHECK(written == 7 && out1[0] == 'x' && out1[2] == 'x');
    EXPECT(egru_detokenize(&model, ids, n, out1, 7, &written), EGRU_ERR_BUFFER_TOO_SMALL);
    CHECK(written == 7 && out1[0] == 'x');
    EXPECT(egru_detokenize(&model, ids, n, NULL, 0, &written), EGRU_ERR_BUFFER_TOO_SMALL);
    CHECK(written == 7);
    ids[0] = info.vocab + 5;
    EXPECT(egru_detokenize(&model, ids, 1, out1, sizeof out1, &written), EGRU_ERR_TOKEN_OUT_OF_RANGE);

    /* A failed re-init marks the model not initialised and its sessions stale;
       a new init and session work again. */
    EXPECT(egru_model_init(&model, bad, len), EGRU_ERR_BAD_MODEL);
    EXPECT(egru_model_arena_size(&model, &arena_size), EGRU_ERR_NOT_INITIALIZED);
    EXPECT(egru_session_step(&session, 0, NULL, 0), EGRU_ERR_STALE_SESSION);
    EXPECT(egru_model_init(&model, bytes, len), EGRU_OK);
    EXPECT(egru_model_arena_size(&model, &arena_size), EGRU_OK);
    EXPECT(egru_session_init(&session, &model, arena, arena_size), EGRU_OK);
    EXPECT(egru_session_step(&session, 0, NULL, 0), EGRU_OK);
    failures += failed_init_handles(bytes, len);

    /* Handles on the stack that were never zeroed (valgrind checks that the
       library reads nothing it did not write), and a feature model. */
    EXPECT(egru_session_reset(&session), EGRU_OK);
    EXPECT(egru_session_generate(&session, "the ", 4, 30, &greedy, out2, sizeof out2, &n, NULL, NULL, NULL), EGRU_OK);
    failures += stack_handles(bytes, len, out2, n);
    if (argc > 2) (void)feature_model(argv[2], bytes, len);

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
