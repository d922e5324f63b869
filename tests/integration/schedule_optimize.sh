#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Optimized image servicing through a schedule (`--optimize`), with the real
# offserv program: after the commit the `optimize` post-action cleans up the
# component store with reset base and rebuilds the WIM, before the
# distribution points are updated; when it fails, the job is Failed with
# its HRESULT, the committed WIM stays as it is, the distribution points
# are left alone and the backup still rolls the image back.
#
# OFFSERV_PROG overrides the program under test (default: the build's offserv).
set -u

top_build=${OFFSERV_TOP_BUILDDIR:-.}
top_src=${OFFSERV_TOP_SRCDIR:-.}
. "$top_src/tests/integration/tap.sh"
OFFSERV=${OFFSERV_PROG:-$top_build/offserv}
MK=$top_build/tests/fixtures/offserv-mkfixture
PLUGINS=$top_build/plugins/.libs
export OFFSERV_TOP_SRCDIR="$top_src"

need_tools wimlib-imagex sha256sum gcab
if [ ! -x "$MK" ] || [ ! -x "$OFFSERV" ] || [ ! -f "$PLUGINS/optimize.so" ] ||
	[ ! -f "$PLUGINS/dp_refresh.so" ]; then
	skip_all "offserv, the fixture generator or the optimize and dp_refresh plugins were not built"
fi

tap_tmpdir offserv-schedule-opt-XXXXXX
tap_out=$T/out
cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$T"; }
chmod 0755 "$PLUGINS"
mkdir -p "$T/dp"
# Compaction off: only --optimize rebuilds the WIM.
site_ini() { # site_ini FILE [EXTRA LINES]
	printf '[site]\ncode = OPT\nroot = %s/site\n[plugins]\ndirectory = %s\n' "$T" "$PLUGINS" >"$1"
	printf '[offline_servicing]\ncompaction_threshold_percent = 100\n' >>"$1"
	printf '[plugin.dp_refresh]\ndp.type = path\ndp.target = %s/dp\n' "$T" >>"$1"
	[ $# -gt 1 ] && printf '%s\n' "$2" >>"$1"
	return 0
}
site_ini "$T/site.ini"
# The same site with the optimize plugin refused (a bad value of its only key).
site_ini "$T/broken.ini" "[plugin.optimize]
reset_base = perhaps"
OFFSERV_CONFIG=$T/site.ini
export OFFSERV_CONFIG
unset OFFSERV_TEST_JOB_DELAY_MS

echo "1..13"
sha() { sha256sum "$1" | cut -d' ' -f1; }
import_image() { "$OFFSERV" image import "$1" --name "$2" 2>&1 | sed -n 's/^Imported .* as \([A-Z0-9]*\) .*/\1/p'; }
wim_of() { echo "$T/site/Images/$1/install.wim"; }

# Two images; two cumulative updates of one family, the second superseding the first.
"$MK" image "$T/a.wim" --indexes 1 --seed 11 >"$T/mk.out" 2>&1
"$MK" image "$T/b.wim" --indexes 1 --seed 12 >>"$T/mk.out" 2>&1
"$MK" package "$T/p1" --kb 5100001 --kind lcu --revision 3920 --files 6 --replace 3 \
	--size-kb 256 --seed 1 >"$T/p1.out" 2>&1
"$MK" package "$T/p2" --kb 5100002 --kind lcu --revision 4020 --files 6 --replace 3 \
	--size-kb 256 --seed 2 >"$T/p2.out" 2>&1
A=$(import_image "$T/a.wim" A)
B=$(import_image "$T/b.wim" B)
"$OFFSERV" update import "$(tail -n 1 "$T/p1.out")" "$(tail -n 1 "$T/p2.out")" >"$T/upd.out" 2>&1
if [ -n "$A" ] && [ -n "$B" ] && "$OFFSERV" update list | grep -q KB5100002; then
	ok "two images and two cumulative updates imported ($A $B)"
else
	not_ok "images and updates imported"
	sed 's/^/# /' "$T/mk.out" "$T/p1.out" "$T/p2.out" "$T/upd.out"
fi

# 2-7: the first update without, the second with --optimize.
"$OFFSERV" run "$A" --updates KB5100001 >"$T/run1" 2>&1
check "the first update is installed without optimizing" sh -c "
	grep -q 'Successful' '$T/run1' && ! grep -q 'optimized' '$T/run1'"
check "schedule --optimize --update-dps --now is stored and listed" sh -c "
	'$OFFSERV' schedule '$A' --updates KB5100002 --optimize --update-dps --now &&
	'$OFFSERV' schedule list '$A' | grep -q '; optimize; update DPs'"
"$OFFSERV" run-due >"$T/rd1" 2>&1
"$OFFSERV" status "$A" >"$T/st1" 2>&1
check "the optimized job is Successful" sh -c "
	awk 'NR == 2' '$T/st1' | grep -q 'Successful.*image optimized'"
sizes=$(sed -n 's/^ *Action optimize Success 0x00000000 .*WIM \([0-9]*\) -> \([0-9]*\) bytes.*/\1 \2/p' "$T/st1")
before=${sizes% *}
after=${sizes#* }
check "the optimize action is recorded and the WIM shrank (${before:-?} -> ${after:-?} bytes)" \
	test -n "$sizes" -a "${after:-0}" -gt 0 -a "${after:-0}" -lt "${before:-0}"
check "the WIM verifies and is the size recorded" sh -c "
	wimlib-imagex verify '$(wim_of "$A")' >/dev/null &&
	[ \"\$(wc -c <'$(wim_of "$A")' | tr -d ' ')\" -eq '${after:-0}' ]"
check "the distribution point got the optimized WIM, after optimize" sh -c "
	cmp '$(wim_of "$A")' '$T/dp/$A/install.wim' &&
	awk '/Optimized image package $A/ { o = NR } /Updating distribution points of image package $A/ { d = NR } END { exit !(o && d && o < d) }' '$T/site/Logs/OfflineServicingMgr.log'"

# 8-12: optimize fails (its plugin is refused): the job fails, the WIM stays committed.
SHA_B0=$(sha "$(wim_of "$B")")
OFFSERV_CONFIG=$T/broken.ini "$OFFSERV" run "$B" --updates KB5100001 --optimize --update-dps \
	>"$T/run2" 2>&1
OFFSERV_CONFIG=$T/broken.ini "$OFFSERV" status "$B" >"$T/st2" 2>&1
check "a failed optimize fails the job with its HRESULT" sh -c "
	awk 'NR == 2' '$T/st2' | grep -q 'Failed.*serviced and committed, but optimize failed' &&
	grep -q 'Action optimize Failed 0x8007007e' '$T/st2'"
check "... the committed WIM is kept and verifies" sh -c "
	[ \"\$(sha256sum '$(wim_of "$B")' | cut -d' ' -f1)\" != '$SHA_B0' ] &&
	wimlib-imagex verify '$(wim_of "$B")' >/dev/null"
check "... the distribution points were left alone" test ! -e "$T/dp/$B"
check "... the image is not marked serviced" grep -q "^Image $B: last serviced never" "$T/st2"
check "... and rollback restores the image as it was" sh -c "
	'$OFFSERV' image rollback '$B' && [ \"\$(sha256sum '$(wim_of "$B")' | cut -d' ' -f1)\" = '$SHA_B0' ]"
check "no scratch folder is left on the servicing drive" sh -c "
	! ls -d '$T/site/ConfigMgr_OfflineImageServicing/$A' '$T/site/ConfigMgr_OfflineImageServicing/$B' \
		\"\$(df -P '$T' | awk 'NR == 2 { print \$6 }')/ConfigMgr_OfflineImageServicing/$A\" 2>/dev/null | grep -q ."
