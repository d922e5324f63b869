#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Resource exhaustion: small tmpfs file systems (in a private mount
# namespace) as servicing drive, as the WIM's file system and as site root.
# Each run must fail cleanly with a disk-full HRESULT (0x80070070) and a
# message, leave the WIM byte-identical, give the staging space back and
# import nothing by halves.  Speaks TAP.

set -u
top_src=${OFFSERV_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
top_build=${OFFSERV_TOP_BUILDDIR:-$top_src}
. "$top_src/tests/integration/tap.sh"
OFFSERV=$top_build/offserv
MK=$top_build/tests/fixtures/offserv-mkfixture
export OFFSERV_TOP_SRCDIR="$top_src"

need_built "$OFFSERV" "$MK"
need_tools wimlib-imagex sqlite3 sha256sum gcab unshare
if [ -z "${OFFSERV_DISKFULL_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || skip_all "mounting small file systems needs root (a private mount namespace)"
	unshare -m --propagation private true >/dev/null 2>&1 ||
		skip_all "cannot create a private mount namespace (unshare -m refused)"
	OFFSERV_DISKFULL_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/offserv-diskfull.XXXXXX") || exit 1
T=$(cd "$T" && pwd -P)
cleanup() {
	for m in "$T/small" "$T/wimfs" "$T/bigdrive" "$T/siteroot"; do
		umount "$m" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$T/in" "$T/small" "$T/wimfs" "$T/bigdrive" "$T/siteroot" "$T/tmp"
export TMPDIR="$T/tmp" TZ=UTC
mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null ||
	skip_all "mount -t tmpfs is refused here"
plugdir=$top_build/plugins/.libs
chmod 0755 "$plugdir" 2>/dev/null
mkconfig() { # mkconfig FILE SITEROOT DRIVE
	printf '[site]\nroot = %s\n[plugins]\ndirectory = %s\n[offline_servicing]\ndrive = %s\n' \
		"$2" "$plugdir" "$3" >"$1"
}

sha() { sha256sum <"$1" | cut -d' ' -f1; }
used_kb() { df -k --output=used "$1" | tail -1 | tr -d ' '; }

"$MK" image "$T/in/old.wim" --indexes 1 --compress none --seed 7 >"$T/mk.log" 2>&1 &&
"$MK" package "$T/in/ssu" --kb 5068440 --kind ssu --revision 3900 --seed 1 >>"$T/mk.log" 2>&1 &&
"$MK" package "$T/in/lcu" --kb 5068441 --revision 3920 --replace 2 --files 8 --size-kb 256 \
	--seed 2 >>"$T/mk.log" 2>&1 &&
"$MK" msu "$T/in/kb.msu" --cab "$T/in/ssu/SSU-19041.3900-x64.cab" \
	--cab "$T/in/lcu/Windows10.0-KB5068441-x64.cab" >>"$T/mk.log" 2>&1
if [ $? -ne 0 ]; then
	echo "1..1"
	echo "not ok 1 - fixtures could not be generated"
	diag "$T/mk.log"
	exit 1
fi
mkdir -p "$T/in/updates"
for k in 1 2 3; do
	"$MK" package "$T/in/upd$k" --kb $((5070000 + k)) --kind update --revision $((3930 + k)) \
		--files 2 --size-kb 512 --seed $((20 + k)) >>"$T/mk.log" 2>&1 || exit 1
	cp "$T/in/upd$k"/*.cab "$T/in/updates/"
done

echo "1..11"

# ---- 1. servicing drive too small for the staged package -----------------------------
mkconfig "$T/small.ini" "$T/site1" "$T/small"
cp "$T/in/old.wim" "$T/w1.wim"
before=$(sha "$T/w1.wim")
u_before=$(used_kb "$T/small")
OFFSERV_CONFIG="$T/small.ini" "$OFFSERV" service "$T/w1.wim" "$T/in/kb.msu" >"$T/o1" 2>&1
rc=$?
check "drive too small: the run fails (exit $rc)" [ "$rc" -ne 0 ]
if grep -qi '0x80070070' "$T/o1" && grep -qi 'space\|full' "$T/o1"; then
	ok "drive too small: a disk-full HRESULT (0x80070070) and a message"
else
	notok "drive too small: a disk-full HRESULT (0x80070070) and a message"
	diag "$T/o1"
fi
check "drive too small: the WIM is byte-identical" [ "$(sha "$T/w1.wim")" = "$before" ]
u_after=$(used_kb "$T/small")
if [ "$u_after" = "$u_before" ] && [ -z "$(ls -A "$T/small")" ]; then
	ok "drive too small: the staging space is given back (${u_after} KiB used)"
else
	notok "drive too small: the staging space is given back (${u_before} KiB before, ${u_after} KiB after)"
	(cd "$T/small" && find . | head -10) | diag
fi

# ---- 2. the WIM's file system nearly full: the append cannot complete ------------------
wsize=$(( $(stat -c %s "$T/in/old.wim") / 1024 ))
mount -t tmpfs -o size=$((wsize + 512))k tmpfs "$T/wimfs"
mount -t tmpfs -o size=256m tmpfs "$T/bigdrive"
mkconfig "$T/wim.ini" "$T/site2" "$T/bigdrive"
cp "$T/in/old.wim" "$T/wimfs/w2.wim"
# leave about 64 KiB free
free=$(df -k --output=avail "$T/wimfs" | tail -1 | tr -d ' ')
[ "$free" -gt 64 ] && dd if=/dev/zero of="$T/wimfs/filler" bs=1k count=$((free - 64)) 2>/dev/null
before=$(sha "$T/wimfs/w2.wim")
OFFSERV_CONFIG="$T/wim.ini" "$OFFSERV" service "$T/wimfs/w2.wim" "$T/in/kb.msu" >"$T/o2" 2>&1
rc=$?
check "full WIM file system: the run fails (exit $rc)" [ "$rc" -ne 0 ]
if grep -qi '0x80070070' "$T/o2"; then
	ok "full WIM file system: a disk-full HRESULT (0x80070070) and a message"
else
	notok "full WIM file system: a disk-full HRESULT (0x80070070) and a message"
	diag "$T/o2"
fi
check "full WIM file system: the WIM is byte-identical (truncated back)" \
	[ "$(sha "$T/wimfs/w2.wim")" = "$before" ]
check "full WIM file system: the staging folders are gone" \
	[ ! -e "$T/bigdrive/ConfigMgr_OfflineImageServicing" ]

# ---- 3. update import into a nearly full site root ------------------------------------------
mount -t tmpfs -o size=3m tmpfs "$T/siteroot"
mkconfig "$T/site.ini" "$T/siteroot/site" "$T/bigdrive"
OFFSERV_CONFIG="$T/site.ini" "$OFFSERV" update list >/dev/null 2>&1
free=$(df -k --output=avail "$T/siteroot" | tail -1 | tr -d ' ')
[ "$free" -gt 700 ] && dd if=/dev/zero of="$T/siteroot/filler" bs=1k count=$((free - 700)) 2>/dev/null
OFFSERV_CONFIG="$T/site.ini" "$OFFSERV" update import "$T/in/updates" >"$T/o3" 2>&1
rc=$?
check "full site root: the import reports failure (exit $rc)" [ "$rc" -ne 0 ]
if grep -qi '0x80070070\|space\|full' "$T/o3"; then
	ok "full site root: the failure names the disk-full condition"
else
	notok "full site root: the failure names the disk-full condition"
	diag "$T/o3"
fi
S=$T/siteroot/site
bad=
ic=$(sqlite3 "$S/site.db" 'PRAGMA integrity_check' 2>&1)
[ "$ic" = ok ] || bad="$bad integrity:$ic"
sqlite3 -separator ' ' "$S/site.db" 'SELECT sha256, library_path FROM updates' >"$T/rows" 2>&1 ||
	bad="$bad query-failed"
while read -r s p; do
	[ -f "$p" ] && [ "$(sha "$p")" = "$s" ] || bad="$bad row-without-complete-file:$p"
done <"$T/rows"
find "$S/ContentLibrary" -type f >"$T/files" 2>/dev/null
while read -r f; do
	d=$(basename "$(dirname "$f")")
	case ${f##*/} in .*) bad="$bad temporary-left:$f"; continue ;; esac
	[ "$(sha "$f")" = "$d" ] || bad="$bad partial-file:$f"
	grep -q "^$d " "$T/rows" || bad="$bad unrecorded-file:$f"
done <"$T/files"
echo "# full site root: $(wc -l <"$T/rows") of 3 updates recorded"
if [ -z "$bad" ]; then
	ok "full site root: nothing half-imported; database and library agree"
else
	notok "full site root: nothing half-imported; database and library agree:$bad"
fi
exit $failed
