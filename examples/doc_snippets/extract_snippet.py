"""Prints the C++ code block of a Markdown file marked for the doc tests.

    python3 extract_snippet.py README.md embedding > embedding.inc

A block is marked by an HTML comment on the line before its fence:

    <!-- doc_snippet: embedding (compiled by //examples/doc_snippets) -->
    ```c++
    ...
    ```

Exits non-zero (so the build fails) when the mark is missing, repeated, or
not followed by a fenced block: a snippet renamed or removed from the docs
must be removed from //examples/doc_snippets too.
"""

import sys


def extract(text, name):
    lines = text.splitlines()
    marks = [i for i, line in enumerate(lines)
             if line.startswith("<!-- doc_snippet: ")
             and line[len("<!-- doc_snippet: "):].split()[0] == name]
    if len(marks) != 1:
        raise ValueError(f"{len(marks)} marks for snippet {name!r} (want 1)")
    start = marks[0] + 1
    if start >= len(lines) or not lines[start].startswith("```"):
        raise ValueError(f"snippet {name!r}: its mark is not followed by a ``` fence")
    body = []
    for line in lines[start + 1:]:
        if line.startswith("```"):
            return "\n".join(body) + "\n"
        body.append(line)
    raise ValueError(f"snippet {name!r}: the fence is never closed")


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: extract_snippet.py FILE.md NAME\n")
        return 2
    with open(argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        code = extract(text, argv[2])
    except ValueError as e:
        sys.stderr.write(f"{argv[1]}: {e}\n")
        return 1
    sys.stdout.write(f"// Extracted from {argv[1]} (snippet {argv[2]}); edit the doc, not this.\n")
    sys.stdout.write(f"#line 1 \"{argv[1]}:{argv[2]}\"\n")
    sys.stdout.write(code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
