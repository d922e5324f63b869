#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# /Remove-Package and /Cleanup-Image on an offline directory tree: a
# generated WIM is mounted (extracted), two cumulative updates that replace
# the same components are added, then removed, cleaned up, reset and
# analysed with `dism /Image:`.  Every verdict is read back from the tree
# itself (files, inodes, hives) and, after the commit, from the WIM with
# wimlib-imagex and hivexsh.  Speaks TAP.

top_src=${OFFSERV_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${OFFSERV_TOP_BUILDDIR:-$top_src}
. "$top_src/tests/integration/tap.sh"
DISM=$top_build/dism
MK=$top_build/tests/fixtures/offserv-mkfixture
plugdir=$top_build/plugins/.libs

[ -x "$DISM" ] || skip_all "dism not built at $DISM"
[ -x "$MK" ] || skip_all "offserv-mkfixture not built at $MK"
[ -f "$plugdir/cab.so" ] || skip_all "the cab plugin is not built in $plugdir"
need_pkg wimlib-imagex wimtools
need_pkg hivexsh libhivex-bin
need_tool gcab "gcab not installed (the fixtures need it)"
export PATH="$PATH:/sbin:/usr/sbin"
need_pkg mkntfs ntfs-3g

tap_tmpdir dism_cleanup.XXXXXX INT TERM

export TZ=UTC
export OFFSERV_DISM_MOUNT_METHOD=extract
export OFFSERV_TOP_SRCDIR="$top_src"
chmod 0755 "$plugdir" 2>/dev/null
printf '[site]\ncode = DCL\nroot = %s/site\n[plugins]\ndirectory = %s\n[offline_servicing]\ndrive = %s\n' \
	"$T" "$plugdir" "$T/drive" >"$T/offserv.ini"
mkdir -p "$T/drive"
export OFFSERV_CONFIG="$T/offserv.ini"
LOG=$T/site/Logs/dism.log

# ---- fixtures: an image; two cumulative updates replacing the same two
# components (3920 then 4000); an update of its own; a package that pends
WIM=$T/install.wim
"$MK" image "$WIM" --compress none --files 4 --seed 11 >/dev/null 2>"$T/mk.err" ||
	skip_all "offserv-mkfixture image failed: $(head -1 "$T/mk.err")"
L1=$("$MK" package "$T/l1" --kb 5000001 --revision 3920 --files 2 --replace 2 --size-kb 16 --seed 1 2>"$T/mk.err") ||
	skip_all "offserv-mkfixture package failed: $(head -1 "$T/mk.err")"
L2=$("$MK" package "$T/l2" --kb 5000002 --revision 4000 --files 2 --replace 2 --size-kb 16 --seed 2 2>"$T/mk.err") ||
	skip_all "offserv-mkfixture package failed: $(head -1 "$T/mk.err")"
UPD=$("$MK" package "$T/upd" --kind update --kb 5000006 --files 1 --size-kb 8 --seed 6 2>"$T/mk.err") ||
	skip_all "offserv-mkfixture package failed: $(head -1 "$T/mk.err")"
"$MK" package "$T/pend" --kind update --kb 5000003 --files 1 --size-kb 8 --pending --seed 3 >/dev/null 2>"$T/mk.err" ||
	skip_all "offserv-mkfixture package failed: $(head -1 "$T/mk.err")"

# The identity a package folder's update.mum declares (name~token~arch~~version).
identity() {
	el=$(grep -o '<assemblyIdentity [^>]*>' "$1/update.mum" | head -1)
	attr() { echo "$el" | sed -n "s/.* $1=\"\([^\"]*\)\".*/\1/p"; }
	echo "$(attr name)~$(attr publicKeyToken)~$(attr processorArchitecture)~~$(attr version)"
}
ID1=$(identity "$T/l1")
ID2=$(identity "$T/l2")
IDU=$(identity "$T/upd")
IDP=$(identity "$T/pend")
[ -n "$ID1" ] && [ -n "$ID2" ] && [ -n "$IDU" ] && [ -n "$IDP" ] ||
	skip_all "could not read the identities of the generated packages"

# ---- mount (extract)
mnt=$T/mnt
mkdir -p "$mnt"
"$DISM" /Mount-Image "/ImageFile:$WIM" /Index:1 "/MountDir:$mnt" >"$T/mount.out" 2>&1; rc=$?
check "mount exits 0 and extracts" sh -c '[ "$1" -eq 0 ] && [ -d "$2/Windows/System32" ]' _ "$rc" "$mnt"
SXS=$(find "$mnt/Windows" -maxdepth 1 -iname winsxs | head -1)

# State of a package in /Get-Packages ("" when not listed).
state_of() {
	"$DISM" "/Image:$mnt" /Get-Packages 2>/dev/null |
		awk -v id="$1" '$0 == "Package Identity : " id { f = 1; next } f && /^State : / { sub(/^State : /, ""); print; exit }'
}
# A size as /AnalyzeComponentStore writes it (units of 1024, two decimals).
fmt_size() {
	awk -v b="$1" 'BEGIN {
		if (b < 1024) { printf "%d bytes\n", b; exit }
		split("KB MB GB TB PB EB", u, " "); v = b / 1024; i = 1
		while (i < 6 && v >= 1024 - 0.005) { v /= 1024; i++ }
		printf "%.2f %s\n", v, u[i] }'
}
# Value of "Key : value" in an /AnalyzeComponentStore output (leading blanks ignored).
field() { echo "$1" | sed -n "s/^ *$2 : //p" | head -1; }
# Payload bytes of a package folder (its component folders' files).
payload_bytes() { find "$1" -mindepth 2 -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
snap() { (cd "$mnt" && find . -printf '%p %s %i %n\n' | sort && find . -type f -exec sha1sum {} + | sort); }

# ---- /AnalyzeComponentStore on the image as made
out=$("$DISM" "/Image:$mnt" /Cleanup-Image /AnalyzeComponentStore 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
check "AnalyzeComponentStore exits 0" [ "$rc" -eq 0 ]
# The layout, line for line, from the bar to the verdict.
echo "$out" | sed -n '/^\[=*100\.0%=*\]$/,$p' >"$T/analyze.txt"
cat >"$T/analyze.re" <<'EOF'
^\[==========================100\.0%==========================\]$
^$
^Component Store \(WinSxS\) information:$
^$
^Windows Explorer Reported Size of Component Store : ([0-9]+ bytes|[0-9]+\.[0-9]{2} [KMGT]B)$
^$
^Actual Size of Component Store : ([0-9]+ bytes|[0-9]+\.[0-9]{2} [KMGT]B)$
^$
^    Shared with Windows : ([0-9]+ bytes|[0-9]+\.[0-9]{2} [KMGT]B)$
^    Backups and Disabled Features : ([0-9]+ bytes|[0-9]+\.[0-9]{2} [KMGT]B)$
^    Cache and Temporary Data : ([0-9]+ bytes|[0-9]+\.[0-9]{2} [KMGT]B)$
^$
^Date of Last Cleanup : ([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})?$
^$
^Number of Reclaimable Packages : [0-9]+$
^Component Store Cleanup Recommended : (Yes|No)$
^$
^The operation completed successfully\.$
EOF
layout_ok() {
	[ "$(wc -l <"$T/analyze.txt")" -eq "$(wc -l <"$T/analyze.re")" ] || return 1
	i=0
	while IFS= read -r re; do
		i=$((i + 1))
		sed -n "${i}p" "$T/analyze.txt" | grep -Eq "$re" || { echo "# line $i does not match $re"; return 1; }
	done <"$T/analyze.re"
}
check "AnalyzeComponentStore: DISM's layout, line for line" layout_ok
# Sizes against the tree: every file under WinSxS (each link counted), each
# inode once, and the inodes also linked from outside WinSxS.
find "$SXS" -type f -printf '%i %s\n' >"$T/sxs.list"
explorer=$(awk '{ s += $2 } END { print s + 0 }' "$T/sxs.list")
actual=$(sort -u "$T/sxs.list" | awk '{ s += $2 } END { print s + 0 }')
find "$mnt" -path "$SXS" -prune -o -type f -printf '%i\n' | sort -u >"$T/outside.inodes"
shared=$(sort -u "$T/sxs.list" | awk 'NR == FNR { o[$1] = 1; next } ($1 in o) { s += $2 } END { print s + 0 }' "$T/outside.inodes" -)
check "Windows Explorer Reported Size = the WinSxS files counted per link ($(fmt_size "$explorer"))" \
	[ "$(field "$out" "Windows Explorer Reported Size of Component Store")" = "$(fmt_size "$explorer")" ]
check "Actual Size = each WinSxS inode once ($(fmt_size "$actual"))" \
	[ "$(field "$out" "Actual Size of Component Store")" = "$(fmt_size "$actual")" ]
check "Shared with Windows = WinSxS inodes also linked outside it ($(fmt_size "$shared"))" \
	[ "$(field "$out" "Shared with Windows")" = "$(fmt_size "$shared")" ]
check "a fresh image: never cleaned, nothing reclaimable, no cleanup recommended" sh -c '
	echo "$1" | grep -qx "Date of Last Cleanup : " &&
	echo "$1" | grep -qx "Number of Reclaimable Packages : 0" &&
	echo "$1" | grep -qx "Component Store Cleanup Recommended : No"' _ "$out"

# ---- two cumulative updates: the first is superseded
out=$("$DISM" "/Image:$mnt" /Add-Package "/PackagePath:$L1" "/PackagePath:$L2" 2>&1); rc=$?
check "Add-Package of both updates exits 0" [ "$rc" -eq 0 ]
check "the older update is Superseded, the newer Installed" \
	sh -c '[ "$1" = Superseded ] && [ "$2" = Installed ]' _ "$(state_of "$ID1")" "$(state_of "$ID2")"
out=$("$DISM" "/Image:$mnt" /Cleanup-Image /AnalyzeComponentStore 2>&1)
check "AnalyzeComponentStore: 1 reclaimable package, cleanup recommended" sh -c '
	echo "$1" | grep -qx "Number of Reclaimable Packages : 1" &&
	echo "$1" | grep -qx "Component Store Cleanup Recommended : Yes"' _ "$out"
check "Backups and Disabled Features = the superseded update's payload ($(fmt_size "$(payload_bytes "$T/l1")"))" \
	[ "$(field "$out" "Backups and Disabled Features")" = "$(fmt_size "$(payload_bytes "$T/l1")")" ]

# ---- /Remove-Package of a package the image does not hold: 0x800f080c, nothing changes
snap >"$T/before"
out=$("$DISM" "/Image:$mnt" /Remove-Package "/PackageName:Package_for_KB9999999~31bf3856ad364e35~amd64~~10.0.1.0" \
	"--exit-code-file=$T/ec" 2>&1); rc=$?
check "unknown package: exit 210, Error: 0x800f080c" sh -c '
	[ "$1" -eq 210 ] && echo "$2" | grep -qx "Error: 0x800f080c" && [ "$(sed -n 2p "$3")" = 0x800f080c ]' _ "$rc" "$out" "$T/ec"
check "unknown package: the message names it and the log" sh -c '
	echo "$1" | grep -q "Package_for_KB9999999~31bf3856ad364e35~amd64~~10.0.1.0" &&
	echo "$1" | grep -qx "The DISM log file can be found at $2"' _ "$out" "$LOG"
snap >"$T/after"
check "unknown package: the tree is unchanged" cmp -s "$T/before" "$T/after"

# ---- /Remove-Package /PackageName: the newer update goes, the older comes back
out=$("$DISM" "/Image:$mnt" /Remove-Package "/PackageName:$ID2" 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
check "Remove-Package /PackageName exits 0 and completes" sh -c '
	[ "$1" -eq 0 ] && echo "$2" | grep -qx "The operation completed successfully."' _ "$rc" "$out"
check "Remove-Package: Processing 1 of 1 - Removing package <identity>, then the full bar" sh -c '
	echo "$1" | grep -A1 -x "Processing 1 of 1 - Removing package $2" |
		grep -qx "\[==========================100\.0%==========================\]"' _ "$out" "$ID2"
check "the removed update is no longer listed; the older one is Installed again" \
	sh -c '[ -z "$1" ] && [ "$2" = Installed ]' _ "$(state_of "$ID2")" "$(state_of "$ID1")"
check "its manifest left Windows\\servicing\\Packages" \
	sh -c '! ls "$1/Windows/servicing/Packages/" | grep -qi "^$2\.mum$"' _ "$mnt" "$ID2"
restored=0
total=0
for d in "$T"/l1/*/; do
	for f in "$d"*; do
		[ -f "$f" ] || continue
		total=$((total + 1))
		dest=$(find "$mnt/Windows/System32" -maxdepth 1 -iname "$(basename "$f")" | head -1)
		[ -n "$dest" ] && cmp -s "$f" "$dest" && restored=$((restored + 1))
	done
done
check "System32 holds the older update's files again ($restored of $total)" \
	sh -c '[ "$1" -gt 0 ] && [ "$1" -eq "$2" ]' _ "$restored" "$total"

# ---- /Remove-Package /PackagePath: the cabinet stands for its package
"$DISM" "/Image:$mnt" /Add-Package "/PackagePath:$L2" >/dev/null 2>&1
out=$("$DISM" "/Image:$mnt" /Remove-Package "/PackagePath:$L2" 2>&1); rc=$?
check "Remove-Package /PackagePath:<cab> exits 0 and names the package it holds" sh -c '
	[ "$1" -eq 0 ] && echo "$2" | grep -qx "Processing 1 of 1 - Removing package $3"' _ "$rc" "$out" "$ID2"
check "the cabinet's package is gone" [ -z "$(state_of "$ID2")" ]

# ---- several, mixed, in command-line order
"$DISM" "/Image:$mnt" /Add-Package "/PackagePath:$L2" "/PackagePath:$UPD" >/dev/null 2>&1
out=$("$DISM" "/Image:$mnt" /Remove-Package "/PackagePath:$T/upd" "/PackageName:$ID2" 2>&1); rc=$?
check "two packages: exit 0, announced in command-line order" sh -c '
	[ "$1" -eq 0 ] &&
	[ "$(echo "$2" | grep "^Processing " | head -1)" = "Processing 1 of 2 - Removing package $3" ] &&
	[ "$(echo "$2" | grep "^Processing " | sed -n 2p)" = "Processing 2 of 2 - Removing package $4" ]' \
	_ "$rc" "$out" "$IDU" "$ID2"
check "both are gone" sh -c '[ -z "$1" ] && [ -z "$2" ]' _ "$(state_of "$IDU")" "$(state_of "$ID2")"

# ---- /Remove-Package: a path that does not exist
out=$("$DISM" "/Image:$mnt" /Remove-Package "/PackagePath:$T/none.cab" 2>&1); rc=$?
check "a missing /PackagePath: Error: 2, exit 2" sh -c '[ "$1" -eq 2 ] && echo "$2" | grep -qx "Error: 2"' _ "$rc" "$out"

# ---- /StartComponentCleanup: the superseded update's payload leaves the store
"$DISM" "/Image:$mnt" /Add-Package "/PackagePath:$L2" >/dev/null 2>&1
t0=$(date -u '+%Y-%m-%d %H:%M:%S')
out=$("$DISM" "/Image:$mnt" /Cleanup-Image /StartComponentCleanup 2>&1); rc=$?
t1=$(date -u '+%Y-%m-%d %H:%M:%S')
check "StartComponentCleanup: exit 0, the bar, completed" sh -c '
	[ "$1" -eq 0 ] && echo "$2" | grep -qx "\[==========================100\.0%==========================\]" &&
	echo "$2" | grep -qx "The operation completed successfully."' _ "$rc" "$out"
left=0
for d in "$T"/l1/*/; do
	[ -d "$SXS/$(basename "$d")" ] && left=$((left + 1))
done
check "the superseded components' folders left WinSxS ($left left)" [ "$left" -eq 0 ]
check "without /ResetBase the superseded update stays registered" [ "$(state_of "$ID1")" = Superseded ]
out=$("$DISM" "/Image:$mnt" /Cleanup-Image /AnalyzeComponentStore 2>&1)
d=$(field "$out" "Date of Last Cleanup")
check "after the cleanup: nothing reclaimable, Backups 0 bytes, dated now ($d)" sh -c '
	echo "$1" | grep -qx "Number of Reclaimable Packages : 0" &&
	echo "$1" | grep -qx "Component Store Cleanup Recommended : No" &&
	echo "$1" | grep -qx "    Backups and Disabled Features : 0 bytes" &&
	[ -n "$2" ] && { [ "$2" \> "$3" ] || [ "$2" = "$3" ]; } && { [ "$2" \< "$4" ] || [ "$2" = "$4" ]; }' \
	_ "$out" "$d" "$t0" "$t1"

# ---- pending actions: they block a cleanup, /RevertPendingActions takes them away
"$DISM" "/Image:$mnt" /Add-Package "/PackagePath:$T/pend/update.mum" >/dev/null 2>&1; rc=$?
check "a package that pends: exit 200 (3010), pending.xml written" \
	sh -c '[ "$1" -eq 200 ] && [ -f "$2/pending.xml" ]' _ "$rc" "$SXS"
out=$("$DISM" "/Image:$mnt" /Cleanup-Image /StartComponentCleanup 2>&1); rc=$?
check "StartComponentCleanup with pending actions: Error: 0x800f0806, exit 202" \
	sh -c '[ "$1" -eq 202 ] && echo "$2" | grep -qx "Error: 0x800f0806"' _ "$rc" "$out"
out=$("$DISM" "/Image:$mnt" /Cleanup-Image /RevertPendingActions 2>&1); rc=$?
check "RevertPendingActions: exit 0, completed" sh -c '
	[ "$1" -eq 0 ] && echo "$2" | grep -qx "The operation completed successfully."' _ "$rc" "$out"
check "the pending package and pending.xml are gone, the update stays" sh -c '
	[ -z "$1" ] && [ ! -f "$3/pending.xml" ] && [ "$2" = Installed ]' _ "$(state_of "$IDP")" "$(state_of "$ID2")" "$SXS"

# ---- /ResetBase: superseded packages unregistered, the rest permanent
out=$("$DISM" "/Image:$mnt" /Cleanup-Image /StartComponentCleanup /ResetBase 2>&1); rc=$?
check "StartComponentCleanup /ResetBase exits 0" [ "$rc" -eq 0 ]
check "the superseded update is unregistered, the installed one Permanent" \
	sh -c '[ -z "$1" ] && [ "$2" = Permanent ]' _ "$(state_of "$ID1")" "$(state_of "$ID2")"
snap >"$T/before"
out=$("$DISM" "/Image:$mnt" /Remove-Package "/PackageName:$ID2" 2>&1); rc=$?
check "removing a permanent package: Error: 0x800f0825, exit 211" sh -c '
	[ "$1" -eq 211 ] && echo "$2" | grep -qx "Error: 0x800f0825"' _ "$rc" "$out"
snap >"$T/after"
check "removing a permanent package leaves the tree unchanged" cmp -s "$T/before" "$T/after"

# ---- options and help
out=$("$DISM" /Online /Remove-Package "/PackageName:$ID2" 2>&1); rc=$?
check "/Online is refused: Error: 50" sh -c '[ "$1" -eq 50 ] && echo "$2" | grep -qx "Error: 50"' _ "$rc" "$out"
out=$("$DISM" "/Image:$mnt" /Cleanup-Image /ResetBase 2>&1); rc=$?
check "/ResetBase alone: exit 87" [ "$rc" -eq 87 ]
out=$("$DISM" /Cleanup-Image /? 2>&1); rc=$?
check "/Cleanup-Image /? describes the three actions" sh -c '[ "$1" -eq 0 ] &&
	echo "$2" | grep -q "/StartComponentCleanup" && echo "$2" | grep -q "/AnalyzeComponentStore reports" &&
	echo "$2" | grep -q "/RevertPendingActions removes"' _ "$rc" "$out"

# ---- dism.log
check "dism.log: each removal announced, the failures with their HRESULT" sh -c '
	grep -q "DISM Package Manager: PID=[0-9]* TID=[0-9]* Processing 1 of 1 - Removing package $2 - CDISMPackageManager::Internal_ProcessPackage$" "$1" &&
	grep -q "DISM.EXE: DISM Package Manager processed the command line but failed. HRESULT=800F080C$" "$1" &&
	grep -q "DISM.EXE: DISM Package Manager processed the command line but failed. HRESULT=800F0825$" "$1"' _ "$LOG" "$ID2"

# ---- commit: the WIM holds the result
"$DISM" /Unmount-Image "/MountDir:$mnt" /Commit >"$T/unmount.out" 2>&1; rc=$?
check "unmount /Commit exits 0" [ "$rc" -eq 0 ]
list=$(wimlib-imagex dir "$WIM" 1 2>/dev/null)
check "the WIM holds the permanent update's manifest, not the unregistered one's" sh -c '
	echo "$1" | grep -qix "/Windows/servicing/Packages/$2\.mum" && ! echo "$1" | grep -qix "/Windows/servicing/Packages/$3\.mum"' \
	_ "$list" "$ID2" "$ID1"
mkdir -p "$T/x"
wimlib-imagex extract "$WIM" 1 /Windows/System32/config/SOFTWARE "--dest-dir=$T/x" >/dev/null 2>&1
keys=$(printf 'cd \\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages\nls\n' |
	hivexsh "$T/x/SOFTWARE" 2>/dev/null)
check "the committed SOFTWARE hive: the update registered, the others not" sh -c '
	echo "$1" | grep -qx "$2" && ! echo "$1" | grep -qx "$3" && ! echo "$1" | grep -qx "$4" &&
	! echo "$1" | grep -qx "$5"' _ "$keys" "$ID2" "$ID1" "$IDU" "$IDP"
cs=$(printf 'cd \\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages\\%s\nlsval\n' "$ID2" |
	hivexsh "$T/x/SOFTWARE" 2>/dev/null)
check "with CurrentState 0x80 (Permanent)" sh -c 'echo "$1" | grep -qx "\"CurrentState\"=dword:00000080"' _ "$cs"

echo "1..$n"
exit $failed
