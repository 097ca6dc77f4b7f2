/* malloc_loop: a malloc/free loop with mixed sizes where every allocation
 * happens DEPTH frames below the thread's entry (recursion through noinline
 * functions that use the callee's result, so there are no tail calls). Used
 * by bench_malloc_loop.sh to compare the overhead of memscope and heaptrack.
 *
 * usage: malloc_loop [ITERATIONS per thread] [THREADS] [DEPTH]
 *        defaults:    1000000                 1         20
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE 64

static const size_t sizes[] = {16, 24, 32, 48, 64, 100, 128, 256, 512, 1000, 2048, 4000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static long iterations = 1000000;
static int depth = 20;
static volatile uintptr_t sink;

__attribute__((noinline)) static void *descend(int d, size_t n) {
    if (d <= 1) {
        void *p = malloc(n);
        sink += (uintptr_t)p & 1;
        return p;
    }
    void *p = descend(d - 1, n);
    sink += (uintptr_t)p & 2; /* uses the result: not a tail call */
    return p;
}

static void *worker(void *arg) {
    unsigned long seed = (unsigned long)(uintptr_t)arg * 2654435761u + 1;
    void *live[LIVE] = {0};
    unsigned long checksum = 0;
    for (long i = 0; i < iterations; i++) {
        seed = seed * 6364136223846793005ul + 1442695040888963407ul;
        size_t n = sizes[(seed >> 33) % NSIZES];
        unsigned char *p = descend(depth, n);
        p[0] = (unsigned char)i;
        p[n - 1] = (unsigned char)(i >> 8);
        size_t slot = (size_t)((seed >> 40) % LIVE);
        if (live[slot] != NULL) {
            checksum += ((unsigned char *)live[slot])[0];
            free(live[slot]);
        }
        live[slot] = p;
    }
    for (int s = 0; s < LIVE; s++) {
        free(live[s]);
    }
    return (void *)(uintptr_t)checksum;
}

int main(int argc, char **argv) {
    int threads = 1;
    if (argc > 1) iterations = atol(argv[1]);
    if (argc > 2) threads = atoi(argv[2]);
    if (argc > 3) depth = atoi(argv[3]);
    if (iterations <= 0 || threads <= 0 || threads > 256 || depth <= 0) {
        fprintf(stderr, "usage: malloc_loop [ITERATIONS>0] [THREADS 1..256] [DEPTH>0]\n");
        return 64;
    }
    pthread_t tids[256];
    for (int t = 0; t < threads; t++) {
        if (pthread_create(&tids[t], NULL, worker, (void *)(uintptr_t)(t + 1)) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    unsigned long total = 0;
    for (int t = 0; t < threads; t++) {
        void *r;
        pthread_join(tids[t], &r);
        total += (unsigned long)(uintptr_t)r;
    }
    printf("malloc_loop iterations=%ld threads=%d depth=%d checksum=%lu\n", iterations, threads, depth, total);
    return 0;
}
