#!/usr/bin/env bash
# Table 2 (CIFAR-10: PlainNet-50, PlainNet-BN-56, ResNet-56, ResNet-110), a GPU speed probe and
# a 1,000-layer plain CNN, all inside one call on a machine with one GPU and no internet.
#
#   bash benchmarks/gpu_table2.sh prepare        # here: CIFAR-10 in parts, wheels (ignored)
#   bash benchmarks/gpu_table2.sh receive        # there, once per part but the last, each call
#                                                #   carrying one .gpu/cifar10.npz.part-NN; the
#                                                #   machine keeps them while it stays warm, so
#                                                #   make the calls back to back
#   bash benchmarks/gpu_table2.sh run MINUTES    # there, carrying the last part,
#                                                #   .gpu/cifar10.npz.sha256 and .whl
#   PYTHON=.venv/bin/python bash benchmarks/gpu_table2.sh run 1 --tiny
#                                                # here, on CPU: the same steps, tiny settings
#
# `run` reassembles and checks the data, installs the wheels the GPU image lacks, probes steps/s
# (benchmarks/gpu_probe.py), sizes the schedule to what fits in MINUTES, then trains the four
# models at once (`plainnet reproduce table2 --jobs 4`, the test split read once per model)
# beside the deep CNN, and leaves the reports and every run's config, metrics and summary in
# $OUT (results.tar.gz, probe.md, log.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
parts=.gpu  # ignored (.gitignore): travels only when a call carries it

case "${1:-}" in
prepare)
    mkdir -p $parts
    rm -f $parts/cifar10.npz.part-*
    # 44 MiB parts: a call carries the working tree (~17 MB) and one part within its 64 MiB
    split -b 44M -d "${PLAINNET_DATA:-../shared/data}/cifar10.npz" $parts/cifar10.npz.part-
    (cd "${PLAINNET_DATA:-../shared/data}" && sha256sum cifar10.npz) >$parts/cifar10.npz.sha256
    # what the GPU image (Python 3.12, torch, numpy, click, rich, matplotlib...) lacks
    rm -rf .whl && mkdir .whl
    for pkg in pydantic pydantic_core annotated_types typing_inspection tomli_w; do
        version=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$pkg'))")
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d .whl "$pkg==$version"
    done
    ls -l $parts .whl
    ;;
receive)
    ls -l $parts
    ;;
run)
    minutes=${2:?usage: gpu_table2.sh run MINUTES [--tiny]}
    tiny=${3:-}
    start=$(date +%s)
    out=${OUT:-$repo/$parts/out}
    work=/tmp/gpu-table2
    rm -rf $work && mkdir -p "$out" $work/data
    exec > >(tee -a "$out/log.txt") 2>&1
    log() { echo "[$(date +%T), $(($(date +%s) - start)) s] $*"; }
    if [ -d .whl ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site
    fi
    export PYTHONPATH=$repo/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    python=${PYTHON:-python3}  # the GPU image's python3 holds torch
    py="$python -m plainnet"
    if [ "$tiny" = --tiny ]; then
        probe=(--device cpu --batch 8 --steps 2 --depth 20 --no-compile)
        deep=20
        table2=(--quick)
        short=(data.train_subset=256)
    else
        cat $parts/cifar10.npz.part-* >$work/data/cifar10.npz
        (cd $work/data && sha256sum -c "$repo/$parts/cifar10.npz.sha256")
        export PLAINNET_DATA=$work/data
        nvidia-smi -L || true
        probe=(--depth 1000 --compile-first 1)  # compiling all four would take minutes
        deep=1000
    fi
    log "speed probe"
    # the schedule takes what is left after the probe, less 2 minutes for the final
    # evaluations and reports
    $python benchmarks/gpu_probe.py "${probe[@]}" --out "$out/probe.md" --epochs-per-minute |
        tee $work/probe.txt
    left=$((minutes * 60 - ($(date +%s) - start) - 120))
    # epochs at one process's rate, a third of it since five processes share the GPU (a guess:
    # log.txt and the runs' metrics say how it went), and validation and calibration cost more
    fit() { awk -F'\t' -v m="$1" -v s=$left '$1 == m { e = int($2 * s / 60 / 3); print (e > 1 ? e : 1) }' \
        $work/probe.txt; }
    epochs=$(fit ResNet-110)
    deep_epochs=$(fit "plain CNN-$deep")
    if [ "$tiny" = --tiny ]; then epochs=1 deep_epochs=1 left=600; fi
    log "training: Table 2 for $epochs epochs, CNN-$deep for $deep_epochs, $left s left"
    timeout --signal=INT --kill-after=60 $left $py reproduce table2 "${table2[@]}" --seeds 0 \
        --jobs 4 --epochs "$epochs" --out $work/report run.tensorboard=false &
    table2_pid=$!
    timeout --signal=INT --kill-after=60 $left $py train -p cifar10 model.depth=$deep \
        train.epochs="$deep_epochs" run.out_dir=$work/deep run.name=cnn$deep \
        run.tensorboard=false "${short[@]}" &
    deep_pid=$!
    wait $table2_pid && log "Table 2 done" || log "Table 2 stopped: exit $?"
    wait $deep_pid && log "CNN-$deep done" || log "CNN-$deep stopped: exit $?"
    # reports, and each run's records (weights stay behind)
    tar czf "$out/results.tar.gz" --exclude=checkpoints --exclude=tb --exclude=.lock \
        -C $work report deep -C "$repo" runs/reproduce
    log "done: $(ls "$out")"
    ;;
*)
    sed -n 2,17p "$0"
    exit 2
    ;;
esac
