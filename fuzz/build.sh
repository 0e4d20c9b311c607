#!/bin/sh
# Builds the fuzz targets with libFuzzer's coverage instrumentation on the
# nightly toolchain, without cargo-fuzz (the same flags `cargo fuzz build
# --sanitizer none` passes). Binaries: fuzz/target/x86_64-unknown-linux-gnu/release/.
set -e
cd "$(dirname "$0")"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
exec rustup run nightly cargo build --release --target x86_64-unknown-linux-gnu --bins "$@"
