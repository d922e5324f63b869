#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The offserv benchmark: services generated Windows-like WIMs with a generated
# LCU-like MSU and, in the same run on the same inputs, does the same work the
# other ways there are on Linux:
#
#   offserv  `offserv service WIM MSU` end to end (stage, expand, apply, commit)
#   floor    `wimlib-imagex update` adding the same files to the same image
#            (append): the bytes that must be written anyway
#   naive    `wimlib-imagex apply` each index to a folder, copy the files in,
#            `wimlib-imagex capture` it back
#   mount    `wimlib-imagex mountrw` (read-write), copy, `unmount --commit`
#            (skipped, with the reason, where FUSE does not work)
#
# Usage: tests/bench/bench.sh BUILDDIR   (or `make bench` in the build tree)
#
# Sizes and repetitions come from the environment (see docs/benchmarks.md):
#   BENCH_QUICK=1            small sizes, 1 repetition (a couple of minutes)
#   BENCH_REPS               repetitions per measurement (median reported)
#   BENCH_IMAGE_MB           main image content (MiB)            [2048]
#   BENCH_FILES_PER_MB       image files per MiB of content      [15]
#   BENCH_LARGE_PCT          share of image bytes in 4-20 MiB incompressible binaries [30]
#   BENCH_PKG_MB             LCU payload (MiB)                   [150]
#   BENCH_PKG_FILE_KB        size of each LCU payload file (KiB) [100]
#   BENCH_SCALE_IMAGES       image sizes of the scale series     ["512 1024 2048 4096"]
#   BENCH_SCALE_PKGS         package sizes of the scale series   ["10 50 150"]
#   BENCH_WORKLOADS          which to run: main multi scale-image scale-pkg profile
#                            (inputs: only generate the cached inputs)
#   BENCH_WORKDIR            scratch (several times the image size) [BUILDDIR/bench-work]
#   BENCH_OUT                results folder                      [BUILDDIR/bench-results]
#   BENCH_PROFILE_MB, BENCH_PROFILE_PKG_MB  sizes profiled [the main workload's]
#   BENCH_NAIVE_MAX_MB       skip naive/mount above this image size in the scale series [0]
#   BENCH_NAIVE_REPS         repetitions of the naive path (the slowest by far) [BENCH_REPS]
#
# Nothing here passes or fails on time: the targets are printed next to the
# figures, never enforced.  Exit status is non-zero only when a tool fails.

set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 BUILDDIR" >&2
	exit 2
fi
B=$(cd "$1" && pwd) || exit 2
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	: "${BENCH_REPS:=1}"
	: "${BENCH_IMAGE_MB:=48}"
	: "${BENCH_PKG_MB:=4}"
	: "${BENCH_SCALE_IMAGES:=24 48 96}"
	: "${BENCH_SCALE_PKGS:=1 2 4}"
fi
: "${BENCH_REPS:=3}"
: "${BENCH_IMAGE_MB:=2048}"
: "${BENCH_FILES_PER_MB:=15}"
: "${BENCH_LARGE_PCT:=30}"
: "${BENCH_PKG_MB:=150}"
: "${BENCH_PKG_FILE_KB:=100}"
: "${BENCH_SCALE_IMAGES:=512 1024 2048 4096}"
: "${BENCH_SCALE_PKGS:=10 50 150}"
: "${BENCH_WORKLOADS:=main multi scale-image scale-pkg profile}"
: "${BENCH_WORKDIR:=$B/bench-work}"
: "${BENCH_OUT:=$B/bench-results}"
: "${BENCH_NAIVE_MAX_MB:=0}"
: "${BENCH_NAIVE_REPS:=$BENCH_REPS}"
: "${BENCH_PROFILE_MB:=$BENCH_IMAGE_MB}"
: "${BENCH_PROFILE_PKG_MB:=$BENCH_PKG_MB}"

MKFIX=$B/tests/fixtures/offserv-mkfixture
OFFSERV=$B/offserv
for p in "$MKFIX" "$OFFSERV"; do
	[ -x "$p" ] || { echo "bench: $p is missing: build first (make bench)" >&2; exit 2; }
done
for t in wimlib-imagex rsync gcab du; do
	command -v $t >/dev/null 2>&1 || { echo "bench: $t is not installed" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time (Debian package time) is missing" >&2; exit 2; }

W=$BENCH_WORKDIR
OUT=$BENCH_OUT
mkdir -p "$W/cache" "$W/run" "$OUT" || exit 2
RAW=$OUT/raw.tsv
LOG=$OUT/bench.log
: >"$LOG"
printf 'workload\ttool\trep\twall_s\tuser_s\tsys_s\tmaxrss_kb\tscratch_peak_b\twim_before_b\twim_after_b\tstatus\tscratch_alloc_b\n' >"$RAW"
RSYNC=$OUT/rsync.tsv
: >"$OUT/payload.tsv"
printf 'workload\ttool\tvariant\twim_growth_b\tliteral_b\tsent_b\n' >"$RSYNC"

say() { echo "bench: $*" | tee -a "$LOG" >&2; }

# ---- the site: configuration and servicing drive ---------------------------
chmod 0755 "$B/plugins/.libs" 2>/dev/null
SITE=$W/site
DRIVE=$W/drive
mkdir -p "$SITE" "$DRIVE"
DRIVE_MOUNTED=0
if [ "$(id -u)" = 0 ] && mount --bind "$DRIVE" "$DRIVE" 2>/dev/null; then
	DRIVE_MOUNTED=1
	DRIVE_WORK=$DRIVE/ConfigMgr_OfflineImageServicing
	drive_line="drive = $DRIVE"
else
	# Automatic: the filesystem holding the site root.
	DRIVE_WORK=$(stat -c %m "$SITE")/ConfigMgr_OfflineImageServicing
	DRIVE_WORK=$(echo "$DRIVE_WORK" | sed 's|^//|/|')
	drive_line="; drive = Automatic"
fi
CFG=$W/offserv.ini
cat >"$CFG" <<EOF
[site]
root = $SITE
[offline_servicing]
$drive_line
compaction_threshold_percent = 100
[plugins]
directory = $B/plugins/.libs
EOF

SAMPLER_PID=
cleanup() {
	[ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
	for m in "$W"/run/*/mnt; do
		[ -d "$m" ] && mountpoint -q "$m" 2>/dev/null && wimlib-imagex unmount "$m" >/dev/null 2>&1
	done
	[ $DRIVE_MOUNTED = 1 ] && umount "$DRIVE" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- can FUSE mount here? ---------------------------------------------------
MOUNT_REASON=
if [ ! -c /dev/fuse ]; then
	MOUNT_REASON="no /dev/fuse"
elif ! [ -r /dev/fuse ] || ! [ -w /dev/fuse ]; then
	MOUNT_REASON="/dev/fuse is not accessible to this user"
fi

# ---- inputs (cached in WORKDIR/cache: same arguments, same contents) -------
files_for_mb() { echo $(( $1 * BENCH_FILES_PER_MB )); }

# image MB INDEXES -> prints path
image() {
	mb=$1 n=$2
	f=$(files_for_mb "$mb")
	[ "$f" -lt 100 ] && f=100
	p=$W/cache/image-${mb}m-${f}f-${n}i-l${BENCH_LARGE_PCT}.wim
	if [ ! -s "$p" ]; then
		say "generating image: $mb MiB, $f files ($BENCH_LARGE_PCT% of the bytes in large binaries), $n index(es), LZX"
		if ! "$MKFIX" image "$p.tmp" --indexes "$n" --files "$f" --size-mb "$mb" \
			--large "$BENCH_LARGE_PCT" --compress lzx --seed 1 >>"$LOG" 2>&1; then
			say "image generation failed (see $LOG)"
			exit 1
		fi
		mv "$p.tmp" "$p"
	fi
	echo "$p"
}

# package MB -> prints the folder holding upd.msu, expanded packages and the payload tree
package() {
	mb=$1
	n=$(( mb * 1024 / BENCH_PKG_FILE_KB ))
	[ "$n" -lt 2 ] && n=2
	d=$W/cache/package-${mb}m-${n}f
	if [ ! -s "$d/upd.msu" ]; then
		say "generating package: SSU + LCU, $n files of $BENCH_PKG_FILE_KB KiB, half replacing"
		rm -rf "$d"
		mkdir -p "$d"
		ssu=$("$MKFIX" package "$d/ssu" --kb 5099001 --kind ssu --revision 3920 --seed 7 2>>"$LOG") &&
		lcu=$("$MKFIX" package "$d/lcu" --kb 5099002 --kind lcu --revision 3920 --files "$n" \
			--size-kb "$BENCH_PKG_FILE_KB" --replace $(( n / 2 )) --registry --seed 7 2>>"$LOG") &&
		"$MKFIX" msu "$d/upd.msu" --cab "$ssu" --cab "$lcu" >>"$LOG" 2>&1 ||
			{ say "package generation failed (see $LOG)"; exit 1; }
		payload_tree "$d"
	fi
	echo "$d"
}

# The files the package puts into the image, laid out as in the image: the
# component store folders and manifests, the System32/servicing projections
# (hard links), the package manifests, and rewritten hives.  The floor, naive
# and mount paths add this tree.
payload_tree() {
	d=$1
	t=$d/payload
	mkdir -p "$t/Windows/WinSxS/Manifests" "$t/Windows/System32/config" \
		"$t/Windows/servicing/Packages"
	for pk in ssu lcu; do
		for c in "$d/$pk"/*/; do
			[ -d "$c" ] || continue
			kf=$(basename "$c")
			cp -r "$c" "$t/Windows/WinSxS/$kf"
			cp "$d/$pk/$kf.manifest" "$t/Windows/WinSxS/Manifests/"
			case $kf in
			*servicingstack*) proj=$t/Windows/servicing ;;
			*) proj=$t/Windows/System32 ;;
			esac
			for f in "$t/Windows/WinSxS/$kf"/*; do
				ln -f "$f" "$proj/$(basename "$f")"
			done
		done
		cp "$d/$pk/update.mum" "$t/Windows/servicing/Packages/$pk.mum"
		cp "$d/$pk/update.cat" "$t/Windows/servicing/Packages/$pk.cat"
	done
}

# Rewritten hives for the payload tree: the image's own, changed (servicing
# writes each hive back whole).
payload_hives() {
	wim=$1 t=$2
	x=$W/run/hives
	rm -rf "$x"
	mkdir -p "$x"
	wimlib-imagex extract "$wim" 1 /Windows/System32/config/SOFTWARE \
		/Windows/System32/config/COMPONENTS --dest-dir="$x" --no-acls >>"$LOG" 2>&1 || return 1
	for h in SOFTWARE COMPONENTS; do
		head -c 65536 /dev/urandom | cat "$x/$h" - >"$t/Windows/System32/config/$h"
	done
}

# ---- measuring --------------------------------------------------------------
# Peak bytes of the scratch folders, sampled every 100 ms: apparent size (as
# `du -sb` counts it) and bytes allocated on disk (sparse files count less).
start_sampler() {
	out=$1
	shift
	dirs="$*" # paths without blanks: the work folder's
	(
		peak=0 peak_alloc=0
		while :; do
			set -- $(du -sb $dirs 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }') \
				$(du -s -B1 $dirs 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }')
			[ "$1" -gt "$peak" ] && peak=$1
			[ "$2" -gt "$peak_alloc" ] && peak_alloc=$2
			echo "$peak $peak_alloc" >"$out.tmp" && mv "$out.tmp" "$out"
			sleep 0.1
		done
	) &
	SAMPLER_PID=$!
}
stop_sampler() {
	[ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null && wait "$SAMPLER_PID" 2>/dev/null
	SAMPLER_PID=
}

fsize() { stat -c %s "$1"; }

# measure WORKLOAD TOOL REP SRC_WIM PKGDIR INDEXES
measure() {
	wl=$1 tool=$2 rep=$3 src=$4 pk=$5 idx=$6
	r=$W/run/$wl-$tool
	rm -rf "$r"
	mkdir -p "$r/tmp"
	cp "$src" "$r/image.wim"
	sync
	before=$(fsize "$r/image.wim")
	echo "0 0" >"$r/peak"
	start_sampler "$r/peak" "$r/tmp" "$DRIVE_WORK"
	case $tool in
	offserv)
		TMPDIR=$r/tmp OFFSERV_CONFIG=$CFG /usr/bin/time -o "$r/time" -f '%e %U %S %M' \
			"$OFFSERV" service "$r/image.wim" "$pk/upd.msu" >"$r/out" 2>&1
		;;
	floor)
		TMPDIR=$r/tmp /usr/bin/time -o "$r/time" -f '%e %U %S %M' sh -c '
			w=$1; p=$2; shift 2
			for i in "$@"; do
				wimlib-imagex update "$w" "$i" --command="add $p /" || exit 1
			done' sh "$r/image.wim" "$pk/payload" $idx >"$r/out" 2>&1
		;;
	naive)
		TMPDIR=$r/tmp /usr/bin/time -o "$r/time" -f '%e %U %S %M' sh -c '
			w=$1; p=$2; t=$3; shift 3
			for i in "$@"; do
				rm -rf "$t/tree"
				wimlib-imagex apply "$w" "$i" "$t/tree" || exit 1
				cp -a "$p/." "$t/tree/" || exit 1
				if [ "$i" = "$1" ]; then
					wimlib-imagex capture "$t/tree" "$w.new" "$(wimlib-imagex info "$w" "$i" | sed -n "s/^Name: *//p")" --compress=LZX || exit 1
				else
					wimlib-imagex append "$t/tree" "$w.new" "$(wimlib-imagex info "$w" "$i" | sed -n "s/^Name: *//p")" || exit 1
				fi
			done
			rm -rf "$t/tree"
			mv "$w.new" "$w"' sh "$r/image.wim" "$pk/payload" "$r/tmp" $idx >"$r/out" 2>&1
		;;
	mount)
		mkdir -p "$r/mnt"
		TMPDIR=$r/tmp /usr/bin/time -o "$r/time" -f '%e %U %S %M' sh -c '
			w=$1; p=$2; t=$3; m=$4; shift 4
			for i in "$@"; do
				wimlib-imagex mountrw "$w" "$i" "$m" --staging-dir="$t" || exit 1
				if ! cp -r "$p/." "$m/"; then
					wimlib-imagex unmount "$m"; exit 1
				fi
				wimlib-imagex unmount "$m" --commit || exit 1
			done' sh "$r/image.wim" "$pk/payload" "$r/tmp" "$r/mnt" $idx >"$r/out" 2>&1
		;;
	esac
	st=$?
	stop_sampler
	read -r peak peak_alloc <"$r/peak"
	after=$(fsize "$r/image.wim")
	set -- $(cat "$r/time" 2>/dev/null | tail -1)
	if [ $st != 0 ]; then
		say "$wl/$tool rep $rep FAILED (exit $st); output in $r/out"
		tail -5 "$r/out" >>"$LOG"
		status=fail
		FAILED=1
	else
		status=ok
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$tool" "$rep" \
		"${1:-0}" "${2:-0}" "${3:-0}" "${4:-0}" "$peak" "$before" "$after" "$status" \
		"$peak_alloc" >>"$RAW"
	say "$wl/$tool rep $rep: wall ${1:-?} s, cpu $(echo "${2:-0} ${3:-0}" | awk '{print $1+$2}') s, rss ${4:-?} KiB, scratch $peak B ($peak_alloc B allocated), growth $(( after - before )) B"
	rm -rf "$r/tmp" "$r/mnt"
}

# Bytes rsync moves to refresh a distribution point copy (the unserviced
# WIM) with the serviced one, delta transfer on.
rsync_refresh() {
	wl=$1 tool=$2 variant=$3 src=$4 serviced=$5
	dp=$W/run/dp
	rm -rf "$dp"
	mkdir -p "$dp"
	cp "$src" "$dp/image.wim"
	cp "$serviced" "$dp/new.wim.src"
	stats=$(rsync --no-whole-file --stats "$dp/new.wim.src" "$dp/image.wim" 2>&1)
	lit=$(echo "$stats" | sed -n 's/^Literal data: \([0-9,]*\).*/\1/p' | tr -d ,)
	sent=$(echo "$stats" | sed -n 's/^Total bytes sent: \([0-9,]*\).*/\1/p' | tr -d ,)
	growth=$(( $(fsize "$serviced") - $(fsize "$src") ))
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$tool" "$variant" "$growth" "${lit:-0}" "${sent:-0}" >>"$RSYNC"
	say "$wl/$tool rsync ($variant): literal $lit B, sent $sent B, WIM growth $growth B"
	rm -rf "$dp"
}

# workload NAME SRC_WIM PKGDIR INDEXES TOOLS...
workload() {
	wl=$1 src=$2 pk=$3 idx=$4
	shift 4
	payload_hives "$src" "$pk/payload" || { say "$wl: cannot extract hives"; exit 1; }
	printf '%s\t%s\n' "$wl" "$(du -sb "$pk/payload" | cut -f1)" >>"$OUT/payload.tsv"
	rep=1
	while [ $rep -le "$BENCH_REPS" ]; do
		for tool in "$@"; do
			if [ "$tool" = naive ] && [ $rep -gt "$BENCH_NAIVE_REPS" ]; then
				continue
			fi
			if [ "$tool" = mount ] && [ -n "$MOUNT_REASON" ]; then
				[ $rep = 1 ] && say "$wl/mount skipped: $MOUNT_REASON"
				continue
			fi
			measure "$wl" "$tool" "$rep" "$src" "$pk" "$idx"
			# Distribution point refresh, once, from the first repetition.
			if [ $rep = 1 ] && [ "${BENCH_RSYNC:-1}" = 1 ] && [ -s "$W/run/$wl-$tool/image.wim" ]; then
				case $tool in
				offserv|floor|naive)
					rsync_refresh "$wl" "$tool" append "$src" "$W/run/$wl-$tool/image.wim"
					;;
				esac
				if [ "$tool" = offserv ]; then
					wimlib-imagex optimize "$W/run/$wl-$tool/image.wim" >>"$LOG" 2>&1 &&
						rsync_refresh "$wl" "$tool" rebuild "$src" "$W/run/$wl-$tool/image.wim"
				fi
			fi
			rm -rf "$W/run/$wl-$tool"
		done
		rep=$(( rep + 1 ))
	done
}

FAILED=0
say "build $B, work $W, $BENCH_REPS repetition(s), image $BENCH_IMAGE_MB MiB, package $BENCH_PKG_MB MiB"
say "servicing drive scratch sampled at $DRIVE_WORK and each run's TMPDIR"
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc: $(nproc)"
	echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "disk: $(df -h "$W" | awk 'NR==2 {print $1 " " $2 " (" $5 " used)"}'), fs $(stat -f -c %T "$W")"
	echo "kernel: $(uname -sr)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "offserv: $("$OFFSERV" --version 2>/dev/null | head -1) build $B"
	echo "wimlib: $(wimlib-imagex --version | head -1)"
	echo "rsync: $(rsync --version | head -1)"
	echo "gcab: $(gcab --version 2>&1 | head -1)"
	echo "sizes: image $BENCH_IMAGE_MB MiB x $BENCH_FILES_PER_MB files/MiB ($BENCH_LARGE_PCT% of the bytes in large binaries), package $BENCH_PKG_MB MiB of $BENCH_PKG_FILE_KB KiB files, reps $BENCH_REPS"
	echo "mount path: ${MOUNT_REASON:-available}"
} >"$OUT/machine.txt"

MAIN_IMG=
MAIN_PKG=
for wlname in $BENCH_WORKLOADS; do
	case $wlname in
	inputs)
		# Only generate (and cache) every input the other workloads use.
		image "$BENCH_IMAGE_MB" 1 >/dev/null && image "$BENCH_IMAGE_MB" 4 >/dev/null &&
			package "$BENCH_PKG_MB" >/dev/null || exit 1
		for mb in $BENCH_SCALE_IMAGES; do image "$mb" 1 >/dev/null || exit 1; done
		for mb in $BENCH_SCALE_PKGS; do package "$mb" >/dev/null || exit 1; done
		image "$BENCH_PROFILE_MB" 1 >/dev/null && package "$BENCH_PROFILE_PKG_MB" >/dev/null || exit 1
		continue
		;;
	main)
		MAIN_IMG=$(image "$BENCH_IMAGE_MB" 1) && MAIN_PKG=$(package "$BENCH_PKG_MB") || exit 1
		workload main "$MAIN_IMG" "$MAIN_PKG" 1 offserv floor naive mount
		;;
	multi)
		img4=$(image "$BENCH_IMAGE_MB" 4) && pk=$(package "$BENCH_PKG_MB") || exit 1
		workload multi "$img4" "$pk" "1 2 3 4" offserv floor naive mount
		;;
	scale-image)
		pk=$(package "$BENCH_PKG_MB") || exit 1
		for mb in $BENCH_SCALE_IMAGES; do
			img=$(image "$mb" 1) || exit 1
			if [ "$mb" -le "$BENCH_NAIVE_MAX_MB" ]; then
				BENCH_RSYNC=0 workload "img$mb" "$img" "$pk" 1 offserv floor naive
			else
				BENCH_RSYNC=0 workload "img$mb" "$img" "$pk" 1 offserv floor
			fi
		done
		;;
	scale-pkg)
		img=$(image "$BENCH_IMAGE_MB" 1) || exit 1
		for mb in $BENCH_SCALE_PKGS; do
			pk=$(package "$mb") || exit 1
			BENCH_RSYNC=0 workload "pkg$mb" "$img" "$pk" 1 offserv floor
		done
		;;
	profile)
		img=$(image "$BENCH_PROFILE_MB" 1) && pk=$(package "$BENCH_PROFILE_PKG_MB") || exit 1
		say "profiling offserv on the $BENCH_PROFILE_MB MiB image, $BENCH_PROFILE_PKG_MB MiB package"
		"$HERE/profile.sh" "$B" "$CFG" "$OUT" "$img" "$pk/upd.msu" "$W/run/profile" >>"$LOG" 2>&1 ||
			say "profile: not taken (see $LOG)"
		;;
	*)
		say "unknown workload $wlname"
		exit 2
		;;
	esac
done

"$HERE/report.sh" "$OUT" "$BENCH_PKG_MB" "$BENCH_IMAGE_MB" | tee "$OUT/results.md"
if ! command -v gnuplot >/dev/null 2>&1; then
	say "gnuplot not installed (Debian package gnuplot-nox): no plot"
elif [ -s "$OUT/scale-image.dat" ]; then
	gnuplot -e "datfile='$OUT/scale-image.dat'; pkgfile='$OUT/scale-pkg.dat'; outfile='$OUT/benchmarks-scale.png'" \
		"$HERE/scale.gp" >>"$LOG" 2>&1 && say "plot: $OUT/benchmarks-scale.png"
fi
say "results: $OUT/results.md (raw figures in $RAW, $RSYNC)"
exit $FAILED
