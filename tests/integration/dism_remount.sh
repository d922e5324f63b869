#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# /Remount-Image: mounts left unusable as a crash or a restart leaves them
# (the mount directory gone, an extraction cut short by a process that
# died, an unmount interrupted) are listed by /Get-MountedImageInfo as
# "Needs Remount" or "Invalid"; /Remount-Image makes the first kind usable
# again, and a commit through the remounted directory reaches the WIM.
# Speaks TAP.

top_src=${OFFSERV_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${OFFSERV_TOP_BUILDDIR:-$top_src}
. "$top_src/tests/integration/tap.sh"
DISM=$top_build/dism

[ -x "$DISM" ] || skip_all "dism not built at $DISM"
need_pkg wimlib-imagex wimtools

tap_tmpdir dism_remount.XXXXXX INT TERM

export TZ=UTC
export OFFSERV_DISM_MOUNT_METHOD=extract
printf '[site]\nroot = %s/site\n' "$T" >"$T/offserv.ini"
export OFFSERV_CONFIG="$T/offserv.ini"
MOUNTS=$T/site/Mounts

# ---- a WIM with a small tree
tree=$T/tree
mkdir -p "$tree/Windows/System32" "$tree/Users/Public"
i=0
while [ $i -lt 20 ]; do
	head -c $((i * 97 + 1)) /dev/zero | tr '\0' "$(printf '\\%03o' $((65 + i)))" >"$tree/Windows/System32/f$i.dll"
	i=$((i + 1))
done
echo "original" >"$tree/Windows/readme.txt"
echo "public" >"$tree/Users/Public/a.txt"
WIM=$T/install.wim
wimlib-imagex capture "$tree" "$WIM" "Windows 10 Pro" >/dev/null 2>&1 ||
	skip_all "wimlib-imagex could not build the test image"
wimlist() { wimlib-imagex dir "$WIM" 1 2>/dev/null | sed 's|^/||' | grep -v '^$' | sort; }
treelist() { (cd "$1" && find . -mindepth 1 | sed 's|^\./||' | sort); }

# The status line of a mount directory in /Get-MountedImageInfo.
status_of() {
	"$DISM" /Get-MountedImageInfo 2>/dev/null |
		awk -v d="$1" '$0 == "Mount Dir : " d { f = 1; next } f && /^Status : / { sub(/^Status : /, ""); print; exit }'
}
# Rewrite one key of the mount record of a directory, as a dead process leaves it.
record_set() { # record_set KEY VALUE
	rec=$(grep -l "^mount_dir=$mnt\$" "$MOUNTS"/*.ini 2>/dev/null | head -1)
	[ -n "$rec" ] && sed -i "s|^$1=.*|$1=$2|" "$rec"
}
dead_pid() { sh -c 'echo $$'; }

# ---- mount
mnt=$T/mnt
mkdir "$mnt"
"$DISM" /Mount-Image "/ImageFile:$WIM" /Index:1 "/MountDir:$mnt" >/dev/null 2>&1; rc=$?
check "mount exits 0, status Ok" sh -c '[ "$1" -eq 0 ] && [ "$2" = Ok ]' _ "$rc" "$(status_of "$mnt")"

# ---- remounting a working mount changes nothing
echo "kept" >"$mnt/Windows/kept.txt"
out=$("$DISM" /Remount-Image "/MountDir:$mnt" 2>&1); rc=$?
check "Remount-Image of a working mount: exit 0, the directory untouched" sh -c '
	[ "$1" -eq 0 ] && [ "$(cat "$2/Windows/kept.txt")" = kept ]' _ "$rc" "$mnt"
rm -f "$mnt/Windows/kept.txt"

# ---- the mount directory is gone (a restart cleared it)
rm -rf "$mnt"
check "directory gone: Status : Needs Remount" [ "$(status_of "$mnt")" = "Needs Remount" ]
out=$("$DISM" /Commit-Image "/MountDir:$mnt" 2>&1); rc=$?
check "directory gone: Commit-Image fails and the WIM keeps its files" sh -c '
	[ "$1" -ne 0 ] && wimlib-imagex dir "$2" 1 2>/dev/null | grep -qx "/Windows/readme.txt"' _ "$rc" "$WIM"
out=$("$DISM" /Remount-Image "/MountDir:$mnt" 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
check "Remount-Image exits 0 and completes" sh -c '
	[ "$1" -eq 0 ] && echo "$2" | grep -qx "The operation completed successfully."' _ "$rc" "$out"
check "after the remount: Status : Ok" [ "$(status_of "$mnt")" = Ok ]
wimlist >"$T/wim.list"
treelist "$mnt" >"$T/tree.list"
check "after the remount: the directory holds every file of the index ($(wc -l <"$T/wim.list") names)" \
	sh -c '[ "$(wc -l <"$1")" -gt 20 ] && cmp -s "$1" "$2"' _ "$T/wim.list" "$T/tree.list"

# ---- the remounted directory is usable: commit reaches the WIM
echo "changed after remount" >"$mnt/Windows/readme.txt"
echo "new" >"$mnt/Windows/new.txt"
rm -f "$mnt/Windows/System32/f3.dll"
out=$("$DISM" /Commit-Image "/MountDir:$mnt" 2>&1); rc=$?
check "Commit-Image exits 0" [ "$rc" -eq 0 ]
check "the WIM holds the changes made after the remount" sh -c '
	[ "$(wimlib-imagex extract "$1" 1 /Windows/readme.txt --to-stdout 2>/dev/null)" = "changed after remount" ] &&
	[ "$(wimlib-imagex extract "$1" 1 /Windows/new.txt --to-stdout 2>/dev/null)" = new ] &&
	! wimlib-imagex dir "$1" 1 2>/dev/null | grep -qx "/Windows/System32/f3.dll" &&
	wimlib-imagex dir "$1" 1 2>/dev/null | grep -qx "/Windows/System32/f4.dll"' _ "$WIM"
check "after the commit: still mounted, Status : Ok" [ "$(status_of "$mnt")" = Ok ]

# ---- an extraction cut short: its process died half-way
"$DISM" /Unmount-Image "/MountDir:$mnt" /Commit >/dev/null 2>&1
"$DISM" /Mount-Image "/ImageFile:$WIM" /Index:1 "/MountDir:$mnt" >/dev/null 2>&1
record_set complete 0
record_set pid "$(dead_pid)"
rm -rf "$mnt/Windows/System32"
check "a dead extraction: Status : Needs Remount" [ "$(status_of "$mnt")" = "Needs Remount" ]
before=$(sha256sum "$WIM" | cut -d' ' -f1)
out=$("$DISM" /Remount-Image "/MountDir:$mnt" 2>&1); rc=$?
check "Remount-Image of a dead extraction exits 0, Status : Ok" sh -c '
	[ "$1" -eq 0 ] && [ "$2" = Ok ]' _ "$rc" "$(status_of "$mnt")"
wimlist >"$T/wim.list"
treelist "$mnt" >"$T/tree.list"
check "the extraction is whole again" sh -c '[ "$(wc -l <"$1")" -gt 20 ] && cmp -s "$1" "$2"' _ "$T/wim.list" "$T/tree.list"
"$DISM" /Unmount-Image "/MountDir:$mnt" /Discard >/dev/null 2>&1; rc=$?
after=$(sha256sum "$WIM" | cut -d' ' -f1)
check "unmount /Discard: exit 0, the WIM byte-identical, nothing mounted" sh -c '
	[ "$1" -eq 0 ] && [ "$2" = "$3" ] && "$4" /Get-MountedImageInfo | grep -qx "No mounted images found."' \
	_ "$rc" "$before" "$after" "$DISM"

# ---- an interrupted unmount: Invalid, cannot be remounted, cleaned up
"$DISM" /Mount-Image "/ImageFile:$WIM" /Index:1 "/MountDir:$mnt" >/dev/null 2>&1
record_set unmounting 1
record_set pid "$(dead_pid)"
check "an interrupted unmount: Status : Invalid" [ "$(status_of "$mnt")" = Invalid ]
out=$("$DISM" /Remount-Image "/MountDir:$mnt" 2>&1); rc=$?
check "Remount-Image refuses it (exit $rc)" sh -c '[ "$1" -ne 0 ] && echo "$2" | grep -q "^Error: "' _ "$rc" "$out"
"$DISM" /Cleanup-Mountpoints >/dev/null 2>&1
check "Cleanup-Mountpoints clears it" sh -c '"$1" /Get-MountedImageInfo | grep -qx "No mounted images found."' _ "$DISM"

# ---- a directory that was never mounted
out=$("$DISM" /Remount-Image "/MountDir:$T/never" 2>&1); rc=$?
check "Remount-Image of an unknown directory fails with an error block" sh -c '
	[ "$1" -ne 0 ] && echo "$2" | grep -q "^Error: "' _ "$rc" "$out"
out=$("$DISM" /Remount-Image /? 2>&1); rc=$?
check "/Remount-Image /? shows its syntax" sh -c '[ "$1" -eq 0 ] && echo "$2" | grep -q "^/Remount-Image /MountDir:<dir>"' _ "$rc" "$out"

echo "1..$n"
exit $failed
