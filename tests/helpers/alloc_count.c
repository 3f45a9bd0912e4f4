/* Test helper (tests/no_alloc.rs), built as a shared library and preloaded
 * AFTER libpdeathsig.so: interposes malloc, calloc, realloc and
 * posix_memalign and counts every call, forwarding to the next definition
 * (libc). pdeathsig_test_alloc_count() returns the count so far: called
 * first thing in main, it counts the allocations made before main.
 *
 * dlsym(3) may itself allocate while the real functions are looked up: those
 * calls are served from a small static arena (and not counted). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static unsigned long count;
static int resolving;
static _Alignas(16) char arena[8192];
static size_t arena_used;

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_memalign)(void **, size_t, size_t);

unsigned long pdeathsig_test_alloc_count(void) { return count; }

static int in_arena(const void *p) {
    return (const char *)p >= arena && (const char *)p < arena + sizeof arena;
}

static void *arena_alloc(size_t n) {
    size_t at = (arena_used + 15) & ~(size_t)15;
    if (at + n > sizeof arena) return NULL;
    arena_used = at + n;
    return arena + at;
}

static void resolve(void) {
    if (real_malloc || resolving) return;
    resolving = 1;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    real_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    resolving = 0;
}

void *malloc(size_t n) {
    resolve();
    if (!real_malloc) return arena_alloc(n);
    count++;
    return real_malloc(n);
}

void *calloc(size_t n, size_t size) {
    resolve();
    if (!real_calloc) {
        void *p = arena_alloc(n * size);
        if (p) memset(p, 0, n * size);
        return p;
    }
    count++;
    return real_calloc(n, size);
}

void *realloc(void *p, size_t n) {
    resolve();
    count++;
    if (in_arena(p)) {
        void *q = real_malloc ? real_malloc(n) : arena_alloc(n);
        if (q && p) memcpy(q, p, n);
        return q;
    }
    return real_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n) {
    resolve();
    count++;
    return real_memalign(out, align, n);
}

void free(void *p) {
    if (!p || in_arena(p)) return;
    resolve();
    if (real_free) real_free(p);
}
