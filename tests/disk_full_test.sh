#!/usr/bin/env bash
# A full disk under the LMDB store: the hub logs the system's reason ("No space
# left on device") and keeps running. The data directory is a 4 MiB tmpfs in a
# private mount namespace, so this needs root (CI runs it as root): without
# root it is skipped (exit 77) with a message, or fails when CI=true.
#   disk_full_test.sh OCKAM_BIN PUMP_BIN
set -euo pipefail
OCKAM=$1
PUMP=$2
skip() {
  if [ "${CI:-}" = "true" ]; then
    echo "disk_full_test: FAILED: $* (and CI=true)" >&2
    exit 1
  fi
  echo "disk_full_test: SKIPPED: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip "mounting a small tmpfs needs root"
unshare -m true 2>/dev/null || skip "no mount namespace (unshare -m) here"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OCKAM PUMP work
unshare -m bash -euo pipefail -c '
  mkdir "$work/disk"
  mount -t tmpfs -o size=4m tmpfs "$work/disk"
  "$OCKAM" hub --listen 127.0.0.1:0 --data "$work/disk/data" --ready-file "$work/ready" \
    2>"$work/hub.err" &
  hub=$!
  for _ in $(seq 200); do [ -s "$work/ready" ] && break; sleep 0.1; done
  [ -s "$work/ready" ] || { cat "$work/hub.err"; echo "hub did not start"; exit 1; }
  "$PUMP" --hub "$(cat "$work/ready")" --count 1000 --batch 10 --size 60000 \
    >"$work/pump.out" 2>"$work/pump.err" &
  pump=$!
  found=1
  for _ in $(seq 600); do
    if grep -q "No space left on device" "$work/hub.err"; then found=0; break; fi
    kill -0 "$hub" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pump" 2>/dev/null || true
  wait "$pump" 2>/dev/null || true
  alive=0
  kill -0 "$hub" 2>/dev/null || alive=1
  kill -TERM "$hub" 2>/dev/null || true
  wait "$hub" || true
  umount "$work/disk"
  if [ "$found" -ne 0 ] || [ "$alive" -ne 0 ]; then
    echo "--- hub stderr"; tail -20 "$work/hub.err"; echo "--- pump"; tail -5 "$work/pump.out"
    echo "disk_full_test: FAILED: no \"No space left on device\" line from a running hub"
    exit 1
  fi
  grep -m1 "No space left on device" "$work/hub.err"
'
echo "disk_full_test: OK"
