// STL-heavy workload for scripts/bench.py: maps, vectors, strings, shared_ptrs.
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

int main(int argc, char **argv) {
    int rounds = argc > 1 ? std::atoi(argv[1]) : 200;
    unsigned long checksum = 0;
    for (int r = 0; r < rounds; r++) {
        std::map<int, std::string> m;
        std::unordered_map<std::string, std::vector<int>> u;
        std::vector<std::shared_ptr<std::string>> shared;
        for (int i = 0; i < 1000; i++) {
            m[i] = "value-" + std::to_string(i * r);
            u[m[i]].push_back(i);
            shared.push_back(std::make_shared<std::string>(m[i]));
        }
        for (auto &kv : u) checksum += kv.second.size() + kv.first.size();
    }
    std::printf("%lu\n", checksum);
    return 0;
}
