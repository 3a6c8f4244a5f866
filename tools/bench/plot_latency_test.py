#!/usr/bin/env python3
"""Tests of plot_latency.py: the golden file shared with //tools/loadgen:plot_test
(the script and loadgen's --plot_out draw the same bytes), the axes, and
bad input."""

import contextlib
import io
import os
import shutil
import tempfile
import unittest

import plot_latency

TESTDATA = "tools/loadgen/testdata/plot/"


def testdata(name):
    return os.path.join(TESTDATA, name)


class GoldenTest(unittest.TestCase):

    def test_matches_the_golden_file_of_the_cpp_plot(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "plot.svg")
            rc = plot_latency.main([
                "--out=" + out, "--title=golden: brisk vs peer <&>",
                "brisk=" + testdata("brisk.csv"),
                "peer \u2014 thread pool, 1 \u00b5s=" + testdata("peer.csv"),
                "shed=" + testdata("shed.csv")])
            self.assertEqual(rc, 0)
            with open(out, "rb") as f:
                svg = f.read()
        with open(testdata("golden.svg"), "rb") as f:
            self.assertEqual(svg, f.read())


class AxisTest(unittest.TestCase):

    def test_percentile_axis(self):
        self.assertEqual(plot_latency.percentile_decades(0), 0)
        self.assertAlmostEqual(plot_latency.percentile_decades(90), 1, places=12)
        self.assertAlmostEqual(plot_latency.percentile_decades(99.9), 3, places=9)
        self.assertEqual(plot_latency.percentile_decades(99.99999), 5)
        self.assertEqual(plot_latency.percentile_decades(100), 5)
        ticks = plot_latency.percentile_ticks()
        self.assertEqual([label for _, _, label in ticks],
                         ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
        self.assertEqual([plot_latency.coord(x) for _, x, _ in ticks],
                         ["84.0", "249.6", "415.2", "580.8", "746.4", "912.0"])

    def test_latency_axis(self):
        # The same rows as PlotTest.LatencyAxisRunsBetweenOneTwoFiveValuesAroundTheData.
        rows = [
            (120, 25000, 100, 50000,
             ["100\u00b5s", "200\u00b5s", "500\u00b5s", "1ms", "2ms", "5ms", "10ms",
              "20ms", "50ms"]),
            (50, 8000000, 50, 10000000,
             ["", "100\u00b5s", "", "", "1ms", "", "", "10ms", "", "", "100ms", "", "",
              "1s", "", "", "10s"]),
            (0, 0, 1, 2, ["1\u00b5s", "2\u00b5s"]),
            (7, 7, 5, 10, ["5\u00b5s", "10\u00b5s"]),
            (1000, 1000, 1000, 2000, ["1ms", "2ms"]),
            (999, 1001, 500, 2000, ["500\u00b5s", "1ms", "2ms"]),
            (1500000, 3000000, 1000000, 5000000, ["1s", "2s", "5s"]),
        ]
        for min_us, max_us, low, high, labels in rows:
            with self.subTest(min_us=min_us, max_us=max_us):
                axis = plot_latency.LatencyAxis(min_us, max_us)
                self.assertEqual((axis.low_us, axis.high_us), (low, high))
                self.assertEqual([label for _, _, label in axis.ticks], labels)
                self.assertEqual(axis.position(low), plot_latency.BOTTOM)
                self.assertEqual(axis.position(high), plot_latency.TOP)


class CommandLineTest(unittest.TestCase):

    def run_main(self, args):
        err = io.StringIO()
        out = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = plot_latency.main(args)
        return rc, out.getvalue(), err.getvalue()

    def write(self, tmp, name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_label_defaults_to_the_file_name_and_dash_is_stdout(self):
        rc, out, _ = self.run_main(["--out=-", testdata("brisk.csv")])
        self.assertEqual(rc, 0)
        self.assertTrue(out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg '))
        self.assertIn('<polyline data-label="brisk" stroke="#1f77b4"', out)
        self.assertIn("<title>Latency by percentile</title>", out)

    def test_a_label_may_hold_an_equals_sign(self):
        # loadgen labels a class by its target, which may have a query.
        self.assertEqual(plot_latency.parse_series_arg("GET /slow?ms=50=a/slow.csv"),
                         ("GET /slow?ms=50", "a/slow.csv"))
        self.assertEqual(plot_latency.parse_series_arg("brisk=b.csv"), ("brisk", "b.csv"))
        self.assertEqual(plot_latency.parse_series_arg("x/brisk.csv"), ("brisk", "x/brisk.csv"))

    def test_a_path_may_hold_an_equals_sign(self):
        # A run directory named after its rate: the label ends where an
        # existing file's path begins, on either side of other '='s.
        with tempfile.TemporaryDirectory() as d:
            runs = os.path.join(d, "rate=1000")
            os.mkdir(runs)
            csv = os.path.join(runs, "b.csv")
            shutil.copy(testdata("brisk.csv"), csv)
            self.assertEqual(plot_latency.parse_series_arg("brisk=" + csv), ("brisk", csv))
            self.assertEqual(plot_latency.parse_series_arg("GET /x?a=1=" + csv),
                             ("GET /x?a=1", csv))
            self.assertEqual(plot_latency.parse_series_arg(csv), ("b", csv))
            rc, out, _ = self.run_main(["--out=-", "brisk=" + csv])
            self.assertEqual(rc, 0)
            self.assertIn('<polyline data-label="brisk" ', out)

    def test_bad_input_exits_2_with_a_message(self):
        with tempfile.TemporaryDirectory() as tmp:
            cases = {
                "three fields": "percentile,latency_us\n50,1,2\n",
                "not a number": "percentile,latency_us\n50,abc\n",
                "percentile over 100": "percentile,latency_us\n101,5\n",
                "negative latency": "percentile,latency_us\n50,-5\n",
            }
            for name, text in cases.items():
                with self.subTest(name):
                    path = self.write(tmp, "bad.csv", text)
                    rc, _, err = self.run_main(["--out=" + os.path.join(tmp, "x.svg"),
                                                "a=" + path])
                    self.assertEqual(rc, 2)
                    self.assertIn("bad.csv:2:", err)
            rc, _, err = self.run_main(["--out=-", "a=" + os.path.join(tmp, "missing.csv")])
            self.assertEqual(rc, 2)
            self.assertIn("missing.csv", err)
            rc, _, _ = self.run_main(["a=b.csv"])  # no --out
            self.assertEqual(rc, 2)


if __name__ == "__main__":
    unittest.main()
