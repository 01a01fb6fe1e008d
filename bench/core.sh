#!/usr/bin/env bash
# bench/run core [--quick]: the pure core's validations per second (bench_core) and the Avro
# codec's encodes and decodes per second (bench_avro), merged into one JSON object on the last
# line. Both take a few seconds; --quick changes nothing.
set -euo pipefail
bdir=${OKNO_BENCH_BUILD:?bench/run sets OKNO_BENCH_BUILD}
core=$("$bdir/bench/bench_core" | tail -n 1)
avro=$("$bdir/bench/bench_avro" | tail -n 1)
python3 -c 'import json, sys
core, avro = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"bench": "core", "validations_per_s": core["validations_per_s"],
                  "encodes_per_s": avro["encodes_per_s"], "decodes_per_s": avro["decodes_per_s"]}))' "$core" "$avro"
