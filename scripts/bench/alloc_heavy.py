# Allocation-heavy Python workload for scripts/bench.py (objects big enough to leave
# pymalloc's arenas and reach malloc).
import json
data = []
for i in range(20000):
    data.append({"id": i, "name": "x" * (600 + i % 400), "tags": list(range(i % 50))})
text = json.dumps(data)
print(len(text), len(json.loads(text)))
