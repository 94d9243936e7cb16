#!/bin/bash
# One full backup into a new repository, warm, with its CPU per GB: the program's user and system time (GNU time)
# and the server's (utime+stime from /proc/PID/stat around it). Alternate two builds in one run to compare them:
#   bench/cpu/backup-cpu.sh CLI_DLL PORT DATA_DIR SERVER_PID LABEL [backup options...]
# (issue 31 in docs/benchmarks.md: the server started with `dotnet CLI_DLL serve --data DATA_DIR --listen http://127.0.0.1:PORT`.)
# BACKUP_CPU_COLD=1 drops the page cache first (as root) instead of reading the images into it.
set -euo pipefail
cli=$1 port=$2 data=$3 server=$4 label=$5
shift 5
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
repo=$(mktemp -d)/repo
dotnet "$cli" repo init "$repo" > /dev/null
if [ "${BACKUP_CPU_COLD:-0}" = 1 ]; then
  sync && echo 3 > /proc/sys/vm/drop_caches # cold: the images read from the disk
else
  cat "$data"/*/*.bdb > /dev/null # warm: the images read from the page cache
fi
before=$(cpu "$server")
out=$({ /usr/bin/time -f "TIME %e %U %S" dotnet "$cli" backup --server "http://127.0.0.1:$port" --data "$data" --repo "$repo" --json "$@"; } 2>&1)
after=$(cpu "$server")
rm -rf "$(dirname "$repo")"
bytes=$(grep -o '"bytes": *[0-9]*' <<< "$out" | head -1 | grep -o '[0-9]*$')
read -r _ wall user sys <<< "$(grep TIME <<< "$out")"
python3 -c "
gb = $bytes / 1e9; server = ($after - $before) / 100
print(f'$label: {$wall:.2f} s, {gb / $wall * 1000:.0f} MB/s; CPU s per GB: program user {$user / gb:.2f} sys {$sys / gb:.2f}, server {server / gb:.2f}, total {($user + $sys + server) / gb:.2f} ({gb:.3f} GB)')"
