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
"$memprof" info --core "$core" | sed -n '1,/^mappings/p'
"$memprof" info --core "$core" --format json --output "$out/info.json"

echo "== memprof logical --core $core instance --format text"
"$memprof" logical --core "$core" instance --format text --top 10
"$memprof" logical --core "$core" instance --output "$out/instance.folded"
"$memprof" logical --core "$core" instance --format svg --output "$out/instance.svg"
echo "(folded stacks in $out/instance.folded, flamegraph in $out/instance.svg)"

echo "== memprof heap --core $core"
"$memprof" heap --core "$core"

leaky="$out/leak_cache.core"
bash "$(dirname "$0")/../bench/make_core.sh" "$leaky" -- "$build/examples/leak_cache"
echo
echo "== memprof leaks --core $leaky"
"$memprof" leaks --core "$leaky"

waste="$out/waste.core"
bash "$(dirname "$0")/../bench/make_core.sh" "$waste" -- "$build/examples/waste"
echo
echo "== memprof recommend --core $waste"
"$memprof" recommend --core "$waste"

echo
echo "== memprof run -- $build/examples/leak_cycle (a leak check at exit; exit status 3 means leaks)"
"$memprof" run -- "$build/examples/leak_cycle" || echo "(memprof run exited with status $?)"
echo
echo "demo: cores in $out; JSON of memprof info at $out/info.json; logical flamegraph at $out/instance.svg"
