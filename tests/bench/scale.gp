# SPDX-License-Identifier: GPL-3.0-or-later
# Plot of the benchmark's scale series; set datfile, pkgfile and outfile with -e.
set terminal pngcairo size 1100,450 font ",10" noenhanced
set output outfile
set multiplot layout 1,2
set grid
set key top left
set title "Image size (same package)"
set xlabel "image content, MiB"
set ylabel "wall time, s"
set y2label "offserv peak scratch, MiB"
set y2tics
set ytics nomirror
plot datfile using 1:2 with linespoints lw 2 title "offserv service", \
     datfile using 1:3 with linespoints lw 2 title "floor (wimlib update)", \
     datfile using 1:4 axes x1y2 with linespoints dt 2 title "offserv scratch (right)"
set title "Package size (same image)"
set xlabel "package payload, MiB"
plot pkgfile using 1:2 with linespoints lw 2 title "offserv service", \
     pkgfile using 1:3 with linespoints lw 2 title "floor (wimlib update)", \
     pkgfile using 1:4 axes x1y2 with linespoints dt 2 title "offserv scratch (right)"
unset multiplot
