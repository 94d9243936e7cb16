#!/usr/bin/env bash
# A one-node Ceph cluster (mon, mgr, one memstore OSD, no auth) with a RADOS Gateway on 127.0.0.1:PORT (the mon on
# PORT+1): a real S3 implementation for the store suite's RGW tests (tests/Blueback.EndToEnd.Tests/Stores). Needs
# Debian's radosgw ceph-mon ceph-osd ceph-mgr (./test stress installs them), uuidgen and curl.
# Usage: micro-ceph.sh start DIR PORT [ACCESS_KEY SECRET] | stop DIR   (MICRO_CEPH_OWNER_PID: stop when it exits)
# Adapted from ../shared/tools/micro-ceph.sh: waits bounded, fails naming the daemon that did not come up.
set -eu
cmd=$1
D=$2
PORT=${3:-7480}
ACCESS=${4:-test}
SECRET=${5:-test}
fail() { echo "micro-ceph: $*; logs in $D/log" >&2; exit 1; }
case $cmd in
start)
  for tool in ceph-mon ceph-osd ceph-mgr radosgw radosgw-admin ceph uuidgen curl; do
    command -v "$tool" >/dev/null || fail "'$tool' is not installed (apt-get install -y radosgw ceph-mon ceph-osd ceph-mgr uuid-runtime curl; ./test stress does it)"
  done
  rm -rf "$D"
  mkdir -p "$D"/{mon,osd/ceph-0,log,run,rgw}
  fsid=$(uuidgen)
  cat >"$D/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = 127.0.0.1:$((PORT + 1))
mon initial members = a
mon data avail crit = 0
mon data avail warn = 0
ms mon client mode = crc
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
mon allow pool delete = true
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 4294967296
run dir = $D/run
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
mon data = $D/mon/\$cluster-\$id
osd data = $D/osd/\$cluster-\$id
mgr data = $D/mgr/\$cluster-\$id
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $D/rgw
rgw dns name = localhost
CONF
  export CEPH_CONF=$D/ceph.conf
  ceph-mon --mkfs -i a --keyring /dev/null >/dev/null 2>&1 || fail "ceph-mon --mkfs failed"
  touch "$D/mon/ceph-a/keyring"
  ceph-mon -i a 2>/dev/null || fail "ceph-mon did not start"
  mkdir -p "$D/mgr/ceph-x"
  ceph-mgr -i x 2>/dev/null || true
  id=$(timeout 60 ceph osd create) || fail "the monitor did not answer 'ceph osd create' within 60 s"
  ceph-osd -i "$id" --mkfs >/dev/null 2>&1 || fail "ceph-osd --mkfs failed"
  ceph-osd -i "$id" 2>/dev/null || fail "ceph-osd did not start"
  timeout 30 ceph osd crush add "osd.$id" 1 root=default >/dev/null 2>&1 || true
  up=0
  for _ in $(seq 1 60); do
    if timeout 10 ceph osd stat 2>/dev/null | grep -q "1 up"; then up=1; break; fi
    sleep 1
  done
  ((up)) || fail "the OSD was not up within 60 s"
  radosgw -n client.rgw.a 2>/dev/null || fail "radosgw did not start"
  up=0
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "http://127.0.0.1:$PORT"; then up=1; break; fi
    sleep 1
  done
  ((up)) || fail "the RADOS Gateway did not answer on 127.0.0.1:$PORT within 120 s"
  timeout 60 radosgw-admin user create --uid blueback --display-name blueback --access-key "$ACCESS" --secret-key "$SECRET" >/dev/null ||
    fail "radosgw-admin could not create the user"
  # With MICRO_CEPH_OWNER_PID (a test host), the cluster is stopped when that process is gone, even if it was killed
  # before it could stop it (the daemons detach and would outlive it).
  if [[ -n ${MICRO_CEPH_OWNER_PID:-} ]]; then
    nohup bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 5; done; bash "$2" stop "$3"' _ "$MICRO_CEPH_OWNER_PID" "$0" "$D" </dev/null >/dev/null 2>&1 &
  fi
  echo "s3 endpoint http://127.0.0.1:$PORT access key $ACCESS secret $SECRET"
  ;;
stop)
  for p in "$D"/run/*.pid; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
  done
  true
  ;;
*) echo "usage: micro-ceph.sh start DIR PORT [ACCESS_KEY SECRET] | stop DIR" >&2; exit 64 ;;
esac
