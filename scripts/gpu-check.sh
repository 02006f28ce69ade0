#!/usr/bin/env bash
# Checks cool-fusion's local-model backend on an NVIDIA GPU: `cool-fusion gpu-check` loads every shared tiny
# checkpoint (../shared/fixtures/hf-tiny*/<model>) on the GPU in float32 and float16, compares its log-probs with the
# CPU's float32 ones (tolerances: float32 1e-4, float16 2e-2, absolute on log-probs), then times prefill, greedy
# decode and batched scoring of a random Llama of bench-model's medium shape (56M parameters) on the CPU and the GPU,
# and prints a table.
#
# Exit codes: 0 all within tolerance, 4 a mismatch, 3 no GPU visible to the PyTorch engine, 1 any other error.
# Extra arguments go to the command, e.g. --device gpu:1, --only llama,qwen3, --shape small|none, --dtypes float32.
#
# CUDA natives. The build bundles the CPU libtorch (ai.djl.pytorch:pytorch-native-cpu 2.7.1), which sees no GPU, so
# this script builds the launcher with the `gpu` profile (-Pgpu leaves that jar off the class path) and lets DJL
# choose its native library from the environment:
#   PYTORCH_FLAVOR=cu128     DJL's PyTorch JNI 2.7.1-0.36.0 ships its CUDA JNI for exactly this flavour
#   PYTORCH_VERSION=2.7.1    the JNI is built for libtorch 2.7.1 (another version fails with undefined symbols)
# and then one of:
#   - online, once: AI_DJL_OFFLINE=false lets DJL download the CUDA libtorch 2.7.1 into ~/.djl.ai/pytorch (later
#     runs may set AI_DJL_OFFLINE=true again);
#   - offline: PYTORCH_LIBRARY_PATH=<an unpacked CUDA 12.8 libtorch 2.7.1>/lib, with the matching JNI library
#     (libdjl_torch.so of pytorch-jni 2.7.1-0.36.0, cu128) already in ~/.djl.ai/pytorch.
# DJL picks the device from the model options: device gpu is ai.djl.Device.gpu() (CUDA device 0), gpu:N is
# Device.gpu(N); the loader refuses a GPU id the engine does not see. The unit tests never download anything: they
# run with ai.djl.offline=true and check only the CPU part (GpuCheckCommandTest).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check.sh: no NVIDIA GPU here (nvidia-smi is missing or lists no GPU); nothing was checked." >&2
  exit 3
fi
nvidia-smi -L >&2

export PYTORCH_FLAVOR="${PYTORCH_FLAVOR:-cu128}"
export PYTORCH_VERSION="${PYTORCH_VERSION:-2.7.1}"
export AI_DJL_OFFLINE="${AI_DJL_OFFLINE:-false}"
export COOL_FUSION_BUILD_ARGS="${COOL_FUSION_BUILD_ARGS:--Pgpu}"
# Build with -Pgpu (without the CPU libtorch jar) unless told the launcher is already such a build.
export COOL_FUSION_REBUILD="${COOL_FUSION_REBUILD:-1}"
cd "$root"
status=0
"$root/cool-fusion" gpu-check --fixtures "${COOL_FUSION_FIXTURES:-$root/../shared/fixtures}" "$@" || status=$?
# The launcher now holds the -Pgpu build: drop its class path so that the next plain ./cool-fusion rebuilds for the CPU.
rm -f "$root/cli/target/classpath.txt"
exit "$status"
