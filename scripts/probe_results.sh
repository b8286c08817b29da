#!/usr/bin/env bash
# Regenerates docs/results/probe/: the paper's investigation (naive vs BN vs proposed, 100
# layers) on digits and USPS, at initialization and after training. Needs USPS in the data
# directory (PLAINNET_DATA=../shared/data, or `plainnet data download usps`).
# About 10 minutes on 2 CPU cores.
set -euo pipefail
out=docs/results/probe
runs=runs/probe-results
rm -rf "$out" "$runs"
for ds in digits usps; do
  plainnet probe -p naive -p bn -p proposed --dataset "$ds" --out "$out/$ds-init"
  epochs=40; [ "$ds" = usps ] && epochs=10
  for p in naive bn proposed; do
    plainnet train --preset "$p" --dataset "$ds" --epochs "$epochs" --out "$runs/$ds" --name "$p"
  done
  plainnet probe $(for d in "$runs/$ds"/*; do echo --run "$d"; done) --out "$out/$ds-trained"
done
rm -f "$out"/*/probe.json  # every number but the singular values is in layers.csv; keep the repo small
