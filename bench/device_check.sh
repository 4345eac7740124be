#!/usr/bin/env bash
# The device check of issue #34 (bench/device_check.py) as one command for a lent GPU machine: bf16 against fp32
# predictions of a multiple-choice and a generation suite, one `fix` across tokenizers, absolute times labelled
# with the device; about 8 minutes at most on an H100/H200 (`--size full`, the default). Its image has torch,
# transformers, peft, accelerate, typer, rich and filelock, so nothing is installed: the repository is on the path.
#
#   bash bench/device_check.sh                          # on the device machine; results in $OUT/device_check.json
#   PYTHON=.venv/bin/python bash bench/device_check.sh --size small --device cpu    # here, to check the script
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PY="${PYTHON:-python3}"
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; fi
"$PY" -c 'import torch, transformers, peft, accelerate; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "accelerate", accelerate.__version__)'
start=$(date +%s)
"$PY" bench/device_check.py "$@" --out "${OUT:-/tmp}/device_check.json"
echo "device check: $(( $(date +%s) - start )) s in all"
