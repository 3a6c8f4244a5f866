"""extract_snippet.py finds the marked block, and fails loudly otherwise."""

import unittest

import extract_snippet

DOC = """Text.

<!-- doc_snippet: one (compiled by //examples/doc_snippets) -->
```c++
int a = 1;
```

<!-- doc_snippet: open -->
```c++
int b;
"""


class ExtractSnippetTest(unittest.TestCase):
    def test_the_marked_block(self):
        self.assertEqual(extract_snippet.extract(DOC, "one"), "int a = 1;\n")

    def test_a_missing_mark_fails(self):
        with self.assertRaisesRegex(ValueError, "0 marks"):
            extract_snippet.extract(DOC, "two")

    def test_a_repeated_mark_fails(self):
        with self.assertRaisesRegex(ValueError, "2 marks"):
            extract_snippet.extract(DOC + DOC, "one")

    def test_a_mark_without_a_fence_fails(self):
        with self.assertRaisesRegex(ValueError, "not followed"):
            extract_snippet.extract("<!-- doc_snippet: x -->\ntext\n", "x")

    def test_an_unclosed_fence_fails(self):
        with self.assertRaisesRegex(ValueError, "never closed"):
            extract_snippet.extract(DOC, "open")


if __name__ == "__main__":
    unittest.main()
