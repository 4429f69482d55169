#!/usr/bin/env bash
# Superseded by `tsvae setup tensorflow`, which owns provisioning native TensorFlow now
# (@tsvae/backend's setupTensorflow; see packages/backend/README.md): it installs
# @tensorflow/tfjs-node 4.22.0 into a tsvae-owned directory under the cache directory (your
# package.json and lockfile are untouched), takes libtensorflow from the tensorflow-cpu wheel on
# PyPI (sha256 checked), builds the addon and checks it against the cpu backend.
#
# Usage: tools/provision-libtensorflow.sh [--tensorflow-version 2.21.0] [--force] [--remove]
# (a call of the CLI from this checkout; build it first: npm run build)
set -euo pipefail
cd "$(dirname "$0")/.."
exec node apps/cli/dist/cli.js setup tensorflow "$@"
