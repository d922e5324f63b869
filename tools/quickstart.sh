#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# quickstart.sh demo   install what is missing, build, and service a demo site
# quickstart.sh test   install what is missing, build, run the whole test suite
#                      (once with -Werror, once under ASan+UBSan), then every
#                      fuzz target for FUZZ_SECONDS (default 10) seconds
#
# Works from a fresh clone on Debian 12.  Installs Debian packages with
# apt-get when run as root; otherwise names the packages that are missing.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

packages=(
	build-essential autoconf automake libtool pkg-config
	libwim-dev wimtools libiniparser-dev libxml2-dev check libmspack-dev
	libhivex-dev libhivex-bin libsqlite3-dev sqlite3 gcab cabextract
	ntfs-3g ntfs-3g-dev rsync strace
	clang libclang-rt-14-dev binutils
)

install_packages() {
	local missing=()
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "quickstart: missing Debian packages: ${missing[*]}" >&2
		echo "quickstart: run as root, or: sudo apt-get install ${missing[*]}" >&2
		exit 1
	fi
	echo "quickstart: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

bootstrap() {
	[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] ||
		autoreconf -fi
}

# build DIR [configure options...]
build() {
	local dir=$1
	shift
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -s -j"$jobs")
}

summary() {
	local log=$1 pass fail
	pass=$(grep -E '^# PASS: ' "$log" | awk '{print $3}')
	fail=$(grep -E '^# (FAIL|ERROR|XPASS): ' "$log" | awk '{s+=$3} END {print s+0}')
	echo "$2: ${pass:-0} passed, ${fail:-0} failed"
}

run_tests() {
	local dir=$1 name=$2 rc=0
	(cd "$dir" && make -s -j"$jobs" check) || rc=$?
	if [ -f "$dir/test-suite.log" ]; then
		[ $rc -eq 0 ] || cat "$dir/test-suite.log"
	fi
	return $rc
}

case "${1:-}" in
demo)
	install_packages
	bootstrap
	build build
	exec "$top/tools/demo.sh" "$top/build" "${2:-$top/demo}"
	;;
test)
	install_packages
	bootstrap
	build build --enable-werror
	run_tests build "tests"
	build build-san --enable-werror --enable-sanitizers
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_tests build-san "tests under ASan+UBSan"
	# Every fuzz target for a short, bounded time on the project's seeds.
	(cd build && make -s fuzz && FUZZ_JOBS=2 sh "$top/tests/fuzz/run.sh" "${FUZZ_SECONDS:-10}")
	summary build/test-suite.log "tests"
	summary build-san/test-suite.log "sanitizers"
	;;
*)
	echo "usage: $0 demo [SITE_DIR] | test" >&2
	exit 2
	;;
esac
