#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# demo.sh BUILD_DIR SITE_DIR
#
# A self-contained demo site: a generated Windows-like image (two editions)
# and this month's generated updates (servicing stack + cumulative update in
# an MSU, a standalone CAB, and two updates that do not apply), serviced
# end to end with the programs of BUILD_DIR.
set -euo pipefail

build=$(cd "$1" && pwd)
site=${2:?usage: demo.sh BUILD_DIR SITE_DIR}
mkdir -p "$site"
site=$(cd "$site" && pwd)
offserv="$build/offserv"
mkfixture="$build/tests/fixtures/offserv-mkfixture"

step() { printf '\n==> %s\n' "$*"; }

# A previous demo site is replaced; any other non-empty folder is refused.
if [ -f "$site/offserv.ini" ] && grep -q '^; The demo site' "$site/offserv.ini"; then
	rm -rf "${site:?}"/*
elif [ -n "$(ls -A "$site")" ]; then
	echo "demo.sh: $site is not empty and not a demo site" >&2
	exit 1
fi
mkdir -p "$site/inputs"
chmod 0755 "$build/plugins/.libs"
cat >"$site/offserv.ini" <<INI
; The demo site: everything lives under one root.
[site]
code = DEM
root = $site

[plugins]
directory = $build/plugins/.libs
INI
export OFFSERV_CONFIG="$site/offserv.ini"

step "Generating a Windows-like image and this month's updates"
"$mkfixture" demo "$site/inputs"
ls -l "$site/inputs" "$site/inputs/updates"

step "Plugins"
"$offserv" plugins

step "Importing the image into the site (it gets a package ID)"
"$offserv" image import "$site/inputs/install.wim" --name "Windows 10 (demo)" | tee "$site/import.out"
id=$(sed -n 's/^Imported .* as \([A-Z0-9]*\) .*/\1/p' "$site/import.out")

step "Importing this month's updates into the content library"
"$offserv" update import "$site/inputs/updates"
"$offserv" update list

step "Which updates apply to $id, and why the others do not"
"$offserv" image applicable "$id" --explain

step "Scheduling every applicable update, now, continuing on error"
"$offserv" schedule "$id" --updates all --now --continue-on-error
"$offserv" image list

step "Running the due schedule (what the daemon does)"
"$offserv" run-due
"$offserv" status "$id"

step "The serviced image"
"$offserv" image show "$id"
wimlib-imagex verify "$site/Images/$id/install.wim"

step "The site log (OfflineServicingMgr.log)"
tail -n 25 "$site/Logs/OfflineServicingMgr.log"
printf '\nDemo site: %s (config %s)\n' "$site" "$OFFSERV_CONFIG"
