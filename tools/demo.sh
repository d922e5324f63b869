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

rm -rf "$site/inputs"
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

cp "$site/inputs/install.wim" "$site/install.wim"

step "Servicing $site/install.wim (all indexes) with every update, continuing on error"
"$offserv" service "$site/install.wim" "$site"/inputs/updates/* --continue-on-error || true

step "What the image holds now"
wimlib-imagex info "$site/install.wim" | sed -n '1,12p'

step "The site log"
tail -n 15 "$site/Logs/OfflineServicingMgr.log"
printf '\nDemo site: %s\n' "$site"
