#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Profiles `offserv service WIM MSU`: with perf where hardware counters work
# (`perf stat -e instructions true`), else with callgrind.  Writes the hottest
# functions (self and inclusive) to OUT/profile.txt.
# Usage: profile.sh BUILDDIR CONFIG OUT WIM MSU WORKDIR

set -u
B=$1 CFG=$2 OUT=$3 SRC=$4 MSU=$5 WD=$6
rm -rf "$WD"
mkdir -p "$WD/tmp"
cp "$SRC" "$WD/image.wim"
export OFFSERV_CONFIG="$CFG" TMPDIR="$WD/tmp"
{
	echo "offserv service on $(basename "$SRC") ($(stat -c %s "$SRC") bytes) with $(basename "$MSU")"
	if perf stat -e instructions true 2>&1 | grep -q '[0-9] *instructions'; then
		echo "tool: perf record -g"
		"$B/libtool" --mode=execute perf record -g -o "$WD/perf.data" \
			"$B/offserv" service "$WD/image.wim" "$MSU" >"$WD/out" 2>&1 || exit 1
		echo
		perf report -i "$WD/perf.data" --no-children --stdio --sort dso,symbol 2>/dev/null |
			grep -v '^#' | grep '%' | head -30
	elif command -v valgrind >/dev/null 2>&1; then
		echo "tool: valgrind --tool=callgrind (hardware counters unavailable to perf here)"
		"$B/libtool" --mode=execute valgrind --tool=callgrind --separate-threads=no \
			--callgrind-out-file="$WD/callgrind.out" \
			"$B/offserv" service "$WD/image.wim" "$MSU" >"$WD/out" 2>&1 || { tail "$WD/out"; exit 1; }
		echo
		echo "-- self cost (instructions), top 25"
		callgrind_annotate --inclusive=no "$WD/callgrind.out" 2>/dev/null |
			sed -n '/^Ir/,$p' | grep -E '^ *[0-9,]+ ' | head -25
		echo
		echo "-- inclusive cost, top 40"
		callgrind_annotate --inclusive=yes "$WD/callgrind.out" 2>/dev/null |
			sed -n '/^Ir/,$p' | grep -E '^ *[0-9,]+ ' | head -40
	else
		echo "neither perf counters nor valgrind available: no profile"
		exit 1
	fi
} >"$OUT/profile.txt"
cp "$WD"/callgrind.out "$OUT/" 2>/dev/null
rm -rf "$WD"
