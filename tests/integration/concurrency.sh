#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Concurrency: many offserv processes against one site database, and two
# `offserv service` runs on one WIM at the same time.  Speaks TAP.
#
# CONCURRENCY_LOOPS (default 10) parallel loops, CONCURRENCY_ROUNDS (default
# 5) rounds of the two-writer race.

set -u
top_src=${OFFSERV_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${OFFSERV_TOP_BUILDDIR:-$top_src}
. "$top_src/tests/integration/tap.sh"
OFFSERV=$top_build/offserv
MK=$top_build/tests/fixtures/offserv-mkfixture
export OFFSERV_TOP_SRCDIR="$top_src"

need_built "$OFFSERV" "$MK"
need_tools wimlib-imagex sqlite3 gcab
LOOPS=${CONCURRENCY_LOOPS:-10}
ROUNDS=${CONCURRENCY_ROUNDS:-5}

T=$(mktemp -d "${TMPDIR:-/tmp}/offserv-concurrency.XXXXXX") || exit 1
T=$(cd "$T" && pwd -P)
trap '[ -n "${CONCURRENCY_KEEP:-}" ] || rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
mkdir -p "$T/in" "$T/tmp" "$T/drive"
export TMPDIR="$T/tmp" TZ=UTC
plugdir=$top_build/plugins/.libs
chmod 0755 "$plugdir" 2>/dev/null
printf '[site]\nroot = %s/site\n[plugins]\ndirectory = %s\n[offline_servicing]\ndrive = %s\n' \
	"$T" "$plugdir" "$T/drive" >"$T/offserv.ini"
export OFFSERV_CONFIG="$T/offserv.ini"

"$MK" image "$T/in/old.wim" --indexes 2 --editions Professional,Enterprise --compress none \
	--seed 7 >"$T/mk.log" 2>&1 &&
"$MK" package "$T/in/ssu" --kb 5068440 --kind ssu --revision 3900 --seed 1 >>"$T/mk.log" 2>&1 &&
"$MK" package "$T/in/lcu" --kb 5068441 --revision 3920 --replace 2 --files 4 --seed 2 \
	>>"$T/mk.log" 2>&1 &&
"$MK" msu "$T/in/kb.msu" --cab "$T/in/ssu/SSU-19041.3900-x64.cab" \
	--cab "$T/in/lcu/Windows10.0-KB5068441-x64.cab" >>"$T/mk.log" 2>&1
if [ $? -ne 0 ]; then
	echo "1..1"
	echo "not ok 1 - fixtures could not be generated"
	diag "$T/mk.log"
	exit 1
fi
i=1
while [ "$i" -le "$LOOPS" ]; do
	"$MK" package "$T/in/p$i" --kb $((5080000 + i)) --kind update --revision $((3940 + i)) \
		--files 1 --size-kb 16 --seed $((100 + i)) >>"$T/mk.log" 2>&1 || exit 1
	i=$((i + 1))
done

echo "1..5"

# ---- 1. parallel CLI calls against one site database --------------------------------------
# Each loop imports its own update, then the shared MSU, and lists images
# and updates in between.
worker() { # worker I
	w=$1
	for round in 1 2 3; do
		"$OFFSERV" update import "$T/in/p$w" || echo "EXIT update import p$w: $?" >&2
		"$OFFSERV" image list >/dev/null || echo "EXIT image list: $?" >&2
		"$OFFSERV" update import "$T/in/kb.msu" || echo "EXIT update import kb.msu: $?" >&2
		"$OFFSERV" update list >/dev/null || echo "EXIT update list: $?" >&2
	done
}
i=1
pids=
while [ "$i" -le "$LOOPS" ]; do
	worker "$i" >"$T/w$i.out" 2>"$T/w$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do wait "$p"; done
cat "$T"/w*.err >"$T/all.err"
if grep -qi 'locked\|busy' "$T/all.err"; then
	notok "$LOOPS parallel loops: no \"database is locked\""
	grep -i 'locked\|busy' "$T/all.err" | head -10 | diag
else
	ok "$LOOPS parallel loops: no \"database is locked\""
fi
if grep -q '^EXIT ' "$T/all.err"; then
	notok "$LOOPS parallel loops: every call succeeds"
	head -20 "$T/all.err" | diag
else
	ok "$LOOPS parallel loops: every call succeeds"
fi
rows=$(sqlite3 "$T/site/site.db" 'SELECT count(*) FROM updates' 2>&1)
ic=$(sqlite3 "$T/site/site.db" 'PRAGMA integrity_check' 2>&1)
files=$(find "$T/site/ContentLibrary" -type f ! -name '.*' | wc -l)
if [ "$ic" = ok ] && [ "$rows" = $((LOOPS + 1)) ] && [ "$files" = "$rows" ]; then
	ok "database intact: $rows updates, one library file each"
else
	notok "database intact (integrity: $ic; $rows rows, $files files, $((LOOPS + 1)) expected)"
fi

# ---- 2. two `offserv service` runs on one WIM at once -------------------------------------
# One applies the MSU, the other an unrelated update.  They must not both
# write from the same starting image: one must wait (and then build on the
# other's result) or be refused.  Afterwards the WIM verifies and holds
# every package a run reported as committed.
bad_rounds=0
r=1
while [ "$r" -le "$ROUNDS" ]; do
	W=$T/race$r.wim
	cp "$T/in/old.wim" "$W"
	"$OFFSERV" service "$W" "$T/in/kb.msu" >"$T/a.out" 2>&1 &
	pa=$!
	"$OFFSERV" service "$W" "$T/in/p1/Windows10.0-KB5080001-x64.cab" >"$T/b.out" 2>&1 &
	pb=$!
	wait "$pa"
	ra=$?
	wait "$pb"
	rb=$?
	why=
	wimlib-imagex verify "$W" >"$T/v.out" 2>&1 || why="$why verify-failed"
	ca=$(grep -c '^Image committed' "$T/a.out")
	cb=$(grep -c '^Image committed' "$T/b.out")
	# what each run reports as committed must be in the image: a writer
	# that worked from the old image and committed after the other one
	# would drop the other's packages (a lost update) or, both appending
	# at the same offset, overwrite its data
	for idx in 1 2; do
		wimlib-imagex dir "$W" "$idx" >"$T/dir" 2>/dev/null
		ha=$(grep -c '^/Windows/servicing/Packages/Package_for_RollupFix~.*\.mum$' "$T/dir")
		hb=$(grep -c '^/Windows/servicing/Packages/Package_for_KB5080001~.*\.mum$' "$T/dir")
		[ "$ca" = 0 ] || [ "$ha" = 1 ] || why="$why index$idx-lost-the-rollup"
		[ "$cb" = 0 ] || [ "$hb" = 1 ] || why="$why index$idx-lost-KB5080001"
	done
	echo "# round $r: exits $ra/$rb, committed $ca/$cb${why:+:$why}"
	if [ -n "$why" ]; then
		bad_rounds=$((bad_rounds + 1))
		grep -v '^ *[0-9.]*%' "$T/a.out" | tail -4 | diag
		grep -v '^ *[0-9.]*%' "$T/b.out" | tail -4 | diag
	fi
	rm -f "$W"
	r=$((r + 1))
done
if [ "$bad_rounds" -eq 0 ]; then
	ok "two service runs on one WIM never both write it ($ROUNDS rounds)"
else
	notok "two service runs on one WIM never both write it ($bad_rounds of $ROUNDS rounds wrote twice)"
fi
# the last round's WIM, if any round went wrong, is the evidence; a
# final run on a fresh copy shows the image itself is serviceable.
cp "$T/in/old.wim" "$T/final.wim"
if "$OFFSERV" service "$T/final.wim" "$T/in/kb.msu" >"$T/f.out" 2>&1 &&
	wimlib-imagex verify "$T/final.wim" >/dev/null 2>&1; then
	ok "a lone service run on the same input commits and verifies"
else
	notok "a lone service run on the same input commits and verifies"
	tail -5 "$T/f.out" | diag
fi
exit $failed
