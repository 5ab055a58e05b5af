#!/usr/bin/env bash
# check_workload.sh WORKLOAD [CHUNKS]
#
# Checks bench/workload against valgrind memcheck, for every shape and a few
# options: the definitely and indirectly lost blocks that valgrind finds must
# be exactly those the workload's JSON summary announces, twice:
#   - at exit (valgrind --leak-check=full): nothing possibly lost and nothing
#     still reachable, since the workload frees what it keeps;
#   - while it holds (--hold, leak check through vgdb): the state a core
#     shows, with every thread's registers and stack as roots; the reachable
#     chunks are then still reachable. A live thread's TLS vector (glibc's
#     dtv, pointed to past its start) is possibly lost, so with --threads T
#     up to T-1 blocks may be possibly lost there.
# Needs valgrind (with vgdb). Prints one line per case and "N passed, N failed".
set -euo pipefail

[[ $# -ge 1 ]] || { echo "usage: $0 WORKLOAD [CHUNKS]" >&2; exit 2; }
wl=$1
chunks=${2:-3000}
command -v valgrind >/dev/null || { echo "$0: valgrind not found" >&2; exit 1; }
command -v vgdb >/dev/null || { echo "$0: vgdb not found" >&2; exit 1; }
[[ -x $wl ]] || { echo "$0: '$wl' is not executable" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_workload.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

# blocks KIND FILE: block count of a leak kind in the last valgrind summary
blocks() {
    { grep -E "$1: " "$2" || true; } | tail -n 1 |
        sed -E 's/.* in ([0-9,]+) (\(\+[0-9,]+\) )?blocks.*/\1/; s/,//g'
}
field() { sed -E "s/.*\"$1\":([0-9]+).*/\1/" "$2"; }

pass=0 fail=0
report() {
    if [[ $1 == ok ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
    printf '%-4s %s\n' "$1" "$2"
}

cases=(
    "--shape list"
    "--shape tree"
    "--shape array"
    "--shape strings"
    "--shape mixed"
    "--shape mixed --threads 3"
    "--shape tree --leak-share 0.37 --payload 100"
    "--shape array --leak-share 1"
    "--shape list --leak-share 0"
)

for c in "${cases[@]}"; do
    read -r -a args <<<"$c"
    # at exit
    valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=none \
        --log-file="$tmp/exit.log" "$wl" --chunks "$chunks" "${args[@]}" 2>"$tmp/sum" >/dev/null
    errs=$(sed -nE 's/.*ERROR SUMMARY: ([0-9]+) errors.*/\1/p' "$tmp/exit.log")
    def=$(field definitely_lost_blocks "$tmp/sum")
    ind=$(field indirectly_lost_blocks "$tmp/sum")
    vdef=$(blocks 'definitely lost' "$tmp/exit.log"); vdef=${vdef:-0}
    vind=$(blocks 'indirectly lost' "$tmp/exit.log"); vind=${vind:-0}
    vpos=$(blocks 'possibly lost' "$tmp/exit.log"); vpos=${vpos:-0}
    vrea=$(blocks 'still reachable' "$tmp/exit.log"); vrea=${vrea:-0}
    got="definite $vdef/$def indirect $vind/$ind possible $vpos reachable $vrea errors ${errs:-?}"
    if [[ $vdef == "$def" && $vind == "$ind" && $vpos == 0 && $vrea == 0 && $errs == 0 ]]; then
        report ok "exit  $c: $got"
    else
        report FAIL "exit  $c: $got"
    fi

    # while holding
    threads=1
    [[ $c =~ --threads\ ([0-9]+) ]] && threads=${BASH_REMATCH[1]}
    coproc W { valgrind --vgdb=yes --vgdb-error=1000000 --log-file="$tmp/hold.log" \
                   "$wl" --chunks "$chunks" "${args[@]}" --hold 2>"$tmp/sum"; }
    read -r ready pid <&"${W[0]}" || true
    if [[ $ready != ready ]]; then
        report FAIL "hold  $c: no ready line"
        continue
    fi
    vgdb --pid="$pid" leak_check summary >"$tmp/hold.out" 2>&1 || true
    wfd=${W[1]}
    exec {wfd}>&-
    wait "$W_PID" || true
    total=$(field chunks "$tmp/sum")
    leaked=$(field leaked_chunks "$tmp/sum")
    hdef=$(blocks 'definitely lost' "$tmp/hold.out"); hdef=${hdef:-0}
    hind=$(blocks 'indirectly lost' "$tmp/hold.out"); hind=${hind:-0}
    hpos=$(blocks 'possibly lost' "$tmp/hold.out"); hpos=${hpos:-0}
    hrea=$(blocks 'still reachable' "$tmp/hold.out"); hrea=${hrea:-0}
    got="definite $hdef/$def indirect $hind/$ind possible $hpos reachable $hrea/$((total - leaked))+libc"
    if [[ $hdef == "$def" && $hind == "$ind" && $hpos -le $((threads - 1)) \
          && $hrea -ge $((total - leaked)) && $hrea -le $((total - leaked + 8)) ]]; then
        report ok "hold  $c: $got"
    else
        report FAIL "hold  $c: $got"
    fi
done

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
