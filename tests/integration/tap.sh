# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=sh disable=SC2034
# The TAP helpers of the integration tests, sourced by them:
#	. "$top_src/tests/integration/tap.sh"
# Each test still prints its own plan ("1..N", before or after its cases).

# n: the cases so far; failed: 1 once one failed (for a final `exit $failed`).
n=0
failed=0

# ok DESCRIPTION / not_ok DESCRIPTION: one passed or failed case.
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
notok() { not_ok "$@"; }

# check DESCRIPTION COMMAND...: one case, passed when COMMAND succeeds.  When
# tap_out names a file, COMMAND's output goes there and, when it fails, into
# the TAP stream as comments.
check() {
	tap_desc=$1
	shift
	if [ -z "${tap_out:-}" ]; then
		if "$@"; then ok "$tap_desc"; else not_ok "$tap_desc"; fi
	elif "$@" >"$tap_out" 2>&1; then
		ok "$tap_desc"
	else
		not_ok "$tap_desc"
		diag "$tap_out"
	fi
}

# diag FILE...: the files as TAP comments.
diag() { sed 's/^/# /' "$@"; }

# skip_all REASON: the whole test is skipped.
skip_all() { echo "1..0 # SKIP $1"; exit 0; }

# need_built FILE...: skip the whole test unless every FILE is an executable.
need_built() {
	for tap_file in "$@"; do
		[ -x "$tap_file" ] || skip_all "$tap_file was not built"
	done
}

# need_tool TOOL [REASON]: skip the whole test unless TOOL is on the PATH.
need_tool() {
	command -v "$1" >/dev/null 2>&1 || skip_all "${2:-$1 is not installed}"
}

# need_tools TOOL...: need_tool for each TOOL.
need_tools() {
	for tap_tool in "$@"; do
		need_tool "$tap_tool"
	done
}

# need_pkg TOOL PACKAGE: need_tool, naming the Debian package that has TOOL.
need_pkg() { need_tool "$1" "$1 not installed (Debian package $2)"; }

# tap_tmpdir TEMPLATE [SIGNAL...]: the test's temporary folder $T, made from
# TEMPLATE under $TMPDIR; the function cleanup (which removes $T unless the
# test defines its own) runs on exit and on each SIGNAL.
tap_tmpdir() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/$1") || exit 1
	shift
	trap cleanup EXIT "$@"
}
cleanup() { rm -rf "$T"; }
