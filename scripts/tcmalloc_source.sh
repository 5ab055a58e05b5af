#!/bin/sh
# Fetches gperftools' Debian source (google-perftools) with
# scripts/allocator_source.sh (a private apt configuration, never the
# machine's) into DIR and builds tcmalloc out of tree with -g, to read the
# exact layouts of its structs from DWARF (core/heap/tcmalloc.c documents
# the offsets it uses; tests/integration/test_tcmalloc_layout.py checks
# them).  Prints the directory holding libtcmalloc_minimal.so and
# libtcmalloc.so.
#   scripts/tcmalloc_source.sh DIR [SUITE]      (SUITE: bookworm, gperftools 2.10)
set -eu
dir=${1:?usage: tcmalloc_source.sh DIR [SUITE]}
suite=${2:-bookworm}
here=$(cd "$(dirname -- "$0")" && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
src=$("$here/allocator_source.sh" google-perftools "$suite" "$dir")
# The tarball has no configure script (Debian runs autoreconf); its
# CMakeLists.txt builds the same sources with the same defaults (8 KiB
# pages, not small-but-slow), which is what the layouts depend on.
cmake -S "$src" -B "$dir/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >&2
cmake --build "$dir/build" -j 2 --target tcmalloc_minimal tcmalloc >&2
echo "$dir/build"
