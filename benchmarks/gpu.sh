#!/usr/bin/env bash
# GPU benchmarks for ganaug, for a machine with an NVIDIA GPU. Run from the repository root:
#
#     bash benchmarks/gpu.sh                 # results in benchmarks/results/gpu/
#     OUT=/some/dir bash benchmarks/gpu.sh   # results elsewhere
#     QUALITY=0 LONG_STEPS=5000 bash benchmarks/gpu.sh
#
# Steps, each bounded by `timeout`:
#   1. speed.py --device cuda --precision bf16-mixed with sizes that finish within 5 minutes
#      -> $OUT/speed.json, $OUT/speed.md, $OUT/speed.log
#   2. a long GAN training on mnist-mini (LONG_STEPS, default 20000, bf16-mixed) with the ganaug CLI
#      -> checkpoint in $OUT/gpu-long/, wall time and images/s in $OUT/gpu-long.json, log $OUT/gpu-long.log
#   3. (QUALITY=1, default) quality.py on that checkpoint (classifiers on the CPU)
#      -> $OUT/quality-gpu-long.json/.md
#
# Python: $PYTHON if set, else the first of .venv-gpu/bin/python, .venv/bin/python, python3 that imports ganaug
# with CUDA available; only if none does, `python3 -m venv .venv-gpu && .venv-gpu/bin/pip install -e .`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

OUT="${OUT:-benchmarks/results/gpu}"
LONG_STEPS="${LONG_STEPS:-20000}"
QUALITY="${QUALITY:-1}"
export TQDM_DISABLE=1 HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"

cuda_python() {  # does "$1" import ganaug with a CUDA device?
    [ -x "$(command -v "$1" 2>/dev/null)" ] || return 1
    "$1" -c 'import torch, ganaug, lightning_fabric; assert torch.cuda.is_available()' >/dev/null 2>&1
}

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    for cand in .venv-gpu/bin/python .venv/bin/python python3; do
        if cuda_python "$cand"; then PY="$cand"; break; fi
    done
fi
if [ -z "$PY" ]; then
    echo "== no Python with ganaug and CUDA found: creating .venv-gpu"
    [ -x .venv-gpu/bin/python ] || timeout 300 python3 -m venv .venv-gpu || { echo "venv creation failed"; exit 1; }
    timeout 1800 .venv-gpu/bin/pip install -e . || { echo "pip install -e . failed"; exit 1; }
    PY=.venv-gpu/bin/python
    cuda_python "$PY" || { echo "torch in .venv-gpu sees no CUDA device (torch.cuda.is_available() is False)"; exit 1; }
fi
mkdir -p "$OUT"
echo "== python: $PY ($("$PY" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))'))"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

status=0
run_step() {  # run_step NAME SECONDS CMD... : bounded, logged to $OUT/NAME.log, failures reported but not fatal
    local name="$1" limit="$2"; shift 2
    echo "== $name (timeout ${limit} s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name finished: rc=$rc, $((SECONDS - t0)) s"
    [ "$rc" -eq 0 ] || status=1
    return "$rc"
}

# 1. speed (about 2-4 minutes on one GPU; bounded at 5)
run_step speed 300 "$PY" benchmarks/speed.py --device cuda --precision bf16-mixed --out "$OUT" \
    --train-steps 100 1100 128 --repeats 3 --sample-n 262144 --matmul-n 8192 --matmul-seconds 1.0 \
    --map-rows 2000 --loader-per-class 2048

# 2. a long GAN training; the wall time includes start-up and every checkpoint (default: every 500 steps)
rm -rf "$OUT/gpu-long"
LONG_T0=$SECONDS
if run_step gpu-long 1200 "$PY" -m ganaug.cli train mnist-mini --accelerator cuda --precision bf16-mixed \
        --steps "$LONG_STEPS" --out "$OUT/gpu-long" --no-progress; then
    LONG_WALL=$((SECONDS - LONG_T0))
    "$PY" - "$OUT" "$LONG_STEPS" "$LONG_WALL" <<'EOF'
import csv, json, os, sys
from pathlib import Path
sys.path.insert(0, os.getcwd())
from benchmarks._common import machine_record, write_results
out, steps, wall = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
meta = json.loads((out / "gpu-long" / "meta.json").read_text())
batch = meta["train"]["batch_size"]
logged = [r for f in sorted((out / "gpu-long" / "logs").glob("*/metrics.csv")) for r in csv.DictReader(f.open())]
last_rate = next((float(r["images_per_s"]) for r in reversed(logged) if r.get("images_per_s")), None)
res = {"benchmark": "gpu-long", "machine": machine_record("cuda"), "steps": steps, "batch_size": batch,
       "precision": meta["fabric"]["precision"], "wall_s": wall, "images_per_s_overall": steps * batch / wall,
       "images_per_s_logged_last": last_rate, "checkpoint_every": meta["train"]["checkpoint_every"]}
md = (f"# Long GAN training on GPU\n\n{steps} steps × batch {batch}, {res['precision']}: {wall:.0f} s wall "
      f"(with start-up and checkpoints), {res['images_per_s_overall']:.0f} images/s overall, "
      f"{last_rate or float('nan'):.0f} images/s logged by the loop.\n")
write_results(out, "gpu-long", res, md)
print(md)
EOF
    # 3. sample quality of the long-trained generator (classifiers train on the CPU)
    if [ "$QUALITY" = "1" ]; then
        run_step quality-gpu-long 600 "$PY" benchmarks/quality.py --provider "$OUT/gpu-long" --tag gpu-long --out "$OUT"
    fi
fi

echo
echo "== results in $OUT:"
ls -l "$OUT"
exit "$status"
