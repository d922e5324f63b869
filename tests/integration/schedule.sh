#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Scheduled servicing with the real offserv program on generated images:
# a due schedule runs once, continue-on-error on and off, cancel, kill -9
# and recovery, one image never serviced twice at once, one daemon a site.
#
# OFFSERV_PROG overrides the program under test (default: the build's offserv).
# Test hook: OFFSERV_TEST_JOB_DELAY_MS makes a job sleep at each of the
# engine's safe points, so that a job can be cancelled or killed mid-way.
set -u

top_build=${OFFSERV_TOP_BUILDDIR:-.}
top_src=${OFFSERV_TOP_SRCDIR:-.}
. "$top_src/tests/integration/tap.sh"
OFFSERV=${OFFSERV_PROG:-$top_build/offserv}
MK=$top_build/tests/fixtures/offserv-mkfixture
PLUGINS=$top_build/plugins/.libs
export OFFSERV_TOP_SRCDIR="$top_src"

need_tools wimlib-imagex sha256sum gcab
if [ ! -x "$MK" ] || [ ! -x "$OFFSERV" ] || [ ! -d "$PLUGINS" ]; then
	skip_all "offserv, the fixture generator or the plugins were not built"
fi
if "$OFFSERV" schedule --help 2>&1 | grep -q 'unknown command'; then
	skip_all "this offserv has no schedule command yet"
fi

pids=
tap_tmpdir offserv-schedule-XXXXXX
tap_out=$T/out
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
chmod 0755 "$PLUGINS"
# A site code of its own: staging folders on the volume are named by package ID.
printf '[site]\ncode = SCH\nroot = %s/site\n[plugins]\ndirectory = %s\n' "$T" "$PLUGINS" >"$T/site.ini"
OFFSERV_CONFIG=$T/site.ini
export OFFSERV_CONFIG
unset OFFSERV_TEST_JOB_DELAY_MS

echo "1..24"
sha() { sha256sum "$1" | cut -d' ' -f1; }
# the image ID printed by `image import`
import_image() { "$OFFSERV" image import "$1" --name "$2" 2>&1 | sed -n 's/^Imported .* as \([A-Z0-9]*\) .*/\1/p'; }
wim_of() { echo "$T/site/Images/$1/install.wim"; }
# wait until `offserv status ID` shows the job In progress (at most ~20 s)
wait_in_progress() {
	i=0
	while [ $i -lt 200 ]; do
		"$OFFSERV" status "$1" 2>/dev/null | grep -q 'In progress' && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
job_status() { "$OFFSERV" status "$1" | awk 'NR == 2 { print $4 }'; }
staging_dirs() { # the image's working folders on any servicing drive
	for d in "$(df -P "$T" | awk 'NR == 2 { print $6 }')" "$T/site"; do
		[ -e "${d%/}/ConfigMgr_OfflineImageServicing/$1" ] && echo "${d%/}/ConfigMgr_OfflineImageServicing/$1"
	done
}

# Inputs: the demo image and updates, four more images, a corrupt package.
"$MK" demo "$T/demo" >"$T/mk.out" 2>&1 || { sed 's/^/# /' "$T/mk.out"; exit 1; }
for s in 2 3 4 5; do
	"$MK" image "$T/img$s.wim" --indexes 1 --compress none --seed $s >>"$T/mk.out" 2>&1
done
"$MK" package "$T/bad" --kb 7777777 --corrupt-payload --kind update >"$T/bad.out" 2>&1
BAD=$(tail -n 1 "$T/bad.out")
KB=$(ls "$T/demo/updates" | sed -n 's/^windows10.0-kb\([0-9]*\)-x64.msu$/\1/p')
KB_UPD=$((KB + 1))
KB_NOPARENT=$((KB + 3))

A=$(import_image "$T/demo/install.wim" A)
B=$(import_image "$T/img2.wim" B)
C=$(import_image "$T/img3.wim" C)
D=$(import_image "$T/img4.wim" D)
E=$(import_image "$T/img5.wim" E)
"$OFFSERV" update import "$T/demo/updates" >"$T/upd.out" 2>&1
if [ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] && [ -n "$D" ] && [ -n "$E" ] &&
	"$OFFSERV" update list | grep -q "KB$KB_NOPARENT"; then
	ok "five images and the updates imported ($A $B $C $D $E)"
else
	not_ok "images and updates imported"
	sed 's/^/# /' "$T/mk.out" "$T/upd.out"
fi
SHA_A0=$(sha "$(wim_of "$A")")

# 2-7: a due schedule runs once.
check "schedule --updates all --now is stored" "$OFFSERV" schedule "$A" --updates all --now
"$OFFSERV" image show "$A" >"$T/show" 2>&1
check "the image shows its schedule" sh -c "'$OFFSERV' schedule list | grep -q '$A  *Scheduled'"
"$OFFSERV" run-due >"$T/rd1" 2>&1
check "run-due runs the due schedule" grep -q '^1 due schedule' "$T/rd1"
check "the job is Successful" sh -c "'$OFFSERV' status '$A' | grep -q Successful"
"$OFFSERV" run-due >"$T/rd2" 2>&1
check "a second run-due runs nothing" grep -q '^0 due schedule' "$T/rd2"
check "the serviced WIM verifies" wimlib-imagex verify "$(wim_of "$A")"
LOG=$T/site/Logs/OfflineServicingMgr.log
check "OfflineServicingMgr.log has Configuration Manager's lines" sh -c "
	grep -q 'Processing image package $A  \\$\\$<SMS_OFFLINE_SERVICING_MANAGER>' '$LOG' &&
	grep -q 'Applicability State = APPLICABLE, Update Binary = ' '$LOG' &&
	grep -q 'InstallUpdate returned code 0x00000000' '$LOG' &&
	grep -q 'Completed processing image package $A. Status = Successful' '$LOG' &&
	grep -q 'Updated history for image package $A in the database' '$LOG'"

# 9-10: the backup restores the previous image.
check "rollback restores the image as it was before the job" sh -c "
	'$OFFSERV' image rollback '$A' && [ \"\$(sha256sum '$(wim_of "$A")' | cut -d' ' -f1)\" = '$SHA_A0' ]"
check "after the rollback the updates are applicable again" sh -c "
	'$OFFSERV' image applicable '$A' | grep -q 'KB$KB_UPD'"

# 11-14: continue-on-error off and on, with a not-applicable and a corrupt update.
"$OFFSERV" update import "$BAD" >>"$T/upd.out" 2>&1
SHA_B0=$(sha "$(wim_of "$B")")
"$OFFSERV" run "$B" --updates "KB$KB_NOPARENT" KB7777777 "KB$KB_UPD" >"$T/coe0" 2>&1
check "without --continue-on-error a corrupt update fails the job" sh -c "
	grep -q 'Failed' '$T/coe0' && '$OFFSERV' status '$B' | awk 'NR == 2' | grep -q Failed"
check "... and the image is byte-identical" test "$(sha "$(wim_of "$B")")" = "$SHA_B0"
"$OFFSERV" run "$B" --updates "KB$KB_NOPARENT" KB7777777 "KB$KB_UPD" --continue-on-error >"$T/coe1" 2>&1
check "with --continue-on-error the others are installed" sh -c "
	grep -q 'index 1: Installed' '$T/coe1' && grep -q 'index 1: Not applicable' '$T/coe1' &&
	grep -q 'index 1: Failed (0x' '$T/coe1'"
check "... the image changed and verifies" sh -c "
	[ \"\$(sha256sum '$(wim_of "$B")' | cut -d' ' -f1)\" != '$SHA_B0' ] &&
	wimlib-imagex verify '$(wim_of "$B")' && grep -q 'Failed to install update with ID [0-9]* on the image. ErrorCode = ' '$LOG'"

# 15-17: cancel mid-job.
SHA_C0=$(sha "$(wim_of "$C")")
OFFSERV_TEST_JOB_DELAY_MS=300 "$OFFSERV" run "$C" --updates all >"$T/cancel.out" 2>&1 &
cpid=$!
pids="$pids $cpid"
if wait_in_progress "$C"; then
	check "cancel asks the running job to stop" "$OFFSERV" cancel "$C"
else
	not_ok "the job to cancel started"
fi
wait "$cpid"
check "the job is Cancelled" test "$(job_status "$C")" = Cancelled
check "... the image is byte-identical and no staging is left" sh -c "
	[ \"\$(sha256sum '$(wim_of "$C")' | cut -d' ' -f1)\" = '$SHA_C0' ] && [ -z \"\$(ls '$T/site/Jobs' | grep cancel)\" ]"

# 18-21: kill -9 mid-job, then recovery on the next start.
OFFSERV_TEST_JOB_DELAY_MS=300 "$OFFSERV" run "$D" --updates all >"$T/kill.out" 2>&1 &
kpid=$!
pids="$pids $kpid"
if wait_in_progress "$D"; then
	sleep 1
	staged=$(staging_dirs "$D")
	kill -9 "$kpid"
	wait "$kpid" 2>/dev/null
	check "the killed job left its staging folder ($staged)" test -n "$staged"
else
	not_ok "the job to kill started"
	kill -9 "$kpid" 2>/dev/null
fi
"$OFFSERV" run-due >"$T/recover.out" 2>&1
check "run-due marks the job Failed with the reason" sh -c "
	'$OFFSERV' status '$D' | awk 'NR == 2' | grep -q 'Failed.*ended before it finished'"
check "... removes its staging folder" test -z "$(staging_dirs "$D")"
check "... and the image verifies" wimlib-imagex verify "$(wim_of "$D")"

# 22: two schedules of one image never run at once.
"$OFFSERV" schedule "$E" --updates "KB$KB_UPD" --now >/dev/null 2>&1
"$OFFSERV" schedule "$E" --updates "KB$KB" --now >/dev/null 2>&1
OFFSERV_TEST_JOB_DELAY_MS=50 "$OFFSERV" run-due --workers 4 >"$T/two.out" 2>&1
"$OFFSERV" status "$E" >"$T/two.status"
# newest first: job 2 must start at or after job 1 finished
if [ "$(grep -c Successful "$T/two.status")" -eq 2 ] && awk '
	NR == 2 { s2 = $6 } NR == 3 { f1 = $7 } END { exit !(s2 >= f1) }' "$T/two.status"; then
	ok "two due schedules of one image ran one after the other"
else
	not_ok "two due schedules of one image ran one after the other"
	sed 's/^/# /' "$T/two.out" "$T/two.status"
fi

# 23-24: one daemon a site; SIGTERM stops it cleanly.
"$OFFSERV" daemon --poll 1 >"$T/d1.out" 2>&1 &
dpid=$!
pids="$pids $dpid"
i=0
while [ $i -lt 50 ] && ! grep -q 'started SMS_OFFLINE_SERVICING_MANAGER as thread ID '"$dpid" "$LOG"; do
	sleep 0.1
	i=$((i + 1))
done
"$OFFSERV" daemon --poll 1 >"$T/d2.out" 2>&1
check "a second daemon on the site is refused" grep -q 'another offserv daemon' "$T/d2.out"
kill -TERM "$dpid"
wait "$dpid"
check "SIGTERM stops the daemon cleanly" test $? -eq 0
