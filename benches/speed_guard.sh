#!/usr/bin/env bash
# Speed guard: an older ferroflow and this tree, alternating, on the same machine in the same
# minutes (the machine is noisy: compare like with like). The older one is a venv with its wheel
# and that checkout's benches/:
#   BASE_PY=/path/venv/bin/python BASE_BENCHES=/path/old-checkout/benches bash benches/speed_guard.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
BASE_PY="${BASE_PY:-/work/baseline/venv/bin/python}"
BASE_BENCHES="${BASE_BENCHES:-/work/baseline/benches}"
NEW_PY="${NEW_PY:-$here/../.venv/bin/python}"
for round in 1 2; do
  for side in base new; do
    if [ "$side" = base ]; then py="$BASE_PY"; dir="$BASE_BENCHES"; else py="$NEW_PY"; dir="$here"; fi
    echo "### round $round $side overhead"
    (cd "$dir" && FERROFLOW_PROGRESS=0 "$py" overhead.py --sizes 10000 100000 --chain 10000 --repeat 3 --no-dask)
    echo "### round $round $side store_rows"
    (cd "$dir" && FERROFLOW_PROGRESS=0 "$py" store_rows.py --tasks 50000 --scatter 50000 --repeat 3)
  done
done
