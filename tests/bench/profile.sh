#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Profiles `offserv service WIM MSU`: with `perf record` where perf can
# sample (the hardware `instructions` counter, else the software `cpu-clock`
# event, which virtual machines without a PMU still have), with call graphs
# unwound from DWARF; else with callgrind.  Writes the hottest functions
# (self and inclusive) to OUT/profile.txt.
# Usage: profile.sh BUILDDIR CONFIG OUT WIM MSU WORKDIR

set -u
B=$1 CFG=$2 OUT=$3 SRC=$4 MSU=$5 WD=$6
rm -rf "$WD"
mkdir -p "$WD/tmp"
cp "$SRC" "$WD/image.wim"
export OFFSERV_CONFIG="$CFG" TMPDIR="$WD/tmp"
event=
if command -v perf >/dev/null 2>&1; then
	for e in instructions cpu-clock; do
		# counted: a figure before the event's name ("3.20 msec cpu-clock"),
		# not "<not supported>"
		if perf stat -e $e true 2>&1 | grep -Eq "[0-9][0-9.,]* +([a-z]+ +)?$e"; then
			event=$e
			break
		fi
	done
fi
{
	echo "offserv service on $(basename "$SRC") ($(stat -c %s "$SRC") bytes) with $(basename "$MSU")"
	if [ -n "$event" ]; then
		echo "tool: perf record -e $event -F 199 --call-graph dwarf (all threads)"
		"$B/libtool" --mode=execute perf record -e "$event" -F 199 --call-graph dwarf,32768 \
			-o "$WD/perf.data" "$B/offserv" service "$WD/image.wim" "$MSU" >"$WD/out" 2>&1 ||
			{ tail "$WD/out"; exit 1; }
		echo
		echo "-- self, by shared object and symbol, top 30"
		perf report -i "$WD/perf.data" --no-children --stdio --sort dso,symbol -g none 2>/dev/null |
			grep -v '^#' | grep '%' | head -30
		echo
		echo "-- inclusive (children), user-space symbols, top 60"
		perf report -i "$WD/perf.data" --children --stdio --sort symbol -g none 2>/dev/null |
			grep -v '^#' | grep '%' | grep -v '\[k\]' | grep -v ' 0x0000' | head -60
	elif command -v valgrind >/dev/null 2>&1; then
		echo "tool: valgrind --tool=callgrind (perf cannot sample here)"
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
		cp "$WD"/callgrind.out "$OUT/" 2>/dev/null
	else
		echo "neither perf nor valgrind available: no profile"
		exit 1
	fi
} >"$OUT/profile.txt"
rm -rf "$WD"
