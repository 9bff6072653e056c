#!/usr/bin/env bash
# Fetches the UCI handwritten digits (1,797 images of 8x8 pixels) as DEST/digits.csv.gz,
# without Python: the file ships inside Debian's python3-sklearn package, so the .deb is
# downloaded with apt-get and unpacked with dpkg-deb. Does nothing when the file is there.
#
#   examples/digit_identification/fetch_digits.sh DEST
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DEST_FOLDER" >&2
  exit 2
fi
dest=$1
target=$dest/digits.csv.gz
if [[ -s $target ]]; then
  echo "fetch_digits: $target already exists"
  exit 0
fi
mkdir -p "$dest"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get downloads as the unprivileged _apt user when it can write the folder; otherwise it
# falls back to root with a warning.
if [[ $EUID -eq 0 ]] && id -u _apt >/dev/null 2>&1; then
  chown _apt "$work"
fi

cd "$work"
echo "fetch_digits: downloading python3-sklearn (it holds the data set)"
# The package lists may be missing or stale on a fresh machine: refresh them only then.
if ! apt-get download -q python3-sklearn; then
  echo "fetch_digits: apt-get download failed; running apt-get update and trying again"
  apt-get update -q
  apt-get download -q python3-sklearn
fi
dpkg-deb -x python3-sklearn_*.deb unpacked
found=$(find unpacked/usr/lib/python3/dist-packages/sklearn/datasets/data -name digits.csv.gz \
  -print -quit)
if [[ -z $found ]]; then
  echo "fetch_digits: digits.csv.gz is not in $(echo python3-sklearn_*.deb)" >&2
  exit 1
fi
cd - >/dev/null

# Copied under a temporary name, then renamed: an interrupted run leaves no partial file
# that a later run would take as done.
cp "$work/$found" "$target.partial"
gzip -t "$target.partial"
mv "$target.partial" "$target"
echo "fetch_digits: wrote $target ($(zcat "$target" | wc -l) images)"
