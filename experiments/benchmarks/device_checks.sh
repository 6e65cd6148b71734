#!/usr/bin/env bash
# The engine's GPU checks (issue "meta-training engine") in one call, for a session that is
# lent a GPU machine, whose image lacks gymnax and evosax. Run from the repository root:
#
#   bash experiments/benchmarks/device_checks.sh WHEELS BASELINE OUT
#
# WHEELS: a directory of wheels to install (gymnax==1.0.1 evosax==0.3.2 gymnasium
#   farama-notifications dotmap cloudpickle, e.g. fetched here with `pip download --no-deps`)
# BASELINE: a directory holding the starting commit's code
#   (`git archive b0c6d1e discover environments | tar -x -C BASELINE`), or "" to skip it
# OUT: where the JSON results and logs go (the device tool's $OUT)
#
# With the device tool, both directories ignored by git and carried: command
# `bash experiments/benchmarks/device_checks.sh .whl .bench_baseline $OUT`, carry
# [".whl", ".bench_baseline"], timeout_s 600.
#
# Not yet run on a GPU; its timeouts bound it to about 10 minutes (330 s + 240 s, plus the
# install): the reference-scale generation (mixed, fixed, mixed at pack widths 1.5 and 2,
# interleaved; the baseline once), then the PPO throughput benchmark.
# Copy the JSONs into experiments/benchmarks/results/ and quote them with the machine.
# GEN_ARGS / THR_ARGS replace the benchmarks' sizes (a CPU dry run of this script:
# GEN_ARGS="--scale cpu --reps 1" THR_ARGS=--quick).
set -o pipefail
wheels=${1:?wheel directory}; baseline=${2-}; out=${3:?output directory}
mkdir -p "$out"
python3 -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$wheels"/*.whl || exit 1
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/device.txt"
python3 -c "import jax, gymnax, evosax; print(jax.__version__, jax.devices())" | tee -a "$out/device.txt" || exit 1
base=()
[ -n "$baseline" ] && base=(--baseline-src "$baseline" --baseline-reps 1)
timeout 330 python3 -m experiments.benchmarks.generation ${GEN_ARGS:---scale reference --reps 3} --skip mixed_unpacked \
    --pack-widths 1.5,2 "${base[@]}" --out "$out/generation.json" 2>&1 | grep -v -i warn | tee "$out/generation.log"
timeout 240 python3 -m experiments.benchmarks.throughput ${THR_ARGS-} --out "$out/throughput.json" 2>&1 | grep -v -i warn | tee "$out/throughput.log"
