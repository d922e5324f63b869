#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run every libFuzzer target (built by `make fuzz`) for a bounded time.
#
#   tests/fuzz/run.sh [SECONDS [TARGET...]]
#
# SECONDS defaults to 20 per target.  Seed corpora are generated at run
# time from the project's fixtures, the committed text seeds under
# tests/fuzz/seeds/ and, when present, ../shared/corpus.  Results go to
# tests/fuzz/fuzz-out/<target>/ in the build tree: corpus/ (what the run
# found), artifacts/ (crashing inputs), log, wall and cpu (seconds of
# wall-clock and of CPU time, user + system, the target used).  Exit status 1 when a target
# crashed or found a broken property.
#
# Environment: FUZZ_BUILDDIR (default: the current directory),
# FUZZ_SRCDIR (default: the tree this script is in), FUZZ_JOBS (targets
# run at once, default 1), FUZZ_TIMEOUT (libFuzzer's -timeout per input,
# wall-clock seconds, default 20: raise it on a loaded machine or under
# nice, where a fast input can wait longer than that for the CPU),
# FUZZ_FLAGS (more libFuzzer options).
set -u

seconds=${1:-20}
[ $# -gt 0 ] && shift
srcdir=${FUZZ_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${FUZZ_BUILDDIR:-$(pwd)}
jobs=${FUZZ_JOBS:-1}
timeout=${FUZZ_TIMEOUT:-20}
targets=${*:-"cab update_plugins mum manifest pkgprops unattend paths sddl config dism_args hive identity"}
out=$builddir/tests/fuzz/fuzz-out
seeds=$out/seeds
shared=$srcdir/../shared

case $seconds$timeout in
''|*[!0-9]*) echo "usage: $0 [SECONDS [TARGET...]] (FUZZ_TIMEOUT: seconds)" >&2; exit 2 ;;
esac
for t in $targets; do
	if [ ! -x "$builddir/tests/fuzz/fuzz_$t" ]; then
		echo "$0: $builddir/tests/fuzz/fuzz_$t is missing: run 'make fuzz' first" >&2
		exit 2
	fi
done

# Scratch files of the targets: memory-backed when possible.
if [ -z "${FUZZ_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	FUZZ_TMPDIR=/dev/shm
fi
TMPDIR=${FUZZ_TMPDIR:-${TMPDIR:-/tmp}}
export TMPDIR

mkdir -p "$out"
rm -rf "$seeds"
mkdir -p "$seeds"

# Committed text seeds.
for d in "$srcdir"/tests/fuzz/seeds/*/; do
	[ -d "$d" ] || continue
	n=$(basename "$d")
	mkdir -p "$seeds/$n"
	cp "$d"* "$seeds/$n/" 2>/dev/null
done

# Reproducers of bugs the targets found (tests/fuzz/crashers/TARGET-NAME):
# every run replays them first, so a regression fails at once.
for f in "$srcdir"/tests/fuzz/crashers/*; do
	[ -f "$f" ] || continue
	n=$(basename "$f")
	mkdir -p "$seeds/${n%%-*}"
	cp "$f" "$seeds/${n%%-*}/crasher-$n"
done

# CBS manifests from the test data.
mkdir -p "$seeds/mum" "$seeds/manifest"
cp "$srcdir"/tests/data/cbs/*.mum "$seeds/mum/" 2>/dev/null
cp "$srcdir"/tests/data/cbs/*.manifest "$seeds/manifest/" 2>/dev/null
cp "$srcdir"/tests/data/cbs/*.manifest "$seeds/mum/" 2>/dev/null
mkdir -p "$seeds/config"
cp "$srcdir"/data/offserv.ini "$seeds/config/" 2>/dev/null

# Cabinets: the shared corpora, and package cabinets and an MSU made with gcab.
mkdir -p "$seeds/cab"
if [ -d "$shared/corpus" ]; then
	for f in "$shared"/corpus/cab/*.cab "$shared"/corpus/cab-bugs/*.cab; do
		[ -f "$f" ] || continue
		# Large cabinets only slow the runs down.
		[ "$(wc -c < "$f")" -le 65536 ] && cp "$f" "$seeds/cab/$(basename "$(dirname "$f")")-$(basename "$f")"
	done
else
	echo "# ../shared is absent: cabinet seeds are only the generated ones"
fi
if command -v gcab >/dev/null 2>&1; then
	g=$out/gen
	rm -rf "$g"
	comp=amd64_microsoft-windows-foo_31bf3856ad364e35_10.0.19041.3570_none_4f8e2d9a1b3c5e7f
	mkdir -p "$g/pkg/$comp" "$g/msu" "$g/wsus"
	cp "$srcdir/tests/data/cbs/update.mum" "$g/pkg/update.mum"
	cp "$srcdir/tests/data/cbs/component.manifest" "$g/pkg/$comp.manifest"
	printf 'MZ payload' > "$g/pkg/$comp/foo.dll"
	(cd "$g/pkg" && gcab -c "$seeds/cab/gen-package-stored.cab" update.mum "$comp.manifest" "$comp/foo.dll" &&
		gcab -cz "$seeds/cab/gen-package-mszip.cab" update.mum "$comp.manifest" "$comp/foo.dll") >/dev/null 2>&1
	cp "$seeds/cab/gen-package-stored.cab" "$g/msu/Windows10.0-KB3118401-x64.cab" 2>/dev/null
	printf '<OfflineSyncPackage/>' > "$g/wsus/package.xml"
	(cd "$g/wsus" && gcab -c "$g/msu/WSUSSCAN.cab" package.xml) >/dev/null 2>&1
	cp "$srcdir/tests/fuzz/seeds/pkgprops/ascii" "$g/msu/Windows10.0-KB3118401-x64-pkgProperties.txt"
	sed 's/KB5031234/KB3118401/g' "$srcdir/tests/fuzz/seeds/unattend/two-packages.xml" \
		> "$g/msu/Windows10.0-KB3118401-x64.xml"
	(cd "$g/msu" && gcab -c "$seeds/cab/gen-update.msu" Windows10.0-KB3118401-x64.cab WSUSSCAN.cab \
		Windows10.0-KB3118401-x64-pkgProperties.txt Windows10.0-KB3118401-x64.xml) >/dev/null 2>&1
	rm -rf "$g"
else
	echo "# gcab is not installed: no generated package cabinets"
fi
mkdir -p "$seeds/update_plugins"
cp "$seeds"/cab/* "$seeds/update_plugins/" 2>/dev/null

# Hives: the empty fixture, and one with keys and values of each type.
mkdir -p "$seeds/hive"
cp "$srcdir/tests/fixtures/minimal.hive" "$seeds/hive/minimal.hive"
if command -v hivexsh >/dev/null 2>&1; then
	h=$seeds/hive/values.hive
	cp "$srcdir/tests/fixtures/minimal.hive" "$h"
	chmod u+w "$h"
	hivexsh -w "$h" >/dev/null 2>&1 <<'EOF' || rm -f "$h"
add Microsoft
cd Microsoft
add Windows NT
add Select
cd Select
setval 4
Current
dword:0x00000001
Str
string:hello world
Multi
hex:7:610062000000630000000000
Bin
hex:3:00ff10
cd ..
add CurrentVersion
commit
EOF
fi

# Per-target options: inputs kept small enough for fast runs.
maxlen() {
	case $1 in
	cab|update_plugins|hive) echo 65536 ;;
	mum|manifest|unattend|config) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

run_one() {
	t=$1
	dir=$out/$t
	mkdir -p "$dir/corpus" "$dir/artifacts"
	seeddir=$seeds/$t
	[ -d "$seeddir" ] || seeddir=
	start=$(date +%s)
	"$builddir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
		-timeout="$timeout" -rss_limit_mb=2560 -max_len="$(maxlen "$t")" \
		-artifact_prefix="$dir/artifacts/" ${FUZZ_FLAGS:-} \
		"$dir/corpus" $seeddir > "$dir/log" 2>&1
	echo $? > "$dir/status"
	# Wall time, and the CPU time (user + system) of the target: the
	# second line of `times` is what this subshell's children used
	# (`times` itself must not run in a pipeline, a subshell of its own).
	echo $(( $(date +%s) - start )) > "$dir/wall"
	times > "$dir/times"
	sed -n 2p "$dir/times" | awk '{
		s = 0
		for (i = 1; i <= 2; i++) {
			v = $i; sub(/s$/, "", v); split(v, p, "m"); s += p[1] * 60 + p[2]
		}
		printf "%.1f\n", s
	}' > "$dir/cpu"
}

running=0
for t in $targets; do
	echo "fuzz_$t: $seconds s"
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

failed=0
printf '\n%-16s %6s %8s %10s %8s %7s %6s %7s  %s\n' target wall-s cpu-s execs exec/s cov ft corpus result
for t in $targets; do
	dir=$out/$t
	log=$dir/log
	st=$(cat "$dir/status" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	if [ "$st" = 0 ]; then
		res=ok
	else
		res="FAILED (see $log, artifacts in $dir/artifacts)"
		failed=1
	fi
	wall=$(cat "$dir/wall" 2>/dev/null)
	cpu=$(cat "$dir/cpu" 2>/dev/null)
	ncorp=$(find "$dir/corpus" -type f 2>/dev/null | wc -l)
	printf '%-16s %6s %8s %10s %8s %7s %6s %7s  %s\n' "$t" "${wall:--}" "${cpu:--}" \
		"${execs:--}" "${rate:--}" "${cov:--}" "${ft:--}" "$ncorp" "$res"
done
exit $failed
