#!/usr/bin/env bash
# make bench: the slowdown a monitor adds to fixed syscall workloads, as ratios against the
# workload alone, measured in the same run (these machines are shared and noisy):
#   none | probity trace --json > /dev/null | opensnoop + execsnoop (libbpf-tools) | cfloor (C floor)
# Workloads (../shared/tools/cfloor/syscall-load): (a) 1M open+close of one file, (b) 200k opens of
# distinct files, (c) 3k fork+exec of /bin/true, (d) 200k loopback TCP connects; and
# (e) 200k opens that name their file through a symlinked directory, a symlinked file, a relative
# path, `..` and a dirfd (Benchmarks/workloads/open-paths.c): what resolving the object's path costs.
# Then the probe's own cost per open (kernel.bpf_stats_enabled: the run time of probity_syscall_exit,
# the one syscall exit hook, over the workload's 200k opens, closes included) on (b) and (e),
# beside the C floor's program on (b), measured the same way.
# Each cell is the median of REPS runs, interleaved. Lost events are printed beside each ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
PROBITY=${PROBITY:-$(swift build -c release --show-bin-path)/probity}
CFLOOR_SRC=${CFLOOR_SRC:-../shared/tools/cfloor}
OUT=$(mktemp -d /tmp/probity-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

cfloor=$("$CFLOOR_SRC/build.sh" "$OUT/cfloor")
LOAD="$cfloor/syscall-load"
"$LOAD" open-unique 200000 >/dev/null   # creates the 200k files once

PATHS="$OUT/open-paths"
cc -O2 -o "$PATHS" Benchmarks/workloads/open-paths.c
declare -A WORK=([a]="$LOAD open 1000000" [b]="$LOAD open-unique 200000" [c]="$LOAD exec 3000" [d]="$LOAD connect 200000"
	[e]="$PATHS 200000 $OUT/paths")
declare -A NAME=([a]="1M open+close, one file" [b]="200k opens, distinct files" [c]="3k fork+exec /bin/true" [d]="200k loopback TCP connects"
	[e]="200k opens via links, .., dirfd")

seconds() { awk '{for(i=1;i<=NF;i++) if($i=="in") {print $(i+1); exit}}'; }

run_alone() { $1 | seconds; }

run_probity() {
	local log="$OUT/probity.err"
	"$PROBITY" trace --json >/dev/null 2>"$log" &
	local pid=$!
	for _ in $(seq 1 200); do grep -q "hooks attached" "$log" 2>/dev/null && break; sleep 0.05; done
	local t; t=$($1 | seconds)
	kill -INT $pid; wait $pid || true
	local lost; lost=$(sed -n 's/.*lost: \([0-9]*\).*/\1/p' "$log" | tail -1)
	echo "$t ${lost:-?}"
}

run_snoop() {
	opensnoop >/dev/null 2>"$OUT/os.err" & local o=$!
	execsnoop >/dev/null 2>"$OUT/es.err" & local e=$!
	sleep 2
	local t; t=$($1 | seconds)
	kill -INT $o $e; wait $o $e 2>/dev/null || true
	local lost; lost=$(cat "$OUT/os.err" "$OUT/es.err" | { grep -oE 'Lost [0-9]+' || true; } | awk '{s+=$2} END {print s+0}')
	echo "$t ${lost:-0}"
}

run_floor() {
	local t; t=$(WAKE=1 "$cfloor/bench" 6 1 -- $1 2>/dev/null | seconds)
	echo "$t"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-30s %9s %18s %22s %12s\n' workload "alone(s)" "probity (lost)" "opensnoop+execsnoop" "C floor"
for w in a b c d e; do
	: >"$OUT/alone"; : >"$OUT/probity"; : >"$OUT/snoop"; : >"$OUT/floor"; : >"$OUT/plost"; : >"$OUT/slost"
	for _ in $(seq 1 "$REPS"); do
		run_alone "${WORK[$w]}" >>"$OUT/alone"
		read -r t l < <(run_probity "${WORK[$w]}"); echo "$t" >>"$OUT/probity"; echo "$l" >>"$OUT/plost"
		read -r t l < <(run_snoop "${WORK[$w]}"); echo "$t" >>"$OUT/snoop"; echo "$l" >>"$OUT/slost"
		run_floor "${WORK[$w]}" >>"$OUT/floor" || true
	done
	base=$(median <"$OUT/alone")
	ratio() { local m; m=$(median <"$1"); [ -n "$m" ] && awk -v m="$m" -v b="$base" 'BEGIN{printf "%.2fx", m/b}' || echo "n/a"; }
	plost=$(paste -sd, "$OUT/plost"); slost=$(paste -sd, "$OUT/slost")
	printf '(%s) %-26s %9.3f %10s (%s) %14s (%s) %12s\n' "$w" "${NAME[$w]}" "$base" "$(ratio "$OUT/probity")" "$plost" \
		"$(ratio "$OUT/snoop")" "$slost" "$(ratio "$OUT/floor")"
done
echo "targets for probity: (a) <= 1.20x, (b) <= 1.25x, (c) <= 1.10x, (d) <= 1.20x, each within 0.05 of the C floor; zero lost events"
echo

# The probe's cost per open, from the kernel's own accounting of each BPF program.
prog_stats() { # NAME: "run_time_ns run_cnt" of the loaded program named NAME
	(bpftool prog show name "$1" 2>/dev/null || true) | awk '/run_time_ns/ {for(i=1;i<=NF;i++){if($i=="run_time_ns")t=$(i+1); if($i=="run_cnt")c=$(i+1)}} END {print t+0, c+0}'
}
# Opens each measured workload makes: (b) opens its 200k files twice, once to make sure they
# exist (untimed by the workload, but seen by the probes) and once timed; (e) 200k.
declare -A OPENS=([b]=400000 [e]=200000)
stats_before=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
for w in b e; do
	log="$OUT/probity-ns.err"
	"$PROBITY" trace --json >/dev/null 2>"$log" & pid=$!
	for _ in $(seq 1 200); do grep -q "hooks attached" "$log" 2>/dev/null && break; sleep 0.05; done
	read -r t0 c0 < <(prog_stats probity_syscall_exit)
	${WORK[$w]} >/dev/null
	read -r t1 c1 < <(prog_stats probity_syscall_exit)
	awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) -v o="${OPENS[$w]}" -v w="$w" -v n="${NAME[$w]}" 'BEGIN {
		printf "probe cost per open (%s, %s): probity_syscall_exit %.0f ns per open (%d runs at %.0f ns over %d opens)\n", w, n, t / o, c, (c ? t / c : 0), o }'
	kill -INT $pid; wait $pid || true
done
# The C floor's mode 6 reads opens at tp_btf/sys_enter, which runs for every system call: its cost
# per open is its whole run time over the workload's opens (closes included). The floor prints each
# of its programs' runs and average time when it ends ("prog on_enter_full run_cnt N avg X ns").
WAKE=1 "$cfloor/bench" 6 5 -- ${WORK[b]} >"$OUT/floor.out" 2>&1 || true
awk -v o="${OPENS[b]}" '$1 == "prog" && $2 == "on_enter_full" {
	for (i = 1; i <= NF; i++) { if ($i == "run_cnt") c = $(i+1); if ($i == "avg") a = $(i+1) }
	printf "probe cost per open (b): C floor on_enter_full %.0f ns per open (%d runs at %.0f ns over %d opens)\n", c * a / o, c, a, o }' "$OUT/floor.out"
sysctl -qw kernel.bpf_stats_enabled="$stats_before"
echo
# `probity whose` against `dpkg -S` for the same file, 20 calls each (target: <= 0.1 s a call).
per_call() { local s e; s=$(date +%s.%N); for _ in $(seq 1 20); do "$@" >/dev/null 2>&1; done; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f", (e - s) / 20}'; }
whose_s=$(per_call "$PROBITY" whose /usr/bin/ls)
dpkg_s=$(per_call dpkg -S /usr/bin/ls)
awk -v w="$whose_s" -v d="$dpkg_s" 'BEGIN {printf "whose: %.3f s a call (dpkg -S: %.3f s; %.2fx; target <= 0.1 s)\n", w, d, (d > 0 ? w / d : 0)}'
(cd Benchmarks && swift build -c release --product pipeline-bench >/dev/null && "$(swift build -c release --show-bin-path)/pipeline-bench" 200000)
(cd Benchmarks && swift build -c release --product index-bench >/dev/null && "$(swift build -c release --show-bin-path)/index-bench" 1000000)
(cd Benchmarks && swift build -c release --product contracts-bench >/dev/null && "$(swift build -c release --show-bin-path)/contracts-bench" 1000000)
(cd Benchmarks && swift build -c release --product store-bench >/dev/null && "$(swift build -c release --show-bin-path)/store-bench" 20000)
