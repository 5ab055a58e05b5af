#!/usr/bin/env bash
# memprof's two commands:
#   ./bootstrap.sh          install what is missing, build, run the demo
#   ./bootstrap.sh test     install what is missing, build, run every test in a
#                           normal build and in an ASan+UBSan build, then each
#                           fuzzer for 20 seconds (clang build in build-fuzz)
# Safe to run again: it installs only what is missing and reuses the builds.
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-demo}"
case "$mode" in
  demo|test|build) ;;
  *) echo "usage: ./bootstrap.sh [demo|test|build]" >&2; exit 2 ;;
esac

# Debian 12 packages memprof needs to build, test and benchmark.
packages=(meson ninja-build gcc g++ pkg-config libdwarf-dev libelf-dev
  libcmocka-dev zlib1g-dev gdb gdbserver lldb liblldb-14-dev libc6-dbg valgrind dwarves
  hyperfine python3 python3-prometheus-client procps binutils file clang libclang-rt-14-dev chromium
  libc++-14-dev libc++abi-14-dev
  libjemalloc-dev libgoogle-perftools-dev libmimalloc-dev
  dwz zstd llvm
  debuginfod libdebuginfod-dev dpkg-dev fakeroot)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
    || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt=(apt-get)
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    apt=(sudo apt-get)
  else
    echo "bootstrap: missing packages: ${missing[*]}" >&2
    echo "bootstrap: run as root or with passwordless sudo, or install them:" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${apt[@]}" update -qq
  "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Rust examples need a rustc; prefer rustup's (~/.cargo/bin), which is
# newer than Debian's.
if [ -x "$HOME/.cargo/bin/rustc" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v rustc >/dev/null || echo "bootstrap: no rustc found: the Rust examples are skipped" >&2

setup() {  # setup DIR [meson options]
  local dir="$1"; shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@"
  fi
  ninja -C "$dir"
}

case "$mode" in
  build)
    setup build
    ;;
  demo)
    setup build
    exec bash scripts/demo.sh build
    ;;
  test)
    setup build --werror
    meson test -C build --print-errorlogs --num-processes 2
    # Sanitizers: errors abort the test instead of scrolling by.
    export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    setup build-asan --werror -Db_sanitize=address,undefined -Db_lundef=false \
      -Dc_args=-fno-sanitize-recover=all -Dcpp_args=-fno-sanitize-recover=all
    meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite slow
    # Every fuzzer briefly from its corpus, after the regression inputs of
    # every crash found so far (docs/robustness.md).
    bash scripts/fuzz.sh 20
    ;;
esac
