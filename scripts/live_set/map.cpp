// A C++ container churn: a std::map<int, std::string> of ENTRIES entries (strings too
// long for the small-string buffer, so each entry is two blocks) filled and cleared
// ROUNDS times. Used by scripts/bench_live.py.
//
//     map [ENTRIES [ROUNDS]]     (defaults 200000 and 5)
#include <cstdlib>
#include <map>
#include <string>

int main(int argc, char **argv) {
    int entries = argc > 1 ? std::atoi(argv[1]) : 200000;
    int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
    std::map<int, std::string> m;
    unsigned long sum = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < entries; i++)
            m.emplace(i * 7919 % entries, std::string("value number ") + std::to_string(i));
        sum += m.size();
        m.clear();
    }
    return sum == 42;
}
