# Allocation-heavy Python workload for scripts/bench.py (objects big enough to leave
# pymalloc's arenas and reach malloc).   usage: alloc_heavy.py [RECORDS, default 20000]
import json
import sys

records = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
data = []
for i in range(records):
    data.append({"id": i, "name": "x" * (600 + i % 400), "tags": list(range(i % 50))})
text = json.dumps(data)
print(len(text), len(json.loads(text)))
