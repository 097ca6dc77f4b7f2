/* A large live set: N blocks of 16-80 bytes allocated, then freed in a scattered
 * order (a fixed pseudo-random permutation), ROUNDS times. N live at the peak of each
 * round, 2 * N * ROUNDS events. Used by scripts/bench_live.py.
 *
 *     scatter N [ROUNDS]     (default ROUNDS = 2) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t state = 0x9E3779B97F4A7C15ull;

static uint64_t next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: scatter N [ROUNDS]\n");
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10);
    int rounds = argc > 2 ? atoi(argv[2]) : 2;
    /* The tables come from mmap-sized blocks: two allocations of the program's own. */
    void **blocks = malloc(n * sizeof *blocks);
    size_t *order = malloc(n * sizeof *order);
    if (!blocks || !order)
        return 1;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = next() % i;
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    uintptr_t sum = 0;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            blocks[i] = malloc(16 + (next() % 5) * 16);
            sum += (uintptr_t)blocks[i];
        }
        for (size_t i = 0; i < n; i++)
            free(blocks[order[i]]);
    }
    free(order);
    free(blocks);
    return sum == 42;
}
