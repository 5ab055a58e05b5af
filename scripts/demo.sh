#!/usr/bin/env bash
# The main job on the bundled examples: make a core of the C `instance`
# example with gdb's gcore and show what memprof sees in it.
set -euo pipefail
build="${1:-build}"
memprof="$build/cli/memprof"
out="$build/demo"
mkdir -p "$out"
core="$out/instance.core"

bash "$(dirname "$0")/../bench/make_core.sh" "$core" -- "$build/examples/instance_c"

echo "== memprof info --core $core"
"$memprof" info --core "$core"
"$memprof" info --core "$core" --format json --output "$out/info.json"
echo
echo "demo: core at $core; JSON (memprof info --format json) at $out/info.json"
