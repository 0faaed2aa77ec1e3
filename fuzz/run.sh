#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time with the nightly
# toolchain; exits non-zero if any target found a crash, a leak or a hang.
#
#   fuzz/run.sh            # every target, 20 s each
#   fuzz/run.sh 300        # every target, 5 min each
#   fuzz/run.sh 60 yaml_loader
#
# Targets are found with `cargo fuzz list`, so a new one needs no change
# here (fuzz/README.md). The committed seeds in fuzz/corpus/TARGET are read,
# never written: what libFuzzer finds goes to fuzz/scratch/TARGET (kept
# between runs, ignored by git) and crashes to fuzz/artifacts/TARGET.
# Installs cargo-fuzz (crates.io) and the nightly toolchain when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "installing the nightly toolchain (cargo-fuzz needs -Z sanitizer flags)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# The targets write temporary files: keep them where they are removed.
scratch_tmp="$(mktemp -d)"
trap 'rm -rf "$scratch_tmp"' EXIT

failed=()
for target in "${targets[@]}"; do
    echo "== $target, ${seconds} s"
    mkdir -p "fuzz/scratch/$target" "fuzz/corpus/$target"
    started=$(date +%s)
    # The build comes first and is not counted in max_total_time.
    cargo +nightly fuzz build "$target"
    if TMPDIR="$scratch_tmp" cargo +nightly fuzz run "$target" "fuzz/scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1; then
        echo "== $target: no crash in ${seconds} s ($(($(date +%s) - started)) s with the build)"
    else
        echo "== $target: FOUND A CRASH (fuzz/artifacts/$target/); reproduce with"
        echo "   cargo +nightly fuzz run $target fuzz/artifacts/$target/<file>"
        echo "   and minimise with: cargo +nightly fuzz tmin $target fuzz/artifacts/$target/<file>"
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashes in: ${failed[*]}"
    exit 1
fi
echo "every target ran ${seconds} s without a crash: ${targets[*]}"
