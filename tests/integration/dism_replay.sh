#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Golden replay: the command lines that widely used scripts send to
# dism.exe, sent here as they are written (with /Image: where they use
# /Online), and their output parsed with the same matches those scripts
# use (findstr / for /f tokens, Ruby and Python regular expressions,
# reproduced in sh, grep and awk).  The values parsed must equal what the
# image holds, read independently (wimlib-imagex, the package manifests,
# the servicing folder).  The origin of each command line is named where
# it is replayed.  Speaks TAP.

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
need_tool gcab "gcab not installed (the fixtures need it)"
echo x | grep -P 'x' >/dev/null 2>&1 || skip_all "grep without -P (PCRE) cannot replay Salt's regular expression"
export PATH="$PATH:/sbin:/usr/sbin"
need_pkg mkntfs ntfs-3g

tap_tmpdir dism_replay.XXXXXX INT TERM

export TZ=UTC
export OFFSERV_DISM_MOUNT_METHOD=extract
export OFFSERV_TOP_SRCDIR="$top_src"
chmod 0755 "$plugdir" 2>/dev/null
printf '[site]\ncode = DRP\nroot = %s/site\n[plugins]\ndirectory = %s\n[offline_servicing]\ndrive = %s\n' \
	"$T" "$plugdir" "$T/drive" >"$T/offserv.ini"
mkdir -p "$T/drive" "$T/scratch" "$T/logs"
export OFFSERV_CONFIG="$T/offserv.ini"

WIM=$T/install.wim
"$MK" image "$WIM" --indexes 2 --compress none --files 4 --seed 21 >/dev/null 2>"$T/mk.err" ||
	skip_all "offserv-mkfixture image failed: $(head -1 "$T/mk.err")"
L1=$("$MK" package "$T/l1" --kb 5000011 --revision 3920 --files 2 --replace 2 --size-kb 8 --seed 1 2>"$T/mk.err") &&
L2=$("$MK" package "$T/l2" --kb 5000012 --revision 4000 --files 2 --replace 2 --size-kb 8 --seed 2 2>"$T/mk.err") &&
UPD=$("$MK" package "$T/upd" --kind update --kb 5000016 --files 1 --size-kb 8 --seed 6 2>"$T/mk.err") &&
UPD2=$("$MK" package "$T/upd2" --kind update --kb 5000017 --files 1 --size-kb 8 --seed 7 2>"$T/mk.err") &&
NA=$("$MK" package "$T/na" --kb 5000019 --files 1 --size-kb 8 --not-applicable --seed 9 2>"$T/mk.err") ||
	skip_all "offserv-mkfixture package failed: $(head -1 "$T/mk.err")"

# The identity an update.mum declares, read with sed (not with dism).
identity() {
	el=$(grep -o '<assemblyIdentity [^>]*>' "$1/update.mum" | head -1)
	attr() { echo "$el" | sed -n "s/.* $1=\"\([^\"]*\)\".*/\1/p"; }
	echo "$(attr name)~$(attr publicKeyToken)~$(attr processorArchitecture)~~$(attr version)"
}
ID1=$(identity "$T/l1")
ID2=$(identity "$T/l2")
IDU=$(identity "$T/upd")
IDU2=$(identity "$T/upd2")
# The packages the servicing folder of the tree holds (what DISM lists), sorted.
held() { ls "$mnt/Windows/servicing/Packages/" | sed -n 's/\.mum$//p' | sort; }
# An exit code as cmd's %=ExitCode% shows it (8 hex digits), from /ExitCodeFile.
exitcode_hex() { awk 'NR == 1 { v = $1 + 0; if (v < 0) v += 4294967296; printf "%08X\n", v }' "$1"; }

mnt=$T/mnt
mkdir -p "$mnt"
"$DISM" /Mount-Image "/ImageFile:$WIM" /Index:1 "/MountDir:$mnt" >/dev/null 2>&1 ||
	skip_all "the image could not be mounted"

# ======================================================================
# W10UI (abbodi1406/BatUtil, W10UI/W10UI.cmd)
# ======================================================================
# for /f "tokens=2 delims=: " %%# in ('dism.exe /english /get-wiminfo /wimfile:"%targetname%" /index:1 ^| find /i "Architecture"') do set arch=%%#
arch=$("$DISM" /english /get-wiminfo "/wimfile:\"$WIM\"" /index:1 | grep -i "Architecture" |
	awk -F '[: ]+' '{ a = $2 } END { print a }')
warch=$(wimlib-imagex info "$WIM" 1 | sed -n 's/^Architecture: *//p')
case $warch in x86_64) warch=x64 ;; ARM64) warch=arm64 ;; esac
check "W10UI: Architecture through find /i and tokens=2 ($arch) = the WIM's ($warch)" \
	sh -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$arch" "$warch"
# for /f "tokens=2 delims=: " %%# in ('dism.exe /english /get-wiminfo /wimfile:"%targetname%" ^| find /i "Index"') do set imgcount=%%#
imgcount=$("$DISM" /english /get-wiminfo "/wimfile:\"$WIM\"" | grep -i "Index" | awk -F '[: ]+' '{ c = $2 } END { print c }')
wcount=$(wimlib-imagex info "$WIM" | sed -n 's/^Image Count: *//p')
check "W10UI: image count from the last Index line ($imgcount) = the WIM's ($wcount)" \
	sh -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$imgcount" "$wcount"
# for /L %%# in (1,1,!imgcount!) do for /f "tokens=1* delims=: " %%i in ('dism.exe /english /get-wiminfo /wimfile:"%targetname%" /index:%%# ^| findstr /b /c:"Name"') do set name%%#="%%j"
names_ok=1
i=1
while [ "$i" -le "${imgcount:-0}" ]; do
	name=$("$DISM" /english /get-wiminfo "/wimfile:\"$WIM\"" "/index:$i" | grep '^Name' |
		sed 's/^[: ]*[^: ]*[: ]*//' | tail -1)
	wname=$(wimlib-imagex info "$WIM" "$i" | sed -n 's/^Name: *//p')
	[ -n "$name" ] && [ "$name" = "$wname" ] || { names_ok=0; echo "# index $i: '$name' <> '$wname'"; }
	i=$((i + 1))
done
check "W10UI: each index's Name through findstr /b and tokens=1* = the WIM's" [ "$names_ok" -eq 1 ]

# set "_dism2=%dismroot% /English /NoRestart /ScratchDir" ... set dismtarget=/image:"!mountdir!"
# set "ldr=!ldr! /PackagePath:%dest%\update.mum" (one per package)
# %_dism2%:"!_cabdir!" %dismtarget% /LogPath:"%_dLog%\DismUpdt.log" /Add-Package %ldr%
# cmd /c exit /b !errorlevel!  ...  if /i "!=ExitCode!" neq "00000000" ...
"$DISM" /English /NoRestart "/ScratchDir:\"$T/scratch\"" "/image:\"$mnt\"" "/LogPath:\"$T/logs/DismUpdt.log\"" \
	/Add-Package "/PackagePath:$T/upd/update.mum" "/PackagePath:$T/upd2/update.mum" \
	"--exit-code-file=$T/ec.w10ui" >"$T/w10ui.out" 2>&1
check "W10UI: Add-Package with two /PackagePath: =ExitCode 00000000" [ "$(exitcode_hex "$T/ec.w10ui")" = 00000000 ]
check "W10UI: both packages are in the servicing folder" sh -c '
	held() { ls "$1/Windows/servicing/Packages/" | sed -n "s/\.mum\$//p"; }
	held "$1" | grep -qx "$2" && held "$1" | grep -qx "$3"' _ "$mnt" "$IDU" "$IDU2"
check "W10UI: the log is where /LogPath put it" \
	grep -q "DISM.EXE: <----- Starting Dism.exe session ----->" "$T/logs/DismUpdt.log"
# if /i "!=ExitCode!" neq "00000000" if /i "!=ExitCode!" neq "800f081e" goto :errmount
"$DISM" /English /NoRestart "/ScratchDir:\"$T/scratch\"" "/image:\"$mnt\"" "/LogPath:\"$T/logs/DismWinPE.log\"" \
	/Add-Package "/PackagePath:$T/na/update.mum" "--exit-code-file=$T/ec.na" >/dev/null 2>&1
check "W10UI: a package that does not apply: =ExitCode 800F081E (the value W10UI tolerates)" \
	sh -c '[ "$(echo "$1" | tr A-F a-f)" = 800f081e ]' _ "$(exitcode_hex "$T/ec.na")"

# ======================================================================
# Chef (chef/chef, lib/chef/provider/package/cab.rb): cab_package
#   shell_out("dism.exe /Online /English #{command} /NoRestart"), output with CR LF
# ======================================================================
export OFFSERV_DISM_CRLF=1
chef_dism() { "$DISM" "/Image:$mnt" /English "$@" /NoRestart; }
# parse_dism_get_package_info: sections "Package information", "Custom
# Properties", "Features"; /(.*) ?: (.*)/ with the key downcased, stripped,
# spaces to underscores; the package identity split on "~", version chomped.
chef_package_identity() {
	awk '
	/^(Package information|Custom Properties|Features)/ {
		s = $0; sub(/:.*/, "", s); s = tolower(s); gsub(/ /, "_", s); sec = s; next }
	{
		p = 0; t = $0
		while ((q = index(substr(t, p + 1), ": ")) > 0) p += q
		if (p == 0) next
		k = substr($0, 1, p - 1); v = substr($0, p + 2)
		sub(/ $/, "", k); k = tolower(k); gsub(/^[ \t]+|[ \t\r]+$/, "", k); gsub(/ /, "_", k)
		if (sec == "package_information" && k == "package_identity") { print v; exit }
	}'
}
# parse_dism_get_packages: lines starting with "Package Identity", split(":"), value strip.chomp
chef_installed() { awk '/^Package Identity/ { split($0, kv, ":"); v = kv[2]; gsub(/^[ \t]+|[ \t\r\n]+$/, "", v); print v }'; }
# installed_version: an installed identity with the same name and version
chef_installed_version() { # IDENTITY
	want_name=$(echo "$1" | cut -d~ -f1)
	want_ver=$(echo "$1" | cut -d~ -f5 | tr -d '\r')
	chef_dism /Get-Packages | chef_installed | awk -F '~' -v n="$want_name" -v v="$want_ver" '$1 == n && $5 == v { print $5 }'
}
# cab_identity_from_cab_file: dism_command("/Get-PackageInfo /PackagePath:\"#{cab_file_source}\"")
chef_id=$(chef_dism /Get-PackageInfo "/PackagePath:\"$L1\"" | chef_package_identity)
check "Chef: Get-PackageInfo /PackagePath parsed to the cab's identity" \
	sh -c '[ "$(printf %s "$1" | tr -d "\r")" = "$2" ]' _ "$chef_id" "$ID1"
check "Chef: before install, installed_version is nil" [ -z "$(chef_installed_version "$chef_id")" ]
# install_package: dism_command("/Add-Package /PackagePath:\"#{cab_file_source}\"")
chef_dism /Add-Package "/PackagePath:\"$L1\"" >"$T/chef.add" 2>&1; rc=$?
check "Chef: Add-Package exit status 0 (not -2146498530)" [ "$rc" -eq 0 ]
check "Chef: installed_version = package_version" \
	sh -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$(chef_installed_version "$chef_id")" "$(echo "$ID1" | cut -d~ -f5)"
# The not-applicable branch: exitstatus -2146498530 and stdout includes "0x800f081e"
chef_dism /Add-Package "/PackagePath:\"$NA\"" "--exit-code-file=$T/ec.chef" >"$T/chef.na" 2>&1
check "Chef: a package that does not apply reads as -2146498530 with 0x800f081e in stdout" sh -c '
	[ "$(head -1 "$1")" = -2146498530 ] && grep -q "0x800f081e" "$2"' _ "$T/ec.chef" "$T/chef.na"
# remove_package: dism_command("/Remove-Package /PackagePath:\"#{cab_file_source}\"")
chef_dism /Remove-Package "/PackagePath:\"$L1\"" >"$T/chef.rm" 2>&1; rc=$?
check "Chef: Remove-Package /PackagePath exits 0 and installed_version is nil again" \
	sh -c '[ "$1" -eq 0 ] && [ -z "$2" ]' _ "$rc" "$(chef_installed_version "$chef_id")"
check "Chef: every line of its output ends in CR LF" sh -c '! grep -qv "$(printf "\r")\$" "$1"' _ "$T/chef.rm"

# ======================================================================
# Salt (saltstack/salt, salt/modules/win_dism.py), output with CR LF
# ======================================================================
# _get_components: ['DISM', '/Image:{0}', '/Get-Packages'] and
# re.findall(r'Package Identity : (.*)\r\n.*State : Installed\r\n', out, re.MULTILINE), sorted
salt_installed() {
	"$DISM" "/Image:$mnt" /Get-Packages | grep -Pzo 'Package Identity : \K.*(?=\r\n.*State : Installed\r\n)' |
		tr '\0' '\n' | sort
}
# Nothing is superseded at this point: every package held is Installed.
salt_installed >"$T/salt.list"
held >"$T/held.list"
check "Salt: installed_packages (its regex on CR LF output) = the servicing folder ($(wc -l <"$T/salt.list") packages)" \
	sh -c '[ "$(wc -l <"$1")" -gt 0 ] && cmp -s "$1" "$2"' _ "$T/salt.list" "$T/held.list"
# package_info: ['DISM', '/Image:{0}', '/Get-PackageInfo', '/PackagePath:{0}'], lines split on ' : '
salt_info=$("$DISM" "/Image:$mnt" /Get-PackageInfo "/PackagePath:$L2" | tr -d '\r' |
	awk -F ' : ' '/ : / && $1 == "Package Identity" { print $2 }')
check "Salt: package_info['Package Identity'] = the cab's identity" [ "$salt_info" = "$ID2" ]
# add_package: ['DISM', '/Quiet', '/Image:{0}', '/Add-Package', '/PackagePath:{0}', '/NoRestart']
out=$("$DISM" /Quiet "/Image:$mnt" /Add-Package "/PackagePath:$L2" /NoRestart); rc=$?
check "Salt: add_package retcode 0 and /Quiet prints nothing" sh -c '[ "$1" -eq 0 ] && [ -z "$2" ]' _ "$rc" "$out"
salt_installed >"$T/salt.list"
check "Salt: the identity is in installed_packages afterwards" grep -qx "$ID2" "$T/salt.list"
# remove_package: ['DISM', '/Quiet', '/Image:{0}', '/Remove-Package', '/NoRestart', '/PackageName:{0}'] ('~' in package)
out=$("$DISM" /Quiet "/Image:$mnt" /Remove-Package /NoRestart "/PackageName:$ID2"); rc=$?
salt_installed >"$T/salt.list"
check "Salt: remove_package by name: retcode 0, silent, no longer installed" sh -c '
	[ "$1" -eq 0 ] && [ -z "$2" ] && ! grep -qx "$3" "$4"' _ "$rc" "$out" "$ID2" "$T/salt.list"
unset OFFSERV_DISM_CRLF

# ======================================================================
# MSMG Toolkit (MSMG ToolKit, Toolkit.cmd)
#   set "DismFormat=/English /ScratchDir:%DismScratch% /LogPath:%Logs%\Dism.txt /LogLevel:3 /NoRestart"
#   set "DISM=%DISM% %DismFormat%"
# ======================================================================
msmg() { "$DISM" /English "/ScratchDir:$T/scratch" "/LogPath:$T/logs/Dism.txt" /LogLevel:3 /NoRestart "$@"; }
# :AddPackage   %DISM% /Image:%~1 /Add-Package /PackagePath:%~2
msmg "/Image:$mnt" /Add-Package "/PackagePath:$UPD" >/dev/null 2>&1
# :GetPackages  %DISM% /Get-Packages /Image:%~1 > %Logs%\%~2   (the command before /Image)
msmg /Get-Packages "/Image:$mnt" >"$T/logs/Packages.txt" 2>&1; rc=$?
check "MSMG: /Get-Packages before /Image: exit 0, every held package listed" sh -c '
	[ "$1" -eq 0 ] && for p in $3; do grep -qx "Package Identity : $p" "$2" || exit 1; done' _ "$rc" "$T/logs/Packages.txt" "$(held)"
# for /f "tokens=2 delims=:" %%a in ('%DISM% /Image:%~1 /Get-Packages ^| find /I "%~3"') do ( set PackageName=%%a )
# if "%SelectedSourceOS%" neq "w7" set PackageName=%PackageName:~1,-1%
frag=$(echo "$IDU2" | cut -d~ -f1)
raw=$(msmg "/Image:$mnt" /Get-Packages | grep -i "$frag" | awk -F ':' '{ v = $2 } END { print v }')
pkgname=$(printf '%s ' "$raw" | sed 's/^.//; s/.$//')
check "MSMG: find /I and tokens=2 delims=: give the identity after one blank" [ "$raw" = " $IDU2" ]
# `( set PackageName=%%a )` keeps the blank before `)`, so the value ends in a
# space; ~1,-1 then drops the blank after "Package Identity :" and that space.
check "MSMG: %PackageName:~1,-1% of the value set with its trailing blank names the package" \
	[ "$pkgname" = "$IDU2" ]
# :RemovePackage  %DISM% /Image:%~1 /Remove-Package /PackageName:%PackageName%
msmg "/Image:$mnt" /Remove-Package "/PackageName:$pkgname" >/dev/null 2>&1; rc=$?
check "MSMG: Remove-Package /PackageName: exit 0, the package left the servicing folder" \
	sh -c '[ "$1" -eq 0 ] && ! ls "$2/Windows/servicing/Packages/" | grep -qix "$3\.mum"' _ "$rc" "$mnt" "$IDU2"
# %DISM% /Format:Table /Image:"%InstallMount%" /Get-Packages | findstr /c:"GVLK-Package" >nul  (errorlevel)
msmg /Format:Table "/Image:$mnt" /Get-Packages | grep -F -q "$IDU"; rc1=$?
msmg /Format:Table "/Image:$mnt" /Get-Packages | grep -F -q "GVLK-Package"; rc2=$?
check "MSMG: findstr on the table finds a held package (errorlevel 0) and not an absent one (1)" \
	sh -c '[ "$1" -eq 0 ] && [ "$2" -eq 1 ]' _ "$rc1" "$rc2"
check "MSMG: the log is %Logs%\\Dism.txt" grep -q "DISM.EXE: Executing command line: " "$T/logs/Dism.txt"

# ======================================================================
# OSDBuilder (OSDeploy/OSDBuilder, Private/*.ps1, its image cleanup step)
#   Dism /Image:"$MountDirectory" /Cleanup-Image /StartComponentCleanup /ResetBase /LogPath:"$CurrentLog"
# ======================================================================
msmg "/Image:$mnt" /Add-Package "/PackagePath:$L1" >/dev/null 2>&1
msmg "/Image:$mnt" /Add-Package "/PackagePath:$L2" >/dev/null 2>&1
CurrentLog="$T/logs/$(date -u +%Y-%m-%d-%H%M%S)-Dism-Cleanup-Image.log"
out=$("$DISM" "/Image:\"$mnt\"" /Cleanup-Image /StartComponentCleanup /ResetBase "/LogPath:\"$CurrentLog\"" 2>&1); rc=$?
check "OSDBuilder: Cleanup-Image /StartComponentCleanup /ResetBase: exit 0, completed" sh -c '
	[ "$1" -eq 0 ] && echo "$2" | grep -qx "The operation completed successfully."' _ "$rc" "$out"
check "OSDBuilder: the log is at \$CurrentLog" grep -q "Cleanup-Image" "$CurrentLog"
check "OSDBuilder: the superseded update left the servicing folder, the newer stayed" \
	sh -c '! echo "$1" | grep -qx "$2" && echo "$1" | grep -qx "$3"' _ "$(held)" "$ID1" "$ID2"

# ======================================================================
# W10UI again, after its updates: the two cleanup passes
#   %_dism2%:"!_cabdir!" %dismtarget% /LogPath:"%_dLog%\DismCleanup.log" /Cleanup-Image /StartComponentCleanup
#   %_dism2%:"!_cabdir!" %dismtarget% /LogPath:"%_dLog%\DismCleanup.log" /Cleanup-Image /StartComponentCleanup /ResetBase
# ======================================================================
"$DISM" /English /NoRestart "/ScratchDir:\"$T/scratch\"" "/image:\"$mnt\"" "/LogPath:\"$T/logs/DismCleanup.log\"" \
	/Cleanup-Image /StartComponentCleanup "--exit-code-file=$T/ec.c1" >/dev/null 2>&1
"$DISM" /English /NoRestart "/ScratchDir:\"$T/scratch\"" "/image:\"$mnt\"" "/LogPath:\"$T/logs/DismCleanup.log\"" \
	/Cleanup-Image /StartComponentCleanup /ResetBase "--exit-code-file=$T/ec.c2" >/dev/null 2>&1
check "W10UI: both cleanup passes: =ExitCode 00000000" sh -c '
	[ "$1" = 00000000 ] && [ "$2" = 00000000 ]' _ "$(exitcode_hex "$T/ec.c1")" "$(exitcode_hex "$T/ec.c2")"
check "W10UI: DismCleanup.log holds both sessions" \
	sh -c '[ "$(grep -c "<----- Starting Dism.exe session ----->" "$1")" -eq 2 ]' _ "$T/logs/DismCleanup.log"
check "the scratch folder given with /ScratchDir is left empty" sh -c '[ -z "$(ls -A "$1")" ]' _ "$T/scratch"

"$DISM" /Unmount-Image "/MountDir:$mnt" /Discard >/dev/null 2>&1
echo "1..$n"
exit $failed
