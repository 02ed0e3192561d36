#!/usr/bin/env python3
"""clang-tidy on the lines a change touched under src/ (the checks in .clang-tidy, findings are errors).

Usage: tools/clang_tidy_changed.py [BUILD_DIR] [--base REV] [--jobs N]

The change is `git diff BASE HEAD` plus the uncommitted work; BASE defaults to
$CONTINUUM_TIDY_BASE, else HEAD~$CONTINUUM_TIDY_COMMITS (20 commits, or the first commit when there
are fewer). Each changed .cc file in BUILD_DIR/compile_commands.json is checked, and so is the .cc
beside each changed header; a finding counts only on a line the change added or modified (in the
file itself or in a changed header it includes), so older code does not fail a new change.
Exits 1 when a finding is reported, 2 when clang-tidy is missing or cannot run; prints
"clang-tidy: N files checked, N with findings".
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def git(*args):
    return subprocess.run(["git", "-C", ROOT, *args], check=True, capture_output=True,
                          text=True).stdout


def default_base():
    if os.environ.get("CONTINUUM_TIDY_BASE"):
        return os.environ["CONTINUUM_TIDY_BASE"]
    n = int(os.environ.get("CONTINUUM_TIDY_COMMITS", "20"))
    count = int(git("rev-list", "--count", "HEAD").strip())
    if count > n:
        return f"HEAD~{n}"
    # Fewer commits than asked: everything since the empty tree.
    return git("hash-object", "-t", "tree", "/dev/null").strip()


def changed_lines(base):
    """{relative path: [[first, last], ...]} of the lines added or modified since base."""
    diff = git("diff", "-U0", "--no-color", "--diff-filter=AMR", base, "--", "src")
    out, name = {}, None
    for line in diff.splitlines():
        m = re.match(r"^\+\+\+ b/(.*)$", line)
        if m:
            name = m.group(1)
            continue
        m = re.match(r"^@@ .* \+(\d+)(?:,(\d+))? @@", line)
        if m and name:
            first, count = int(m.group(1)), int(m.group(2) or "1")
            if count:
                out.setdefault(name, []).append([first, first + count - 1])
    return out


def find_tidy():
    for name in ("clang-tidy-14", "clang-tidy"):
        path = shutil.which(name)
        if path:
            return path
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--base", default=None)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    tidy = find_tidy()
    if not tidy:
        print("clang-tidy: not installed (tools/setup.sh installs clang-tidy-14)", file=sys.stderr)
        return 2
    db_path = os.path.join(ROOT, args.build, "compile_commands.json")
    if not os.path.exists(db_path):
        print(f"clang-tidy: {db_path} is missing; build first", file=sys.stderr)
        return 2
    with open(db_path) as f:
        in_db = {os.path.relpath(os.path.join(e["directory"], e["file"]), ROOT) for e in json.load(f)}

    base = args.base or default_base()
    lines = changed_lines(base)
    tus = set()
    for path in lines:
        if path.endswith(".cc") and path in in_db:
            tus.add(path)
        elif path.endswith(".h"):
            beside = path[:-2] + ".cc"
            if beside in in_db:
                tus.add(beside)
    headers = [{"name": os.path.join(ROOT, p), "lines": r} for p, r in lines.items()
               if p.endswith(".h")]

    def check(tu):
        # A file left out of a non-empty filter reports nothing: a .cc checked only for a changed
        # header beside it is listed with no lines of its own.
        own = [{"name": os.path.join(ROOT, tu), "lines": lines[tu]}] if tu in lines else []
        filt = own + headers
        cmd = [tidy, "-quiet", "-p", os.path.join(ROOT, args.build), "--warnings-as-errors=*",
               "-line-filter=" + json.dumps(filt, separators=(",", ":")), os.path.join(ROOT, tu)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        findings = [l for l in r.stdout.splitlines() if re.search(r": (warning|error): ", l)]
        return tu, r.returncode, findings, r.stdout

    bad = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for tu, rc, findings, text in pool.map(check, sorted(tus)):
            if rc != 0 or findings:
                bad += 1
                print(text.rstrip())
    print(f"clang-tidy: {len(tus)} files checked since {base}, {bad} with findings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
