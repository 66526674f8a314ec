#!/usr/bin/env bash
# Serves the package repository that build-repo.sh made over plain HTTP, the way the nodes reach it.
#
#   test/nodes/serve-repo.sh start <ip> <port> [dir]   background server; waits until it answers
#   test/nodes/serve-repo.sh stop <ip> <port>          stops the server that `start` started
#   test/nodes/serve-repo.sh status <ip> <port>
#
# [dir] defaults to $KU_CACHE/nodes/repo. The equivalent one-liner (what nodes.sh runs):
#   (cd "$KU_CACHE/nodes/repo" && setsid python3 -m http.server --bind <ip> <port> >log 2>&1 </dev/null &)
# Base URL for the nodes: http://<ip>:<port>/core:/stable:/v1.35/deb/ (see README.md here).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_TAG=nodes-serve # the log prefix (build-common.sh)
export BUILD_TAG
# shellcheck source=test/nodes/common.sh
. "$here/common.sh"

[ $# -ge 3 ] || { echo "usage: $0 start|stop|status <ip> <port> [dir]" >&2; exit 2; }
cmd="$1" ip="$2" port="$3" dir="${4:-$NODES_CACHE/repo}"
RUNDIR="$NODES_CACHE/serve"
pidf="$RUNDIR/$ip-$port.pid" logf="$RUNDIR/$ip-$port.log"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)

# our server's pid, if it still runs (the pid file alone could name a reused pid)
running_pid() {
  local p cmdline
  p=$(cat "$pidf" 2>/dev/null) || return 1
  [ -n "$p" ] || return 1
  cmdline=$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) || return 1
  grep -q -- "http.server --bind $ip $port" <<<"$cmdline" && echo "$p"
}

case "$cmd" in
  start)
    [ -d "$dir/core:" ] || die "no repository at $dir: run bash test/nodes/build-repo.sh first"
    mkdir -p "$RUNDIR"
    if p=$(running_pid); then log "already serving on http://$ip:$port/ (pid $p)"; exit 0; fi
    t0=$(date +%s)
    setsid "$PY" -m http.server --bind "$ip" "$port" --directory "$dir" >"$logf" 2>&1 </dev/null &
    echo $! > "$pidf"
    for _ in $(seq 50); do
      if "$PY" - "$ip" "$port" <<'PY' 2>/dev/null; then break; fi
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.2).close()
PY
      kill -0 "$(cat "$pidf")" 2>/dev/null || { cat "$logf" >&2; rm -f "$pidf"; die "the HTTP server on $ip:$port exited"; }
      sleep 0.1
    done
    log "serving $dir on http://$ip:$port/ (pid $(cat "$pidf"), log $logf) after $(( $(date +%s) - t0 ))s"
    ;;
  stop)
    if p=$(running_pid); then
      kill "$p"
      for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$p" 2>/dev/null; then kill -9 "$p"; fi
      log "stopped the server on http://$ip:$port/ (pid $p)"
    else
      log "no server of ours on http://$ip:$port/"
    fi
    rm -f "$pidf" "$logf"
    ;;
  status)
    if p=$(running_pid); then echo "serving on http://$ip:$port/ (pid $p)"; else echo "not serving on http://$ip:$port/"; exit 1; fi
    ;;
  *) echo "usage: $0 start|stop|status <ip> <port> [dir]" >&2; exit 2;;
esac
