#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS_PER_FUZZER]
#
# Builds the libFuzzer harnesses (fuzz/, a clang build in build-fuzz with
# AddressSanitizer and UndefinedBehaviorSanitizer; the gcc builds are not
# touched), makes the seed corpora and reference cores (fuzz/make_corpus.py),
# replays the regression inputs of every crash fixed so far
# (fuzz/regressions/, fuzz/regress.py), then runs each fuzzer for
# SECONDS_PER_FUZZER seconds (default 25) from its corpus, one at a time.
# Fails when any fuzzer finds a crash, a leak, undefined behaviour, a
# timeout or an out-of-memory, and prints the reproducer's path.
#
# Environment:
#   FUZZ_BUILD_DIR  the build folder (default build-fuzz)
#   FUZZERS         which fuzzers (default: all six)
#   FUZZ_JOBS       ninja's -j (default: ninja's choice)
#
# A reproducer runs on its own:  build-fuzz/fuzz/FUZZER FILE
# (MEMPROF_FUZZ_VERBOSE=1 prints what memprof reported about it).
set -euo pipefail
cd "$(dirname "$0")/.."

prog=fuzz.sh
die() { echo "$prog: error: $*" >&2; exit 1; }

seconds=${1:-25}
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || die "usage: scripts/fuzz.sh [SECONDS_PER_FUZZER]"
build=${FUZZ_BUILD_DIR:-build-fuzz}
fuzzers=(${FUZZERS:-fuzz_core fuzz_elf fuzz_elf_reader fuzz_snapshot fuzz_heap fuzz_text fuzz_hints})

command -v clang >/dev/null || die "clang not found (Debian: apt-get install clang libclang-rt-14-dev)"
command -v gdb >/dev/null || die "gdb not found: the seed cores are taken with gcore"

# Per fuzzer: the largest input it may build (about what its seeds need)
# and the time one input may take before it counts as a hang.
declare -A max_len=([fuzz_core]=131072 [fuzz_elf]=262144 [fuzz_elf_reader]=262144
                    [fuzz_snapshot]=65536 [fuzz_heap]=32768 [fuzz_text]=65536
                    [fuzz_hints]=16384)
declare -A timeout=([fuzz_core]=10 [fuzz_elf]=20 [fuzz_elf_reader]=20
                    [fuzz_snapshot]=10 [fuzz_heap]=30 [fuzz_text]=10 [fuzz_hints]=10)

options=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
         -Dc_args=-fno-sanitize-recover=all -Dlldb_plugin=disabled
         -Dbuildtype=debugoptimized)
if [[ -f $build/build.ninja ]]; then
    meson setup --reconfigure "$build" "${options[@]}" >/dev/null
else
    CC=clang meson setup "$build" "${options[@]}" >/dev/null
fi
ninja -C "$build" ${FUZZ_JOBS:+-j "$FUZZ_JOBS"} >/dev/null

python3 fuzz/make_corpus.py "$build"
rm -rf "$build/fuzz-regressions"
python3 fuzz/regress.py "$build" "$build/fuzz-regressions"

# Errors abort with a report; libFuzzer detects leaks itself.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:handle_abort=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

failed=()
logs="$build/fuzz-logs"
mkdir -p "$logs"
for f in "${fuzzers[@]}"; do
    [[ -n ${max_len[$f]:-} ]] || die "unknown fuzzer $f"
    exe="$build/fuzz/$f"
    [[ -x $exe ]] || die "$exe was not built"
    corpus="$build/fuzz-corpus/$f"
    artifacts="$build/fuzz-artifacts/$f"
    mkdir -p "$corpus/work" "$artifacts"

    regressions=("$build/fuzz-regressions/$f"/*)
    if [[ -e ${regressions[0]} ]]; then
        if ! { "$exe" -timeout="${timeout[$f]}" "${regressions[@]}" >"$logs/$f.regressions.log" 2>&1; } 2>/dev/null; then
            echo "$prog: $f: a regression input fails again; see $logs/$f.regressions.log" >&2
            grep -E '^(Running|SUMMARY|==[0-9]+==ERROR)' "$logs/$f.regressions.log" | tail -5 >&2
            failed+=("$f")
            continue
        fi
    fi

    status=0
    # (The braces keep bash's own "Aborted" line about the dying fuzzer out
    # of the output: the log has the report.)
    { "$exe" -max_total_time="$seconds" -max_len="${max_len[$f]}" -timeout="${timeout[$f]}" \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "$corpus/work" "$corpus/seeds" >"$logs/$f.log" 2>&1; } 2>/dev/null || status=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$logs/$f.log" | tail -1 || true)
    rate=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$logs/$f.log")
    runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$logs/$f.log")
    cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\/[0-9A-Za-z]*\).*/cov \1, ft \2, corpus \3/p' <<<"$done_line")
    if [[ $status -ne 0 ]]; then
        reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logs/$f.log" | tail -1)
        seed=$(sed -n 's/^INFO: Seed: \([0-9]*\).*/\1/p' "$logs/$f.log" | head -1)
        echo "$prog: $f FAILED (status $status) after ${runs:-?} runs (libFuzzer -seed=${seed:-?}); log $logs/$f.log" >&2
        grep -E 'SUMMARY|==[0-9]+==ERROR|ERROR: libFuzzer' "$logs/$f.log" | head -3 >&2 || true
        echo "$prog: reproducer: ${reproducer:-none written} (run: $exe ${reproducer:-FILE})" >&2
        failed+=("$f")
    else
        seed=$(sed -n 's/^INFO: Seed: \([0-9]*\).*/\1/p' "$logs/$f.log" | head -1)
        echo "$prog: $f: ${seconds}s, ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-no stats}, -seed=${seed:-?}"
    fi
done

if ((${#failed[@]})); then
    echo "$prog: failed: ${failed[*]}" >&2
    exit 1
fi
echo "$prog: no crash in ${#fuzzers[@]} fuzzers"
