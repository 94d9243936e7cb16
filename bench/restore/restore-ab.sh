#!/bin/bash
# Offline restore, old build against new, alternating, beside dd oflag=direct of the instance's files.
# usage: bench/restore/restore-ab.sh DATA REPO ROUNDS  (builds in /tmp/bbpub-old and /tmp/bbpub-new: dotnet publish src/Blueback.Cli -c Release -o DIR)
DATA=$1; REPO=$2; ROUNDS=${3:-3}; W=/tmp/rab; mkdir -p $W
files=$(find $DATA -name '*.bdb' -o -name '*.log' | grep -v /run/)
for i in $(seq 0 $ROUNDS); do
  rm -rf $W/dd; mkdir -p $W/dd; sync
  t0=$(date +%s.%N); bytes=0
  for f in $files; do dd if=$f of=$W/dd/$(basename $f) bs=4M oflag=direct conv=fsync status=none; bytes=$((bytes+$(stat -c %s $f))); done
  t1=$(date +%s.%N); echo "round $i dd $(echo "$bytes/($t1-$t0)/1000000" | bc -l | cut -c1-6) MB/s ($bytes bytes)"
  rm -rf $W/dd
  for b in old new; do
    rm -rf $W/r-$b; sync
    t0=$(date +%s.%N)
    out=$(dotnet /tmp/bbpub-$b/blueback.dll restore --repo $REPO --to $W/r-$b --json 2>&1)
    rc=$?; t1=$(date +%s.%N)
    by=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes"])' 2>/dev/null)
    echo "round $i $b rc=$rc $(echo "($t1-$t0)" | bc -l | cut -c1-6) s $(echo "$by/($t1-$t0)/1000000" | bc -l | cut -c1-6) MB/s ($by bytes)"
    rm -rf $W/r-$b
  done
done
