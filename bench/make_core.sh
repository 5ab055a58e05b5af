#!/usr/bin/env bash
# make_core.sh OUT_CORE -- WORKLOAD [ARGS...]
#
# Starts WORKLOAD ARGS --hold, waits for its "ready PID" line, writes a core of
# the running process with gdb's gcore (independent of the kernel's
# core_pattern and of ulimit -c), then closes the workload's stdin so that it
# frees its memory and exits normally.
#
# Writes OUT_CORE atomically (a partial core is never left under that name)
# and OUT_CORE.json, the workload's one-line JSON summary.
#
# Environment:
#   READY_TIMEOUT  seconds to wait for the ready line (default 600)
#   GCORE_TIMEOUT  seconds gcore may take (default 1800)
#   EXIT_TIMEOUT   seconds the workload may take to exit afterwards (default 300)
#   GDB            the gdb to use (default gdb)
set -euo pipefail

prog=make_core.sh
die() { echo "$prog: error: $*" >&2; exit 1; }
note() { echo "$prog: $*" >&2; }
usage() { echo "usage: $prog OUT_CORE -- WORKLOAD [ARGS...]" >&2; exit 2; }

[[ $# -ge 3 && $2 == -- ]] || usage
out=$1
shift 2
workload=$1

READY_TIMEOUT=${READY_TIMEOUT:-600}
GCORE_TIMEOUT=${GCORE_TIMEOUT:-1800}
EXIT_TIMEOUT=${EXIT_TIMEOUT:-300}
GDB=${GDB:-gdb}

command -v "$GDB" >/dev/null || die "gdb not found (install the Debian package gdb)"
command -v timeout >/dev/null || die "timeout not found (coreutils)"
[[ -x $workload || $(command -v "$workload" 2>/dev/null) ]] \
    || die "workload '$workload' not found or not executable"
outdir=$(dirname -- "$out")
[[ -d $outdir && -w $outdir ]] || die "output directory '$outdir' does not exist or is not writable"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/make_core.XXXXXX")
tmpcore="$out.partial.$$"
wpid=
gpid=
cleanup() {
    local rc=$?
    { exec 3>&-; } 2>/dev/null || true
    if [[ -n $gpid ]]; then
        kill -TERM "$gpid" 2>/dev/null || true
        wait "$gpid" 2>/dev/null || true
    fi
    if [[ -n $wpid ]] && kill -0 "$wpid" 2>/dev/null; then
        kill -TERM "$wpid" 2>/dev/null || true
        sleep 0.2
        kill -KILL "$wpid" 2>/dev/null || true
        wait "$wpid" 2>/dev/null || true
    fi
    rm -rf -- "$tmp"
    rm -f -- "$tmpcore"
    exit "$rc"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT TERM HUP

# The workload's stdin is a fifo that this script holds open for writing on
# fd 3 (opened read-write so that neither open blocks); closing fd 3 is the
# end of file that releases the workload. The workload must not inherit fd 3.
mkfifo "$tmp/stdin"
: >"$tmp/stdout"
: >"$tmp/stderr"
exec 3<>"$tmp/stdin"
start=$(now)
"$@" --hold <"$tmp/stdin" >"$tmp/stdout" 2>"$tmp/stderr" 3>&- &
wpid=$!

# Wait for "ready PID".
pid=
while :; do
    if read -r word value <"$tmp/stdout" && [[ $word == ready ]]; then
        pid=$value
        break
    fi
    if ! kill -0 "$wpid" 2>/dev/null; then
        rc=0; wait "$wpid" || rc=$?
        wpid=
        sed 's/^/  workload: /' "$tmp/stderr" >&2
        die "workload exited with status $rc before it was ready"
    fi
    if awk -v a="$start" -v b="$(now)" -v t="$READY_TIMEOUT" 'BEGIN { exit !(b - a > t) }'; then
        die "workload not ready after ${READY_TIMEOUT}s (READY_TIMEOUT)"
    fi
    sleep 0.05
done
[[ $pid =~ ^[0-9]+$ ]] || die "bad ready line from workload: 'ready $pid'"
note "workload pid $pid ready after $(elapsed "$start")s: $(head -c 400 "$tmp/stderr")"

# gcore. -nx: no .gdbinit; no debuginfod: never wait on the network.
gstart=$(now)
rc=0
# In the background, so that a signal to this script is handled at once.
timeout --kill-after=10 "$GCORE_TIMEOUT" "$GDB" -nx -batch -q \
    -iex 'set debuginfod enabled off' -iex 'set pagination off' \
    -p "$pid" -ex "gcore $tmpcore" >"$tmp/gdb.log" 2>&1 &
gpid=$!
wait "$gpid" || rc=$?
gpid=
if [[ $rc -ne 0 || ! -s $tmpcore ]]; then
    sed 's/^/  gdb: /' "$tmp/gdb.log" >&2
    [[ $rc -eq 124 ]] && die "gcore timed out after ${GCORE_TIMEOUT}s (GCORE_TIMEOUT)"
    grep -qi 'ptrace' "$tmp/gdb.log" && note "hint: attaching needs ptrace rights (see /proc/sys/kernel/yama/ptrace_scope)"
    die "gcore of pid $pid failed (gdb status $rc)"
fi
gtime=$(elapsed "$gstart")

# Release the workload and wait for a normal exit.
exec 3>&-
rc=0
deadline=$(( $(date +%s) + EXIT_TIMEOUT ))
while kill -0 "$wpid" 2>/dev/null; do
    (( $(date +%s) < deadline )) || die "workload did not exit within ${EXIT_TIMEOUT}s after its stdin was closed"
    sleep 0.05
done
wait "$wpid" || rc=$?
wpid=
[[ $rc -eq 0 ]] || { sed 's/^/  workload: /' "$tmp/stderr" >&2; die "workload exited with status $rc"; }

# A core: ELF magic and e_type ET_CORE (4, little-endian on the hosts we use).
magic=$(od -An -tx1 -N4 "$tmpcore" | tr -d ' \n')
etype=$(od -An -tu2 -j16 -N2 "$tmpcore" | tr -d ' \n')
[[ $magic == 7f454c46 && $etype == 4 ]] || die "gcore wrote '$tmpcore', which is not an ELF core"
mv -f -- "$tmpcore" "$out"
head -n 1 "$tmp/stderr" >"$out.json"
size=$(stat -c %s "$out")
note "wrote $out ($(awk -v s="$size" 'BEGIN { printf "%.1f MiB", s / 1048576 }')) in ${gtime}s of gcore"
