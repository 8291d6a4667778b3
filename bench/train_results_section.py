#!/usr/bin/env python3
"""Puts bench/TRAIN_RESULTS.md (written by bench/train_compare.sh) into bench/RESULTS.md as its
training section, headings one level down, between markers: replaced where the markers are,
appended otherwise. bench/compare.sh runs it again after rewriting RESULTS.md."""
import os

BEGIN, END = "<!-- begin: bench/train_compare.sh -->", "<!-- end: bench/train_compare.sh -->"
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    train = os.path.join(HERE, "TRAIN_RESULTS.md")
    results = os.path.join(HERE, "RESULTS.md")
    if not os.path.exists(train):
        return
    section = "".join("#" + line if line.startswith("#") else line for line in open(train))
    block = f"{BEGIN}\n{section.rstrip()}\n{END}\n"
    text = open(results).read() if os.path.exists(results) else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    tmp = results + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, results)


if __name__ == "__main__":
    main()
