"""Tests for src/slugify.py. Each threat `<id>` in the threat model is verified by `test_<id>`."""
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from slugify import MAX_SLUG_CHARS, MAX_TITLE_CHARS, slugify  # noqa: E402


class SlugifyTest(unittest.TestCase):
    def test_basic(self):
        self.assertEqual(slugify("Quarterly Report: Q3 2024"), "quarterly-report-q3-2024")

    def test_path_traversal(self):
        for title in ["../../etc/passwd", "..\\..\\windows\\system32", "/absolute/path", "..", "."]:
            slug = slugify(title)
            self.assertNotIn("/", slug)
            self.assertNotIn("\\", slug)
            self.assertNotIn("..", slug)
            self.assertFalse(slug.startswith("."))

    def test_oversized_input(self):
        with self.assertRaises(ValueError):
            slugify("a" * (MAX_TITLE_CHARS + 1))
        self.assertLessEqual(len(slugify("word " * 200)), MAX_SLUG_CHARS)

    def test_control_characters(self):
        self.assertEqual(slugify("line\nbreak\x00nul\x1b[31mred"), "line-break-nul-31mred")

    def test_reserved_names(self):
        self.assertEqual(slugify("CON"), "con-doc")
        self.assertEqual(slugify("lpt1"), "lpt1-doc")

    def test_unicode_confusables(self):
        self.assertEqual(slugify("Ｃａｆé ﬁle"), "cafe-file")
        self.assertEqual(slugify("🔥🔥"), "untitled")

    def test_rejects_non_strings(self):
        with self.assertRaises(TypeError):
            slugify(None)


if __name__ == "__main__":
    unittest.main()
