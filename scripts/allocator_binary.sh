#!/bin/sh
# Fetches one of Debian's binary allocator packages (a .deb from the pool of
# deb.debian.org) into a cache directory, checks it against the sha256
# pinned below and unpacks it there with dpkg-deb -x: no root, no apt, the
# machine's configuration untouched.
#   scripts/allocator_binary.sh DEB CACHEDIR
# Prints the directory of the package's shared libraries.  Exit 77 when the
# package cannot be downloaded (offline), 1 when it does not match its
# checksum.  MEMPROF_DEBIAN_MIRROR replaces http://deb.debian.org/debian.
#
# The checksums are those of the files Debian's pool served when they were
# pinned (2026-12-03); a pool file never changes once published, so a
# mismatch is a broken download or a tampered mirror.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 DEB CACHEDIR" >&2; exit 2; }
deb=$1 cache=$2
case $deb in
# Debian 11 (bullseye): jemalloc 5.2.1, gperftools 2.8.1 (the only
# gperftools bullseye has: no 2.9 in bullseye, its backports or security).
libjemalloc2_5.2.1-3_amd64.deb)
	pool=j/jemalloc sha256=dcb79555b137ad70c9d392ca31e04533e3a10b63aa0db02d5a26f464060cc0f5 ;;
libtcmalloc-minimal4_2.8.1-1_amd64.deb)
	pool=g/google-perftools sha256=6d16a9a6cb24877ffafc57dd9928341d25a9e80eacf9200a29f70810c43468d9 ;;
libgoogle-perftools4_2.8.1-1_amd64.deb)
	pool=g/google-perftools sha256=4dbd460edeb35d5870125385cfa50f01784ff888ebb34fd4b57c1e107608a715 ;;
*)
	echo "allocator_binary.sh: $deb: no pinned checksum (add one to $0)" >&2
	exit 2 ;;
esac
mirror=${MEMPROF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
url=$mirror/pool/main/$pool/$deb
mkdir -p "$cache"
file=$cache/$deb
if [ ! -f "$file" ]; then
	if ! command -v curl >/dev/null 2>&1; then
		echo "allocator_binary.sh: curl not installed: cannot download $url" >&2
		exit 77
	fi
	if ! curl -fsS --retry 2 --connect-timeout 20 -m 600 -o "$file.part" "$url"; then
		rm -f "$file.part"
		echo "allocator_binary.sh: cannot download $url (offline?)" >&2
		exit 77
	fi
	mv "$file.part" "$file"
fi
if ! echo "$sha256  $file" | sha256sum -c --status -; then
	echo "allocator_binary.sh: $file: sha256 $(sha256sum "$file" | cut -d' ' -f1), pinned $sha256; removed" >&2
	rm -f "$file"
	exit 1
fi
root=$cache/${deb%.deb}
rm -rf "$root"
dpkg-deb -x "$file" "$root"
echo "$root/usr/lib/x86_64-linux-gnu"
