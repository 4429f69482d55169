#!/usr/bin/env bash
# Makes the seeded FID Inception weights that @tsvae/metrics' port-equivalence tests load
# (.cache/metrics/pt_inception-seeded*.pth, ~95 MB each, deterministic), with the reference
# pytorch-fid 0.3.0 on Debian's PyTorch. Idempotent; exits non-zero when it cannot make them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -s .cache/metrics/pt_inception-seeded.pth ] && [ -s .cache/metrics/pt_inception-seeded-legacy.pth ]; then
  echo "seeded FID weights already in .cache/metrics"
  exit 0
fi
need=()
for p in python3-torch python3-torchvision python3-scipy; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
ls .cache/whl/pytorch_fid-0.3.0-*.whl >/dev/null 2>&1 ||
  python3 -m pip download -q --no-deps -d .cache/whl pytorch-fid==0.3.0
/usr/bin/python3 tools/fid_oracle.py weights
