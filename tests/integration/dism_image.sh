#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The dism program on a small generated WIM: image information, export,
# the mount model (extraction), packages of an offline directory, errors,
# exit codes and dism.log.  Speaks TAP.

top_src=${OFFSERV_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${OFFSERV_TOP_BUILDDIR:-$top_src}
. "$top_src/tests/integration/tap.sh"
DISM=$top_build/dism

[ -x "$DISM" ] || skip_all "dism not built at $DISM"
need_pkg wimlib-imagex wimtools
need_pkg hivexsh libhivex-bin
hive_src=$top_src/tests/fixtures/minimal.hive
[ -f "$hive_src" ] || hive_src=$top_src/../shared/fixtures/minimal.hive
[ -f "$hive_src" ] || skip_all "no minimal.hive fixture"

tap_tmpdir dism_image.XXXXXX INT TERM

export TZ=UTC
export OFFSERV_DISM_MOUNT_METHOD=extract
printf '[site]\nroot = %s/site\n' "$T" >"$T/offserv.ini"
export OFFSERV_CONFIG="$T/offserv.ini"
LOG=$T/site/Logs/dism.log

# ---- the image: a Windows-like tree with a SOFTWARE hive listing one package
PKG='Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.3920.1.2'
tree=$T/tree
mkdir -p "$tree/Windows/System32/config" "$tree/Windows/servicing/Packages" "$tree/Program Files"
cp "$hive_src" "$tree/Windows/System32/config/SOFTWARE"
chmod u+w "$tree/Windows/System32/config/SOFTWARE"
# 2026-11-24 04:09:00 UTC as a FILETIME
ft=$(( (1795493340 * 10000000) + 116444736000000000 ))
hi=$(printf '0x%08x' $(( ft >> 32 )))
lo=$(printf '0x%08x' $(( ft & 0xffffffff )))
hivexsh -w "$tree/Windows/System32/config/SOFTWARE" >/dev/null 2>&1 <<EOF
add Microsoft
cd Microsoft
add Windows NT
cd Windows NT
add CurrentVersion
cd CurrentVersion
setval 4
CurrentMajorVersionNumber
dword:10
CurrentMinorVersionNumber
dword:0
CurrentBuildNumber
string:19041
UBR
dword:3920
cd ..
cd ..
add Windows
cd Windows
add CurrentVersion
cd CurrentVersion
add Component Based Servicing
cd Component Based Servicing
add Packages
cd Packages
add $PKG
cd $PKG
setval 5
CurrentState
dword:0x70
InstallTimeHigh
dword:$hi
InstallTimeLow
dword:$lo
InstallClient
string:DISM Package Manager Provider
InstallName
string:update.mum
cd ..
add Microsoft-Windows-Foundation-Package~31bf3856ad364e35~amd64~~10.0.19041.1
cd Microsoft-Windows-Foundation-Package~31bf3856ad364e35~amd64~~10.0.19041.1
setval 1
CurrentState
dword:0x60
commit
EOF
cat >"$tree/Windows/servicing/Packages/$PKG.mum" <<'EOF'
<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" copyright="Copyright (c) Microsoft Corporation. All Rights Reserved.">
  <assemblyIdentity name="Package_for_RollupFix" version="19041.3920.1.2" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35"/>
  <package identifier="KB5034441" releaseType="Security Update" restart="possible">
    <update name="dummy"><component><assemblyIdentity name="Dummy" version="1.0.0.0" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35"/></component></update>
  </package>
</assembly>
EOF
echo "original" >"$tree/Windows/readme.txt"
echo "keep" >"$tree/Program Files/keep.txt"

WIM=$T/install.wim
if ! wimlib-imagex capture "$tree" "$WIM" "Windows 10 Pro" "Windows 10 Pro" >/dev/null 2>&1 ||
   ! wimlib-imagex append "$tree" "$WIM" "Windows 10 Enterprise" >/dev/null 2>&1; then
	skip_all "wimlib-imagex could not build the test image"
fi
for i in 1 2; do
	wimlib-imagex info "$WIM" $i \
		--image-property WINDOWS/ARCH=9 \
		--image-property WINDOWS/VERSION/MAJOR=10 \
		--image-property WINDOWS/VERSION/MINOR=0 \
		--image-property WINDOWS/VERSION/BUILD=19041 \
		--image-property WINDOWS/VERSION/SPBUILD=3920 \
		--image-property WINDOWS/VERSION/SPLEVEL=0 \
		--image-property WINDOWS/EDITIONID=Professional \
		--image-property WINDOWS/INSTALLATIONTYPE=Client \
		--image-property WINDOWS/LANGUAGES/LANGUAGE=en-US \
		--image-property WINDOWS/LANGUAGES/DEFAULT=en-US >/dev/null 2>&1
done

echo "1..33"

# ---- /Get-ImageInfo, both layouts
out=$("$DISM" /Get-ImageInfo "/ImageFile:$WIM"); rc=$?
check "Get-ImageInfo exits 0" [ "$rc" -eq 0 ]
check "banner first line" [ "$(echo "$out" | head -1)" = "Deployment Image Servicing and Management tool" ]
check "list shows both indexes" [ "$(echo "$out" | grep -c '^Index : [12]$')" -eq 2 ]
check "list names" sh -c 'echo "$1" | grep -qx "Name : Windows 10 Enterprise"' _ "$out"
check "size with thousands separators" sh -c 'echo "$1" | grep -Eqx "Size : [0-9]{1,3}(,[0-9]{3})* bytes"' _ "$out"

out=$("$DISM" /Get-ImageInfo "/ImageFile:$WIM" /Index:1); rc=$?
check "Get-ImageInfo /Index:1 exits 0" [ "$rc" -eq 0 ]
check "Architecture : x64" sh -c 'echo "$1" | grep -qx "Architecture : x64"' _ "$out"
check "Version : 10." sh -c 'echo "$1" | grep -q "^Version : 10\.0\.19041$"' _ "$out"
check "ServicePack Build" sh -c 'echo "$1" | grep -qx "ServicePack Build : 3920"' _ "$out"
check "language line ends with (Default)" sh -c 'echo "$1" | grep -qx "        en-US (Default)"' _ "$out"
check "dates in DISM form" sh -c 'echo "$1" | grep -Eqx "Created : [0-9]{1,2}/[0-9]{1,2}/[0-9]{4} - [0-9]{1,2}:[0-9]{2}:[0-9]{2} (AM|PM)"' _ "$out"

legacy=$("$DISM" /get-wiminfo "/wimfile=$WIM" /index=1)
check "legacy /Get-WimInfo /WimFile gives the same output" [ "$legacy" = "$out" ]

# ---- errors and exit codes
out=$("$DISM" /Get-ImageInfo "/ImageFile:$WIM" /Bogus "--exit-code-file=$T/ec"); rc=$?
check "unknown option exits 87" [ "$rc" -eq 87 ]
check "unknown option message" sh -c 'echo "$1" | grep -qx "DISM doesn'"'"'t recognize the command-line option \"/Bogus\"."' _ "$out"
check "error block names the log" sh -c 'echo "$1" | grep -qx "The DISM log file can be found at $2"' _ "$out" "$LOG"
check "exit code file holds 87" [ "$(head -1 "$T/ec")" = "87" ]

# ---- /Export-Image
"$DISM" /Export-Image "/SourceImageFile:$WIM" /SourceIndex:2 "/DestinationImageFile:$T/export.wim" \
	/DestinationName:Exported /Compress:fast >/dev/null; rc=$?
out=$("$DISM" /Get-ImageInfo "/ImageFile:$T/export.wim")
check "export creates a one-image WIM" sh -c '[ "$2" -eq 0 ] && echo "$1" | grep -qx "Name : Exported" && [ "$(echo "$1" | grep -c "^Index : ")" -eq 1 ]' _ "$out" "$rc"

# ---- /Get-Packages on an offline directory
out=$("$DISM" "/Image:$tree" /Get-Packages); rc=$?
check "Get-Packages exits 0" [ "$rc" -eq 0 ]
check "Image Version line" sh -c 'echo "$1" | grep -qx "Image Version: 10.0.19041.3920"' _ "$out"
check "package identity, state, release type, install time" sh -c '
	echo "$1" | grep -qx "Package Identity : $2" &&
	echo "$1" | grep -qx "State : Installed" &&
	echo "$1" | grep -qx "State : Install Pending" &&
	echo "$1" | grep -qx "Release Type : Security Update" &&
	echo "$1" | grep -qx "Install Time : 11/24/2026 4:09 AM"' _ "$out" "$PKG"
out=$("$DISM" "/Image:$tree" /Get-Packages /Format:Table)
check "table layout" sh -c 'echo "$1" | grep -q "^Package Identity  *| State  *| Release Type  *| Install Time"' _ "$out"

# ---- /Get-Packages on an image whose SOFTWARE hive has no servicing key:
# DISM prints the header, an empty list, and succeeds
bare=$T/bare
mkdir -p "$bare/Windows/System32/config"
cp "$hive_src" "$bare/Windows/System32/config/SOFTWARE"
chmod u+w "$bare/Windows/System32/config/SOFTWARE"
out=$("$DISM" "/Image:$bare" /Get-Packages); rc=$?
check "no Packages key: exit 0, the header and no package" sh -c '
	[ "$1" -eq 0 ] && echo "$2" | grep -qx "Packages listing:" &&
	! echo "$2" | grep -q "^Package Identity : " &&
	echo "$2" | grep -qx "The operation completed successfully."' _ "$rc" "$out"
check "no Packages key: the list ends the output (header, blank, verdict)" sh -c '
	[ "$(echo "$1" | tail -3 | head -1)" = "Packages listing:" ] && [ -z "$(echo "$1" | tail -2 | head -1)" ]' _ "$out"
out=$("$DISM" "/Image:$bare" /Get-Packages /Format:Table); rc=$?
check "no Packages key, table layout: exit 0, the header rows only" sh -c '
	[ "$1" -eq 0 ] && [ "$(echo "$2" | grep -c "^-* | -* | -* | -*$")" -eq 2 ] &&
	! echo "$2" | grep -q "^Package_"' _ "$rc" "$out"

# ---- mount (extraction), commit, discard
mnt=$T/mount
mkdir "$mnt"
"$DISM" /Mount-Image "/ImageFile:$WIM" /Index:1 "/MountDir:$mnt" >/dev/null; rc=$?
check "mount exits 0 and extracts" sh -c '[ "$1" -eq 0 ] && [ -f "$2/Windows/readme.txt" ]' _ "$rc" "$mnt"
out=$("$DISM" /Get-MountedImageInfo)
check "mounted image listed Ok" sh -c 'echo "$1" | grep -qx "Mount Dir : $2" && echo "$1" | grep -qx "Status : Ok" && echo "$1" | grep -qx "Mounted Read/Write : Yes"' _ "$out" "$mnt"
echo "changed" >"$mnt/Windows/readme.txt"
echo "added" >"$mnt/Windows/new.txt"
"$DISM" /Unmount-Image "/MountDir:$mnt" /Commit >/dev/null; rc=$?
check "commit: the WIM holds the change" sh -c '[ "$1" -eq 0 ] &&
	[ "$(wimlib-imagex extract "$2" 1 /Windows/readme.txt --to-stdout 2>/dev/null)" = changed ] &&
	[ "$(wimlib-imagex extract "$2" 1 /Windows/new.txt --to-stdout 2>/dev/null)" = added ] &&
	[ "$(wimlib-imagex extract "$2" 2 /Windows/readme.txt --to-stdout 2>/dev/null)" = original ]' _ "$rc" "$WIM"

before=$(sha256sum "$WIM" | cut -d' ' -f1)
"$DISM" /Mount-Wim "/WimFile:$WIM" /Index:2 "/MountDir:$mnt" >/dev/null
echo "discard me" >"$mnt/Windows/readme.txt"
"$DISM" /Unmount-Wim "/MountDir:$mnt" /Discard >/dev/null; rc=$?
after=$(sha256sum "$WIM" | cut -d' ' -f1)
check "discard leaves the WIM byte-identical and the directory empty" sh -c '[ "$1" -eq 0 ] && [ "$2" = "$3" ] && [ -z "$(ls -A "$4")" ]' _ "$rc" "$before" "$after" "$mnt"

out=$("$DISM" /Get-MountedImageInfo)
check "no mounted images after unmount" sh -c 'echo "$1" | grep -qx "No mounted images found."' _ "$out"

# ---- a dead mount: Invalid, then cleaned up
dead=$T/dead
mkdir "$dead"
"$DISM" /Mount-Image "/ImageFile:$WIM" /Index:1 "/MountDir:$dead" /ReadOnly >/dev/null
rm -rf "$dead"
out=$("$DISM" /Get-MountedImageInfo)
check "a mount whose directory is gone Needs Remount" sh -c 'echo "$1" | grep -qx "Status : Needs Remount"' _ "$out"
"$DISM" /Cleanup-Mountpoints >/dev/null
out=$("$DISM" /Get-MountedImageInfo)
check "Cleanup-Mountpoints clears it" sh -c 'echo "$1" | grep -qx "No mounted images found."' _ "$out"

# ---- servicing verbs; dism.log
out=$("$DISM" "/Image:$tree" /Add-Package "/PackagePath:$T/none.cab" "--exit-code-file=$T/ec2"); rc=$?
check "Add-Package of a missing file: Error 2, exit 2" sh -c '[ "$1" -eq 2 ] && echo "$2" | grep -qx "Error: 2" && [ "$(sed -n 2p "$3")" = 2 ]' _ "$rc" "$out" "$T/ec2"
check "dism.log has the session lines" sh -c '
	grep -q "^[0-9-]* [0-9:]*, Info                  DISM   DISM.EXE: <----- Starting Dism.exe session ----->$" "$1" &&
	grep -q "DISM.EXE: Executing command line: .*/Get-ImageInfo" "$1" &&
	grep -q "DISM Package Manager processed the command line but failed. HRESULT=80070002" "$1" &&
	grep -q "DISM.EXE: <----- Ending Dism.exe session ----->$" "$1"' _ "$LOG"

exit $failed
