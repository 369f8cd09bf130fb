#!/usr/bin/env bash
# Installs llama-cpp-python into a Python environment, compiled for this machine's processor.
#
#   bash installer/llama_wheel.sh PYTHON              for the processor it runs on (setup.sh, install.sh)
#   bash installer/llama_wheel.sh PYTHON --portable   for any x86-64 with AVX2 (build_linux.sh's bundle)
#   ... --print-flags                                 only say which compile flags it would use
#
# Why: llama.cpp compiled with AVX-512 reads a prompt ~1.6x as fast as the AVX2-only build on the 2-core
# test machine (the built-in model: 121 -> 190 tokens/s; writing 21 -> 23.5 tokens/s), and reading the notes
# is most of Ask's wait for its first words. AMX is left out: its kernels crashed (general protection fault)
# on the test machine's virtual CPU, which reports it.
# pip's wheel cache does not tell compile flags apart, so the wheel is built once per set of flags into a
# cache of Engram's own (~/.cache/engram/llama-wheels/<key>) and installed from there. CMAKE_ARGS, if set,
# is used as given.
set -euo pipefail
python="${1:?usage: llama_wheel.sh PYTHON [--portable] [--print-flags]}"
shift
portable=0
print_only=0
for option in "$@"; do
  case "$option" in
    --portable) portable=1 ;;
    --print-flags) print_only=1 ;;
    *) echo "llama_wheel.sh: unknown option $option" >&2; exit 2 ;;
  esac
done
repo="$(cd "$(dirname "$0")/.." && pwd)"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

spec="$(grep -o '"llama-cpp-python[^"]*"' "$repo/pyproject.toml" | head -1 | tr -d '"')"
[ -n "$spec" ] || { echo "llama_wheel.sh: pyproject.toml names no llama-cpp-python" >&2; exit 1; }

avx2="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
has() { grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -qx "$1"; }
if [ -z "${CMAKE_ARGS:-}" ]; then
  if [ "$portable" = 1 ] || [ "$(uname -m)" != x86_64 ]; then
    flags="$avx2"
    [ "$(uname -m)" = x86_64 ] || flags="-DGGML_NATIVE=ON"
  elif has avx2 && has fma && has f16c; then
    flags="$avx2"
    if has avx512f && has avx512cd && has avx512vl && has avx512dq && has avx512bw; then
      flags+=" -DGGML_AVX512=ON"
      has avx512_vnni && flags+=" -DGGML_AVX512_VNNI=ON"
      has avx512vbmi && flags+=" -DGGML_AVX512_VBMI=ON"
      has avx512_bf16 && flags+=" -DGGML_AVX512_BF16=ON"
    fi
    has avx_vnni && flags+=" -DGGML_AVX_VNNI=ON"
  else
    flags="-DGGML_NATIVE=OFF"   # an x86-64 without AVX2: slow, but it runs
  fi
  export CMAKE_ARGS="$flags -DLLAVA_BUILD=OFF"
fi

if [ "$print_only" = 1 ]; then
  echo "$CMAKE_ARGS"
  exit 0
fi

key="$(printf '%s %s' "$spec" "$CMAKE_ARGS" | sha256sum | cut -c1-16)"
venv="$("$python" -c 'import sys; print(sys.prefix)')"
stamp="$venv/.engram-llama"
if [ "$(cat "$stamp" 2>/dev/null)" = "$key" ] && "$python" -c "import llama_cpp" 2>/dev/null; then
  exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/engram/llama-wheels/$key"
wheel="$(ls "$cache"/llama_cpp_python-*.whl 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$wheel" ]; then
  target="this processor"
  [ "$portable" = 1 ] && target="any processor with AVX2"
  say "Compiling llama.cpp for $target (${CMAKE_ARGS}): ~5-10 minutes on 2 cores, once"
  building="$cache.part"
  rm -rf "$building"
  "$python" -m pip wheel -q --no-cache-dir --no-deps "$spec" -w "$building"
  mkdir -p "$(dirname "$cache")"
  rm -rf "$cache"
  mv "$building" "$cache"
  wheel="$(ls "$cache"/llama_cpp_python-*.whl | sort -V | tail -1)"
fi
"$python" -m pip install -q --no-deps --force-reinstall "$wheel"
echo "$key" > "$stamp"
