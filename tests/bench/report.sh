#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Summarises the benchmark's raw figures (OUT/raw.tsv, OUT/rsync.tsv,
# OUT/payload.tsv) as Markdown tables on stdout, medians over repetitions,
# and writes OUT/scale-image.dat and OUT/scale-pkg.dat for the plot.
# Usage: report.sh OUT PKG_MB IMAGE_MB

set -u
OUT=$1
PKG_MB=$2
IMAGE_MB=$3

# Medians per workload and tool: wl tool n wall cpu rss_kb scratch_b growth_b fails
awk -F '\t' '
function median(key, field,    n, i, j, t, a) {
	n = cnt[key]
	for (i = 1; i <= n; i++) a[i] = val[key, field, i]
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	if (n % 2) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
NR > 1 {
	key = $1 SUBSEP $2
	if (!(key in cnt)) { order[++nk] = key }
	if ($11 != "ok") { fails[key]++; if (!(key in cnt)) cnt[key] = 0; next }
	n = ++cnt[key]
	val[key, 1, n] = $4
	val[key, 2, n] = $5 + $6
	val[key, 3, n] = $7
	val[key, 4, n] = $8
	val[key, 5, n] = $10 - $9
	val[key, 6, n] = $12
}
END {
	for (k = 1; k <= nk; k++) {
		key = order[k]
		split(key, p, SUBSEP)
		if (cnt[key] == 0) { printf "%s\t%s\t0\t0\t0\t0\t0\t0\t%d\t0\n", p[1], p[2], fails[key]; continue }
		printf "%s\t%s\t%d\t%.2f\t%.2f\t%.0f\t%.0f\t%.0f\t%d\t%.0f\n", p[1], p[2], cnt[key],
			median(key, 1), median(key, 2), median(key, 3), median(key, 4), median(key, 5), fails[key],
			median(key, 6)
	}
}' "$OUT/raw.tsv" >"$OUT/medians.tsv"

get() { # wl tool column(4 wall, 5 cpu, 6 rss, 7 scratch, 8 growth)
	awk -F '\t' -v w="$1" -v t="$2" -v c="$3" '$1 == w && $2 == t && $3 > 0 { print $c; f = 1 } END { if (!f) print "" }' "$OUT/medians.tsv"
}
ratio() { # a b -> a/b with 2 decimals, or "n/a"
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}
mib() { awk -v b="$1" 'BEGIN { if (b == "") print "n/a"; else printf "%.1f", b / 1048576 }'; }

echo "## Machine"
echo
sed 's/^/    /' "$OUT/machine.txt"
echo

for wl in main multi; do
	grep -q "^$wl	" "$OUT/medians.tsv" || continue
	case $wl in
	main) echo "## One index, $IMAGE_MB MiB image, $PKG_MB MiB package" ;;
	multi) echo "## Four indexes sharing their content, $IMAGE_MB MiB each, $PKG_MB MiB package" ;;
	esac
	echo
	echo "| path | runs | wall s | CPU s | peak RSS MiB | peak scratch MiB (du -sb) | allocated MiB | WIM growth MiB |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F '\t' -v w="$wl" '$1 == w {
		if ($3 == 0) { printf "| %s | failed (%d) | | | | | | |\n", $2, $9; next }
		printf "| %s | %d | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f |\n", $2, $3, $4, $5, $6 / 1024, $7 / 1048576, $10 / 1048576, $8 / 1048576
	}' "$OUT/medians.tsv"
	echo
	ow=$(get $wl offserv 4) oc=$(get $wl offserv 5)
	echo "Ratios (wall / CPU): offserv/floor $(ratio "$ow" "$(get $wl floor 4)") / $(ratio "$oc" "$(get $wl floor 5)"); naive/offserv $(ratio "$(get $wl naive 4)" "$ow") / $(ratio "$(get $wl naive 5)" "$oc"); mount/offserv $(ratio "$(get $wl mount 4)" "$ow") / $(ratio "$(get $wl mount 5)" "$oc")."
	echo
done

if [ "$(wc -l <"$OUT/rsync.tsv")" -gt 1 ]; then
	echo "## Distribution point refresh (rsync --no-whole-file)"
	echo
	echo "| workload | path | WIM | WIM growth MiB | literal data MiB | bytes sent MiB | sent / growth |"
	echo "| --- | --- | --- | ---: | ---: | ---: | ---: |"
	awk -F '\t' 'NR > 1 {
		r = $4 > 0 ? sprintf("%.2f", $6 / $4) : "n/a"
		printf "| %s | %s | %s | %.1f | %.1f | %.1f | %s |\n", $1, $2, $3, $4 / 1048576, $5 / 1048576, $6 / 1048576, r
	}' "$OUT/rsync.tsv"
	echo
fi

# Scale series.
: >"$OUT/scale-image.dat"
: >"$OUT/scale-pkg.dat"
if grep -q '^img' "$OUT/medians.tsv"; then
	echo "## Scale: image size, same $PKG_MB MiB package"
	echo
	echo "| image MiB | offserv wall s | offserv CPU s | floor wall s | offserv/floor | naive wall s | offserv peak RSS MiB | offserv scratch MiB | WIM growth MiB |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for wl in $(cut -f1 "$OUT/medians.tsv" | grep '^img' | sort -u | sort -t g -k2 -n); do
		mb=${wl#img}
		ow=$(get "$wl" offserv 4) fw=$(get "$wl" floor 4) nw=$(get "$wl" naive 4)
		echo "| $mb | ${ow:-n/a} | $(get "$wl" offserv 5) | ${fw:-n/a} | $(ratio "$ow" "$fw") | ${nw:--} | $(awk -v k="$(get "$wl" offserv 6)" 'BEGIN{printf "%.1f", k/1024}') | $(mib "$(get "$wl" offserv 7)") | $(mib "$(get "$wl" offserv 8)") |"
		echo "$mb ${ow:-NaN} ${fw:-NaN} $(mib "$(get "$wl" offserv 7)") ${nw:-NaN}" >>"$OUT/scale-image.dat"
	done
	echo
fi
if grep -q '^pkg' "$OUT/medians.tsv"; then
	echo "## Scale: package size, same $IMAGE_MB MiB image"
	echo
	echo "| package MiB | offserv wall s | offserv CPU s | floor wall s | offserv/floor | offserv peak RSS MiB | offserv scratch MiB | expanded package + hives MiB | scratch / (package + hives) |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for wl in $(cut -f1 "$OUT/medians.tsv" | grep '^pkg' | sort -u | sort -t g -k2 -n); do
		mb=${wl#pkg}
		ow=$(get "$wl" offserv 4) fw=$(get "$wl" floor 4) sc=$(get "$wl" offserv 7)
		pl=$(awk -F '\t' -v w="$wl" '$1 == w { v = $2 } END { print v }' "$OUT/payload.tsv")
		echo "| $mb | ${ow:-n/a} | $(get "$wl" offserv 5) | ${fw:-n/a} | $(ratio "$ow" "$fw") | $(awk -v k="$(get "$wl" offserv 6)" 'BEGIN{printf "%.1f", k/1024}') | $(mib "$sc") | $(mib "$pl") | $(ratio "$sc" "$pl") |"
		echo "$mb ${ow:-NaN} ${fw:-NaN} $(mib "$sc")" >>"$OUT/scale-pkg.dat"
	done
	echo
fi

# Targets: read against, never enforced.
echo "## Targets"
echo
echo "| target | measured | met |"
echo "| --- | --- | --- |"
verdict() { awk -v v="$1" -v l="$2" -v op="$3" 'BEGIN {
	if (v == "n/a" || v == "") { print "not measured"; exit }
	if (op == "<=") print (v + 0 <= l + 0) ? "yes" : "no"
	else if (op == "<") print (v + 0 < l + 0) ? "yes" : "no"
	else print (v + 0 >= l + 0) ? "yes" : "no" }'; }
r=$(ratio "$(get main offserv 4)" "$(get main floor 4)")
echo "| offserv <= 1.5x floor (wall, main) | $r | $(verdict "$r" 1.5 '<=') |"
r=$(ratio "$(get main naive 4)" "$(get main offserv 4)")
echo "| naive >= 10x offserv (wall, main) | $r | $(verdict "$r" 10 '>=') |"
sc=$(get main offserv 7)
pl=$(awk -F '\t' '$1 == "main" { v = $2 } END { print v }' "$OUT/payload.tsv")
r=$(ratio "$sc" "$pl")
echo "| scratch <= 2x expanded package + hives (main, du -sb) | $r | $(verdict "$r" 2 '<=') |"
r=$(ratio "$(get main offserv 10)" "$pl")
echo "| scratch <= 2x expanded package + hives (main, allocated) | $r | $(verdict "$r" 2 '<=') |"
if grep -q '^img' "$OUT/medians.tsv"; then
	spread=$(awk -F '\t' '$1 ~ /^img/ && $2 == "offserv" && $3 > 0 { if (min == "" || $7 < min) min = $7; if ($7 > max) max = $7 }
		END { if (min > 0) printf "%.2f", max / min; else print "n/a" }' "$OUT/medians.tsv")
	echo "| scratch independent of image size (largest / smallest over the image series) | $spread | $(verdict "$spread" 1.2 '<=') |"
fi
rss=$(awk -F '\t' '$2 == "offserv" && $3 > 0 && $6 > m { m = $6 } END { printf "%.1f", m / 1024 }' "$OUT/medians.tsv")
echo "| offserv peak RSS < 256 MiB (largest of all workloads) | $rss MiB | $(verdict "$rss" 256 '<') |"
r=$(ratio "$(get multi offserv 4)" "$(get main offserv 4)")
echo "| 4 indexes <= 1.5x one (offserv wall) | $r | $(verdict "$r" 1.5 '<=') |"
r=$(awk -F '\t' '$1 == "main" && $2 == "offserv" && $3 == "append" && $4 > 0 { printf "%.2f", $6 / $4 }' "$OUT/rsync.tsv")
echo "| rsync refresh <= 1.2x WIM growth (offserv, append) | ${r:-n/a} | $(verdict "${r:-n/a}" 1.2 '<=') |"
echo
if [ -s "$OUT/profile.txt" ]; then
	echo "## Profile"
	echo
	sed 's/^/    /' "$OUT/profile.txt"
	echo
fi
