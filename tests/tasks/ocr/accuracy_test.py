#!/usr/bin/python3
"""OCR accuracy on rendered text: the "ocr" task (PP-OCRv4) reads lines of known text.

Renders every line of lines.txt with ImageMagick (DejaVu fonts Sans/Serif/Mono, regular and bold,
18-48 px, black on white, PNG and JPEG), plus a few multi-line pages and a few lines turned 90, 180
and 270 degrees, builds the model repository
and catalog with tools/catalog.d/ocr.sh, runs the images through the task in process (ocr_eval)
and scores the answers:

  exact lines   the line read exactly (whitespace runs collapsed, ends trimmed)
  CER           character error rate: Levenshtein distance / expected length, over code points

Both are reported as written and with spaces ignored ("nospace"): PP-OCRv4's Chinese/English
recognizer is known to drop spaces between English words (PaddleOCR issues #11386, #13201), so
the space-free figures measure the characters and the strict ones the spacing as well.

Figures are given for upright lines (the accuracy figure) and, apart, for the turned ones.
Exit status: 0 when the upright strict exact-line accuracy >= --min-exact, 1 below, 77 (skip)
when the models are not fetched (tools/fetch_models.sh) or ImageMagick is missing.

Usage: accuracy_test.py --eval BUILD/bin/ocr_eval --work DIR [--min-exact 0.90] [--gate nospace]
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf"]
SIZES = [18, 20, 22, 24, 28, 32, 36, 40, 44, 48]
CJK_LINES = ["你好世界", "欢迎使用文字识别", "北京市朝阳区建国路88号", "价格：128元"]
PAGES = 3          # multi-line images
PAGE_LINES = 4     # lines per page
ROTATIONS = [180, 180, 90, 270]  # turned single lines (the direction classifier's work)


def convert_binary():
    for c in ("/usr/bin/convert", shutil.which("convert")):
        if c and os.path.exists(c):
            return c
    return None


def cjk_font():
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
    return files[0] if files else None


def read_lines():
    with open(os.path.join(HERE, "lines.txt"), encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]


def escape(text):
    # ImageMagick's label: expands %-escapes and backslashes.
    return text.replace("\\", "\\\\").replace("%", "%%")


def render(convert, path, lines, font, size, border, rotate=0):
    cmd = [convert, "-background", "white", "-fill", "black", "-font", font, "-pointsize", str(size),
           "label:" + escape("\n".join(lines)), "-bordercolor", "white", "-border", "%dx%d" % border]
    if rotate:
        cmd += ["-rotate", str(rotate)]
    if path.endswith(".jpg"):
        cmd += ["-quality", "85"]
    subprocess.run(cmd + [path], check=True, capture_output=True, timeout=60)


def cases(lines, cjk):
    """(file name, expected lines, font, size, border, rotation) for every test image."""
    out = []
    fonts = [os.path.join(FONT_DIR, f) for f in FONTS if os.path.exists(os.path.join(FONT_DIR, f))]
    for i, text in enumerate(lines):
        ext = "jpg" if i % 3 == 2 else "png"
        out.append(("line%03d.%s" % (i, ext), [text], fonts[i % len(fonts)], SIZES[i % len(SIZES)],
                    (16 + 4 * (i % 5), 12 + 3 * (i % 4)), 0))
    for p in range(PAGES):
        start = (p * 17) % len(lines)
        page = [lines[(start + k) % len(lines)] for k in range(PAGE_LINES)]
        out.append(("page%d.png" % p, page, fonts[(p + 1) % len(fonts)], [22, 28, 34][p % 3], (40, 30), 0))
    for r, deg in enumerate(ROTATIONS):
        text = lines[(5 + 11 * r) % len(lines)]
        out.append(("rot%d_%d.png" % (r, deg), [text], fonts[r % len(fonts)], 30, (24, 16), deg))
    if cjk:
        for i, text in enumerate(CJK_LINES):
            out.append(("cjk%d.png" % i, [text], cjk, SIZES[(i * 3) % len(SIZES)], (20, 16), 0))
    return out


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def rows(result):
    """Recognized lines grouped into rows by the vertical centres of their boxes, each row's
    pieces joined left to right with a space."""
    items = []
    for line in result.get("lines", []):
        ys = [p[1] for p in line["box"]]
        xs = [p[0] for p in line["box"]]
        items.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), line["text"]))
    items.sort()
    grouped = []
    for cy, h, x, text in items:
        if grouped and abs(cy - grouped[-1]["cy"]) < 0.5 * max(h, grouped[-1]["h"]):
            grouped[-1]["parts"].append((x, text))
        else:
            grouped.append({"cy": cy, "h": h, "parts": [(x, text)]})
    return [" ".join(t for _, t in sorted(g["parts"])) for g in grouped]


def norm(s, nospace):
    return "".join(s.split()) if nospace else " ".join(s.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--min-exact", type=float, default=0.90)
    ap.add_argument("--gate", choices=["strict", "nospace"], default="strict",
                    help="which exact-line figure --min-exact applies to")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    if not os.path.exists(os.path.join(ROOT, "third_party", "models", "ocr", ".complete")):
        print("SKIP: PP-OCR models missing (run tools/fetch_models.sh)")
        return 77
    convert = convert_binary()
    if not convert:
        print("SKIP: ImageMagick's convert is not installed")
        return 77
    if not any(os.path.exists(os.path.join(FONT_DIR, f)) for f in FONTS):
        print("SKIP: DejaVu fonts missing (fonts-dejavu-core)")
        return 77

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "images"))
    subprocess.run(["bash", os.path.join(ROOT, "tools", "catalog.d", "ocr.sh"),
                    os.path.join(work, "models"), os.path.join(work, "catalog")], check=True)

    cjk = cjk_font()
    all_cases = cases(read_lines(), cjk)
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        jobs = [pool.submit(render, convert, os.path.join(work, "images", name), exp, font, size, border, rot)
                for name, exp, font, size, border, rot in all_cases]
        for j in jobs:
            j.result()
    render_s = time.time() - t0

    files = [os.path.join(work, "images", c[0]) for c in all_cases]
    t0 = time.time()
    cmd = [args.eval, "--models", os.path.join(work, "models"), "--catalog", os.path.join(work, "catalog")]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd + files, capture_output=True, text=True, timeout=600)
    eval_s = time.time() - t0
    if proc.returncode != 0:
        print(proc.stderr)
        print("FAIL: ocr_eval exited with %d" % proc.returncode)
        return 1
    answers = {}
    for line in proc.stdout.splitlines():
        o = json.loads(line)
        answers[os.path.basename(o["file"])] = o

    # Upright renders are the accuracy figure; turned lines (the direction classifier's work, and
    # detection of vertical text) are reported apart.
    groups = ("upright", "turned")
    stats = {(g, m): {"lines": 0, "exact": 0, "edits": 0, "chars": 0} for g in groups for m in ("strict", "nospace")}
    failures, ms = [], []
    for name, expected, font, size, _, rot in all_cases:
        group = "turned" if rot else "upright"
        o = answers.get(name, {"error": "no answer"})
        got_rows = rows(o["result"]) if "result" in o else []
        if "ms" in o:
            ms.append(o["ms"])
        if len(expected) == 1:
            got_rows = [" ".join(got_rows)]
        for k, exp in enumerate(expected):
            got = got_rows[k] if k < len(got_rows) else ""
            for mode in ("strict", "nospace"):
                e, g = norm(exp, mode == "nospace"), norm(got, mode == "nospace")
                st = stats[(group, mode)]
                st["lines"] += 1
                st["exact"] += e == g
                st["edits"] += levenshtein(e, g)
                st["chars"] += len(e)
            if norm(exp, True) != norm(got, True) or norm(exp, False) != norm(got, False):
                failures.append((name, os.path.basename(font), size, exp, got, o.get("error", "")))

    report = {"images": len(all_cases), "cjk_font": cjk, "render_s": round(render_s, 1),
              "eval_s": round(eval_s, 1), "mean_ms_per_image": round(sum(ms) / max(1, len(ms)), 1)}
    for (group, mode), st in stats.items():
        report.setdefault(group, {})[mode] = {
            "lines": st["lines"], "exact_lines": st["exact"],
            "exact_line_accuracy": round(st["exact"] / max(1, st["lines"]), 4),
            "cer": round(st["edits"] / max(1, st["chars"]), 4)}
    with open(os.path.join(work, "report.json"), "w") as f:
        json.dump(report, f, indent=2)

    for name, font, size, exp, got, err in failures:
        kind = "spacing" if norm(exp, True) == norm(got, True) else "text"
        print("  %-12s %-24s %2dpx %-7s expected %r got %r %s" % (name, font, size, kind, exp, got, err))
    if not cjk:
        print("(no CJK font installed: Chinese lines skipped)")
    for group in groups:
        for mode in ("strict", "nospace"):
            r = report[group][mode]
            print("ocr accuracy, %s lines (%s): %d/%d exact lines = %.1f%%, CER %.2f%%" %
                  (group, mode, r["exact_lines"], r["lines"], 100 * r["exact_line_accuracy"], 100 * r["cer"]))
    print("images %d, rendering %.1f s, recognition %.1f s (%.0f ms per image, models loaded in process)" %
          (len(all_cases), render_s, eval_s, report["mean_ms_per_image"]))
    gate = report["upright"][args.gate]["exact_line_accuracy"]
    if gate < args.min_exact:
        print("FAIL: upright %s exact-line accuracy %.1f%% is below %.1f%%" %
              (args.gate, 100 * gate, 100 * args.min_exact))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
