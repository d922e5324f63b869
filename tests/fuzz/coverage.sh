#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Source-based coverage of the fuzz targets over their corpora.
#
#   tests/fuzz/coverage.sh [TARGET...]      (or `make fuzz-coverage`)
#
# Builds the targets again with clang's -fprofile-instr-generate
# -fcoverage-mapping (no sanitizers) into tests/fuzz/cov/ of the build
# tree, replays every input of a finished fuzz run once (libFuzzer's
# -runs=0 over the target's corpus/ and its seed folder), merges the raw
# profiles with llvm-profdata and reports with llvm-cov.  Results go to
# tests/fuzz/coverage/ in the build tree:
#
#   <target>.profdata   the merged profile
#   <target>.json       llvm-cov export -summary-only over core/ and plugins/
#   <target>.txt        llvm-cov report of every project file the target
#                       reached (at least one line run)
#   summary.txt         per target: its surface (the files it is written
#                       for) with line, function and region coverage, and
#                       the number of files it reached
#   all.txt             the union of all targets over core/ and plugins/
#
# Environment: FUZZ_BUILDDIR (a configured build tree, default the current
# directory), FUZZ_SRCDIR (default the tree this script is in),
# FUZZ_CORPORA (the fuzz-out folder of a run, default
# FUZZ_BUILDDIR/tests/fuzz/fuzz-out), FUZZ_CC (default clang),
# LLVM_PROFDATA and LLVM_COV (default: the ones of clang's major version,
# e.g. llvm-profdata-14, else unversioned), COVERAGE_HTML=1 (also write
# an HTML report per target under coverage/html/<target>/).  Needs jq.
# Exit status 1 when an input crashed during the replay (its coverage is
# then collected input by input, without the crashing ones), 2 on a
# setup error.
set -u

srcdir=${FUZZ_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${FUZZ_BUILDDIR:-$(pwd)}
corpora=${FUZZ_CORPORA:-$builddir/tests/fuzz/fuzz-out}
cc=${FUZZ_CC:-clang}
targets=${*:-"cab update_plugins mum manifest pkgprops unattend paths sddl config dism_args hive identity"}
bindir=$builddir/tests/fuzz/cov
out=$builddir/tests/fuzz/coverage

die() {
	echo "$0: $*" >&2
	exit 2
}

# The files each target is written for (see docs/fuzzing.md).
surface() {
	case $1 in
	cab) echo core/cab.c ;;
	update_plugins) echo plugins/cab.c plugins/msu.c ;;
	mum|manifest) echo core/cbs/manifest.c ;;
	pkgprops|unattend) echo core/pkgprops.c ;;
	paths) echo core/fsutil.c core/cbs/destination.c ;;
	sddl) echo core/cbs/sddl.c ;;
	config) echo core/config.c ;;
	dism_args) echo core/dism/args.c ;;
	hive) echo core/hive.c ;;
	identity) echo core/cbs/identity.c ;;
	*) echo ;;
	esac
}

# llvm tools matching the compiler.
major=$("$cc" --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p' | sed 1q)
[ -n "$major" ] || die "$cc is not clang (set FUZZ_CC)"
pick() {
	if command -v "$1-$major" >/dev/null 2>&1; then
		echo "$1-$major"
	elif command -v "$1" >/dev/null 2>&1; then
		echo "$1"
	fi
}
profdata=${LLVM_PROFDATA:-$(pick llvm-profdata)}
llvmcov=${LLVM_COV:-$(pick llvm-cov)}
command -v jq >/dev/null 2>&1 || die "jq is missing (Debian: jq)"
[ -n "$profdata" ] && [ -n "$llvmcov" ] ||
	die "llvm-profdata/llvm-cov for clang $major are missing (Debian: llvm-$major)"
[ -f "$builddir/Makefile" ] || die "$builddir is not a configured build tree"
[ -d "$corpora" ] || die "$corpora is missing: run tests/fuzz/run.sh first (or set FUZZ_CORPORA)"

echo "# building the coverage targets in $bindir"
${MAKE:-make} -s -C "$builddir" fuzz FUZZ_OUT=tests/fuzz/cov FUZZ_CC="$cc" FUZZ_SAN= \
	FUZZ_CFLAGS="-g -O1 -fno-omit-frame-pointer -fprofile-instr-generate -fcoverage-mapping" \
	FUZZ_TARGETS="$targets" || die "building the coverage targets failed"

if [ -z "${FUZZ_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	FUZZ_TMPDIR=/dev/shm
fi
TMPDIR=${FUZZ_TMPDIR:-${TMPDIR:-/tmp}}
export TMPDIR

mkdir -p "$out"
: > "$out/summary.txt"
failed=0
profiles=

# "lines functions regions" coverage summed over FILE... (relative to the
# source tree) from llvm-cov's JSON summary on stdin: "covered/total
# (pct%)" each, separated by "|"; "-" when none of the files is in the
# summary.
sum_json() {
	jq -r --arg src "$srcdir/" --arg files "$*" '
		($files | split(" ")) as $want
		| [.data[0].files[]
		   | select((.filename | ltrimstr($src)) as $n | $want | index([$n]))
		   | .summary]
		| def pc(k): (map(.[k].count) | add) as $t | (map(.[k].covered) | add) as $c
			| if $t > 0 then "\($c)/\($t) (\((1000 * $c / $t | round) / 10)%)" else "-" end;
		  if length == 0 then "-|-|-" else "\(pc("lines"))|\(pc("functions"))|\(pc("regions"))" end'
}

printf '%-15s %-22s %-18s %-22s %7s  %s\n' target lines functions regions reached surface \
	>> "$out/summary.txt"
for t in $targets; do
	bin=$bindir/fuzz_$t
	dirs=
	[ -d "$corpora/$t/corpus" ] && dirs="$corpora/$t/corpus"
	[ -d "$corpora/seeds/$t" ] && dirs="$dirs $corpora/seeds/$t"
	if [ -z "$dirs" ]; then
		echo "# $t: no corpus under $corpora, skipped"
		continue
	fi
	raw=$out/raw/$t
	rm -rf "$raw"
	mkdir -p "$raw"
	n=$(find $dirs -type f | wc -l)
	echo "# $t: replaying $n inputs"
	# Every input once, in full (no -max_len: libFuzzer then takes the
	# largest input's size).
	if ! LLVM_PROFILE_FILE="$raw/%p.profraw" "$bin" -runs=0 -timeout=60 -rss_limit_mb=2560 \
		$dirs > "$out/$t.log" 2>&1; then
		echo "# $t: an input crashed during the replay (see $out/$t.log); replaying input by input"
		failed=1
		rm -f "$raw"/*.profraw
		find $dirs -type f | while read -r f; do
			LLVM_PROFILE_FILE="$raw/%p.profraw" "$bin" -timeout=60 -rss_limit_mb=2560 \
				"$f" > /dev/null 2>&1 || echo "# $t: crashes: $f"
		done
	fi
	set -- "$raw"/*.profraw
	[ -f "$1" ] || { echo "# $t: no profile written"; failed=1; continue; }
	"$profdata" merge -sparse "$@" -o "$out/$t.profdata" || die "$profdata failed for $t"
	profiles="$profiles $t"

	# Files with at least one line run, among the project's own sources.
	"$llvmcov" export -summary-only -instr-profile="$out/$t.profdata" "$bin" \
		"$srcdir/core" "$srcdir/plugins" > "$out/$t.json" 2>/dev/null ||
		die "$llvmcov export failed for $t"
	reached=$(jq -r --arg src "$srcdir/" '.data[0].files[]
		| select(.summary.lines.covered > 0) | .filename | ltrimstr($src)' "$out/$t.json")
	absreached=
	for f in $reached; do
		absreached="$absreached $srcdir/$f"
	done
	if [ -n "$reached" ]; then
		"$llvmcov" report "$bin" -instr-profile="$out/$t.profdata" $absreached \
			> "$out/$t.txt" 2>/dev/null
	else
		: > "$out/$t.txt"
	fi
	surf=$(surface "$t")
	cells=$(sum_json $surf < "$out/$t.json")
	lines=${cells%%|*}
	regions=${cells##*|}
	funcs=${cells#*|}
	funcs=${funcs%|*}
	printf '%-15s %-22s %-18s %-22s %7s  %s\n' "$t" "$lines" "$funcs" "$regions" \
		"$(echo "$reached" | grep -c .)" "$surf" >> "$out/summary.txt"
	if [ "${COVERAGE_HTML:-0}" = 1 ]; then
		"$llvmcov" show "$bin" -instr-profile="$out/$t.profdata" -format=html \
			-output-dir="$out/html/$t" $absreached \
			>/dev/null 2>&1
	fi
done

# The union over all targets: one binary per profile.
if [ -n "$profiles" ]; then
	set --
	objs=
	for t in $profiles; do
		set -- "$@" "$out/$t.profdata"
		if [ -z "$objs" ]; then
			objs=$bindir/fuzz_$t
		else
			objs="$objs -object=$bindir/fuzz_$t"
		fi
	done
	"$profdata" merge -sparse "$@" -o "$out/all.profdata" &&
		"$llvmcov" report $objs -instr-profile="$out/all.profdata" \
			"$srcdir/core" "$srcdir/plugins" > "$out/all.txt" 2>/dev/null
fi

echo
cat "$out/summary.txt"
echo
echo "# reports: $out/<target>.txt (files each target reached), $out/all.txt (all targets)"
exit $failed
