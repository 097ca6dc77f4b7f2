// STL-heavy workload for scripts/bench.py: maps, unordered_maps, vectors, strings and
// shared_ptrs.   usage: stl_heavy [ROUNDS, default 200]
//
// Element counts, keys and string lengths come from a PRNG, so that no two rounds
// allocate alike. (An earlier version repeated one identical round 200 times; heaptrack's
// trace, which names each event by its (size, stack) index rather than by address and
// has no per-event time, then compressed to ~0.003 bytes per event: zstd matched whole
// rounds. Real programs are not that periodic.)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

static uint64_t state = 88172645463325252ull;

static uint32_t rnd(uint32_t n) {  // xorshift64, uniform enough in [0, n)
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state % n);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? std::atoi(argv[1]) : 200;
    unsigned long checksum = 0;
    for (int r = 0; r < rounds; r++) {
        std::map<int, std::string> m;
        std::unordered_map<std::string, std::vector<int>> u;
        std::vector<std::shared_ptr<std::string>> shared;
        int n = 500 + (int)rnd(1000);
        for (int i = 0; i < n; i++) {
            int key = (int)rnd(2 * n);
            // 16..79 characters: beyond the small-string buffer, so the string allocates.
            std::string value(16 + rnd(64), (char)('a' + rnd(26)));
            value += std::to_string(key);
            m[key] = value;
            u[m[key].substr(0, 16 + rnd(8))].push_back(i);
            shared.push_back(std::make_shared<std::string>(m[key]));
        }
        for (auto &kv : u) checksum += kv.second.size() + kv.first.size();
        checksum += m.size() + shared.size();
    }
    std::printf("%lu\n", checksum);
    return 0;
}
