#!/usr/bin/env bash
# Copies one data file that Debian's python3-sklearn package ships
# (sklearn/datasets/data/FILE) to OUT, without Python: the .deb is downloaded with apt-get and
# unpacked with dpkg-deb into a temporary folder. Used by the examples' fetch scripts, which
# check the file and rename it into place.
#
#   examples/fetch_sklearn_data.sh FILE OUT
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 FILE OUT" >&2
  exit 2
fi
file=$1
out=$(realpath -m "$2")
mkdir -p "$(dirname "$out")"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get downloads as the unprivileged _apt user when it can write the folder; otherwise it
# falls back to root with a warning.
if [[ $EUID -eq 0 ]] && id -u _apt >/dev/null 2>&1; then
  chown _apt "$work"
fi

cd "$work"
echo "fetch_sklearn_data: downloading python3-sklearn (it holds $file)"
# The package lists may be missing or stale on a fresh machine: refresh them only then.
if ! apt-get download -q python3-sklearn; then
  echo "fetch_sklearn_data: apt-get download failed; running apt-get update and trying again"
  apt-get update -q
  apt-get download -q python3-sklearn
fi
dpkg-deb -x python3-sklearn_*.deb unpacked
found=$(find unpacked/usr/lib/python3/dist-packages/sklearn/datasets/data -name "$file" \
  -print -quit)
if [[ -z $found ]]; then
  echo "fetch_sklearn_data: $file is not in $(echo python3-sklearn_*.deb)" >&2
  exit 1
fi
cp "$work/$found" "$out"
