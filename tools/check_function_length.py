#!/usr/bin/env python3
"""Lists the functions under src/ longer than a limit (default 120 lines) and fails when there is one.

Usage: tools/check_function_length.py [--limit N] [DIR...]

A function is a definition that starts at the left margin (or one indent in, inside a class), with
its parameter list and opening brace within eight lines; its length runs from its first line to the
brace that closes it (lambdas and nested blocks count towards the function that holds them).
Strings, character literals and // comments are left out when braces are counted. Test files are
checked too: a long test is as hard to read as a long function.
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START = re.compile(r"^(  )?[A-Za-z_~].*\(")
NOT_A_DEFINITION = ("if", "for", "while", "switch", "return", "namespace", "class", "struct", "#",
                    "using", "typedef", "enum", "static_assert")


def strip(line):
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])*'", "''", line)
    return line.split("//")[0]


def long_functions(path, limit):
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    found, i = [], 0
    while i < len(lines):
        line = lines[i]
        if START.match(line) and not line.lstrip().startswith(NOT_A_DEFINITION):
            j, opened = i, False
            while j < len(lines) and j < i + 8:
                code = strip(lines[j])
                if "{" in code:
                    opened = True
                    break
                if code.rstrip().endswith(";"):
                    break
                j += 1
            if opened:
                depth, k, started = 0, j, False
                while k < len(lines):
                    code = strip(lines[k])
                    depth += code.count("{") - code.count("}")
                    started = started or "{" in code
                    if started and depth <= 0:
                        break
                    k += 1
                length = k - i + 1
                if length > limit:
                    found.append((length, i + 1, line.strip()[:100]))
                i = k + 1
                continue
        i += 1
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=120)
    ap.add_argument("dirs", nargs="*", default=["src"])
    args = ap.parse_args()
    bad = []
    for d in args.dirs:
        for root, _, files in os.walk(os.path.join(ROOT, d)):
            for name in sorted(files):
                if name.endswith((".cc", ".h")):
                    path = os.path.join(root, name)
                    for length, line, text in long_functions(path, args.limit):
                        bad.append(f"{os.path.relpath(path, ROOT)}:{line}: {length} lines: {text}")
    for b in sorted(bad):
        print(b)
    print(f"function length: {len(bad)} functions over {args.limit} lines in {', '.join(args.dirs)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
