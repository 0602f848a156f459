import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import minicalc  # noqa: E402


class OpsTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(minicalc.add(2, 3), 5)

    def test_divide(self):
        self.assertEqual(minicalc.divide(9, 3), 3)
        with self.assertRaises(ZeroDivisionError):
            minicalc.divide(1, 0)

    def test_mean(self):
        self.assertEqual(minicalc.mean([1, 2, 3, 4]), 2.5)
        with self.assertRaises(ValueError):
            minicalc.mean([])

    def test_version_matches_file(self):
        version_file = Path(__file__).resolve().parents[1] / "VERSION"
        self.assertEqual(minicalc.__version__, version_file.read_text().strip())


if __name__ == "__main__":
    unittest.main()
