#!/usr/bin/env bash
# bench/allocators.sh BUILD_DIR [BLOCKS]
#
# Issue 15's figures side by side in one hyperfine run: `memprof heap` and
# `memprof leaks` on the cores of one program (bench/allocator_blocks.c,
# BLOCKS blocks, 10 million by default) linked against glibc's malloc,
# jemalloc, tcmalloc (minimal) and mimalloc.  Targets: heap at most 1 s
# under each allocator; leaks within 1.5x of glibc's on the same workload.
# Peak RSS of each command from one run under /usr/bin/time.  Cores are
# made once by bench/allocator_heap.sh (CORE_ONLY=1) and kept in
# BUILD_DIR/bench-data.
set -euo pipefail
build=${1:?usage: bench/allocators.sh BUILD_DIR [BLOCKS]}
blocks=${2:-10000000}
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
memprof=${MEMPROF:-$build/cli/memprof}
commands=()
for library in glibc jemalloc tcmalloc_minimal mimalloc; do
	core=$(CORE_ONLY=1 "$here/allocator_heap.sh" "$build" "$library" "$blocks" | tail -1)
	commands+=("$memprof heap --core $core --format json" "$memprof leaks --core $core --format json")
	for command in "$memprof heap --core $core --format json" "$memprof leaks --core $core --format json"; do
		/usr/bin/time -f "peak RSS %M KB: $command" $command >/dev/null
	done
done
hyperfine --warmup 1 --runs "${RUNS:-5}" --export-json "$build/bench-data/allocators.json" "${commands[@]}" >/dev/null
# Wall times on a loaded machine mislead: CPU time (user + system) beside them.
python3 - "$build/bench-data/allocators.json" <<'PY'
import json, sys
print("| command | mean ± σ | min | user + system |")
print("|---|---|---|---|")
for r in json.load(open(sys.argv[1]))["results"]:
    words = r["command"].split()
    print("| `memprof %s` %s | %.3f s ± %.3f s | %.3f s | %.3f s |" % (
        words[1], words[3].rsplit("/", 1)[-1], r["mean"], r["stddev"], r["min"],
        r["user"] + r["system"]))
PY
