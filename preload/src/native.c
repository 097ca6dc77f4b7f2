/* The parts of libmemscope that stable Rust cannot express.
 *
 * 1. Thread-local state in the initial-exec TLS model (defined here, read from Rust):
 *    a fixed offset from the thread pointer, no __tls_get_addr, so no allocation and no
 *    recursion into malloc when a thread touches it for the first time after a dlopen.
 * 2. execl, execlp, execle: variadic, so they gather their arguments here and call the
 *    Rust-side execv/execvp/execve hooks, which flush the trace before the image goes.
 * 3. The targets of the linker's --wrap of the C allocator (build.rs), hidden so that the
 *    library's own allocator calls bind here whatever the program defines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

struct memscope_tls {
    void *slot;   /* this thread's ThreadSlot, or NULL */
    int guard;    /* nonzero while the tracer itself runs on this thread */
    int busy;     /* nonzero while an entry is being assembled and pushed */
};

/* Hidden, and read by the Rust side with inline asm (thread pointer + the offset the
 * linker puts in the GOT), so that a hook's TLS accesses are a load each, not a call. */
__attribute__((visibility("hidden"))) __thread struct memscope_tls memscope_tls_block
    __attribute__((tls_model("initial-exec")));

extern int memscope_execv(const char *path, char *const argv[]);
extern int memscope_execvp(const char *file, char *const argv[]);
extern int memscope_execve(const char *path, char *const argv[], char *const envp[]);

#define MAX_EXEC_ARGS 4096

#define GATHER_ARGS(first, ap, argv, n)                       \
    do {                                                      \
        (argv)[0] = (char *)(first);                          \
        (n) = 1;                                              \
        while ((n) < MAX_EXEC_ARGS) {                         \
            char *a = va_arg(ap, char *);                     \
            (argv)[(n)++] = a;                                \
            if (a == NULL) break;                             \
        }                                                     \
        (argv)[MAX_EXEC_ARGS] = NULL;                         \
    } while (0)

__attribute__((visibility("default"))) int execl(const char *path, const char *arg, ...) {
    char *argv[MAX_EXEC_ARGS + 1];
    size_t n;
    va_list ap;
    va_start(ap, arg);
    GATHER_ARGS(arg, ap, argv, n);
    va_end(ap);
    (void)n;
    return memscope_execv(path, argv);
}

__attribute__((visibility("default"))) int execlp(const char *file, const char *arg, ...) {
    char *argv[MAX_EXEC_ARGS + 1];
    size_t n;
    va_list ap;
    va_start(ap, arg);
    GATHER_ARGS(arg, ap, argv, n);
    va_end(ap);
    (void)n;
    return memscope_execvp(file, argv);
}

__attribute__((visibility("default"))) int execle(const char *path, const char *arg, ...) {
    char *argv[MAX_EXEC_ARGS + 1];
    size_t n;
    va_list ap;
    va_start(ap, arg);
    GATHER_ARGS(arg, ap, argv, n);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    (void)n;
    return memscope_execve(path, argv, envp);
}

extern void *memscope_own_malloc(size_t n);
extern void *memscope_own_calloc(size_t n, size_t size);
extern void *memscope_own_realloc(void *p, size_t n);
extern void memscope_own_free(void *p);
extern void *memscope_own_aligned_alloc(size_t align, size_t n);
extern int memscope_own_posix_memalign(void **out, size_t align, size_t n);

__attribute__((visibility("hidden"))) void *__wrap_malloc(size_t n) { return memscope_own_malloc(n); }
__attribute__((visibility("hidden"))) void *__wrap_calloc(size_t n, size_t size) { return memscope_own_calloc(n, size); }
__attribute__((visibility("hidden"))) void *__wrap_realloc(void *p, size_t n) { return memscope_own_realloc(p, n); }
__attribute__((visibility("hidden"))) void __wrap_free(void *p) { memscope_own_free(p); }
__attribute__((visibility("hidden"))) void *__wrap_aligned_alloc(size_t align, size_t n) { return memscope_own_aligned_alloc(align, n); }
__attribute__((visibility("hidden"))) int __wrap_posix_memalign(void **out, size_t align, size_t n) { return memscope_own_posix_memalign(out, align, n); }
