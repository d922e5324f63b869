#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# /Add-Package on an offline directory tree: a generated WIM is mounted
# (extracted), a generated CAB is added with `dism /Image:`, the tree and
# then the committed WIM are read back with wimlib-imagex and hivexsh; a
# package that does not apply fails with 0x800f081e and leaves the tree as
# it was.  Speaks TAP.

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

tap_tmpdir dism_servicing.XXXXXX INT TERM

export TZ=UTC
export OFFSERV_DISM_MOUNT_METHOD=extract
export OFFSERV_TOP_SRCDIR="$top_src"
chmod 0755 "$plugdir" 2>/dev/null
printf '[site]\ncode = DSV\nroot = %s/site\n[plugins]\ndirectory = %s\n[offline_servicing]\ndrive = %s\n' \
	"$T" "$plugdir" "$T/drive" >"$T/offserv.ini"
mkdir -p "$T/drive"
export OFFSERV_CONFIG="$T/offserv.ini"

# ---- fixtures: an image, a package for it, a package for another build
WIM=$T/install.wim
"$MK" image "$WIM" --compress none --files 4 --seed 7 >/dev/null 2>"$T/mk.err" ||
	skip_all "offserv-mkfixture image failed: $(head -1 "$T/mk.err")"
CAB=$("$MK" package "$T/pkg" --kb 5000001 --files 2 --size-kb 16 --seed 7 2>"$T/mk.err") ||
	skip_all "offserv-mkfixture package failed: $(head -1 "$T/mk.err")"
NA=$("$MK" package "$T/na" --kb 5000002 --files 1 --size-kb 8 --not-applicable --seed 8 2>"$T/mk.err") ||
	skip_all "offserv-mkfixture package failed: $(head -1 "$T/mk.err")"

# ---- mount (extract)
mnt=$T/mnt
mkdir -p "$mnt"
"$DISM" /Mount-Image "/ImageFile:$WIM" /Index:1 "/MountDir:$mnt" >"$T/mount.out" 2>&1; rc=$?
check "mount exits 0 and extracts" sh -c '[ "$1" -eq 0 ] && [ -d "$2/Windows/System32" ]' _ "$rc" "$mnt"

# ---- a package that does not apply: 0x800f081e, exit 203, tree unchanged
snap() { (cd "$mnt" && find . -printf '%p %s %i %n\n' | sort && find . -type f -exec sha1sum {} + | sort) }
snap >"$T/before"
out=$("$DISM" "/Image:$mnt" /Add-Package "/PackagePath:$NA" 2>&1); rc=$?
check "not applicable: exit 203" [ "$rc" -eq 203 ]
check "not applicable: Error: 0x800f081e" sh -c 'echo "$1" | grep -qx "Error: 0x800f081e"' _ "$out"
snap >"$T/after"
check "not applicable: the tree is unchanged" cmp -s "$T/before" "$T/after"

# ---- /Get-PackageInfo /PackagePath reads the package file
out=$("$DISM" "/Image:$mnt" /Get-PackageInfo "/PackagePath:$NA" 2>&1); rc=$?
check "Get-PackageInfo /PackagePath: exit 0, identity, not applicable" sh -c '
	[ "$1" -eq 0 ] && echo "$2" | grep -q "^Package Identity : Package_for_RollupFix~31bf3856ad364e35~amd64~~" &&
	echo "$2" | grep -qx "Applicable : No" && echo "$2" | grep -qx "State : Not Present"' _ "$rc" "$out"

# ---- the package
out=$("$DISM" "/Image:$mnt" /Add-Package "/PackagePath:$CAB" 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
check "Add-Package exits 0" [ "$rc" -eq 0 ]
check "Add-Package says it completed" sh -c 'echo "$1" | grep -qx "The operation completed successfully."' _ "$out"
check "Add-Package announces the package" sh -c 'echo "$1" | grep -q "^Processing 1 of 1 - Adding package Package_for_RollupFix"' _ "$out"

out=$("$DISM" "/Image:$mnt" /Get-Packages 2>&1)
check "Get-Packages lists it as Installed" sh -c '
	echo "$1" | grep -A3 "^Package Identity : Package_for_RollupFix" | grep -qx "State : Installed"' _ "$out"

# every payload file: projected into System32 as a hard link of its WinSxS copy
files=0
links=0
for d in "$T"/pkg/*/; do
	kf=$(basename "$d")
	for f in "$d"*; do
		[ -f "$f" ] || continue
		name=$(basename "$f")
		files=$((files + 1))
		store="$mnt/Windows/WinSxS/$kf/$name"
		dest=$(find "$mnt/Windows/System32" -maxdepth 1 -iname "$name" | head -1)
		if [ -n "$dest" ] && [ -f "$store" ] &&
		   [ "$(stat -c %i "$dest")" = "$(stat -c %i "$store")" ] && cmp -s "$f" "$dest"; then
			links=$((links + 1))
		fi
	done
done
check "payload files are hard links of their WinSxS copies ($links of $files)" \
	sh -c '[ "$1" -gt 0 ] && [ "$1" -eq "$2" ]' _ "$links" "$files"
check "the package manifest is in servicing\\Packages" \
	sh -c 'ls "$1/Windows/servicing/Packages/" | grep -qi "^Package_for_RollupFix.*\.mum$"' _ "$mnt"

# ---- a folder of update files: the servicing stack goes first
SSU=$("$MK" package "$T/ssu" --kind ssu --kb 5000004 --files 1 --size-kb 8 --seed 4 2>/dev/null)
LCU2=$("$MK" package "$T/lcu2" --kb 5000005 --revision 4000 --files 1 --size-kb 8 --seed 5 2>/dev/null)
mkdir -p "$T/folder/a" "$T/folder/b"
cp "$LCU2" "$T/folder/a/" && cp "$SSU" "$T/folder/b/"
out=$("$DISM" "/Image:$mnt" /Add-Package "/PackagePath:$T/folder" 2>&1); rc=$?
check "a folder of packages: exit 0" [ "$rc" -eq 0 ]
check "a folder of packages: the servicing stack first" sh -c '
	echo "$1" | grep -q "^Processing 1 of 2 - Adding package Package_for_ServicingStack_" &&
	echo "$1" | grep -q "^Processing 2 of 2 - Adding package Package_for_RollupFix~.*~~19041\.4000\."' _ "$out"

# ---- an expanded package needing first-boot work: restart required, pending.xml
"$MK" package "$T/pend" --kind update --kb 5000003 --files 1 --size-kb 8 --pending --seed 3 >/dev/null 2>&1
out=$("$DISM" "/Image:$mnt" /Add-Package "/PackagePath:$T/pend/update.mum" "--exit-code-file=$T/ec" 2>&1); rc=$?
check "pending package: the restart exit status" sh -c '[ "$1" -eq 200 ] && [ "$(head -1 "$2")" = 3010 ]' _ "$rc" "$T/ec"
check "pending package: Windows\\WinSxS\\pending.xml written" [ -f "$mnt/Windows/WinSxS/pending.xml" ]
out=$("$DISM" "/Image:$mnt" /Get-Packages 2>&1)
check "pending package listed as Install Pending" sh -c '
	echo "$1" | grep -A3 "^Package Identity : Package_for_KB5000003" | grep -qx "State : Install Pending"' _ "$out"

# ---- a missing package file
out=$("$DISM" "/Image:$mnt" /Add-Package "/PackagePath:$T/none.cab" 2>&1); rc=$?
check "a missing package file: Error: 2, exit 2" sh -c '[ "$1" -eq 2 ] && echo "$2" | grep -qx "Error: 2"' _ "$rc" "$out"

# ---- commit back into the WIM
"$DISM" /Unmount-Image "/MountDir:$mnt" /Commit >"$T/unmount.out" 2>&1; rc=$?
check "unmount /Commit exits 0" [ "$rc" -eq 0 ]
list=$(wimlib-imagex dir "$WIM" 1 2>/dev/null)
check "the WIM holds the package manifest" \
	sh -c 'echo "$1" | grep -qi "^/Windows/servicing/Packages/Package_for_RollupFix.*\.mum$"' _ "$list"
group() { wimlib-imagex dir "$WIM" 1 "--path=$1" --detailed 2>/dev/null | sed -n 's/^Link Group ID *= *//p'; }
wlinks=0
wfiles=0
for d in "$T"/lcu2/*/; do
	kf=$(basename "$d")
	for f in "$d"*; do
		[ -f "$f" ] || continue
		name=$(basename "$f")
		wfiles=$((wfiles + 1))
		g1=$(group "/Windows/System32/$name")
		g2=$(group "/Windows/WinSxS/$kf/$name")
		[ -n "$g1" ] && [ "$g1" = "$g2" ] && wlinks=$((wlinks + 1))
	done
done
check "in the WIM, projections share their WinSxS copy's link group ($wlinks of $wfiles)" \
	sh -c '[ "$1" -gt 0 ] && [ "$1" -eq "$2" ]' _ "$wlinks" "$wfiles"
mkdir -p "$T/x"
wimlib-imagex extract "$WIM" 1 /Windows/System32/config/SOFTWARE "--dest-dir=$T/x" >/dev/null 2>&1
keys=$(printf 'cd \\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages\nls\n' |
	hivexsh "$T/x/SOFTWARE" 2>/dev/null)
pk=$(echo "$keys" | grep '^Package_for_RollupFix~.*~~19041\.4000\.' | head -1)
check "the committed SOFTWARE hive registers the latest package" [ -n "$pk" ]
cs=$(printf 'cd \\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages\\%s\nlsval\n' "$pk" |
	hivexsh "$T/x/SOFTWARE" 2>/dev/null)
check "with CurrentState 0x70 (Installed)" sh -c 'echo "$1" | grep -qx "\"CurrentState\"=dword:00000070"' _ "$cs"

echo "1..$n"
exit $failed
