#!/usr/bin/env bash
# Fetches the Wisconsin diagnostic breast cancer data set (569 tumours, 30 measurements each)
# as DEST/breast_cancer.csv, without Python: the file ships inside Debian's python3-sklearn
# package (../fetch_sklearn_data.sh takes it out of the .deb). Does nothing when the file is
# there. The file keeps scikit-learn's own layout (a first line "569,30,malignant,benign",
# then 30 numbers and the class per line): breast_cancer_prepare turns it into a CSV table
# with a header row.
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

# Copied under a temporary name, checked, then renamed: an interrupted run leaves no partial
# file that a later run would take as done.
"$(dirname "$0")/../fetch_sklearn_data.sh" breast_cancer.csv "$target.partial"
if ! head -n 1 "$target.partial" | grep -Eq '^[0-9]+,30,malignant,benign'; then
  echo "fetch_breast_cancer: breast_cancer.csv does not start with '<rows>,30,malignant,benign'" >&2
  rm -f "$target.partial"
  exit 1
fi
mv "$target.partial" "$target"
echo "fetch_breast_cancer: wrote $target ($(($(wc -l <"$target") - 1)) tumours)"
