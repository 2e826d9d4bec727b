# Shared by tools/browser_test.sh and tools/bench_serve.sh (sourced, not run): the sample
# database with a list per category, and a `demandlink serve` on a free loopback port.
# Expects $bin (the demandlink binary) and $work (a scratch folder).

# portal_db DB: ingest the sample drops, featurize, index, store every category's list.
portal_db() {
  "$bin" ingest --db "$1" data/q1 data/q2 >/dev/null
  "$bin" featurize --db "$1" >/dev/null
  "$bin" index --db "$1" >/dev/null
  "$bin" recommend --db "$1" --all-categories >/dev/null
}

# start_server DB: serve DB in the background; sets $server (pid) and $addr (host:port).
start_server() {
  "$bin" serve --db "$1" --addr 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
  server=$!
  for _ in $(seq 100); do
    grep -q 'http://' "$work/serve.out" 2>/dev/null && break
    sleep 0.1
  done
  addr=$(sed -n 's#.*http://\([^/]*\)/.*#\1#p' "$work/serve.out")
  if [ -z "$addr" ]; then
    echo "the server did not start:" >&2
    cat "$work/serve.err" >&2
    return 1
  fi
}

# stop_server: stop the server started by start_server, if any.
stop_server() {
  if [ -n "${server:-}" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
  fi
}
