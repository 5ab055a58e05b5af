#!/usr/bin/env python3
"""embed_template.py IN.html OUT.c SYMBOL: the file as one C string.

The HTML report's page (core/output/report.html) is edited as a real HTML
file and compiled into libmemprof, so a report needs no file at run time."""
import sys


def main():
    source, target, symbol = sys.argv[1:4]
    text = open(source, encoding="utf-8").read()
    lines = ["/* Generated from %s by embed_template.py: do not edit. */" % source.split("/")[-1],
             "const char %s[] =" % symbol]
    for line in text.splitlines(keepends=True):
        escaped = (line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                   .replace("?", "\\?"))
        lines.append('\t"%s"' % escaped)
    lines[-1] += ";"
    with open(target, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
