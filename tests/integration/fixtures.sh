#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The fixture generator makes images, packages and MSUs in the forms the
# reference describes: checked here with wimlib-imagex, hivexsh and cabextract.
set -u

top_build=${OFFSERV_TOP_BUILDDIR:-.}
top_src=${OFFSERV_TOP_SRCDIR:-.}
. "$top_src/tests/integration/tap.sh"
MK=$top_build/tests/fixtures/offserv-mkfixture
export OFFSERV_TOP_SRCDIR="$top_src"

need_tools wimlib-imagex hivexsh cabextract openssl
[ -x "$MK" ] || skip_all "$MK was not built"

tap_tmpdir offserv-fixtures-XXXXXX
tap_out=$T/out

echo "1..21"

SSK=amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.1_none_bf506ecc66a800df
PKGS='\Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages'
FOUND=Microsoft-Windows-Foundation-Package~31bf3856ad364e35~amd64~~10.0.19041.1

# 1-5: the image and its XML.
check "image with two indexes is generated" \
	"$MK" image "$T/img.wim" --indexes 2 --editions Professional,Enterprise --compress none --seed 7
wimlib-imagex info "$T/img.wim" >"$T/info" 2>&1
check "WIM has 2 images" grep -q '^Image Count: *2$' "$T/info"
check "XML carries Windows properties" sh -c "
	grep -q '^Architecture: *x86_64' '$T/info' &&
	grep -q '^Edition ID: *Professional' '$T/info' &&
	grep -q '^Edition ID: *Enterprise' '$T/info' &&
	grep -q '^Build: *19041' '$T/info' &&
	grep -q '^Service Pack Build: *1$' '$T/info' &&
	grep -q '^Product Type: *WinNT' '$T/info' &&
	grep -q '^Product Suite: *Terminal Server' '$T/info' &&
	grep -q '^Installation Type: *Client' '$T/info' &&
	grep -q '^Default Language: *en-US' '$T/info' &&
	grep -q '^System Root: *WINDOWS' '$T/info' &&
	grep -q '^Major Version: *10' '$T/info'"
check "wimlib-imagex verify passes" wimlib-imagex verify "$T/img.wim"
wimlib-imagex dir "$T/img.wim" 1 >"$T/dir1" 2>&1
check "servicing stack in the store under its key form" sh -c "
	grep -qx '/Windows/WinSxS/$SSK/TrustedInstaller.exe' '$T/dir1' &&
	grep -qx '/Windows/WinSxS/Manifests/$SSK.manifest' '$T/dir1' &&
	grep -qx '/Windows/servicing/Packages/$FOUND.mum' '$T/dir1' &&
	grep -qx '/Windows/servicing/Packages/$FOUND.cat' '$T/dir1'"

# 6: System32 projections share an inode with their WinSxS twin.
k32=$(grep -E '^/Windows/WinSxS/amd64_microsoft-windows-kernel32_[^/]*/kernel32.dll$' "$T/dir1")
wimlib-imagex dir "$T/img.wim" 1 --detailed --path=/Windows/System32/kernel32.dll >"$T/a" 2>&1
wimlib-imagex dir "$T/img.wim" 1 --detailed --path="$k32" >"$T/b" 2>&1
ga=$(grep 'Link Group ID' "$T/a")
gb=$(grep 'Link Group ID' "$T/b")
if [ -n "$k32" ] && [ -n "$ga" ] && [ "$ga" = "$gb" ] && grep -q 'Link Count *= 2' "$T/a"; then
	ok "System32/kernel32.dll is hard-linked to $k32"
else
	not_ok "System32/kernel32.dll is hard-linked to its WinSxS twin"
	sed 's/^/# /' "$T/a" "$T/b"
fi

# 7-9: hives.
mkdir "$T/x"
wimlib-imagex extract "$T/img.wim" 2 /Windows/System32/config --dest-dir="$T/x" --no-acls >/dev/null 2>&1
printf 'cd %s\\%s\nlsval\ncd Owners\nlsval\ncd \\Microsoft\\Windows NT\\CurrentVersion\nlsval\n' \
	"$PKGS" "$FOUND" | hivexsh "$T/x/config/SOFTWARE" >"$T/sw" 2>&1
check "SOFTWARE registers the Foundation package as Installed" sh -c "
	grep -q '\"CurrentState\"=dword:00000070' '$T/sw' &&
	grep -q '\"InstallName\"=\"$FOUND.mum\"' '$T/sw' &&
	grep -q '\"InstallClient\"=\"DISM Package Manager Provider\"' '$T/sw' &&
	grep -q '\"Visibility\"=dword:00000001' '$T/sw' &&
	grep -q '\"$FOUND\"=dword:00020070' '$T/sw' &&
	grep -q '\"EditionID\"=\"Enterprise\"' '$T/sw' &&
	grep -q '\"UBR\"=dword:00000001' '$T/sw'"
printf 'cd \\Select\nlsval\ncd \\ControlSet001\\Control\\ProductOptions\nlsval\n' |
	hivexsh "$T/x/config/SYSTEM" >"$T/sys" 2>&1
check "SYSTEM has Select\\Current and ControlSet001" sh -c "
	grep -q '\"Current\"=dword:00000001' '$T/sys' && grep -q '\"ProductType\"=\"WinNT\"' '$T/sys'"
printf 'cd \\DerivedData\\Components\\%s\nlsval\n' "$SSK" |
	hivexsh "$T/x/config/COMPONENTS" >"$T/co" 2>&1
check "COMPONENTS has DerivedData for the servicing stack" sh -c "
	grep -q '\"S256H\"=hex(3):' '$T/co' && grep -q '\"f!TrustedInstaller.exe\"' '$T/co' &&
	grep -q '\"identity\"=hex(3):' '$T/co'"

# 10-14: a package.
check "LCU package is generated" \
	"$MK" package "$T/lcu" --kb 5034441 --revision 3920 --replace 2 --files 3 --registry --pending --seed 7
CAB=$T/lcu/Windows10.0-KB5034441-x64.cab
cabextract -l "$CAB" >"$T/cl" 2>&1
check "the CAB lists update.mum, manifests and payload under key forms" sh -c "
	grep -q ' update.mum\$' '$T/cl' &&
	grep -q ' amd64_microsoft-windows-kernel32_31bf3856ad364e35_10.0.19041.3920_none_[0-9a-f]*.manifest\$' '$T/cl' &&
	grep -q ' amd64_microsoft-windows-kernel32_31bf3856ad364e35_10.0.19041.3920_none_[0-9a-f]*/kernel32.dll\$' '$T/cl'"
check "update.mum starts with a UTF-8 BOM and names Package_for_RollupFix" sh -c "
	head -c 3 '$T/lcu/update.mum' | od -An -tx1 | grep -q 'ef bb bf' &&
	grep -q 'name=\"Package_for_RollupFix\" version=\"19041.3920.1.' '$T/lcu/update.mum' &&
	grep -q 'releaseType=\"Security Update\"' '$T/lcu/update.mum' &&
	grep -q 'disposition=\"detect\"' '$T/lcu/update.mum'"
man=$(ls "$T"/lcu/amd64_microsoft-windows-kernel32_*.manifest)
dir=${man%.manifest}
want=$(sed -n 's/.*<dsig:DigestValue>\([^<]*\)<.*/\1/p' "$man")
have=$(openssl dgst -sha256 -binary "$dir/kernel32.dll" | base64)
if [ -n "$want" ] && [ "$want" = "$have" ]; then ok "manifest DigestValue is the payload's SHA-256"; else
	not_ok "manifest DigestValue is the payload's SHA-256 ($want vs $have)"; fi
wimlib-imagex extract "$T/img.wim" 1 /Windows/System32/kernel32.dll --dest-dir="$T/x" --no-acls >/dev/null 2>&1
if [ -f "$T/x/kernel32.dll" ] && ! cmp -s "$T/x/kernel32.dll" "$dir/kernel32.dll" &&
	grep -q 'destinationPath="$(runtime.system32)\\"' "$man" &&
	grep -q 'categoryInstance' "$man" && grep -q 'registryKey keyName=' "$man"; then
	ok "--replace gives new content for an image file; registry and pending work present"
else
	not_ok "--replace gives new content for an image file; registry and pending work present"
fi

# 15-16: corrupt payload and determinism.
"$MK" package "$T/bad" --kb 5034441 --revision 3920 --replace 2 --files 3 --corrupt-payload --seed 7 >/dev/null 2>&1
bman=$(ls "$T"/bad/amd64_microsoft-windows-kernel32_*.manifest)
bwant=$(sed -n 's/.*<dsig:DigestValue>\([^<]*\)<.*/\1/p' "$bman")
bhave=$(openssl dgst -sha256 -binary "${bman%.manifest}/kernel32.dll" | base64)
if [ -n "$bwant" ] && [ "$bwant" != "$bhave" ]; then ok "--corrupt-payload mismatches its hash"; else
	not_ok "--corrupt-payload mismatches its hash"; fi
"$MK" package "$T/lcu2" --kb 5034441 --revision 3920 --replace 2 --files 3 --registry --pending --seed 7 >/dev/null 2>&1
check "same arguments give the same CAB, byte for byte" cmp "$CAB" "$T/lcu2/Windows10.0-KB5034441-x64.cab"

# 17-19: MSU.
"$MK" package "$T/ssu" --kind ssu --kb 5034440 --revision 3920 >/dev/null 2>&1
check "MSU is generated" "$MK" msu "$T/u.msu" --cab "$T/ssu/SSU-19041.3920-x64.cab" --cab "$CAB"
cabextract -l "$T/u.msu" >"$T/ml" 2>&1
check "MSU holds SSU and LCU CABs, WSUSSCAN.cab, properties and unattend XML" sh -c "
	grep -q ' SSU-19041.3920-x64.cab\$' '$T/ml' &&
	grep -q ' Windows10.0-KB5034441-x64.cab\$' '$T/ml' &&
	grep -q ' WSUSSCAN.cab\$' '$T/ml' &&
	grep -q ' Windows10.0-KB5034441-x64-pkgProperties.txt\$' '$T/ml' &&
	grep -q ' Windows10.0-KB5034441-x64.xml\$' '$T/ml'"
mkdir "$T/m"
CR=$(printf '\r')
cabextract -q -d "$T/m" "$T/u.msu" >/dev/null 2>&1
check "pkgProperties is Key=\"Value\" CRLF; unattend lists SSU before LCU" sh -c "
	grep -q '^KB Article Number=\"5034441\"$CR\$' '$T/m/Windows10.0-KB5034441-x64-pkgProperties.txt' &&
	grep -q '^Installer Engine=\"Component Based Servicing API\"$CR\$' '$T/m/Windows10.0-KB5034441-x64-pkgProperties.txt' &&
	grep -n 'source location' '$T/m/Windows10.0-KB5034441-x64.xml' | head -1 | grep -q 'SSU-19041.3920-x64.cab' &&
	grep -q 'Package_for_ServicingStack_3920' '$T/m/Windows10.0-KB5034441-x64.xml' &&
	cabextract -l '$T/m/SSU-19041.3920-x64.cab' | grep -q '_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.3920_'"

# 20: UTF-16 properties variant.
"$MK" msu "$T/u16.msu" --cab "$CAB" --utf16 >/dev/null 2>&1
mkdir "$T/m16"
cabextract -q -d "$T/m16" "$T/u16.msu" >/dev/null 2>&1
check "--utf16 writes pkgProperties as UTF-16LE with a BOM" sh -c "
	head -c 4 '$T/m16/Windows10.0-KB5034441-x64-pkgProperties.txt' | od -An -tx1 | grep -q 'ff fe 41 00'"

# 21: the demo set.
"$MK" demo "$T/demo" --compress none >/dev/null 2>&1
check "demo writes a 2-index image, an MSU and three CABs" sh -c "
	wimlib-imagex info '$T/demo/install.wim' | grep -q '^Image Count: *2\$' &&
	ls '$T'/demo/updates/*.msu >/dev/null &&
	ls '$T'/demo/updates/*-arm64.cab >/dev/null &&
	test \$(ls '$T'/demo/updates/*.cab | wc -l) -eq 3"
