#!/bin/sh
# Fetches a Debian source package (e.g. jemalloc) into a scratch directory
# with a private apt configuration: a deb-src line of its own, its own lists
# and cache, so the machine's /etc/apt is never touched.
#   scripts/allocator_source.sh PACKAGE[=VERSION] SUITE DESTDIR
# SUITE: bookworm, bullseye, ...  Prints the unpacked source directory.
set -eu
pkg=$1 suite=$2 dest=$3
mkdir -p "$dest/apt/lists/partial" "$dest/apt/cache/archives/partial" "$dest/src"
cat >"$dest/apt/sources.list" <<LIST
deb-src http://deb.debian.org/debian $suite main
LIST
: >"$dest/apt/status"
set -- -o Dir::Etc::SourceList="$dest/apt/sources.list" \
	-o Dir::Etc::SourceParts=/nonexistent \
	-o Dir::State::Lists="$dest/apt/lists" \
	-o Dir::Cache="$dest/apt/cache" \
	-o Dir::State::status="$dest/apt/status" \
	-o APT::Sandbox::User=root
apt-get "$@" update >&2
cd "$dest/src"
apt-get "$@" source --download-only "$pkg" >&2
dsc=$(ls -t ./*.dsc | head -n 1)
dpkg-source --no-check -x "$dsc" >&2 || true
ls -d "$dest"/src/*/ | head -n 1
