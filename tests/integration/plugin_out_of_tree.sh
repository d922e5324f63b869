#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# A plugin built outside the tree against the installed headers (found with
# pkg-config) loads into offserv.
set -u
top_srcdir=${OFFSERV_TOP_SRCDIR:-.}
top_builddir=${OFFSERV_TOP_BUILDDIR:-.}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/offserv-oot-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
echo "1..4"

# Only the headers and the .pc file: a full install would relink the
# programs that the other tests are running at the same time.
if make -s -C "$top_builddir" install-offservincludeHEADERS install-pkgconfigDATA \
	DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1; then
	ok "headers and offserv.pc installed (DESTDIR)"
else
	not_ok "headers and offserv.pc installed (DESTDIR)"; sed 's/^/# /' "$tmp/install.log"
fi
pc=$(find "$tmp/root" -name offserv.pc | head -n 1)
pcdir=$(dirname "${pc:-/nonexistent/x}")
cflags=$(PKG_CONFIG_SYSROOT_DIR="$tmp/root" PKG_CONFIG_PATH="$pcdir" pkg-config --cflags offserv 2>&1)
if [ -n "$pc" ] && [ -f "$(echo "$cflags" | sed -n 's/^-I\([^ ]*\).*/\1/p')/offserv/plugin.h" ]; then
	ok "pkg-config --cflags offserv points at the installed headers ($cflags)"
else
	not_ok "pkg-config --cflags offserv ($cflags)"
fi
mkdir -p "$tmp/plugins"
chmod 0755 "$tmp/plugins"
# Only the installed headers: no -I into the source tree.
if $CC -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror $cflags \
	-o "$tmp/plugins/sample_post.so" "$top_srcdir/tests/plugins/sample_post.c" 2>"$tmp/cc.log"; then
	chmod 0644 "$tmp/plugins/sample_post.so"
	ok "sample plugin builds out of tree"
else
	not_ok "sample plugin builds out of tree"; sed 's/^/# /' "$tmp/cc.log"
fi
cat >"$tmp/offserv.ini" <<INI
[site]
root = $tmp/site
[plugins]
directory = $tmp/plugins
[plugin.sample_post]
greeting = hi
INI
out=$("$top_builddir/offserv" --config "$tmp/offserv.ini" plugins 2>&1)
if echo "$out" | grep -q "^sample_post .*post-action .*1.0 .*$tmp/plugins/sample_post.so"; then
	ok "offserv loads the out-of-tree plugin"
else
	not_ok "offserv loads the out-of-tree plugin"; echo "$out" | sed 's/^/# /'
fi
