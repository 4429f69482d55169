#!/usr/bin/env bash
# Provisions libtensorflow for @tensorflow/tfjs-node from the TensorFlow wheel on PyPI, builds the
# addon against it and verifies it with a training step.
#
# Why: tfjs-node's install script downloads libtensorflow 2.9.1 from storage.googleapis.com, which
# answers 403 (tensorflow/tfjs#8742). The PyPI wheel tensorflow-cpu==2.9.1 carries the same
# TensorFlow build: libtensorflow_framework.so.2, the C API (TF_* / TFE_* symbols, exported from
# tensorflow/python/_pywrap_tensorflow_internal.so) and the C headers. That library also references
# ~180 CPython symbols (its Python glue); they are never called through the C API, so a stub
# library that defines them lets it load in Node.
#
# Usage: tools/provision-libtensorflow.sh [path/to/node_modules/@tensorflow/tfjs-node]
# Env:   TF_VERSION (default 2.9.1, what tfjs-node 4.22 expects), PYTHON (default python3),
#        TF_WHEEL (use this wheel file instead of downloading), SKIP_VERIFY=1.
# Needs: python3 -m pip (download only), unzip, gcc/g++, make, patchelf, Node headers for node-gyp.
set -euo pipefail

TFJS_NODE_DIR=${1:-node_modules/@tensorflow/tfjs-node}
TF_VERSION=${TF_VERSION:-2.9.1}
PYTHON=${PYTHON:-python3}
TFJS_NODE_DIR=$(cd "$TFJS_NODE_DIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tsvae-libtf.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log() { printf '[provision-libtensorflow] %s\n' "$*" >&2; }

[ -f "$TFJS_NODE_DIR/binding.gyp" ] || { log "no tfjs-node package at $TFJS_NODE_DIR"; exit 1; }
for tool in unzip gcc g++ make patchelf nm; do
  command -v "$tool" >/dev/null || { log "missing tool: $tool (Debian: apt-get install -y unzip build-essential patchelf)"; exit 1; }
done
case "$(uname -m)" in x86_64) PLATFORM=manylinux2014_x86_64 ;; aarch64) PLATFORM=manylinux2014_aarch64 ;; *) log "unsupported arch $(uname -m)"; exit 1 ;; esac

# 1. the wheel (download only: nothing is installed into any Python)
if [ -n "${TF_WHEEL:-}" ]; then
  WHEEL=$TF_WHEEL
else
  PKG=tensorflow-cpu
  [ "$(uname -m)" = aarch64 ] && PKG=tensorflow
  log "downloading $PKG==$TF_VERSION from PyPI"
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.10 \
    --platform "$PLATFORM" -d "$WORK" "$PKG==$TF_VERSION"
  WHEEL=$(ls "$WORK"/*.whl)
fi

# 2. the libraries and the C headers
log "extracting $(basename "$WHEEL")"
unzip -q -o "$WHEEL" 'tensorflow/libtensorflow_framework.so.2' 'tensorflow/python/_pywrap_tensorflow_internal.so' \
  'tensorflow/include/tensorflow/c/*' 'tensorflow/include/tensorflow/core/platform/ctstring*.h' -d "$WORK/w"
DEPS=$TFJS_NODE_DIR/deps
rm -rf "$DEPS"
mkdir -p "$DEPS/lib" "$DEPS/include/tensorflow"
cp -r "$WORK/w/tensorflow/include/tensorflow/c" "$WORK/w/tensorflow/include/tensorflow/core" "$DEPS/include/tensorflow/"
cp "$WORK/w/tensorflow/libtensorflow_framework.so.2" "$DEPS/lib/"
cp "$WORK/w/tensorflow/python/_pywrap_tensorflow_internal.so" "$DEPS/lib/libtensorflow.so.2"

# 3. a stub for the CPython symbols the library references (never called through the C API)
nm -D --undefined-only "$DEPS/lib/libtensorflow.so.2" | awk '{print $2}' | sed 's/@.*//' |
  grep -E '^_?Py' | sort -u | awk '{printf "char %s[256];\n", $1}' >"$WORK/pystub.c"
log "stubbing $(wc -l <"$WORK/pystub.c") CPython symbols"
gcc -shared -fPIC -o "$DEPS/lib/libtsvae_pystub.so" "$WORK/pystub.c"
# one change per patchelf call: patchelf 0.14 corrupts the SONAME when combined with --add-needed
patchelf --set-soname libtensorflow.so.2 "$DEPS/lib/libtensorflow.so.2"
patchelf --add-needed libtsvae_pystub.so "$DEPS/lib/libtensorflow.so.2"
patchelf --set-rpath '$ORIGIN' "$DEPS/lib/libtensorflow.so.2"
ln -sf libtensorflow.so.2 "$DEPS/lib/libtensorflow.so"
ln -sf libtensorflow_framework.so.2 "$DEPS/lib/libtensorflow_framework.so"
# tfjs-node's install script skips its download when this file exists
ln -sf libtensorflow.so.2 "$DEPS/lib/libtensorflow.so.$TF_VERSION"

# 4. the addon
NODE_GYP=$(dirname "$(dirname "$(command -v npm)")")/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
[ -f "$NODE_GYP" ] || NODE_GYP=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
NAPI_BUILD=$(node -e "
  const v = require('$TFJS_NODE_DIR/package.json').binary.napi_versions;
  console.log(Math.max(...v.filter((x) => x <= Number(process.versions.napi))));")
MODULE_DIR=$TFJS_NODE_DIR/lib/napi-v$NAPI_BUILD
log "building tfjs_binding.node (N-API $NAPI_BUILD) with node-gyp"
NODEDIR_ARG=()
# Node headers: node-gyp downloads them unless told where they are (offline machines)
if [ -n "${NODEDIR:-}" ]; then NODEDIR_ARG=(--nodedir="$NODEDIR")
elif [ -f "$(dirname "$(dirname "$(command -v node)")")/include/node/node_api.h" ]; then NODEDIR_ARG=(--nodedir="$(dirname "$(dirname "$(command -v node)")")"); fi
(cd "$TFJS_NODE_DIR" && node "$NODE_GYP" rebuild "${NODEDIR_ARG[@]}" --module_name=tfjs_binding \
  --module_path="$MODULE_DIR" --napi_build_version="$NAPI_BUILD" >"$WORK/gyp.log" 2>&1) || { tail -30 "$WORK/gyp.log" >&2; exit 1; }
log "addon: $MODULE_DIR/tfjs_binding.node"

# 5. a training step
if [ "${SKIP_VERIFY:-}" != 1 ]; then
  (cd "$TFJS_NODE_DIR" && TF_CPP_MIN_LOG_LEVEL=2 node -e "
    const tf = require('.');
    const w = tf.variable(tf.randomNormal([8, 4])), x = tf.randomNormal([16, 8]), y = tf.randomNormal([16, 4]);
    const k = tf.variable(tf.randomNormal([3, 3, 1, 2])), img = tf.randomNormal([2, 8, 8, 1]);
    const opt = tf.train.adam(0.01);
    const loss = () => tf.add(tf.mean(tf.square(tf.sub(tf.matMul(x, w), y))), tf.mean(tf.square(tf.conv2d(img, k, 2, 'same'))));
    const l0 = loss().dataSync()[0];
    for (let i = 0; i < 20; i++) opt.minimize(loss);
    const l1 = loss().dataSync()[0];
    if (tf.getBackend() !== 'tensorflow' || !(l1 < l0)) { console.error('verification failed', tf.getBackend(), l0, l1); process.exit(1); }
    console.log('verified: backend', tf.getBackend(), 'TF', tf.version['tfjs-node'], 'loss', l0.toFixed(4), '->', l1.toFixed(4));
  ")
fi
