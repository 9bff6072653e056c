#!/usr/bin/python3
"""Trains gradient-boosted trees on train.csv from breast_cancer_prepare and saves them in
XGBoost's JSON model format, for xgboost_table to load in init().

    /usr/bin/python3 examples/xgboost_table/train.py TRAIN_CSV MODEL_JSON

The features are every column of TRAIN_CSV but "id" and "diagnosis", in the table's order;
their names are saved in the model (Booster.feature_names), and xgboost_table reads the
columns of that name, in that order. The label is 1 for "malignant", 0 for "benign": the
model predicts P(malignant). Needs Debian's python3-xgboost (and its numpy), nothing else.

Deterministic: a fixed seed, one thread and the exact tree method (no sampling, no
histogram sketch), so the same train.csv gives the same model file, byte for byte.
"""
import csv
import os
import sys

import numpy as np
import xgboost as xgb

ID_COLUMN = "id"
LABEL_COLUMN = "diagnosis"
MALIGNANT, BENIGN = "malignant", "benign"

PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "max_depth": 3,
    "eta": 0.1,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "tree_method": "exact",
    "seed": 0,
    "nthread": 1,
}
ROUNDS = 200


def read_table(path):
    """The feature names, the feature matrix and the labels of a prepared table."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or ID_COLUMN not in header or LABEL_COLUMN not in header:
            sys.exit(f"train.py: '{path}' has no header row with '{ID_COLUMN}' and "
                     f"'{LABEL_COLUMN}'")
        label_at = header.index(LABEL_COLUMN)
        feature_at = [i for i, name in enumerate(header) if name not in (ID_COLUMN, LABEL_COLUMN)]
        rows, labels = [], []
        for number, row in enumerate(reader, start=2):
            if len(row) != len(header):
                sys.exit(f"train.py: '{path}' line {number}: {len(row)} fields, expected "
                         f"{len(header)}")
            if row[label_at] not in (MALIGNANT, BENIGN):
                sys.exit(f"train.py: '{path}' line {number}: diagnosis '{row[label_at]}' is "
                         f"neither '{MALIGNANT}' nor '{BENIGN}'")
            rows.append([float(row[i]) for i in feature_at])
            labels.append(1.0 if row[label_at] == MALIGNANT else 0.0)
    if not rows:
        sys.exit(f"train.py: '{path}' holds no rows")
    return ([header[i] for i in feature_at], np.array(rows, dtype=np.float32),
            np.array(labels, dtype=np.float32))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: train.py TRAIN_CSV MODEL_JSON")
    train_csv, model_json = sys.argv[1], sys.argv[2]
    if not model_json.endswith(".json"):
        sys.exit("train.py: the model file must end in .json (XGBoost picks the format by it)")
    names, x, y = read_table(train_csv)
    dtrain = xgb.DMatrix(x, label=y, feature_names=names, nthread=1)
    booster = xgb.train(PARAMS, dtrain, num_boost_round=ROUNDS)
    os.makedirs(os.path.dirname(model_json) or ".", exist_ok=True)
    booster.save_model(model_json)
    accuracy = float(np.mean((booster.predict(dtrain) >= 0.5) == (y == 1.0)))
    print(f"train.py: {len(y)} rows ({int(y.sum())} malignant), {len(names)} features, "
          f"{ROUNDS} trees of depth <= {PARAMS['max_depth']}; training accuracy {accuracy:.3f}")
    print(f"train.py: wrote {model_json} (XGBoost {xgb.__version__})")


if __name__ == "__main__":
    main()
