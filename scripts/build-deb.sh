#!/usr/bin/env bash
# Builds memprof's Debian package from this tree with its own debian/ files:
#
#   scripts/build-deb.sh [OUTPUT_DIR]     (default: the current directory)
#
# and prints the path of the .deb.  dpkg-buildpackage -b checks the
# Build-Depends of debian/control, builds with debian/rules (meson, prefix
# /usr) and writes the package beside the tree it builds in, so it runs in a
# copy: the files git would commit (tracked ones and new ones .gitignore
# does not exclude), never build directories.  The working tree and its
# parent are left as they were.  docs/install.md describes the package.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-.}")"
mkdir -p "$out"
version="$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)"
work="$(mktemp -d "${TMPDIR:-/tmp}/memprof-deb.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tree="$work/memprof-$version"
mkdir "$tree"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  # --ignore-failed-read: a tracked file deleted in the working tree is
  # left out, as a commit of the tree would.
  (cd "$src" && git ls-files -z --cached --others --exclude-standard) |
    tar -C "$src" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$tree" -xf -
else
  tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude=./debian/memprof -cf - . |
    tar -C "$tree" -xf -
fi
(cd "$tree" && dpkg-buildpackage -b -us -uc) >&2
deb="$work/memprof_${version}_$(dpkg --print-architecture).deb"
cp "$deb" "$out/"
echo "$out/$(basename "$deb")"
