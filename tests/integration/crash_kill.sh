#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Crash safety: `offserv service`, `offserv update import` and
# `dism /Unmount-Image /Commit` are killed with SIGKILL at points spread over
# their run.  After each kill the WIM verifies and holds, index by index,
# either the old content or the content an uninterrupted run gives; the
# next run leaves no staging folder behind; the content library never holds
# a partial file under its final name and the site database passes
# PRAGMA integrity_check and agrees with the library; nothing outside the
# site root, the servicing drive and TMPDIR changes.  Speaks TAP.
#
# Environment: CRASH_POINTS (kill points of `offserv service`, default 20),
# CRASH_IMPORT_POINTS (default 8), CRASH_DISM_POINTS (default 6),
# CRASH_SEED (default 1), CRASH_KEEP=1 keeps the work folder.
# Half of the service kill points run under strace with a delay injected
# on pwrite64/fsync/ftruncate/rename, so that kills land inside the
# commit; without strace every point uses plain delays.

set -u
top_src=${OFFSERV_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${OFFSERV_TOP_BUILDDIR:-$top_src}
. "$top_src/tests/integration/tap.sh"
OFFSERV=$top_build/offserv
DISM=$top_build/dism
MK=$top_build/tests/fixtures/offserv-mkfixture
export OFFSERV_TOP_SRCDIR="$top_src"

need_built "$OFFSERV" "$DISM" "$MK"
need_tools wimlib-imagex sqlite3 sha256sum gcab awk
HAVE_STRACE=0
if command -v strace >/dev/null 2>&1 && strace -qq -o /dev/null true >/dev/null 2>&1; then
	HAVE_STRACE=1
fi

# The servicing drive must be a mount point (otherwise the volume's root is
# used): as root, run in a private mount namespace and bind-mount it.
if [ -z "${OFFSERV_CRASH_NS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 &&
	unshare -m --propagation private true >/dev/null 2>&1; then
	OFFSERV_CRASH_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi

POINTS=${CRASH_POINTS:-20}
IPOINTS=${CRASH_IMPORT_POINTS:-8}
DPOINTS=${CRASH_DISM_POINTS:-6}
SEED=${CRASH_SEED:-1}

T=$(mktemp -d "${TMPDIR:-/tmp}/offserv-crash.XXXXXX") || exit 1
cleanup() {
	umount "$T/drive" 2>/dev/null
	[ -n "${CRASH_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
T=$(cd "$T" && pwd -P)
mkdir -p "$T/in" "$T/work" "$T/tmp" "$T/drive"
export TMPDIR="$T/tmp" TZ=UTC
plugdir=$top_build/plugins/.libs
chmod 0755 "$plugdir" 2>/dev/null

# A site: root, plugins, servicing drive.
mkconfig() { # mkconfig FILE SITEROOT DRIVE
	printf '[site]\nroot = %s\n[plugins]\ndirectory = %s\n[offline_servicing]\ndrive = %s\n' \
		"$2" "$plugdir" "$3" >"$1"
}
mkconfig "$T/in/offserv.ini" "$T/site" "$T/drive"
export OFFSERV_CONFIG="$T/in/offserv.ini"
DRIVE_OK=0
if [ -n "${OFFSERV_CRASH_NS:-}" ] && mount --bind "$T/drive" "$T/drive" 2>/dev/null; then
	DRIVE_OK=1
fi

# ---- fixtures ------------------------------------------------------------------
"$MK" image "$T/in/old.wim" --indexes 2 --editions Professional,Enterprise \
	--compress none --files 40 --seed 7 >"$T/mk.log" 2>&1 &&
"$MK" package "$T/in/ssu" --kb 5068440 --kind ssu --revision 3900 --seed 1 >>"$T/mk.log" 2>&1 &&
"$MK" package "$T/in/lcu" --kb 5068441 --revision 3920 --replace 4 --files 8 --size-kb 256 \
	--registry --seed 2 >>"$T/mk.log" 2>&1 &&
"$MK" msu "$T/in/kb.msu" --cab "$T/in/ssu/SSU-19041.3900-x64.cab" \
	--cab "$T/in/lcu/Windows10.0-KB5068441-x64.cab" >>"$T/mk.log" 2>&1
if [ $? -ne 0 ]; then
	echo "1..1"
	echo "not ok 1 - fixtures could not be generated"
	diag "$T/mk.log"
	exit 1
fi
mkdir -p "$T/in/updates"
for k in 1 2 3 4 5; do
	"$MK" package "$T/in/upd$k" --kb $((5070000 + k)) --kind update --revision $((3930 + k)) \
		--files 4 --size-kb 1024 --seed $((20 + k)) >>"$T/mk.log" 2>&1 || exit 1
	cp "$T/in/upd$k"/*.cab "$T/in/updates/"
done
cp "$T/in/kb.msu" "$T/in/updates/"
head -c 3145728 /dev/urandom >"$T/in/blob.bin"

# Listing of every index: path and stream hashes.  The hives' contents
# carry install times, so a hive is only "as before" or "changed".
listing() { # listing WIM OUT [OLDLISTING]
	cnt=$(wimlib-imagex info "$1" 2>/dev/null | sed -n 's/^Image Count: *//p')
	[ -n "$cnt" ] || return 1
	: >"$2.raw"
	i=1
	while [ "$i" -le "$cnt" ]; do
		wimlib-imagex dir "$1" "$i" --detailed 2>/dev/null | awk -v idx="$i" '
			/^Full Path *= /{ if (p != "") print idx "\t" p "\t" h
				p = $0; sub(/^Full Path *= "/, "", p); sub(/"$/, "", p); h = "" }
			/^Hash *= /{ h = h $3 }
			END { if (p != "") print idx "\t" p "\t" h }' >>"$2.raw" || return 1
		i=$((i + 1))
	done
	if [ $# -ge 3 ]; then
		awk -F '\t' 'NR == FNR { old[$1 "\t" $2] = $3; next }
			$2 ~ /^\/Windows\/System32\/config\// {
				$3 = (($1 "\t" $2) in old && old[$1 "\t" $2] == $3) ? "as-before" : "changed" }
			{ print $1 "\t" $2 "\t" $3 }' OFS='\t' "$3" "$2.raw" >"$2"
	else
		cp "$2.raw" "$2"
	fi
}

# Snapshot of what must never change: the inputs and the config.
snapshot() { (cd "$T/in" && find . -type f | LC_ALL=C sort | xargs sha256sum) >"$1"; }
snapshot "$T/snap.before"

# Deterministic delays: an LCG seeded by CRASH_SEED, values in [0, 1000).
rng=$SEED
next_rand() { rng=$(( (rng * 1103515245 + 12345) % 2147483648 )); r=$(( (rng / 65536) % 1000 )); }

now_ms() { date +%s%3N; }

SLOW_CALLS=pwrite64,fsync,fdatasync,ftruncate,rename,renameat,renameat2
# run_killed DELAY_MS MODE CMD... : start CMD (MODE plain, or strace: its
# writes, fsyncs and renames slowed down) in its own session, SIGKILL the
# process itself after DELAY_MS, then reap the children it left.  Sets
# killed=1 when the process was still running when it was killed.
run_killed() {
	delay=$1 mode=$2
	shift 2
	rm -f "$T/pid"
	if [ "$mode" = strace ]; then
		setsid strace -f -qq -o /dev/null -e trace=$SLOW_CALLS \
			-e inject=$SLOW_CALLS:delay_exit=2000 \
			sh -c 'echo $$ >"$0"; exec "$@"' "$T/pid" "$@" >"$T/run.out" 2>&1 &
	else
		setsid sh -c 'echo $$ >"$0"; exec "$@"' "$T/pid" "$@" >"$T/run.out" 2>&1 &
	fi
	spid=$!
	sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
	killed=0
	tpid=$(cat "$T/pid" 2>/dev/null)
	if [ -n "$tpid" ] && kill -KILL "$tpid" 2>/dev/null; then
		killed=1
	fi
	sleep 0.2
	# children the killed process had started, in the session we made
	kill -KILL -- "-$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
}

# ---- reference: one uninterrupted run, in each mode ---------------------------------
listing "$T/in/old.wim" "$T/old.lst" || exit 1
cp "$T/old.lst.raw" "$T/old.raw"
listing "$T/in/old.wim" "$T/old.lst" "$T/old.raw"
cp "$T/in/old.wim" "$T/work/ref.wim"
t0=$(now_ms)
"$OFFSERV" service "$T/work/ref.wim" "$T/in/kb.msu" >"$T/ref.out" 2>&1
ref_rc=$?
D_PLAIN=$(( $(now_ms) - t0 ))
listing "$T/work/ref.wim" "$T/new.lst" "$T/old.raw"
D_SLOW=0
if [ "$HAVE_STRACE" = 1 ]; then
	cp "$T/in/old.wim" "$T/work/ref2.wim"
	t0=$(now_ms)
	strace -f -qq -o /dev/null -e trace=$SLOW_CALLS -e inject=$SLOW_CALLS:delay_exit=2000 \
		"$OFFSERV" service "$T/work/ref2.wim" "$T/in/kb.msu" >/dev/null 2>&1
	D_SLOW=$(( $(now_ms) - t0 ))
	rm -f "$T/work/ref2.wim"
fi

TOTAL=$((POINTS + IPOINTS + DPOINTS + 5))
echo "1..$TOTAL"
[ "$DRIVE_OK" = 1 ] || echo "# the servicing drive could not be made a mount point: staging folders not checked"
echo "# uninterrupted service: ${D_PLAIN} ms; under strace with delays: ${D_SLOW} ms; seed $SEED"
if [ "$ref_rc" -eq 0 ] && ! cmp -s "$T/old.lst" "$T/new.lst" && grep -q '^Image committed' "$T/ref.out"; then
	ok "reference run commits and changes the image"
else
	notok "reference run commits and changes the image (exit $ref_rc)"
	diag "$T/ref.out"
fi

# ---- offserv service, killed ---------------------------------------------------------
n_old=0 n_new=0 n_done=0
k=1
while [ "$k" -le "$POINTS" ]; do
	next_rand
	if [ "$HAVE_STRACE" = 1 ] && [ $((k % 2)) -eq 0 ]; then
		mode=strace
		delay=$(( 30 + r * D_SLOW * 105 / 100000 ))
	else
		mode=plain
		delay=$(( 10 + r * D_PLAIN * 105 / 100000 ))
	fi
	W=$T/work/k$k.wim
	cp "$T/in/old.wim" "$W"
	run_killed "$delay" $mode "$OFFSERV" service "$W" "$T/in/kb.msu"
	why=
	staged=no
	[ -d "$T/drive/ConfigMgr_OfflineImageServicing" ] && staged=yes
	if ! wimlib-imagex verify "$W" >"$T/verify.out" 2>&1; then
		why="$why verify-failed"
		diag "$T/verify.out"
	fi
	state=
	if listing "$W" "$T/k.lst" "$T/old.raw"; then
		if cmp -s "$T/k.lst" "$T/old.lst"; then
			state=old
			n_old=$((n_old + 1))
		elif cmp -s "$T/k.lst" "$T/new.lst"; then
			state=new
			n_new=$((n_new + 1))
		else
			why="$why content-neither-old-nor-new"
			diff "$T/old.lst" "$T/k.lst" | head -20 | diag
		fi
	else
		why="$why unreadable"
	fi
	[ "$killed" = 1 ] || n_done=$((n_done + 1))
	# the next run: completes, and leaves no staging folder
	"$OFFSERV" service "$W" "$T/in/kb.msu" >"$T/next.out" 2>&1
	nrc=$?
	if [ "$nrc" -ne 0 ]; then
		why="$why next-run-exit-$nrc"
		tail -5 "$T/next.out" | diag
	fi
	if [ "$DRIVE_OK" = 1 ] && [ -e "$T/drive/ConfigMgr_OfflineImageServicing" ]; then
		why="$why staging-left-after-next-run"
		(cd "$T/drive" && find ConfigMgr_OfflineImageServicing -maxdepth 2) | head -8 | diag
		rm -rf "$T/drive/ConfigMgr_OfflineImageServicing"
	fi
	if listing "$W" "$T/k2.lst" "$T/old.raw" && ! cmp -s "$T/k2.lst" "$T/new.lst"; then
		why="$why not-new-after-next-run"
	fi
	desc="service killed at ${delay} ms ($mode, killed=$killed): ${state:-?}, staging left by the kill: $staged"
	if [ -z "$why" ]; then ok "$desc"; else notok "$desc:$why"; fi
	rm -f "$W"
	k=$((k + 1))
done
echo "# service kill points: $n_old old, $n_new new, $n_done finished before the kill"
if [ "$n_old" -gt 0 ] && [ "$n_new" -gt 0 ] || [ "$POINTS" -lt 4 ]; then
	ok "the kill points cover both sides of the commit ($n_old old, $n_new new)"
else
	notok "the kill points cover both sides of the commit ($n_old old, $n_new new)"
fi

# ---- offserv update import, killed --------------------------------------------------------
# lib_check SITE: every row's file is complete; every final-name file is
# complete (its SHA-256 is its folder's name); sets orphans to the files
# no row describes and temps to the import temporaries.
lib_check() {
	site=$1
	bad=
	ic=$(sqlite3 "$site/site.db" 'PRAGMA integrity_check' 2>&1)
	[ "$ic" = ok ] || bad="$bad integrity:$ic"
	sqlite3 -separator ' ' "$site/site.db" 'SELECT sha256, library_path FROM updates' \
		>"$T/rows" 2>"$T/rows.err" || bad="$bad query-failed"
	while read -r sha path; do
		if [ ! -f "$path" ]; then
			bad="$bad row-without-file:$path"
		elif [ "$(sha256sum <"$path" | cut -d' ' -f1)" != "$sha" ]; then
			bad="$bad row-file-digest:$path"
		fi
	done <"$T/rows"
	orphans=0 temps=0
	: >"$T/temps"
	if [ -d "$site/ContentLibrary" ]; then
		find "$site/ContentLibrary" -type f >"$T/files"
		while read -r f; do
			base=${f##*/}
			dsha=$(basename "$(dirname "$f")")
			case $base in
			.*)
				temps=$((temps + 1))
				echo "${f#"$site"/}" >>"$T/temps"
				continue
				;;
			esac
			if [ "$(sha256sum <"$f" | cut -d' ' -f1)" != "$dsha" ]; then
				bad="$bad partial-file:$f"
			elif ! grep -q "^$dsha " "$T/rows"; then
				orphans=$((orphans + 1))
			fi
		done <"$T/files"
	fi
}

S=$T/isite
mkconfig "$T/import.ini" "$S" "$T/drive"
t0=$(now_ms)
OFFSERV_CONFIG="$T/import.ini" "$OFFSERV" update import "$T/in/updates" >"$T/imp.out" 2>&1
irc=$?
D_IMP=$(( $(now_ms) - t0 ))
lib_check "$S"
nfiles=$(ls "$T/in/updates" | wc -l)
nrows=$(wc -l <"$T/rows")
echo "# uninterrupted import of $nfiles files: ${D_IMP} ms"
if [ "$irc" -eq 0 ] && [ -z "$bad" ] && [ "$nrows" -eq "$nfiles" ] && [ "$orphans" -eq 0 ]; then
	ok "reference import records $nrows files"
else
	notok "reference import (exit $irc, $nrows rows, $orphans orphans):$bad"
	diag "$T/imp.out"
fi
rm -rf "$S"
k=1
while [ "$k" -le "$IPOINTS" ]; do
	next_rand
	delay=$(( 20 + r * D_IMP * 105 / 100000 ))
	rm -rf "$S"
	OFFSERV_CONFIG="$T/import.ini"
	run_killed "$delay" plain "$OFFSERV" update import "$T/in/updates"
	why=
	if [ -f "$S/site.db" ] && [ "$(sqlite3 "$S/site.db" "SELECT count(*) FROM sqlite_master WHERE name = 'updates'" 2>/dev/null)" = 1 ]; then
		lib_check "$S"
		why=$bad
		after_kill="$(wc -l <"$T/rows") rows, $orphans unrecorded, $temps temporaries"
	else
		after_kill="no database yet"
	fi
	"$OFFSERV" update import "$T/in/updates" >"$T/imp.out" 2>&1
	irc=$?
	OFFSERV_CONFIG="$T/in/offserv.ini"
	lib_check "$S"
	[ "$irc" -eq 0 ] || why="$why rerun-exit-$irc"
	why="$why$bad"
	[ "$(wc -l <"$T/rows")" -eq "$nfiles" ] || why="$why rerun-rows-$(wc -l <"$T/rows")"
	[ "$orphans" -eq 0 ] || why="$why unrecorded-files-after-rerun:$orphans"
	if [ "$temps" -ne 0 ]; then
		why="$why temporaries-after-rerun:$temps"
		diag "$T/temps"
	fi
	desc="update import killed at ${delay} ms (killed=$killed): $after_kill"
	if [ -z "$why" ]; then ok "$desc"; else notok "$desc:$why"; fi
	[ "$irc" -eq 0 ] || diag "$T/imp.out"
	k=$((k + 1))
done
rm -rf "$S"

# ---- dism /Unmount-Image /Commit, killed -------------------------------------------------
export OFFSERV_DISM_MOUNT_METHOD=extract
MNT=$T/mnt
prepare_mount() { # prepare_mount WIM: mount index 1 and change it
	rm -rf "$MNT"
	mkdir -p "$MNT"
	"$DISM" /Mount-Image "/ImageFile:$1" /Index:1 "/MountDir:$MNT" >"$T/mount.out" 2>&1 || return 1
	cp "$T/in/blob.bin" "$MNT/Windows/System32/offserv-crash.bin" &&
	echo "changed" >"$MNT/Windows/System32/kernel32.dll" &&
	rm -f "$MNT/Windows/System32/KernelBase.dll"
}
cp "$T/in/old.wim" "$T/work/dref.wim"
if prepare_mount "$T/work/dref.wim"; then
	t0=$(now_ms)
	"$DISM" /Unmount-Image "/MountDir:$MNT" /Commit >"$T/dref.out" 2>&1
	drc=$?
	D_DISM=$(( $(now_ms) - t0 ))
else
	drc=99
	D_DISM=1000
	diag "$T/mount.out"
fi
listing "$T/work/dref.wim" "$T/dnew.lst" "$T/old.raw"
echo "# uninterrupted unmount /commit: ${D_DISM} ms"
if [ "$drc" -eq 0 ] && ! cmp -s "$T/dnew.lst" "$T/old.lst"; then
	ok "reference unmount /commit changes the image"
else
	notok "reference unmount /commit changes the image (exit $drc)"
	diag "$T/dref.out"
fi
k=1
while [ "$k" -le "$DPOINTS" ]; do
	next_rand
	delay=$(( 10 + r * D_DISM * 105 / 100000 ))
	W=$T/work/d$k.wim
	cp "$T/in/old.wim" "$W"
	why=
	state=
	if prepare_mount "$W"; then
		run_killed "$delay" plain "$DISM" /Unmount-Image "/MountDir:$MNT" /Commit
		wimlib-imagex verify "$W" >"$T/verify.out" 2>&1 || { why="$why verify-failed"; diag "$T/verify.out"; }
		if listing "$W" "$T/d.lst" "$T/old.raw"; then
			if cmp -s "$T/d.lst" "$T/old.lst"; then state=old
			elif cmp -s "$T/d.lst" "$T/dnew.lst"; then state=new
			else why="$why content-neither-old-nor-new"; fi
		else
			why="$why unreadable"
		fi
		# clear the mount record the kill may have left
		"$DISM" /Unmount-Image "/MountDir:$MNT" /Discard >/dev/null 2>&1
		"$DISM" /Cleanup-Mountpoints >/dev/null 2>&1
	else
		why=" mount-failed"
	fi
	desc="dism unmount /commit killed at ${delay} ms (killed=${killed:-0}): ${state:-?}"
	if [ -z "$why" ]; then ok "$desc"; else notok "$desc:$why"; fi
	rm -f "$W"
	k=$((k + 1))
done

# ---- nothing outside the site's folders ---------------------------------------------------
snapshot "$T/snap.after"
if cmp -s "$T/snap.before" "$T/snap.after"; then
	ok "inputs and configuration unchanged by every run and kill"
else
	notok "inputs and configuration unchanged by every run and kill"
	diff "$T/snap.before" "$T/snap.after" | diag
fi
exit $failed
