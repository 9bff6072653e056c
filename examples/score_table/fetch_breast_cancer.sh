#!/usr/bin/env bash
# Fetches the Wisconsin diagnostic breast cancer data set (569 tumours, 30 measurements each)
# as DEST/breast_cancer.csv, without Python: the file ships inside Debian's python3-sklearn
# package, so the .deb is downloaded with apt-get and unpacked with dpkg-deb. Does nothing
# when the file is there. The file keeps scikit-learn's own layout (a first line
# "569,30,malignant,benign", then 30 numbers and the class per line): breast_cancer_prepare
# turns it into a CSV table with a header row.
#
#   examples/score_table/fetch_breast_cancer.sh DEST
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DEST_FOLDER" >&2
  exit 2
fi
dest=$1
target=$dest/breast_cancer.csv
if [[ -s $target ]]; then
  echo "fetch_breast_cancer: $target already exists"
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
echo "fetch_breast_cancer: downloading python3-sklearn (it holds the data set)"
# The package lists may be missing or stale on a fresh machine: refresh them only then.
if ! apt-get download -q python3-sklearn; then
  echo "fetch_breast_cancer: apt-get download failed; running apt-get update and trying again"
  apt-get update -q
  apt-get download -q python3-sklearn
fi
dpkg-deb -x python3-sklearn_*.deb unpacked
found=$(find unpacked/usr/lib/python3/dist-packages/sklearn/datasets/data \
  -name breast_cancer.csv -print -quit)
if [[ -z $found ]]; then
  echo "fetch_breast_cancer: breast_cancer.csv is not in $(echo python3-sklearn_*.deb)" >&2
  exit 1
fi
cd - >/dev/null

# Checked, copied under a temporary name, then renamed: an interrupted run leaves no partial
# file that a later run would take as done.
if ! head -n 1 "$work/$found" | grep -Eq '^[0-9]+,30,malignant,benign'; then
  echo "fetch_breast_cancer: $found does not start with '<rows>,30,malignant,benign'" >&2
  exit 1
fi
cp "$work/$found" "$target.partial"
mv "$target.partial" "$target"
echo "fetch_breast_cancer: wrote $target ($(($(wc -l <"$target") - 1)) tumours)"
