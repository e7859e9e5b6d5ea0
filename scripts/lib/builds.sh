# Shared by the benchmark scripts (bench-ab, bench-compare, bench-instructions,
# bench-startup, bench-value-lists, on-cpu); sourced, not run. The caller sets WORK, its scratch
# directory, and stops any SERVER_PID left on exit.

# The tessera binary for $1: a binary as given, or a git revision built once into
# target/bench-ab/<commit> (through a worktree under $WORK, which the caller removes).
binary() {
    if [[ -x "$1" && -f "$1" ]]; then
        realpath "$1"
        return
    fi
    local commit
    commit="$(git rev-parse --verify "$1^{commit}")" || { echo "$(basename "$0"): $1 is neither a binary nor a revision" >&2; exit 2; }
    local dir="$PWD/target/bench-ab/$commit"
    if [[ ! -x "$dir/tessera" ]]; then
        git worktree add --detach -f "$WORK/tree-$commit" "$commit" >/dev/null 2>&1
        (cd "$WORK/tree-$commit" && CARGO_TARGET_DIR="$PWD/../target-$commit" cargo build --release -q -p tessera-server)
        mkdir -p "$dir"
        cp "$WORK/target-$commit/release/tessera" "$dir/tessera"
        git worktree remove --force "$WORK/tree-$commit"
    fi
    echo "$dir/tessera"
}

# A default configuration, whatever TESSERA_* the caller has set, except TESSERA_LOG;
# the rate limits are lifted for these runs only.
bench_configuration() {
    local var subject
    for var in $(compgen -e | grep '^TESSERA_' | grep -v '^TESSERA_LOG$' || true); do
        unset "$var"
    done
    for subject in KEY IP PUBLISHABLE; do
        export "TESSERA_RATE_LIMIT_${subject}_PER_SECOND=1000000" "TESSERA_RATE_LIMIT_${subject}_BURST=1000000"
    done
}

# Starts tessera binary $1 on data directory $2, on a loopback port, and returns once
# it serves: sets SERVER_PID, API, and SECRET_KEY (empty for a store that made its keys
# before). Its output goes to $WORK/server.log, shown if it does not come up.
start() {
    rm -f "$WORK/ready.json"
    TESSERA_LOG=warn "$1" serve --data-dir "$2" --listen 127.0.0.1:0 \
        --ready-file "$WORK/ready.json" >"$WORK/server.log" 2>&1 </dev/null &
    SERVER_PID=$!
    for _ in $(seq 6000); do
        [[ -s "$WORK/ready.json" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.01
    done
    [[ -s "$WORK/ready.json" ]] || { cat "$WORK/server.log" >&2; exit 1; }
    API="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["api"])' "$WORK/ready.json")"
    SECRET_KEY="$(grep -o 'sk_test_[A-Za-z0-9]*' "$WORK/server.log" | head -n 1 || true)"
}

# Stops the gateway start began (SIGTERM) and waits for it.
stop() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
}
