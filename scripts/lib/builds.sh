# Shared by scripts/bench-ab and scripts/bench-instructions; sourced, not run.

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

# A default configuration (as in scripts/bench-compare), whatever TESSERA_* the caller
# has set, except TESSERA_LOG; the rate limits are lifted for these runs only.
bench_configuration() {
    local var subject
    for var in $(compgen -e | grep '^TESSERA_' | grep -v '^TESSERA_LOG$' || true); do
        unset "$var"
    done
    for subject in KEY IP PUBLISHABLE; do
        export "TESSERA_RATE_LIMIT_${subject}_PER_SECOND=1000000" "TESSERA_RATE_LIMIT_${subject}_BURST=1000000"
    done
}
