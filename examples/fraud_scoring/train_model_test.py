"""The shipped model is what train_model.py makes: run it, compare bytes.

train_model.py promises that running it again (same XGBoost and numpy, as
Debian 12 ships them: python3-xgboost 1.7.4, python3-numpy 1.24.2) writes
model.json and testdata/golden.csv byte for byte. This test runs it into a
scratch directory and compares both files with the ones in the package, so
a model or golden file edited by hand, or a script changed without
retraining, fails here instead of going unnoticed.

Usage: train_model_test.py TRAIN_MODEL_PY MODEL_JSON GOLDEN_CSV
"""

import filecmp
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = MODEL = GOLDEN = None


class TrainModelTest(unittest.TestCase):

    def test_script_reproduces_the_shipped_files(self):
        try:
            import numpy
            import xgboost
        except ImportError as e:  # tools/bazel installs both
            self.fail("train_model.py needs python3-xgboost and python3-numpy: %s" % e)
        versions = "xgboost %s, numpy %s" % (xgboost.__version__, numpy.__version__)
        with tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR")) as out:
            run = subprocess.run([sys.executable, SCRIPT, "--out_dir=" + out],
                                 capture_output=True, text=True, timeout=240)
            self.assertEqual(run.returncode, 0,
                             "train_model.py failed:\n" + run.stdout + run.stderr)
            self.assertIn("rows 200000", run.stdout)
            for made, shipped in ((os.path.join(out, "model.json"), MODEL),
                                  (os.path.join(out, "testdata", "golden.csv"), GOLDEN)):
                self.assertTrue(
                    filecmp.cmp(made, shipped, shallow=False),
                    "%s differs from what train_model.py makes with %s (%d vs %d bytes); "
                    "retrain with /usr/bin/python3 examples/fraud_scoring/train_model.py"
                    % (os.path.basename(shipped), versions, os.path.getsize(shipped),
                       os.path.getsize(made)))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    SCRIPT, MODEL, GOLDEN = sys.argv[1:4]
    unittest.main(argv=sys.argv[:1])
