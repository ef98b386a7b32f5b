#!/bin/bash
# One training on a lent GPU machine, from the repo root there:  bash scripts/gpu/train.sh NAME [train flags]
# It trains from var/pack (`citypatrol-train pack`, carried as .gpu/pack.tgz: the device tool counts the
# transfer by disk blocks, and 5,000 small files cost a third more than their bytes), with the machine's
# own torch and the wheels carried in .gpu/whl (ultralytics, ultralytics-thop, pydantic and its parts).
# The run's weights, log, results and record land in $OUT (what comes back). README: "Training on a GPU".
NAME=$1; shift
OUT=${OUT:-var/gpu-out}; mkdir -p "$OUT"
PY=${PY:-python3}; HOURS=${HOURS:-0.125}; WORKERS=${WORKERS:-7}; DEVICE=${DEVICE:-0}; BATCH=${BATCH:-64}
[ -d var/pack ] || tar xzf .gpu/pack.tgz || exit 3
if [ -d .gpu/whl ] && [ ! -d /tmp/site ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 3
fi
# polars (ultralytics reads its results.csv with it, inside try/except) has a 54 MB runtime wheel:
# scripts/gpu/polars stands in for it there
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:$PWD/scripts/gpu:$PWD
limit=$("$PY" -c "print(int($HOURS * 3600 + 75))")  # ultralytics' time= budget, then its setup and last save
timeout "$limit" "$PY" -m training.cli train --work var/pack --device "$DEVICE" --imgsz 640 --batch "$BATCH" \
    --workers "$WORKERS" --hours "$HOURS" --name "$NAME" "$@" > "$OUT/$NAME.log" 2>&1
echo "exit $?" >> "$OUT/$NAME.log"
cp var/runs/"$NAME"/weights/last.pt "$OUT/$NAME.pt"
cp var/runs/"$NAME"/citypatrol_train.json "$OUT/$NAME.json"
cp var/runs/"$NAME"/results.csv "$OUT/$NAME.csv"
