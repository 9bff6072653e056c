# shellcheck shell=bash
# Sourced by scripts/test, scripts/demo and benchmarks: installs the Debian packages this project needs
# that are missing (apt-get, as root). Nothing is installed by hand anywhere else.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    return 1
  fi
  echo "installing: ${missing[*]}"
  # Explicit checks, not set -e: a caller may run this as `ensure_packages ... || ...`.
  if ! apt-get update -qq; then
    echo "apt-get update failed; cannot install the Debian packages: ${missing[*]}" >&2
    return 1
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null; then
    local failed=()
    for p in "${missing[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || failed+=("$p")
    done
    echo "could not install the Debian packages: ${failed[*]:-${missing[*]}} (apt-get's message above)" >&2
    return 1
  fi
}

# shellcheck disable=SC2034  # used by the scripts that source this file
BUILD_PACKAGES=(cmake ninja-build g++ libboost-dev librange-v3-dev libfmt-dev libcli11-dev catch2
                libsimdjson-dev libxxhash-dev zlib1g-dev)
# shellcheck disable=SC2034
# scripts/test also needs: ccache (rebuilds), pkg-config (the packaging test), clang and
# libFuzzer (the fuzz targets), tmux (the progress line in a terminal), chromium (the run
# report in a headless browser, tests/report/browser_test.py), Open MPI (many nodes,
# tests/mpi/mpi_test.sh under mpirun).
TEST_PACKAGES=(ccache pkgconf clang-14 libclang-rt-14-dev tmux chromium openmpi-bin libopenmpi-dev)
# shellcheck disable=SC2034
# scripts/demo models: LibTorch and XGBoost to build the torch_digits and xgboost_table
# examples, their Python modules (for /usr/bin/python3) to train the models. The data come
# from python3-sklearn's .deb without installing it (examples/fetch_sklearn_data.sh).
MODEL_PACKAGES=(libtorch-dev python3-torch libxgboost-dev python3-xgboost)
