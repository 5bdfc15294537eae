
set terminal pngcairo size 1100,800 font ",10"
set output '/work/main/benches/results/2026-11-22-050318/compare.png'
set termoption noenhanced
set yrange [0:*]
set datafile missing 'NaN'
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set key top right
set grid ytics
set multiplot layout 2,1 title 'zkserver vs Apache ZooKeeper 3.8 (standalone, 127.0.0.1; median, min-max bars)'
set ylabel 'ops/s'
set title 'Throughput (higher is better)'
plot '/work/main/benches/results/2026-11-22-050318/plot.dat' using 2:3:4:xtic(1) title 'ZooKeeper 3.8' lc rgb '#d95f02', \
     '' using 5:6:7 title 'zkserver' lc rgb '#1b9e77'
set ylabel 'microseconds'
set title 'p99 latency (lower is better)'
plot '/work/main/benches/results/2026-11-22-050318/plot.dat' using 8:9:10:xtic(1) title 'ZooKeeper 3.8' lc rgb '#d95f02', \
     '' using 11:12:13 title 'zkserver' lc rgb '#1b9e77'
unset multiplot
