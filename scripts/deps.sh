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
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# shellcheck disable=SC2034  # used by the scripts that source this file
BUILD_PACKAGES=(cmake ninja-build g++ libboost-dev librange-v3-dev libfmt-dev libcli11-dev catch2
                libsimdjson-dev libxxhash-dev zlib1g-dev)
# shellcheck disable=SC2034
# scripts/test also needs: ccache (rebuilds), pkg-config (the packaging test), clang and
# libFuzzer (the fuzz targets).
TEST_PACKAGES=(ccache pkgconf clang-14 libclang-rt-14-dev tmux)
