#!/usr/bin/env bash
# vectorfind + eval outcome on the synthetic world: every method on the same cases.
#   bash scripts/outcome_eval.sh [OUT]      (N=20000 CASES=200 by default; env vars override)
set -euo pipefail
OUT=${1:-runs/outcome-eval}
N=${N:-20000}
CASES=${CASES:-200}
NGROUPS=${NGROUPS:-16}
mkdir -p "$OUT"
export OHLORA_CATALOG="$OUT/ohlora.db"
time ohlora generate --n "$N" --score --scorers parser --quiet
for method in svm global conditional regression; do
  ohlora vectorfind --groups "$NGROUPS" --method "$method" --name "$method" --replace --scorer parser-synthetic/fixed
done
time ohlora eval --compare "${METHODS:-svm,global,conditional,regression,svm@0-5,conditional@0-5}" \
  --cases "$CASES" --out "$OUT/eval"
