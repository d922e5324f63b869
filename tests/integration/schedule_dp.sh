#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Distribution point refresh through a schedule, with the real offserv
# program: two `path` distribution points (one whose parent folder is
# missing) and one `rsync` distribution point served by an `rsync --daemon`
# on 127.0.0.1 that this test starts and stops.  Checks the per-DP status
# (name, status, HRESULT, bytes moved, time) that `offserv status ID`
# shows, the retries, byte-identical copies, and that a second servicing
# moves only the changed data to the rsync distribution point.
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

need_tools wimlib-imagex sha256sum gcab rsync cmp
if [ ! -x "$MK" ] || [ ! -x "$OFFSERV" ] || [ ! -f "$PLUGINS/dp_refresh.so" ]; then
	skip_all "offserv, the fixture generator or the dp_refresh plugin were not built"
fi
RSYNC=$(command -v rsync)

rsyncd_pid=
tap_tmpdir offserv-schedule-dp-XXXXXX
tap_out=$T/out
cleanup() {
	[ -n "$rsyncd_pid" ] && kill "$rsyncd_pid" 2>/dev/null && wait "$rsyncd_pid" 2>/dev/null
	rm -rf "$T"
}
chmod 0755 "$PLUGINS"
mkdir -p "$T/dp1" "$T/dp3"

# The rsync daemon: a module "dp" writing into $T/dp3, on a free port.
cat >"$T/rsyncd.conf" <<EOF
use chroot = no
log file = $T/rsyncd.log
[dp]
	path = $T/dp3
	read only = no
	uid = $(id -u)
	gid = $(id -g)
EOF
free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	else
		echo $((20000 + ($$ + $1 * 997) % 40000))
	fi
}
PORT=
for attempt in 1 2 3 4 5 6 7 8; do
	p=$(free_port "$attempt")
	"$RSYNC" --daemon --no-detach --address=127.0.0.1 --port="$p" --config="$T/rsyncd.conf" \
		>"$T/rsyncd.out" 2>&1 &
	rsyncd_pid=$!
	i=0
	while [ $i -lt 50 ]; do
		if "$RSYNC" "rsync://127.0.0.1:$p/" 2>/dev/null | grep -q '^dp'; then
			PORT=$p
			break
		fi
		kill -0 "$rsyncd_pid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	[ -n "$PORT" ] && break
	kill "$rsyncd_pid" 2>/dev/null
	wait "$rsyncd_pid" 2>/dev/null
	rsyncd_pid=
done
if [ -z "$PORT" ]; then
	echo "1..0 # SKIP cannot start an rsync daemon on 127.0.0.1"
	sed 's/^/# /' "$T/rsyncd.out" 2>/dev/null
	exit 0
fi

# The site: compaction off, so that a second servicing only appends.
cat >"$T/site.ini" <<EOF
[site]
code = SDP
root = $T/site
[plugins]
directory = $PLUGINS
[offline_servicing]
compaction_threshold_percent = 100
[plugin.dp_refresh]
targets = good1, bad, good3
retries = 1
retry_delay_seconds = 0
good1.type = path
good1.target = $T/dp1
bad.type = path
bad.target = $T/missing/dp2
bad.retries = 2
good3.type = rsync
good3.target = rsync://127.0.0.1:$PORT/dp
EOF
OFFSERV_CONFIG=$T/site.ini
export OFFSERV_CONFIG
unset OFFSERV_TEST_JOB_DELAY_MS

echo "1..18"
import_image() { "$OFFSERV" image import "$1" --name "$2" 2>&1 | sed -n 's/^Imported .* as \([A-Z0-9]*\) .*/\1/p'; }
wim_of() { echo "$T/site/Images/$1/install.wim"; }
size_of() { wc -c <"$1" | tr -d ' '; }
# dp_line FILE DP: the image's current status of one DP in saved `offserv status ID`
# output ("DP NAME STATUS 0xHRESULT BYTES bytes TIME (PLUGIN) MESSAGE");
# dp_field FILE DP N: its Nth field.
dp_line() {
	awk -v dp="$2" '/^Distribution points:/ { on = 1; next } on && $1 == "DP" && $2 == dp' "$1"
}
dp_field() { dp_line "$1" "$2" | awk -v f="$3" '{ print $f; exit }'; }

"$MK" demo "$T/demo" >"$T/mk.out" 2>&1 || { sed 's/^/# /' "$T/mk.out"; exit 1; }
KB=$(ls "$T/demo/updates" | sed -n 's/^windows10.0-kb\([0-9]*\)-x64.msu$/\1/p')
KB_UPD=$((KB + 1))
A=$(import_image "$T/demo/install.wim" A)
"$OFFSERV" update import "$T/demo/updates" >"$T/upd.out" 2>&1
if [ -n "$A" ] && "$OFFSERV" update list | grep -q "KB$KB_UPD"; then
	ok "image and updates imported ($A), rsync daemon on port $PORT"
else
	not_ok "image and updates imported"
	sed 's/^/# /' "$T/mk.out" "$T/upd.out"
fi
WIM=$(wim_of "$A")

# 2-9: first servicing, one DP failing.
check "schedule --update-dps --now is stored" "$OFFSERV" schedule "$A" --updates "KB$KB" --update-dps --now
check "the schedule shows it updates DPs" sh -c "'$OFFSERV' schedule list '$A' | grep -q 'update DPs'"
"$OFFSERV" run-due >"$T/rd1" 2>&1
"$OFFSERV" status "$A" >"$T/st1" 2>&1
check "a failing DP fails the job, which says the image was committed" sh -c "
	grep -q '^1 due schedule' '$T/rd1' && [ \"\$(awk 'NR == 2 { print \$4 }' '$T/st1')\" = Failed ] &&
	awk 'NR == 2' '$T/st1' | grep -q 'serviced and committed, but'"
check "the two good DPs hold byte-identical copies of the serviced WIM" sh -c "
	cmp '$WIM' '$T/dp1/$A/install.wim' && cmp '$WIM' '$T/dp3/$A/install.wim'"
check "per-DP status: the good ones Success, the path DP moved the whole WIM" test \
	"$(dp_field "$T/st1" good1 3) $(dp_field "$T/st1" good3 3) $(dp_field "$T/st1" good1 5)" = \
	"Success Success $(size_of "$WIM")"
dp_line "$T/st1" bad >"$T/bad1"
check "the failing DP is Failed with its HRESULT and error" \
	grep -q '^ *DP bad Failed 0x8007000[23] 0 bytes .*(dp_refresh) .*missing/dp2: failed after 2 tries' "$T/bad1"
check "... it was retried as configured (bad.retries = 2)" \
	grep -q 'Distribution point bad: try 1 of 2 failed' "$T/site/Logs/OfflineServicingMgr.log"
check "the job's history lists every DP and the plugin's summary" sh -c "
	awk 'NR > 2 && /^ +(DP|Action) /' '$T/st1' >'$T/hist1' &&
	grep -q 'DP good1 Success' '$T/hist1' && grep -q 'DP bad Failed' '$T/hist1' &&
	grep -q 'DP good3 Success' '$T/hist1' && grep -q 'Action dp_refresh Failed' '$T/hist1'"
B1_RSYNC=$(dp_field "$T/st1" good3 5)
check "the rsync DP moved about the whole WIM the first time ($B1_RSYNC bytes)" \
	test "${B1_RSYNC:-0}" -gt "$(($(size_of "$WIM") / 2))"

# 10-16: the missing folder appears; a second servicing with another update.
mkdir -p "$T/missing/dp2"
SIZE1=$(size_of "$WIM")
check "a second schedule is stored" "$OFFSERV" schedule "$A" --updates "KB$KB_UPD" --update-dps --now
"$OFFSERV" run-due >"$T/rd2" 2>&1
"$OFFSERV" status "$A" >"$T/st2" 2>&1
check "the job is Successful and the image shows when it was serviced" sh -c "
	[ \"\$(awk 'NR == 2 { print \$4 }' '$T/st2')\" = Successful ] &&
	grep -q '^Image $A: last serviced 20[0-9-]*T[0-9:]*Z' '$T/st2'"
check "the WIM grew by appending (no rebuild)" test "$(size_of "$WIM")" -gt "$SIZE1"
check "all three DPs hold byte-identical copies" sh -c "
	cmp '$WIM' '$T/dp1/$A/install.wim' && cmp '$WIM' '$T/missing/dp2/$A/install.wim' &&
	cmp '$WIM' '$T/dp3/$A/install.wim'"
check "every DP is Success now" test \
	"$(dp_field "$T/st2" good1 4) $(dp_field "$T/st2" bad 4) $(dp_field "$T/st2" good3 4)" = \
	"0x00000000 0x00000000 0x00000000"
B2_PATH=$(dp_field "$T/st2" good1 5)
B2_RSYNC=$(dp_field "$T/st2" good3 5)
check "the path DP copied the whole WIM ($B2_PATH bytes)" test "${B2_PATH:-0}" -eq "$(size_of "$WIM")"
check "the rsync DP moved only the changed data ($B2_RSYNC < $B1_RSYNC / 2 and < $B2_PATH / 2)" sh -c "
	[ '${B2_RSYNC:-0}' -gt 0 ] && [ '${B2_RSYNC:-0}' -lt $((${B1_RSYNC:-0} / 2)) ] &&
	[ '${B2_RSYNC:-0}' -lt $((${B2_PATH:-0} / 2)) ]"
"$OFFSERV" image show "$A" >"$T/show2" 2>&1
check "image show gives the last servicing and each DP's state and bytes" sh -c "
	grep -q '^  Last Serviced: 20[0-9-]*T[0-9:]*Z' '$T/show2' &&
	grep -Eq '^  good3 +Success +0x00000000 +${B2_RSYNC:-x} bytes' '$T/show2' &&
	grep -Eq '^  bad +Success +0x00000000 ' '$T/show2'"
