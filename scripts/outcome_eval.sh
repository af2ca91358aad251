#!/usr/bin/env bash
# vectorfind + eval outcome on the synthetic world: every method on the same cases.
#   bash scripts/outcome_eval.sh [OUT]      (N=20000 CASES=200 by default; env vars override)
#   FIND="svm global projected" METHODS=svm,global,projected bash scripts/outcome_eval.sh   (fewer methods)
set -euo pipefail
OUT=${1:-runs/outcome-eval}
N=${N:-20000}
CASES=${CASES:-200}
NGROUPS=${NGROUPS:-16}
mkdir -p "$OUT"
export OHLORA_CATALOG="$OUT/ohlora.db"
time ohlora generate --n "$N" --score --scorers parser --quiet  # resumable: a rerun only adds missing seeds
for method in ${FIND:-svm global conditional regression projected}; do  # projected: --layers auto by default
  ohlora vectorfind --groups "$NGROUPS" --method "$method" --name "$method" --replace --scorer parser-synthetic/fixed
done
time ohlora eval --compare "${METHODS:-svm,global,conditional,regression,projected}" \
  --cases "$CASES" --out "$OUT/eval"
