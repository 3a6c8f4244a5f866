#!/usr/bin/python3
"""Trains the fraud-scoring example model on a synthetic, seeded data set.

Run from the repository root with Debian's interpreter (another python3
earlier on PATH may lack Debian's packages):

    apt-get install python3-xgboost python3-numpy    # XGBoost 1.7.4, as libxgboost-dev
    /usr/bin/python3 examples/fraud_scoring/train_model.py

It writes, next to this script:
  model.json          XGBoost's JSON model format: the trees, the feature
                      names in order, and attributes describing the model
                      (name, version, data set, the features that may be
                      missing) that GET /model reports.
  testdata/golden.csv rows of held-out features and XGBoost's own predicted
                      probability for each (Booster.predict on a DMatrix),
                      every value printed with %.9g so it reads back as the
                      exact float32.

Everything is deterministic: a fixed numpy seed for the data, a fixed XGBoost
seed, nthread=1 for training. Running it again with the same XGBoost and numpy
versions reproduces both files byte for byte.

The data set is fraud-like, not real: each feature is drawn from a simple
distribution, and the label comes from a hidden logistic rule (see
`hidden_fraud_logit`) plus label noise, giving a fraud rate of about 2%.
"""

import argparse
import json
import os
import sys

import numpy as np
import xgboost as xgb

SEED = 20240611
NUM_ROWS = 200_000
GOLDEN_ROWS = 300
MODEL_NAME = "fraud_gbt"
MODEL_VERSION = "1"

# Order matters: the C++ side reads these names from model.json and a request's
# "features" array follows this order.
FEATURE_NAMES = [
    "amount_usd",             # transaction amount, US dollars
    "amount_zscore",          # amount vs the card's usual amounts (z-score)
    "hour_of_day",            # local hour, 0..23
    "merchant_risk",          # risk score of the merchant category, 0..1
    "distance_from_home_km",  # distance from the card holder's home; NaN = unknown
    "card_age_days",          # days since the card was issued
    "txn_count_24h",          # transactions on this card in the last 24 hours
    "is_foreign",             # 1 if the merchant is in another country
    "card_present",           # 1 for chip/contactless, 0 for card-not-present
    "account_age_days",       # days since the account was opened
]

PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": ["auc", "logloss"],
    "tree_method": "hist",
    "max_depth": 4,
    "eta": 0.1,
    "min_child_weight": 5,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "seed": SEED,
    "nthread": 1,
}
NUM_TREES = 120


def make_features(rng, n):
    """Draws n transactions; returns a float64 matrix in FEATURE_NAMES order."""
    amount = np.clip(rng.lognormal(mean=3.5, sigma=1.2, size=n), 0.5, 20000.0)
    amount_zscore = rng.normal(0.0, 1.0, size=n)
    # More transactions by day than by night.
    hour_weights = np.array([1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 9,
                             9, 9, 8, 8, 8, 9, 9, 8, 6, 4, 3, 2], dtype=float)
    hour = rng.choice(24, size=n, p=hour_weights / hour_weights.sum())
    merchant_risk = rng.beta(2.0, 8.0, size=n)
    distance = rng.lognormal(mean=2.0, sigma=1.3, size=n)
    distance[rng.random(n) < 0.05] = np.nan  # no location for 5% of transactions
    card_age = rng.exponential(700.0, size=n).clip(0, 3650)
    txn_24h = rng.poisson(2.0, size=n)
    foreign = (rng.random(n) < 0.08).astype(float)
    card_present = (rng.random(n) < 0.6).astype(float)
    account_age = rng.exponential(1500.0, size=n).clip(0, 15000)
    return np.column_stack([amount, amount_zscore, hour, merchant_risk, distance,
                            card_age, txn_24h, foreign, card_present, account_age])


def hidden_fraud_logit(x):
    """The hidden rule: log-odds of fraud for each row of x (float64)."""
    amount, zscore, hour, risk, dist, card_age, txn, foreign, present, acct = x.T
    dist_term = np.where(np.isnan(dist), 0.75, 0.7 * np.log1p(np.nan_to_num(dist)))
    return (-8.4
            + 1.2 * np.clip(zscore, -2.0, 5.0)
            + 0.7 * (np.log(amount) - 3.5)
            + 1.8 * (hour <= 5)
            + 3.75 * risk
            + dist_term
            + 1.5 * (card_age < 30)
            + 0.5 * np.minimum(txn, 15)
            + 1.65 * foreign
            - 1.95 * present
            - 0.9 * (acct > 365)
            + 2.25 * foreign * (1.0 - present))


def make_dataset(rng, n):
    x = make_features(rng, n)
    p = 1.0 / (1.0 + np.exp(-hidden_fraud_logit(x)))
    y = (rng.random(n) < p).astype(float)
    flip = rng.random(n) < 0.001  # label noise: mislabelled chargebacks
    y[flip] = 1.0 - y[flip]
    # The C++ side scores float32 rows: train and predict on exactly those.
    return x.astype(np.float32), y


def fmt(v):
    return "nan" if np.isnan(v) else "%.9g" % v


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out_dir", default=here)
    args = ap.parse_args()

    rng = np.random.Generator(np.random.PCG64(SEED))
    x, y = make_dataset(rng, NUM_ROWS)
    n_train = int(NUM_ROWS * 0.8)
    dtrain = xgb.DMatrix(x[:n_train], label=y[:n_train], feature_names=FEATURE_NAMES)
    dtest = xgb.DMatrix(x[n_train:], label=y[n_train:], feature_names=FEATURE_NAMES)
    evals = {}
    booster = xgb.train(PARAMS, dtrain, NUM_TREES, evals=[(dtest, "test")],
                        evals_result=evals, verbose_eval=False)
    auc = evals["test"]["auc"][-1]
    fraud_rate = float(y.mean())
    # The columns with missing values in the training rows: only for those
    # did the trees learn where a missing value goes (every other split
    # sends it the way of a large value), so the service accepts null for
    # these features alone.
    nullable = [name for name, column in zip(FEATURE_NAMES, x[:n_train].T)
                if np.isnan(column).any()]
    booster.set_attr(
        brisk_model_name=MODEL_NAME,
        brisk_model_version=MODEL_VERSION,
        brisk_nullable_features=json.dumps(nullable),
        brisk_training=json.dumps({
            "script": "examples/fraud_scoring/train_model.py",
            "seed": SEED, "rows": NUM_ROWS, "train_rows": n_train,
            "fraud_rate": round(fraud_rate, 5), "test_auc": round(auc, 5),
            "xgboost": xgb.__version__, "numpy": np.__version__,
        }, sort_keys=True))
    model_path = os.path.join(args.out_dir, "model.json")
    booster.save_model(model_path)

    # Golden rows: a seeded sample of the held-out rows, with every fraud row
    # of the first part of the test set added so high scores are covered too.
    test_x, test_y = x[n_train:], y[n_train:]
    pick = rng.choice(len(test_x), size=GOLDEN_ROWS - 60, replace=False)
    frauds = np.flatnonzero(test_y == 1.0)[:60]
    rows = np.concatenate([pick, frauds])
    golden_x = test_x[rows]
    # XGBoost's own prediction for these rows, through the same shared library
    # the C++ side links (python3-xgboost loads /usr/lib/.../libxgboost.so.0).
    reloaded = xgb.Booster(model_file=model_path)
    scores = reloaded.predict(xgb.DMatrix(golden_x, feature_names=FEATURE_NAMES))
    inplace = reloaded.inplace_predict(golden_x)
    if not np.array_equal(scores, inplace):
        sys.exit("DMatrix and in-place predictions differ")
    os.makedirs(os.path.join(args.out_dir, "testdata"), exist_ok=True)
    golden_path = os.path.join(args.out_dir, "testdata", "golden.csv")
    with open(golden_path, "w") as f:
        f.write(",".join(FEATURE_NAMES + ["score"]) + "\n")
        for row, score in zip(golden_x, scores):
            f.write(",".join([fmt(v) for v in row] + [fmt(score)]) + "\n")

    print("rows %d, fraud rate %.4f, test AUC %.4f, trees %d, model %d bytes"
          % (NUM_ROWS, fraud_rate, auc, booster.num_boosted_rounds(),
             os.path.getsize(model_path)))
    print("wrote %s and %s (%d rows, scores %.5f..%.5f)"
          % (model_path, golden_path, len(rows), scores.min(), scores.max()))


if __name__ == "__main__":
    main()
