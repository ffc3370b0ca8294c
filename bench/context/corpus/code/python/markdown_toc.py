"""Inserts a table of contents into a Markdown file between <!-- toc --> and <!-- /toc --> markers."""

import re
import sys

HEADING = re.compile(r"^(#{2,4})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^(```|~~~)")


def anchor(title, seen):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, -1/-2 for repeats."""
    slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def headings(lines):
    in_fence = False
    for line in lines:
        if FENCE.match(line):
            in_fence = not in_fence  # a "# comment" inside a code block is not a heading
            continue
        m = None if in_fence else HEADING.match(line)
        if m:
            yield len(m.group(1)), m.group(2)


def table_of_contents(lines):
    seen = {}
    return [f"{'  ' * (level - 2)}- [{title}](#{anchor(title, seen)})" for level, title in headings(lines)]


def insert_toc(text):
    lines = text.split("\n")
    try:
        begin, end = lines.index("<!-- toc -->"), lines.index("<!-- /toc -->")
    except ValueError:
        return text
    return "\n".join(lines[: begin + 1] + table_of_contents(lines) + lines[end:])


if __name__ == "__main__":
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        original = f.read()
    updated = insert_toc(original)
    if updated != original:
        with open(path, "w", encoding="utf-8") as f:
            f.write(updated)
