#!/usr/bin/env bash
# generate -> score -> filter on the embedded generator (the score/filter issue's closing table).
#   bash scripts/outcome_score_filter.sh [OUT]   (N=5000 by default)
set -euo pipefail
OUT=${1:-runs/outcome-score-filter}
N=${N:-5000}
mkdir -p "$OUT"
export OHLORA_CATALOG="$OUT/ohlora.db"
time ohlora generate --n "$N" --quiet
time ohlora score --quiet
ohlora filter --name original-rules --replace                       # gender>=0.92 quality>=0.9 age<=0.008 glass<=0.01
ohlora filter --name hard-decisions --replace --rule 'gender>=0.5' --rule 'quality>=0.5' --rule 'age<=0.5' \
  --rule 'glass<=0.5'
