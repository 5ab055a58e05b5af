#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [options]
#
# Runs memprof's benchmarks: each one times memprof and a peer tool side by
# side in one hyperfine run, on inputs built by bench/workload, and writes its
# results as a section of docs/benchmarks.md (see that file).
#
# Options:
#   --quick          small inputs and few runs: a smoke run of the whole chain;
#                    results go to DATA/benchmarks-quick.md, not to docs/
#   --only NAMES     comma-separated benchmarks to run (default: all)
#   --list           print the benchmark names and exit
#   --data DIR       scratch directory for cores (default BUILD_DIR/bench-data);
#                    existing cores made with the same workload and arguments
#                    are reused
#   --docs FILE      the markdown file to update (default docs/benchmarks.md,
#                    with --quick DATA/benchmarks-quick.md)
#   --runs N         timed runs per command (default 10, --quick 3)
#   --warmup N       warmup runs per command (default 2, --quick 1)
#   --no-build       do not run 'meson compile -C BUILD_DIR' first
#   --clean          delete the cores made by this run when it ends
#
# Environment: MEMPROF (default BUILD_DIR/cli/memprof), WORKLOAD (default
# BUILD_DIR/bench/workload), GDB (default gdb), HYPERFINE (default hyperfine).
#
# Adding a benchmark: write a function bench_NAME (dashes become
# underscores) that makes its input with ensure_core, times the commands with
# compare, and writes its section with write_section; add NAME to BENCHES.
set -euo pipefail

prog=bench/run.sh
die() { echo "$prog: error: $*" >&2; exit 1; }
note() { echo "$prog: $*" >&2; }

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

BENCHES=(info-1gb heap-10m heap-walk-1m leaks-10m recommend-10m scan-rate run-vs-valgrind run-tree debugger-leaks type-index debugger-info logical-10m snapshot-10m watch-1m report-html-10m chap-heap-10m chap-leaks-10m)

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

# ------------------------------------------------------------------ options
[[ $# -ge 1 ]] || usage
case $1 in -h|--help) usage ;; --list) printf '%s\n' "${BENCHES[@]}"; exit 0 ;; esac
build=$1
shift
quick=0 only='' data='' docs='' runs='' warmup='' do_build=1 clean=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) quick=1 ;;
        --only) [[ $# -ge 2 ]] || usage; only=$2; shift ;;
        --list) printf '%s\n' "${BENCHES[@]}"; exit 0 ;;
        --data) [[ $# -ge 2 ]] || usage; data=$2; shift ;;
        --docs) [[ $# -ge 2 ]] || usage; docs=$2; shift ;;
        --runs) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage; runs=$2; shift ;;
        --warmup) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || usage; warmup=$2; shift ;;
        --no-build) do_build=0 ;;
        --clean) clean=1 ;;
        -h|--help) usage ;;
        *) echo "$prog: unknown option '$1'" >&2; usage ;;
    esac
    shift
done

[[ -d $build ]] || die "build directory '$build' not found (meson setup $build)"
build=$(cd "$build" && pwd)
data=${data:-$build/bench-data}
if [[ $quick -eq 1 ]]; then
    runs=${runs:-3}; warmup=${warmup:-1}
    docs=${docs:-$data/benchmarks-quick.md}
else
    runs=${runs:-10}; warmup=${warmup:-2}
    docs=${docs:-$repo/docs/benchmarks.md}
fi

MEMPROF=${MEMPROF:-$build/cli/memprof}
WORKLOAD=${WORKLOAD:-$build/bench/workload}
GDB=${GDB:-gdb}
HYPERFINE=${HYPERFINE:-hyperfine}
PYTHON=${PYTHON:-python3}

selected=()
if [[ -n $only ]]; then
    IFS=, read -r -a selected <<<"$only"
    for b in "${selected[@]}"; do
        [[ " ${BENCHES[*]} " == *" $b "* ]] || die "unknown benchmark '$b' (known: ${BENCHES[*]})"
    done
else
    selected=("${BENCHES[@]}")
fi

# ------------------------------------------------------------------ checks
need() { command -v "$1" >/dev/null || die "$1 not found${2:+ ($2)}"; }
need "$HYPERFINE" "apt-get install hyperfine"
need "$GDB" "apt-get install gdb"
need "$PYTHON" "apt-get install python3"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"

if [[ $do_build -eq 1 ]]; then
    if [[ -f $build/build.ninja ]]; then
        note "meson compile -C $build"
        meson compile -C "$build" >"$build/bench-build.log" 2>&1 \
            || { tail -n 30 "$build/bench-build.log" >&2; die "build failed (log: $build/bench-build.log); fix it or pass --no-build"; }
    else
        note "no build.ninja in $build: not building"
    fi
fi
[[ -x $WORKLOAD ]] || die "workload not found at $WORKLOAD (build it: meson compile -C $build)"
[[ -x $MEMPROF ]] || die "memprof not found at $MEMPROF: build the CLI first (meson compile -C $build), or set MEMPROF=/path/to/memprof"

mkdir -p "$data/results"
# a quick run writes into a copy of the real page, so the result looks the same
if [[ $quick -eq 1 && $docs == "$data/benchmarks-quick.md" && -f $repo/docs/benchmarks.md ]]; then
    cp -- "$repo/docs/benchmarks.md" "$docs"
fi
made_cores=()
cleanup() {
    if [[ $clean -eq 1 && ${#made_cores[@]} -gt 0 ]]; then
        note "removing ${made_cores[*]}"
        rm -f -- "${made_cores[@]}" "${made_cores[@]/%/.json}" "${made_cores[@]/%/.args}"
    fi
}
trap cleanup EXIT

# ------------------------------------------------------------------ helpers

# Shell-quotes a command for hyperfine -N (which splits words like a shell).
q() { local out='' a; for a in "$@"; do out+="${out:+ }$(printf '%q' "$a")"; done; printf '%s' "$out"; }

human_bytes() { awk -v s="$1" 'BEGIN { split("B KiB MiB GiB TiB", u); i = 1; while (s >= 1024 && i < 5) { s /= 1024; i++ } printf (i == 1 ? "%d %s" : "%.1f %s"), s, u[i] }'; }

# ensure_core NAME [WORKLOAD ARGS...]: sets core to DATA/NAME.core, made by
# make_core.sh unless a core made by the same workload binary (not older than
# it) with the same arguments already exists.
ensure_core() {
    local name=$1; shift
    core=$data/$name.core
    local args="$*"
    if [[ -s $core && -s $core.json && -f $core.args && $core -nt $WORKLOAD ]] \
       && [[ $(cat "$core.args") == "$args" ]]; then
        note "reusing $core ($(human_bytes "$(stat -c %s "$core")"))"
    else
        rm -f -- "$core" "$core.json" "$core.args"
        # room for the core: estimate from --chunks and --payload, plus slack
        local chunks=100000 payload=0 i
        local -a av=("$@")
        for ((i = 0; i < ${#av[@]} - 1; i++)); do
            case ${av[i]} in
                --chunks) chunks=$(awk -v v="${av[i+1]}" 'BEGIN { printf "%d", v }') ;;
                --payload) payload=${av[i+1]} ;;
            esac
        done
        local need_kb=$(( chunks * (payload + 48) * 12 / 10 / 1024 + 262144 ))
        local avail_kb
        avail_kb=$(df -Pk "$data" | awk 'NR == 2 { print $4 }')
        [[ $avail_kb -ge $need_kb ]] \
            || die "not enough disk space in $data for core $name: need about $((need_kb / 1024)) MiB, have $((avail_kb / 1024)) MiB"
        note "making $core: workload $args"
        "$here/make_core.sh" "$core" -- "$WORKLOAD" "$@" >&2 \
            || die "could not make core $name"
        printf '%s\n' "$args" >"$core.args"
        made_cores+=("$core")
    fi
}

# check_cmd LABEL COMMAND...: runs the command once; it must exit 0. Keeps
# its output in DATA/results/ for a look.
check_cmd() {
    local label=$1; shift
    local out=$data/results/$cur.$label.out
    local rc=0
    "$@" >"$out" 2>"$out.err" </dev/null || rc=$?
    if [[ $rc -ne 0 ]]; then
        sed 's/^/  /' "$out.err" | tail -n 20 >&2
        die "$cur: '$label' exited with status $rc before timing: $(q "$@")"
    fi
}

# peak_rss_kb COMMAND...: peak resident set size of one run, in KiB.
peak_rss_kb() {
    local f=$data/results/$cur.rss
    /usr/bin/time -f '%M' -o "$f" "$@" >/dev/null 2>&1 </dev/null || true
    tail -n 1 "$f"
}

# compare LABEL1 CMD1 LABEL2 CMD2 ...: CMDs are arrays' names; times them in
# one hyperfine run; sets cmp_json (hyperfine's JSON) and cmp_rss (peak RSS
# per command, KiB, space separated).
compare() {
    local -a hf=("$HYPERFINE" -N --style basic --warmup "$warmup" --runs "$runs"
                 --export-json "$data/results/$cur.json")
    cmp_rss=
    while [[ $# -ge 2 ]]; do
        local label=$1 arr="$2[@]"
        local -a cmd=("${!arr}")
        check_cmd "$label" "${cmd[@]}"
        cmp_rss+="${cmp_rss:+ }$(peak_rss_kb "${cmd[@]}")"
        hf+=(-n "$label" "$(q "${cmd[@]}")")
        shift 2
    done
    note "$cur: hyperfine, $warmup warmup + $runs runs per command"
    "${hf[@]}" </dev/null >&2 || die "$cur: hyperfine failed"
    cmp_json=$data/results/$cur.json
}

machine_line() {
    local model mem kernel
    model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
    mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    kernel=$(uname -sr)
    printf '%s CPUs (%s), %s RAM, %s' "$(nproc)" "${model:-unknown CPU}" "$mem" "$kernel"
}

versions_line() {
    local rev gdbv hfv
    rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "no commit")
    if [[ $rev != "no commit" ]] && ! git -C "$repo" diff --quiet HEAD 2>/dev/null; then
        rev+=" + local changes"
    fi
    gdbv=$("$GDB" --version | head -n 1)
    hfv=$("$HYPERFINE" --version | head -n 1)
    printf 'memprof %s; %s; %s' "$rev" "$gdbv" "$hfv"
}

# write_section NAME FILE: puts FILE's markdown between the markers of NAME in
# the docs file.
write_section() {
    "$PYTHON" "$here/report.py" splice --docs "$docs" --name "$1" --section "$2" \
        || die "could not update $docs"
    note "$1: section written to $docs"
}

# ------------------------------------------------------------ benchmarks

# Writes $section for benchmark $cur from the last `compare`; the options
# are report.py's (title, displays, core, targets); --runs and --warmup
# given there override the run's own.
report_section() {
    section=$data/results/$cur.md
    local -a qflag=()
    [[ $quick -eq 1 ]] && qflag=(--quick)
    "$PYTHON" "$here/report.py" section --name "$cur" \
        --hyperfine "$cmp_json" --rss "$cmp_rss" \
        --machine "$(machine_line)" --versions "$(versions_line)" \
        --runs "$runs" --warmup "$warmup" "$@" "${qflag[@]}" >"$section" \
        || die "$cur: could not write the report"
}

# Shows $section and puts it into the docs page.
publish_section() {
    cat "$section" >&2
    write_section "$cur" "$section"
}

# info-1gb: memprof info on a 1 GB core against gdb loading the same core and
# listing its shared libraries and threads. Target: under 0.5 s.
# shellcheck disable=SC2034  # the command arrays are passed to compare by name
bench_info_1gb() {
    local -a wargs=(--chunks 1000000 --payload 1000 --shape list)
    [[ $quick -eq 1 ]] && wargs=(--chunks 100000 --payload 1000 --shape list)
    local core
    ensure_core "$cur$([[ $quick -eq 1 ]] && echo -quick)" "${wargs[@]}"

    local -a c_memprof=("$MEMPROF" info --core "$core" --format json)
    local -a c_gdb=("$GDB" -nx -batch -iex 'set debuginfod enabled off'
                    -ex 'info sharedlibrary' -ex 'info threads' "$WORKLOAD" "$core")
    compare memprof c_memprof gdb c_gdb

    report_section --title "\`memprof info\` on a 1 GB core" \
        --display 'memprof info --core CORE --format json' \
        --display "gdb -batch -ex 'info sharedlibrary' -ex 'info threads' EXE CORE" \
        --core "$core" --workload-args "${wargs[*]}" \
        --target-seconds 0.5 --target-text 'memprof info on a 1 GB core under 0.5 s'
    publish_section
}

# memprof heap on a 10-million-chunk core (the issue's target: at most 1 s
# and 24 bytes of memprof memory per chunk), beside gdb printing malloc's own
# state (main_arena, mp_): the least a gdb user does to see the heap.
bench_heap_10m() {
    local -a wargs=(--chunks 10000000 --shape mixed)
    [[ $quick -eq 1 ]] && wargs=(--chunks 1000000 --shape mixed)
    local core
    ensure_core "$cur$([[ $quick -eq 1 ]] && echo -quick)" "${wargs[@]}"
    local -a c_memprof=("$MEMPROF" heap --core "$core" --format json)
    local -a c_gdb=("$GDB" -nx -batch -iex 'set debuginfod enabled off'
                    -ex 'p main_arena' -ex 'p mp_' "$WORKLOAD" "$core")
    compare memprof c_memprof gdb c_gdb
    report_section --title "\`memprof heap\` on a 10-million-chunk core" \
        --display 'memprof heap --core CORE --format json' \
        --display "gdb -batch -ex 'p main_arena' -ex 'p mp_' EXE CORE" \
        --core "$core" --workload-args "${wargs[*]}" \
        --target-seconds 1.0 --target-text 'all chunks of a 10-million-chunk core enumerated in at most 1 s'
    publish_section
}

# Against chap (github.com/vmware/chap), the other core-only heap
# analyser, built outside this repository: CHAP=/path/to/chap (how to build
# it: docs/benchmarks.md).  Without CHAP both benchmarks are skipped.  The
# counts each tool gives go in the section, beside the times.
chap_section() {   # chap_section MEMPROF_VERB CHAP_COMMAND TITLE
    local verb=$1 chap_cmd=$2 title=$3
    if [[ -z ${CHAP:-} || ! -x ${CHAP:-} ]]; then
        note "$cur: skipped: set CHAP to a chap binary (see docs/benchmarks.md)"
        return 0
    fi
    local -a wargs=(--chunks 10000000 --shape mixed)
    [[ $quick -eq 1 ]] && wargs=(--chunks 1000000 --shape mixed)
    local core
    ensure_core "heap-10m$([[ $quick -eq 1 ]] && echo -quick)" "${wargs[@]}"
    local -a c_memprof=("$MEMPROF" "$verb" --core "$core" --format json)
    local -a c_chap=(bash "$here/chap_command.sh" "$CHAP" "$core" "$chap_cmd")
    local saved_runs=$runs saved_warmup=$warmup
    runs=3 warmup=1
    compare memprof c_memprof chap c_chap
    runs=$saved_runs warmup=$saved_warmup
    report_section --title "$title" \
        --display "memprof $verb --core CORE --format json" \
        --display "chap CORE <<< '$chap_cmd'" \
        --core "$core" --workload-args "${wargs[*]}" --runs 3 --warmup 1
    {
        printf '\n- memprof %s: `%s`\n' "$verb" \
            "$("$MEMPROF" "$verb" --core "$core" --format text 2>/dev/null |
               grep -E -m2 '^ *in use|definitely lost|indirectly lost' | sed 's/^ *//' | paste -sd';' -)"
        printf -- '- chap `%s`: `%s`\n' "$chap_cmd" \
            "$(bash "$here/chap_command.sh" "$CHAP" "$core" "$chap_cmd" 2>/dev/null | grep -m1 -E 'allocations' | sed 's/^ *//')"
    } >>"$section"
    publish_section
}

bench_chap_heap_10m() {
    chap_section heap 'count used' "\`memprof heap\` against chap's \`count used\` on the 10-million-chunk core"
}

bench_chap_leaks_10m() {
    chap_section leaks 'count leaked' "\`memprof leaks\` against chap's \`count leaked\` on the 10-million-chunk core"
}

# The same enumeration against a chunk walk in GDB's Python (how gef and
# pwndbg list chunks), on a core small enough for the peer to finish.
bench_heap_walk_1m() {
    local -a wargs=(--chunks 1000000 --shape list)
    [[ $quick -eq 1 ]] && wargs=(--chunks 100000 --shape list)
    local core
    ensure_core "$cur$([[ $quick -eq 1 ]] && echo -quick)" "${wargs[@]}"
    local -a c_memprof=("$MEMPROF" heap --core "$core" --format json)
    local -a c_gdb=("$GDB" -nx -batch -iex 'set debuginfod enabled off'
                    -x "$here/gdb_heap_walk.py" "$WORKLOAD" "$core")
    local saved_runs=$runs saved_warmup=$warmup
    runs=3 warmup=0
    compare memprof c_memprof gdb-python c_gdb
    runs=$saved_runs warmup=$saved_warmup
    report_section --title "heap enumeration: memprof vs a chunk walk in GDB's Python" \
        --display 'memprof heap --core CORE --format json' \
        --display 'gdb -batch -x bench/gdb_heap_walk.py EXE CORE' \
        --core "$core" --workload-args "${wargs[*]}" \
        --runs 3 --warmup 0
    publish_section
}

# Leak check of a 10-million-chunk core (target: at most 3 s), with the
# pointer scan on one thread and on every core side by side: the results
# are identical (checked here), the time shows what the split buys.
bench_leaks_10m() {
    local -a wargs=(--chunks 10000000 --shape mixed)
    [[ $quick -eq 1 ]] && wargs=(--chunks 1000000 --shape mixed)
    local core
    ensure_core "heap-10m$([[ $quick -eq 1 ]] && echo -quick)" "${wargs[@]}"
    local -a c_all=("$MEMPROF" leaks --core "$core" --format json)
    local -a c_one=("$MEMPROF" leaks --core "$core" --format json --threads 1)
    "${c_all[@]}" >"$data/results/$cur-all.json"
    "${c_one[@]}" >"$data/results/$cur-one.json"
    cmp -s "$data/results/$cur-all.json" "$data/results/$cur-one.json" \
        || die "$cur: one thread and all threads disagree"
    compare memprof-all-cores c_all memprof-one-thread c_one
    report_section --title "\`memprof leaks\` on a 10-million-chunk core, all cores vs one thread" \
        --display 'memprof leaks --core CORE --format json' \
        --display 'memprof leaks --core CORE --format json --threads 1' \
        --core "$core" --workload-args "${wargs[*]}" \
        --target-seconds 3.0 --target-text 'leak check of a 10-million-chunk core in at most 3 s'
    local scanned
    scanned=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["scanned_root_bytes"])' "$data/results/$cur-all.json")
    printf '\nScanned %s bytes of roots and blocks per run; one-thread and all-core reports are byte-identical (checked by this run).\n' "$scanned" >>"$section"
    # Where the time and the memory go: --stats phases of one more run, and
    # its peak RSS split into memprof's own memory and the core's pages
    # mapped at the peak (/usr/bin/time -v counts both).
    local stats peak
    stats=$("$MEMPROF" leaks --core "$core" --format json --stats 2>&1 >/dev/null | sed -n 's/^memprof: stats: phases: //p')
    peak=$(/usr/bin/time -v "${c_all[@]}" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}')
    printf '\nPhases (`--stats`, one run): %s.\n' "$stats" >>"$section"
    "$PYTHON" - "$peak" "$core.json" >>"$section" <<'PY'
import json, sys
peak_kib = int(sys.argv[1])
chunks = json.load(open(sys.argv[2]))["chunks"]
print(f"\nPeak RSS (`/usr/bin/time -v`, all cores): {peak_kib / 1024:.1f} MiB, "
      f"**{peak_kib * 1024 / chunks:.1f} bytes per chunk** (target at most 24).")
PY
    publish_section
}

# Patterns and recommendations on the 10-million-chunk core (target: at
# most 3 s, duplicate detection included, and at most 32 bytes of memprof
# memory per chunk), beside the leak check they are built on: the ratio is
# what the patterns cost on top of it.
bench_recommend_10m() {
    local -a wargs=(--chunks 10000000 --shape mixed)
    [[ $quick -eq 1 ]] && wargs=(--chunks 1000000 --shape mixed)
    local core
    ensure_core "heap-10m$([[ $quick -eq 1 ]] && echo -quick)" "${wargs[@]}"
    local -a c_recommend=("$MEMPROF" recommend --core "$core" --format json)
    local -a c_leaks=("$MEMPROF" leaks --core "$core" --format json)
    compare memprof-recommend c_recommend memprof-leaks c_leaks
    report_section --title "\`memprof recommend\` on a 10-million-chunk core, beside \`memprof leaks\`" \
        --display 'memprof recommend --core CORE --format json' \
        --display 'memprof leaks --core CORE --format json' \
        --core "$core" --workload-args "${wargs[*]}" \
        --target-seconds 3.0 --target-text 'patterns and recommendations, duplicates included, of a 10-million-chunk core in at most 3 s, at most 32 bytes per chunk'
    printf '\n`recommend` is the leak check plus block typing, the passes over the blocks (category, capacities, content hash for duplicates) and the findings. On a core the content passes run on a second thread beside the categories, and the second duplicate pass and the sort in two halves (docs/patterns.md, Threads); the output is byte-identical with `--threads 1` (tests/integration/test_patterns.py). Its peak memory is the leak check'"'"'s plus each chunk'"'"'s category and kind (5 bytes) and the duplicate bitmaps (8 to 16 bits per chunk each, the first freed after the first pass).\n' >>"$section"
    publish_section
}

# The block scan's rate (memprof leaks --stats), one thread and all cores,
# on the 1 GB core (1M blocks of 1 KB: mostly non-pointer words) and the
# 10M-chunk core (nearly every word a heap pointer, each a chunk lookup).
# Target: at least 1 GB of words per second per core.
bench_scan_rate() {
    local section=$data/results/$cur.md
    local core_1g core_10m
    ensure_core "info-1gb" --chunks 1000000 --payload 1000 --shape list
    core_1g=$core
    ensure_core "heap-10m" --chunks 10000000 --shape mixed
    core_10m=$core
    {
        printf '### scan-rate: block scan of `memprof leaks` (from `--stats`)\n\n'
        printf -- '- Date: %s\n- Machine: %s\n- Versions: %s\n- Method: 5 runs each, best and median; the rate counts the usable bytes of every block scanned\n\n' \
            "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(machine_line)" "$(versions_line)"
        printf '| core | threads | bytes scanned | best time | GB/s (best) | GB/s per thread (best) | GB/s per thread (median) |\n|---|---|---|---|---|---|---|\n'
        local name c t slow=''
        for name in 1gb 10m; do
            [[ $name == 1gb ]] && c=$core_1g || c=$core_10m
            for t in one all; do
                local line lines=''
                local -a targs=()
                [[ $t == one ]] && targs=(--threads 1)
                for _ in 1 2 3 4 5; do
                    line=$("$MEMPROF" leaks --core "$c" --stats "${targs[@]}" 2>&1 >/dev/null | grep 'stats: block scan' || true)
                    [[ -n $line ]] || die "$cur: memprof leaks --stats printed no stats for $c"
                    lines+="$line"$'\n'
                done
                # memprof: stats: block scan of G GB in S s on T thread(s): R GB/s, P GB/s per thread
                local row
                row=$(sed -E 's/.*block scan of ([0-9.]+) GB in ([0-9.]+) s on ([0-9]+) threads?: ([0-9.]+) GB\/s, ([0-9.]+) GB\/s per thread.*/\2 \1 \3 \4 \5/' <<<"${lines%$'\n'}" |
                    sort -n | awk -v name="$name" '
                        { secs[NR] = $1; gb = $2; threads = $3; rate[NR] = $4; per[NR] = $5 }
                        END { m = int((NR + 1) / 2)
                              printf "| %s | %s | %s GB | %s s | %s | %s | %s |\n", name, threads, gb, secs[1], rate[1], per[1], per[m] }')
                printf '%s\n' "$row"
                local median_per_thread
                median_per_thread=$(awk -F'|' '{ gsub(/ /, "", $8); print $8 }' <<<"$row")
                awk -v r="$median_per_thread" 'BEGIN { exit !(r < 1.0) }' && slow+=" $name/$t"
            done
        done
        if [[ -z $slow ]]; then
            printf '\nTarget: at least 1 GB/s per core: met in every row, median included.\n'
        else
            printf '\nTarget: at least 1 GB/s per core: the median misses it in%s (core/threads).\n' "$slow"
        fi
    } >"$section"
    publish_section
}

# `memprof run` end to end on the issue's program (1M list nodes with
# strings, every tenth leaked) against the program alone, the same program
# rebuilt with -fsanitize=leak (LeakSanitizer at exit) and valgrind
# memcheck, in one hyperfine run.  Lost blocks must be equal in all three
# (checked first).  Targets (issue 18): no slower than LSan, at least 10x
# faster than valgrind.  memprof's --stats phases of one run follow.
# shellcheck disable=SC2034  # the command arrays are passed to compare by name
bench_run_vs_valgrind() {
    local program=$build/bench/list_strings lsan_program=$build/bench/list_strings_lsan
    [[ -x $program ]] || die "$program not built"
    [[ -x $lsan_program ]] || die "$lsan_program not built"
    local nodes=1000000
    [[ $quick -eq 1 ]] && nodes=100000
    local -a c_memprof=("$MEMPROF" run --fail-on none --format json -- "$program" "$nodes")
    local -a c_native=("$program" "$nodes")
    # LSan exits 23 when it finds leaks; hyperfine needs status 0.
    local -a c_lsan=(env LSAN_OPTIONS=exitcode=0 "$lsan_program" "$nodes")
    local -a c_valgrind=(valgrind --leak-check=full --run-libc-freeres=no "$program" "$nodes")
    local ours theirs lsan
    ours=$("${c_memprof[@]}" | "$PYTHON" -c 'import json,sys; s=json.load(sys.stdin)["processes"][0]["summary"]; print(s["definitely_lost"]["blocks"], s["indirectly_lost"]["blocks"])')
    theirs=$("${c_valgrind[@]}" 2>&1 | awk '/definitely lost:/ {gsub(",", "", $7); d=$7} /indirectly lost:/ {gsub(",", "", $7); i=$7} END {print d, i}')
    lsan=$("${c_lsan[@]}" 2>&1 | awk '/^(Direct|Indirect) leak of/ {n[$1] += $7} END {print n["Direct"] + 0, n["Indirect"] + 0}')
    [[ $ours == "$theirs" ]] || die "$cur: lost blocks differ: memprof $ours, valgrind $theirs"
    [[ $ours == "$lsan" ]] || die "$cur: lost blocks differ: memprof $ours, LSan $lsan"
    local stats
    stats=$("$MEMPROF" run --stats --fail-on none --format json -- "$program" "$nodes" 2>&1 >/dev/null | sed -n 's/^memprof: stats: pid [0-9]* (\(.*\)): phases: /\1; /p')
    local saved_runs=$runs saved_warmup=$warmup
    runs=5 warmup=1
    compare memprof-run c_memprof lsan c_lsan native c_native valgrind c_valgrind
    runs=$saved_runs warmup=$saved_warmup
    report_section --title "\`memprof run\` vs LeakSanitizer and valgrind memcheck, $nodes list nodes with strings, every tenth leaked" \
        --display "memprof run --fail-on none --format json -- list_strings $nodes" \
        --display "list_strings_lsan $nodes (built with -fsanitize=leak, LSAN_OPTIONS=exitcode=0)" \
        --display "list_strings $nodes (native)" \
        --display "valgrind --leak-check=full --run-libc-freeres=no list_strings $nodes" \
        --runs 5 --warmup 1
    "$PYTHON" - "$cmp_json" >>"$section" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
def cpu(name):
    return r[name]["user"] + r[name]["system"]
m, l, n, v = (r[k]["mean"] for k in ("memprof-run", "lsan", "native", "valgrind"))
print(f"\nmemprof / LSan: **{m / l:.2f}x** (target at most 1x); valgrind / memprof: **{v / m:.1f}x** "
      f"(target at least 10x); memprof / native: {m / n:.2f}x.")
print(f"\nCPU time (user + system, the program included), less noisy than wall time on a shared "
      f"machine: memprof {cpu('memprof-run'):.3f} s, LSan {cpu('lsan'):.3f} s, native {cpu('native'):.3f} s, "
      f"valgrind {cpu('valgrind'):.3f} s; the checker's own: memprof {cpu('memprof-run') - cpu('native'):.3f} s, "
      f"LSan {cpu('lsan') - cpu('native'):.3f} s.")
PY
    printf '
Lost blocks (definite, indirect): memprof %s, LSan %s, valgrind %s: equal (checked by this run).
' "$ours" "$lsan" "$theirs" >>"$section"
    printf '
memprof `--stats` of one more run: %s
' "$stats" >>"$section"
    publish_section
}

# run-tree: a tree of 50 short test processes (bench/tree_test: sorts a
# table of strings, leaks 10 blocks), run one after another by a shell
# script as `make check` runs tests: `memprof run --follow-forks` against
# the script alone and against valgrind --trace-children=yes.  Lost blocks
# per process must be equal (checked first).  Targets: at most 1.5x the
# native time, at least 10x faster than valgrind.
# shellcheck disable=SC2034  # the command arrays are passed to compare by name
bench_run_tree() {
    local program=$build/bench/tree_test
    [[ -x $program ]] || die "$program not built"
    need valgrind "apt-get install valgrind"
    local procs=50 n=20000
    [[ $quick -eq 1 ]] && procs=10
    local script=$data/run-tree-$procs.sh
    printf '#!/bin/sh\n# %d short tests one after another, as make check runs them\ni=0\nwhile [ $i -lt %d ]; do\n    %q %d 10 || exit 1\n    i=$((i + 1))\ndone\n' \
        "$procs" "$procs" "$program" "$n" >"$script"
    chmod +x "$script"
    local -a c_memprof=("$MEMPROF" run --follow-forks --fail-on none --format json -- "$script")
    local -a c_native=("$script")
    local -a c_valgrind=(valgrind --trace-children=yes --leak-check=full --run-libc-freeres=no "$script")
    local ours theirs
    ours=$("${c_memprof[@]}" | "$PYTHON" -c 'import json,sys; p=json.load(sys.stdin)["processes"]; c=__import__("collections").Counter(x["summary"]["definitely_lost"]["blocks"] for x in p if x["checked"]); print(", ".join("%d x %d" % (k, c[k]) for k in sorted(c)))')
    theirs=$("${c_valgrind[@]}" 2>&1 | "$PYTHON" -c 'import re,sys; d={}
for l in sys.stdin:
    m=re.match(r"==(\d+)==\s+definitely lost: [\d,]+ bytes in ([\d,]+) blocks", l)
    if m: d[m.group(1)]=int(m.group(2).replace(",",""))
c=__import__("collections").Counter(d.values()); print(", ".join("%d x %d" % (k, c[k]) for k in sorted(c)))')
    [[ $ours == "$theirs" ]] || die "$cur: lost blocks per process differ: memprof $ours, valgrind $theirs"
    local saved_runs=$runs saved_warmup=$warmup
    runs=3 warmup=1
    compare memprof-run-tree c_memprof native c_native valgrind c_valgrind
    runs=$saved_runs warmup=$saved_warmup
    report_section --title "\`memprof run --follow-forks\`: a tree of $procs short test processes, against native and valgrind --trace-children=yes" \
        --display "memprof run --follow-forks --fail-on none --format json -- run-tree.sh" \
        --display "run-tree.sh ($procs x tree_test $n 10, one after another)" \
        --display "valgrind --trace-children=yes --leak-check=full --run-libc-freeres=no run-tree.sh" \
        --runs 3 --warmup 1
    "$PYTHON" - "$cmp_json" "$procs" >>"$section" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
m, n, v = r["memprof-run-tree"], r["native"], r["valgrind"]
print(f"\nmemprof / native: **{m / n:.2f}x** (target at most 1.5x); valgrind / memprof: "
      f"**{v / m:.1f}x** (target at least 10x); memprof's cost per process: "
      f"{(m - n) / int(sys.argv[2]) * 1000:.1f} ms.")
PY
    printf '\nDefinitely lost blocks per process (blocks x processes; the shell has none): memprof %s; valgrind %s: equal (checked by this run).\n' "$ours" "$theirs" >>"$section"
    publish_section
}

# type-index: the first `memprof type` lookup in a fresh process, index
# included, on a generated C++ program with thousands of template
# instantiations (bench/gen_types.py, tens of MB of .debug_info), against
# pahole -C on the same binary.  Targets: index at least 20 MB of
# .debug_info per second; a warm lookup (index built) under 1 ms.
# shellcheck disable=SC2034  # the command arrays are passed to compare by name
bench_type_index() {
    local units=8 per=75
    [[ $quick -eq 1 ]] && { units=2; per=20; }
    need pahole "apt-get install dwarves"
    local cxx=${CXX:-g++}
    need "$cxx" "apt-get install g++"
    local dir=$data/types-$units-$per
    local exe=$dir/big
    if [[ -x $exe && $exe -nt $here/gen_types.py ]]; then
        note "reusing $exe"
    else
        rm -rf -- "$dir"
        mkdir -p "$dir"
        "$PYTHON" "$here/gen_types.py" "$dir" --units "$units" --types-per-unit "$per" >/dev/null \
            || die "$cur: gen_types.py failed"
        note "$cur: compiling $((units + 1)) C++ units with $cxx -g -O0 ($(nproc) at a time)"
        (cd "$dir" && printf '%s\n' ./*.cpp | xargs -P "$(nproc)" -I{} \
            sh -c '"$0" -g -O0 -std=c++17 -c "$1" -o "${1%.cpp}.o"' "$cxx" {}) \
            || die "$cur: compiling the generated program failed"
        "$cxx" -o "$exe" "$dir"/*.o || die "$cur: linking the generated program failed"
    fi
    local info_bytes
    info_bytes=$(readelf -SW "$exe" | sed 's/^ *\[ *[0-9]*\]//' | awk '$1 == ".debug_info" { print $5 }')
    info_bytes=$((16#$info_bytes))
    local name='bench::u0::Record0'
    local -a c_memprof=("$MEMPROF" type "$name" --exe "$exe" --format json)
    local -a c_pahole=(pahole -C Record0 "$exe")
    compare memprof c_memprof pahole c_pahole

    # memprof's own account: index time alone and a warm lookup, best of 5
    local stats=$data/results/$cur.stats i
    : >"$stats"
    for i in 1 2 3 4 5; do
        "$MEMPROF" type "$name" --exe "$exe" --stats 2>>"$stats" >/dev/null \
            || die "$cur: memprof type --stats failed"
    done
    local index_mbs warm_us names
    index_mbs=$(awk '/index of/ { v = $(NF-1); gsub(/\(/, "", v); if (v > best) best = v } END { print best }' "$stats")
    names=$(awk '/index of/ { print $5; exit }' "$stats")
    warm_us=$(awk '/warm lookup/ { v = $(NF-4); if (best == "" || v < best) best = v } END { print best }' "$stats")
    local mean
    mean=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$cmp_json")

    report_section --title "first \`memprof type\` lookup (index included) on $(human_bytes "$info_bytes") of C++ DWARF" \
        --display "memprof type $name --exe BIG --format json" \
        --display "pahole -C Record0 BIG" \
        --versions "$(versions_line); $(pahole --version)"
    "$PYTHON" - "$section" "$info_bytes" "$mean" "$index_mbs" "$warm_us" "$names" "$units" "$per" "$quick" <<'PY'
import sys
path, info, mean, index_mbs, warm_us, names, units, per, quick = sys.argv[1:]
info, mean, index_mbs, warm_us = int(info), float(mean), float(index_mbs), float(warm_us)
whole = info / 1e6 / mean
judge = lambda ok: "not judged on a quick run" if quick == "1" else ("**PASS**" if ok else "**FAIL**")
lines = [
    "",
    f"- Input: `bench/gen_types.py --units {units} --types-per-unit {per}`, compiled with "
    f"`g++ -g -O0 -std=c++17`: {info / 1e6:.1f} MB of .debug_info (DWARF 5), {names} indexed names.",
    f"- Whole first lookup (process start, ELF and debug file opened, index, lookup, layout, "
    f"JSON): {info / 1e6:.1f} MB in {mean:.3f} s = {whole:.1f} MB/s.",
    f"- Index alone (`memprof type --stats`, best of 5): {index_mbs:.1f} MB/s.",
    f"- Warm lookup (index built; name normalized, hashed, found; mean of 1000, best of 5): "
    f"{warm_us:.2f} µs.",
    "",
    f"Target: index at least 20 MB of .debug_info per second: {judge(index_mbs >= 20)} "
    f"({index_mbs:.1f} MB/s; {whole:.1f} MB/s counting the whole process).",
    f"Target: warm lookup under 1 ms: {judge(warm_us < 1000)} ({warm_us:.2f} µs).",
    "",
]
with open(path, "a") as f:
    f.write("\n".join(lines))
PY
    publish_section
}

# debugger-info: `memprof info` on one core from the CLI, from GDB (the
# command inside one session) and from LLDB (through the SB API in one
# debugger), debugger start-up excluded: bench/debugger_bench.py.  Target:
# the debugger path costs at most 10% more than the CLI.
bench_debugger_info() {
    local -a wargs=(--chunks 100000 --payload 100 --shape list)
    local core
    ensure_core "$cur$([[ $quick -eq 1 ]] && echo -quick)" "${wargs[@]}"
    local -a qflag=()
    [[ $quick -eq 1 ]] && qflag=(--quick)
    local section=$data/results/$cur.md
    "$PYTHON" "$here/debugger_bench.py" --memprof "$MEMPROF" \
        --gdb-script "$build/gdb/memprof.py" \
        --lldb-plugin "$build/lldb/libmemprof-lldb.so" --lldb-bench "$build/lldb/lldb-bench" \
        --exe "$WORKLOAD" --core "$core" --verb info --runs "$runs" "${qflag[@]}" >"$section" \
        || die "$cur: debugger_bench.py failed"
    printf -- '\n- Machine: %s\n- Versions: %s; %s\n' "$(machine_line)" "$(versions_line)" \
        "$(lldb --version | head -n 1)" >>"$section"
    publish_section
}

# The issue's debugger target: leaks on a 1-million-chunk core costs at
# most 10% more inside GDB or LLDB than from the CLI.
bench_debugger_leaks() {
    local -a wargs=(--chunks 1000000 --shape mixed)
    [[ $quick -eq 1 ]] && wargs=(--chunks 100000 --shape mixed)
    local core
    ensure_core "$cur$([[ $quick -eq 1 ]] && echo -quick)" "${wargs[@]}"
    local -a qflag=()
    [[ $quick -eq 1 ]] && qflag=(--quick)
    local section=$data/results/$cur.md
    "$PYTHON" "$here/debugger_bench.py" --memprof "$MEMPROF" \
        --gdb-script "$build/gdb/memprof.py" \
        --lldb-plugin "$build/lldb/libmemprof-lldb.so" --lldb-bench "$build/lldb/lldb-bench" \
        --exe "$WORKLOAD" --core "$core" --verb leaks --runs 5 "${qflag[@]}" >"$section" \
        || die "$cur: debugger_bench.py failed"
    printf -- '\n- Machine: %s\n- Versions: %s; %s\n' "$(machine_line)" "$(versions_line)" \
        "$(lldb --version | head -n 1)" >>"$section"
    publish_section
}

# memprof logical on a core whose heap is one list of 10 million nodes hung
# off the global wl_parts (targets: at least 5 million objects per second,
# at most 16 bytes of memprof memory per visited block, no stack growth),
# beside memprof heap on the same core: the snapshot that both build, so the
# difference is the walk.  The walk's own time, blocks, work-list peak and
# memory come from memprof's JSON stats (best of 5 runs).
bench_logical_10m() {
    local -a wargs=(--chunks 10000000 --shape list --leak-share 0)
    [[ $quick -eq 1 ]] && wargs=(--chunks 1000000 --shape list --leak-share 0)
    local core
    ensure_core "$cur$([[ $quick -eq 1 ]] && echo -quick)" "${wargs[@]}"
    local -a c_logical=("$MEMPROF" logical --core "$core" wl_parts --format json)
    local -a c_heap=("$MEMPROF" heap --core "$core" --format json)
    compare memprof-logical c_logical memprof-heap c_heap
    report_section --title "\`memprof logical\` over a 10-million-node list (core)" \
        --display 'memprof logical --core CORE wl_parts --format json' \
        --display 'memprof heap --core CORE --format json' \
        --core "$core" --workload-args "${wargs[*]}"
    local stats=$data/results/$cur.stats i
    # The same walk with hints loaded (docs/logical.md, Hints) that hit
    # every node: the list's `next` as an intrusive link at offset 0 and
    # the part's arrays with their lengths, which give the same numbers;
    # runs alternate so both see the same machine.
    local hints=$data/results/$cur.hints
    printf '%s\n' '[struct wl_list_node]' 'next link struct wl_list_node next' \
        '[struct wl_part]' 'records length records_len' 'strings length strings_len' >"$hints"
    : >"$stats"
    : >"$stats.hints"
    local -a pick_stats=("$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["stats"]; print(s["blocks"], s["microseconds"], s["work_peak"], s["walk_bytes"], s["rss_anon_bytes"], len(d["nodes"]), int(d["partial"]), d["total"]["logical"], d["total"]["allocated"], len(d["hints_files"]))')
    for i in 1 2 3 4 5; do
        "${c_logical[@]}" >"$data/results/$cur.run.json" || die "$cur: memprof logical failed"
        "${pick_stats[@]}" "$data/results/$cur.run.json" >>"$stats"
        "${c_logical[@]}" --hints "$hints" >"$data/results/$cur.run.json" \
            || die "$cur: memprof logical --hints failed"
        "${pick_stats[@]}" "$data/results/$cur.run.json" >>"$stats.hints"
    done
    local folded_lines
    folded_lines=$("$MEMPROF" logical --core "$core" wl_parts | wc -l)
    "$PYTHON" - "$section" "$stats" "$folded_lines" "$quick" <<'PY'
import sys
path, stats, folded, quick = sys.argv[1:]
rows = [list(map(int, line.split())) for line in open(stats) if line.strip()]
best = min(rows, key=lambda r: r[1])
blocks, us, peak, walk_bytes, rss, nodes, partial = best[:7]
hinted = [list(map(int, line.split())) for line in open(stats + ".hints") if line.strip()]
hbest = min(hinted, key=lambda r: r[1])
hrate = hbest[0] / (hbest[1] / 1e6)
same = all(r[0] == blocks and r[7:9] == best[7:9] and r[9] == 1 for r in hinted)
rate = blocks / (us / 1e6)
judge = lambda ok: "not judged on a quick run" if quick == "1" else ("**PASS**" if ok else "**FAIL**")
lines = [
    "",
    f"- Walk alone (best of 5, memprof's JSON stats): {blocks:,} heap blocks in {us / 1e6:.3f} s: "
    f"**{rate / 1e6:.1f} million blocks per second**; target at least 5 million objects per second: {judge(rate >= 5e6)}.",
    f"- Memory of the walk itself (visited bit set, work list, frames, plans): {walk_bytes:,} bytes, "
    f"{walk_bytes / blocks:.3f} bytes per visited block; target at most 16: {judge(walk_bytes / blocks <= 16)}. "
    f"memprof's anonymous memory with the heap snapshot alive: {rss / 2**20:.1f} MiB, {rss / blocks:.1f} bytes per block "
    "(the snapshot's 16-byte chunk records dominate; core pages read through the file mapping are not counted).",
    f"- Work list peak: {peak} entries (the list's `next` is followed as a tail step: no growth, and no recursion anywhere); "
    f"{nodes} frames in the result, {folded} folded lines; partial: {bool(partial)}.",
    f"- With hints loaded (`--hints`: the list's `next` as an intrusive link, the part's arrays with their "
    f"lengths; same run, alternating): {hbest[0]:,} blocks in {hbest[1] / 1e6:.3f} s: "
    f"**{hrate / 1e6:.1f} million blocks per second** ({hrate / rate:.2f}× the walk without hints); "
    f"same totals as without hints: {same}; target at least 5 million: {judge(hrate >= 5e6 and same)}.",
]
with open(path, "a") as f:
    f.write("\n".join(lines) + "\n")
PY
    publish_section
}

# snapshot-10m: `memprof snapshot save` of the 10-million-chunk core: the
# file's bytes per block in use (docs/diff.md: 30 bytes per chunk, plus the
# repeated contents and the header), the save's time and peak memory, and
# `memprof diff` of three copies of that snapshot (the whole merge, no
# change found).  Target: at most 32 bytes of file per block.
bench_snapshot_10m() {
    local -a wargs=(--chunks 10000000 --shape mixed)
    [[ $quick -eq 1 ]] && wargs=(--chunks 1000000 --shape mixed)
    local core
    ensure_core "heap-10m$([[ $quick -eq 1 ]] && echo -quick)" "${wargs[@]}"
    local section=$data/results/$cur.md snap=$data/results/$cur.snap
    local heap_json=$data/results/$cur.heap.json
    "$MEMPROF" heap --core "$core" --format json >"$heap_json" || die "$cur: memprof heap failed"
    local i line save_lines='' diff_lines=''
    for i in 1 2 3; do
        line=$( { /usr/bin/time -f '%e %M' "$MEMPROF" snapshot save "$snap" --core "$core" >/dev/null; } 2>&1 | tail -n 1)
        save_lines+="$line"$'\n'
    done
    # The owner paths are the logical walks of the workload's globals (its
    # one root with heap pointers is wl_parts): timed alone, in the same run.
    local walk_line
    walk_line=$( { /usr/bin/time -f '%e %M' "$MEMPROF" logical --core "$core" wl_parts --format json >/dev/null; } 2>&1 | tail -n 1)
    cp -- "$snap" "$snap.2"
    cp -- "$snap" "$snap.3"
    for i in 1 2 3; do
        line=$( { /usr/bin/time -f '%e %M' "$MEMPROF" diff "$snap" "$snap.2" "$snap.3" --format json >/dev/null; } 2>&1 | tail -n 1)
        diff_lines+="$line"$'\n'
    done
    "$PYTHON" - "$section" "$heap_json" "$(stat -c %s "$snap")" "${save_lines%$'\n'}" "${diff_lines%$'\n'}" "$(machine_line)" "$(versions_line)" "${wargs[*]}" "$quick" "$snap" "$walk_line" <<'PY'
import json, os, struct, sys, time
path, heap_json, size, saves, diffs, machine, versions, wargs, quick, snap, walk = sys.argv[1:]
heap = json.load(open(heap_json))
blocks = heap["totals"]["in_use"]["chunks"]
chunks = sum(v["chunks"] for k, v in heap["totals"].items() if isinstance(v, dict) and "chunks" in v)
size = int(size)
def best(lines):
    rows = sorted(tuple(map(float, l.split())) for l in lines.splitlines() if l.strip())
    return rows[0][0], rows[len(rows) // 2][0], max(r[1] for r in rows) / 1024
s_best, s_median, s_rss = best(saves)
d_best, d_median, d_rss = best(diffs)
per_block = size / blocks
judge = "not judged on a quick run" if quick == "1" else ("**PASS**" if per_block <= 32 else "**FAIL**")
lines = [
    "### snapshot-10m: `memprof snapshot save` and `memprof diff` on a 10-million-chunk core",
    "",
    "- Date: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "- Machine: %s" % machine,
    "- Versions: %s" % versions,
    "- Input: core of `workload %s`: %d blocks in use, %d chunks in all" % (wargs, blocks, chunks),
    "- Method: 3 runs each with /usr/bin/time, best and median wall time, largest peak RSS; load average (1 min) at the end %.1f (other work on the machine stretches the times)" % os.getloadavg()[0],
    "",
    "| command | best | median | peak RSS | peak RSS per block |",
    "|---|---|---|---|---|",
    "| `memprof snapshot save FILE --core CORE` | %.2f s | %.2f s | %.1f MiB | %.1f B |" % (s_best, s_median, s_rss, s_rss * 2**20 / blocks),
    "| `memprof diff FILE FILE FILE --format json` | %.2f s | %.2f s | %.1f MiB | %.1f B |" % (d_best, d_median, d_rss, d_rss * 2**20 / blocks),
    "",
    "Snapshot file: %d bytes, **%.1f bytes per block in use** (%.1f per chunk); target at most 32: %s." % (size, per_block, size / max(chunks, 1), judge),
]
# The owner paths section (tag OWNR): found by walking the file's layout
# (core/heap/snapshot.c) to its section table.
data = open(snap, "rb").read()
pos = 16
_, n_chunks, n_arenas, n_problems = struct.unpack_from("<qQQQ", data, pos)
pos += 32 + 10 * 8 + 16
def skip_string(pos):
    return pos + 4 + struct.unpack_from("<I", data, pos)[0]
for _ in range(3):
    pos = skip_string(pos)
pos += 64 * n_arenas
for _ in range(n_problems):
    pos = skip_string(skip_string(pos + 8))
pos += 8 + 16 * struct.unpack_from("<Q", data, pos)[0] + 16 * n_chunks
owners = None
for _ in range(struct.unpack_from("<I", data, pos)[0]):
    tag, length = struct.unpack_from("<IQ", data, pos + 4)
    if tag == 0x4f574e52:
        owners = data[pos + 16:pos + 16 + length]
    pos += 12 + length
if owners:
    _, flags, roots, owned, n_paths = struct.unpack_from("<IIQQQ", owners, 0)
    walk_s, walk_kib = map(float, walk.split())
    lines += ["", "Owner paths: %d roots walked, %d blocks given one of %d paths%s; the paths' table is %d bytes and each chunk's index rides in the blocks section's word (0 bytes per chunk). "
              "The walk behind them, `memprof logical --core CORE wl_parts --format json` alone in the same run: %.2f s, %.1f MiB peak RSS." % (roots, owned, n_paths, " (partial)" if flags & 1 else "", len(owners), walk_s, walk_kib / 1024)]
open(path, "w").write("\n".join(lines) + "\n")
PY
    rm -f -- "$snap" "$snap.2" "$snap.3"
    publish_section
}

# watch-1m: `memprof watch` of a live workload holding 1 million blocks:
# the pause per snapshot (the time the process is stopped: freeze, maps and
# registers, the copy of its writable memory), as watch itself measures it.
# Target: at most 50 ms per million blocks.
bench_watch_1m() {
    local -a wargs=(--chunks 1000000 --shape mixed)
    [[ $quick -eq 1 ]] && wargs=(--chunks 100000 --shape mixed)
    local section=$data/results/$cur.md dir=$data/results/$cur.watch
    local fifo=$data/results/$cur.stdin out=$data/results/$cur.workload.out
    rm -rf -- "$dir" "$fifo"
    : >"$out"   # no ready line of an earlier run
    mkfifo "$fifo"
    exec 4<>"$fifo"
    "$WORKLOAD" "${wargs[@]}" --hold <"$fifo" >"$out" 2>/dev/null 4>&- &
    local wpid=$! pid='' tries=0
    while [[ -z $pid && $tries -lt 6000 ]]; do
        read -r word pid <"$out" 2>/dev/null || true
        [[ ${word:-} == ready ]] || pid=''
        kill -0 "$wpid" 2>/dev/null || die "$cur: workload exited before it was ready"
        tries=$((tries + 1))
        sleep 0.1
    done
    [[ -n $pid ]] || die "$cur: workload not ready"
    local rc=0
    "$MEMPROF" watch --pid "$pid" --interval 1s --count 5 --dir "$dir" >/dev/null 2>"$data/results/$cur.err" || rc=$?
    exec 4>&-
    wait "$wpid" || true
    rm -f -- "$fifo"
    [[ $rc -eq 0 ]] || die "$cur: memprof watch exited $rc: $(tail -n 3 "$data/results/$cur.err")"
    "$PYTHON" - "$section" "$dir/watch.json" "$(machine_line)" "$(versions_line)" "${wargs[*]}" "$quick" <<'PY'
import json, sys, time
path, summary, machine, versions, wargs, quick = sys.argv[1:]
w = json.load(open(summary))
rows = w["snapshots"]
worst = max(r["pause_ms_per_million_blocks"] for r in rows)
median = sorted(r["pause_ms_per_million_blocks"] for r in rows)[len(rows) // 2]
judge = "not judged on a quick run" if quick == "1" else ("**PASS**" if worst <= 50 else "**FAIL**")
lines = [
    "### watch-1m: `memprof watch` pause of a live process with 1 million blocks",
    "",
    "- Date: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "- Machine: %s" % machine,
    "- Versions: %s" % versions,
    "- Input: live `workload %s --hold`; `memprof watch --pid PID --interval 1s --count 5 --dir DIR`" % wargs,
    "- Method: the pause is watch's own measure (DIR/watch.json): from the first seize to the last detach: freeze every thread, read maps, registers and auxv, copy the writable mappings into memory faulted in beforehand, detach; module discovery and the analyses run on the copy afterwards",
    "",
    "| snapshot | blocks | pause | pause per million blocks | snapshot written in |",
    "|---|---|---|---|---|",
]
for i, r in enumerate(rows, 1):
    lines.append("| %d | %d | %.1f ms | %.1f ms | %.2f s |" % (i, r["blocks"], r["pause_ms"], r["pause_ms_per_million_blocks"], r["total_ms"] / 1000))
lines += ["", "Worst pause **%.1f ms per million blocks** (median %.1f); target at most 50: %s." % (worst, median, judge)]
open(path, "w").write("\n".join(lines) + "\n")
PY
    publish_section
}

# report-html-10m: `memprof report --html` on the 10-million-chunk core:
# time, peak memory and the page's size, beside the page of the
# 1-million-chunk core of the same workload.  The page is aggregated
# (histograms, groups, a folded flamegraph, no element per block), so its
# size must not follow the number of blocks.  Target: the 10-million page
# at most twice the 1-million one, and under 2 MiB.
bench_report_html_10m() {
    local -a wargs=(--chunks 10000000 --shape mixed) small_args=(--chunks 1000000 --shape mixed)
    [[ $quick -eq 1 ]] && wargs=(--chunks 1000000 --shape mixed) small_args=(--chunks 100000 --shape mixed)
    local core small
    # the cores of heap-10m and of its quick run, and a smaller one for quick
    if [[ $quick -eq 1 ]]; then
        ensure_core "$cur-quick-small" "${small_args[@]}"
        small=$core
        ensure_core heap-10m-quick "${wargs[@]}"
    else
        ensure_core heap-10m-quick "${small_args[@]}"
        small=$core
        ensure_core heap-10m "${wargs[@]}"
    fi
    local section=$data/results/$cur.md page=$data/results/$cur.html small_page=$data/results/$cur.small.html
    local heap_json=$data/results/$cur.heap.json small_json=$data/results/$cur.small.heap.json
    "$MEMPROF" heap --core "$core" --format json >"$heap_json" || die "$cur: memprof heap failed"
    "$MEMPROF" heap --core "$small" --format json >"$small_json" || die "$cur: memprof heap failed"
    "$MEMPROF" report --html "$small_page" --core "$small" >/dev/null || die "$cur: memprof report (small core) failed"
    local i line lines=''
    for i in 1 2 3; do
        line=$( { /usr/bin/time -f '%e %M' "$MEMPROF" report --html "$page" --core "$core" >/dev/null; } 2>&1 | tail -n 1)
        lines+="$line"$'\n'
    done
    "$PYTHON" - "$section" "$heap_json" "$small_json" "$page" "$small_page" "${lines%$'\n'}" "$(machine_line)" "$(versions_line)" "${wargs[*]}" "${small_args[*]}" "$quick" <<'PY'
import json, os, re, sys, time
path, heap_json, small_json, page, small_page, runs, machine, versions, wargs, small_args, quick = sys.argv[1:]
blocks = json.load(open(heap_json))["totals"]["in_use"]["chunks"]
small_blocks = json.load(open(small_json))["totals"]["in_use"]["chunks"]
rows = sorted(tuple(map(float, l.split())) for l in runs.splitlines() if l.strip())
best, median, rss = rows[0][0], rows[len(rows) // 2][0], max(r[1] for r in rows) / 1024
size, small_size = os.path.getsize(page), os.path.getsize(small_page)
html = open(page, encoding="utf-8").read()
tags = len(re.findall(r"<[a-zA-Z]", html))
ok = size <= 2 * small_size and size < 2 << 20
judge = "not judged on a quick run" if quick == "1" else ("**PASS**" if ok else "**FAIL**")
lines = [
    "### report-html-10m: `memprof report --html` on a 10-million-chunk core",
    "",
    "- Date: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "- Machine: %s" % machine,
    "- Versions: %s" % versions,
    "- Input: core of `workload %s`: %d blocks in use; beside it the core of `workload %s`: %d blocks" % (wargs, blocks, small_args, small_blocks),
    "- Method: 3 runs with /usr/bin/time, best and median wall time, largest peak RSS; page sizes of one run each; load average (1 min) at the end %.1f (other work on the machine stretches the times)" % os.getloadavg()[0],
    "",
    "| command | best | median | peak RSS | peak RSS per block |",
    "|---|---|---|---|---|",
    "| `memprof report --html PAGE --core CORE` | %.2f s | %.2f s | %.1f MiB | %.1f B |" % (best, median, rss, rss * 2**20 / blocks),
    "",
    "Page: **%d bytes** for %d blocks (%d tags in its source, the rest drawn from inline data), %d bytes for %d blocks: %.2f times the size for %.1f times the blocks. "
    "Target: aggregated, the 10-million page at most twice the 1-million one and under 2 MiB: %s." % (size, blocks, tags, small_size, small_blocks, size / small_size, blocks / small_blocks, judge),
]
open(path, "w").write("\n".join(lines) + "\n")
PY
    rm -f -- "$page" "$small_page"
    publish_section
}

# ------------------------------------------------------------------ main
note "data: $data; docs: $docs; $( [[ $quick -eq 1 ]] && echo 'quick run' || echo 'full run')"
for cur in "${selected[@]}"; do
    note "== $cur"
    "bench_${cur//-/_}"
done
