# results.tsv -> a Markdown table (docs/benchmarks.md holds one).
BEGIN {
  FS = "\t"
  print "| members | operation | conc. | service req/s | p50 ms | p99 ms | non-2xx | peak RSS MiB | pgbench tps | p50 ms | p99 ms | ratio |"
  print "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
NR > 1 {
  printf "| %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 / 1024, $9, $10, $11, $12
}
