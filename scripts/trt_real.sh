#!/usr/bin/env bash
# NVIDIA's own TensorRT Python bindings of three generations (8.6, 10.13, 11.4), importable here without TensorRT
# or a GPU, to check the TensorRT layer against: names, pybind11 signatures, and .pyi stubs generated from them for
# mypy. The bindings wheels are real compiled modules (about 1 MB each); the libraries they link against
# (libnvinfer & co.) are placeholders (trt_entry_points.c) that export the few C entry points and return NULL, so the
# module imports and can be introspected, and nothing can build or run an engine.
#
#   scripts/trt_real.sh DIR
# makes DIR/<gen>/ with the `tensorrt_bindings` package, lib/ (the placeholders) and typings/tensorrt/ (stubs), and
# DIR/alias/tensorrt (a `tensorrt` that is the bindings module). A generation already made is kept. Needs pip (to
# download), gcc and pybind11-stubgen (the `test` extra).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: trt_real.sh DIR}
python=${PYTHON:-python3}
mkdir -p "$out"; out=$(cd "$out" && pwd)
declare -A wheel=([8.6]="tensorrt-bindings==8.6.1" [10.13]="tensorrt-cu11-bindings==10.13.0.35" [11.4]="tensorrt-cu12-bindings==11.4.0.106")
declare -A soname=([8.6]=8 [10.13]=10 [11.4]=11)
mkdir -p "$out/alias/tensorrt"
printf '%s\n' '"""`import tensorrt` gives NVIDIA'"'"'s bindings module (trt_real.sh)."""' 'import sys' '' 'import tensorrt_bindings' '' \
  'sys.modules["tensorrt"] = tensorrt_bindings' > "$out/alias/tensorrt/__init__.py"
for gen in 8.6 10.13 11.4; do
  d=$out/$gen v=${soname[$gen]}
  if [ ! -d "$d/tensorrt_bindings" ]; then   # downloaded once, kept with the venv
    rm -rf "$d"; mkdir -p "$d/lib" "$d/wheel"
    "$python" -m pip download -q --disable-pip-version-check --no-deps -d "$d/wheel" "${wheel[$gen]}"
    "$python" -m zipfile -e "$d"/wheel/*.whl "$d"
  fi
  mkdir -p "$d/lib"
  for lib in libnvinfer libnvonnxparser libnvinfer_plugin libnvparsers; do
    [ -f "$d/lib/$lib.so.$v" ] || gcc -shared -fPIC -DTRT_MAJOR="$v" -o "$d/lib/$lib.so.$v" "$here/trt_entry_points.c"
  done
  if [ ! -f "$d/stubs/tensorrt_bindings/__init__.pyi" ]; then
    LD_LIBRARY_PATH=$d/lib PYTHONPATH=$d "$python" -m pybind11_stubgen tensorrt_bindings -o "$d/stubs" >"$d/stubgen.log" 2>&1 || true
  fi
  "$python" "$here/trt_typings.py" "$d/stubs/tensorrt_bindings" "$d/typings"   # cheap: always from the current script
done
