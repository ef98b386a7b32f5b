#!/bin/bash
# One training on a lent GPU machine, from the repo root there:  bash scripts/gpu/train.sh NAME [train flags]
# It trains from var/pack (`citypatrol-train pack`, carried as .gpu/pack.tgz: the device tool counts the
# transfer by disk blocks, and 5,000 small files cost a third more than their bytes), with the machine's
# own torch and the wheels carried in .gpu/whl (ultralytics, ultralytics-thop, pydantic and its parts).
# The run's last.pt, log, results and record land in $OUT (what comes back). README: "Training on a GPU".
NAME=$1; shift
OUT=${OUT:-var/gpu-out}; mkdir -p "$OUT"
HOURS=${HOURS:-0.125}; WORKERS=${WORKERS:-7}
[ -d var/pack ] || tar xzf .gpu/pack.tgz || exit 3
if [ -d .gpu/whl ] && [ ! -d /tmp/site ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 3
fi
# polars (ultralytics reads its results.csv with it, inside try/except) has a 54 MB runtime wheel:
# scripts/gpu/polars stands in for it there
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:$PWD/scripts/gpu:$PWD
limit=$(python3 -c "print(int($HOURS * 3600 + 75))")
timeout "$limit" python3 -m training.cli train --work var/pack --device 0 --imgsz 640 --batch 64 --workers "$WORKERS" \
    --hours "$HOURS" --name "$NAME" "$@" > "$OUT/$NAME.log" 2>&1
echo "exit $?" >> "$OUT/$NAME.log"
cp var/runs/"$NAME"/weights/last.pt "$OUT/$NAME.pt"
cp var/runs/"$NAME"/citypatrol_train.json "$OUT/$NAME.json"
cp var/runs/"$NAME"/results.csv "$OUT/$NAME.csv"
