# Draws run.sh's results.tsv: throughput, ratio to pgbench and p99 against concurrency (at the
# largest member count), and throughput at the highest concurrency against the member count.
#   gnuplot -e "results='target/bench/results.tsv'; output='target/bench/benchmarks.png'" plot.gp
set terminal pngcairo size 1400,1000 font ",10" noenhanced
set output output
set datafile separator "\t"
set datafile missing "-"

# Member counts and operations, in the order of the file.
members = system("tail -n +2 '".results."' | cut -f1 | uniq | tr '\\n' ' '")
ops = system("tail -n +2 '".results."' | cut -f2 | awk '!seen[$0]++' | tr '\\n' ' '")
maxn = word(members, words(members)) + 0
maxc = system("tail -n +2 '".results."' | cut -f3 | sort -n | tail -1") + 0
# The rows of one operation (and one member count, or one concurrency) as a data source of
# their own, so that each operation's points are joined by one line.
rows(op, col, value) = sprintf("< awk -F'\t' '$2 == \"%s\" && $%d == %d' '%s'", op, col, value, results)

set multiplot layout 2,2 title sprintf("scim-sidecar benchmark (release build, members: %s)", members)
set grid
set logscale x 2
set xlabel "concurrency (connections)"
set xtics (1, 2, 4, 8, 16, 32, 64)
set xrange [0.8:maxc * 1.25]
set key outside right top font ",8"

set title sprintf("service throughput, %d members", maxn)
set ylabel "requests/s"
set logscale y
plot for [op in ops] rows(op, 1, maxn) using 3:4 with linespoints title op

set title sprintf("service / pgbench (same SQL, same run), %d members", maxn)
set ylabel "ratio"
unset logscale y
plot for [op in ops] rows(op, 1, maxn) using 3:12 with linespoints title op

set title sprintf("service p99 latency, %d members", maxn)
set ylabel "p99 ms"
set logscale y
plot for [op in ops] rows(op, 1, maxn) using 3:6 with linespoints title op

set title sprintf("service throughput at concurrency %d, by org size", maxc)
set xlabel "members in the org"
set logscale x 10
set xtics auto
set autoscale x
set ylabel "requests/s"
plot for [op in ops] rows(op, 3, maxc) using 1:4 with linespoints title op
unset multiplot
