#!/usr/bin/env bash
# Fetches the UCI handwritten digits (1,797 images of 8x8 pixels) as DEST/digits.csv.gz,
# without Python: the file ships inside Debian's python3-sklearn package
# (../fetch_sklearn_data.sh takes it out of the .deb). Does nothing when the file is there.
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

# Copied under a temporary name, checked, then renamed: an interrupted run leaves no partial
# file that a later run would take as done.
"$(dirname "$0")/../fetch_sklearn_data.sh" digits.csv.gz "$target.partial"
gzip -t "$target.partial"
mv "$target.partial" "$target"
echo "fetch_digits: wrote $target ($(zcat "$target" | wc -l) images)"
