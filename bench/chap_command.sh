#!/usr/bin/env bash
# chap_command.sh CHAP CORE COMMAND...
#
# Runs chap (https://github.com/vmware/chap, built outside this repository)
# on CORE with COMMAND as its one input line: chap reads its commands from
# stdin, and hyperfine -N runs no shell to pipe them.  The bench_chap_*
# benchmarks of bench/run.sh time this against memprof.
set -euo pipefail
[[ $# -ge 3 ]] || { echo "usage: chap_command.sh CHAP CORE COMMAND..." >&2; exit 2; }
chap=$1 core=$2
shift 2
printf '%s\n' "$*" | "$chap" "$core"
