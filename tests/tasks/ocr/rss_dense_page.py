#!/usr/bin/python3
"""Memory of `continuum serve` over OCR requests of a dense page (not a pass/fail test: it prints
figures). Renders a 1900x1900 PNG with 67 lines of DejaVu Sans text (ImageMagick), starts the
server on a catalog built by tools/catalog.d/ocr.sh, sends the page once, then four times at once,
and prints the server's resident (VmRSS) and peak (VmHWM) memory after each step.

Usage: rss_dense_page.py BUILD/bin/continuum CATALOG_DIR [serve flags, e.g. --cpu-arena keep]
       (CATALOG_DIR holds models/ and catalog/, as tools/make_catalog.sh writes them)
"""
import concurrent.futures
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def render_page(path):
    rng = random.Random(1)
    words = ("the quick brown fox jumps over lazy dog edge cloud inference model tensor batch queue "
             "router gateway latency budget memory arena width height").split()
    args = ["convert", "-size", "1900x1900", "xc:white", "-font", "DejaVu-Sans", "-pointsize", "19", "-fill", "black"]
    for i in range(67):
        args += ["-annotate", "+40+%d" % (30 + i * 27), " ".join(rng.choice(words) for _ in range(28))]
    subprocess.run(args + [path], check=True)


def main():
    binary, catalog, flags = sys.argv[1], sys.argv[2], sys.argv[3:]
    page = os.path.join(tempfile.mkdtemp(prefix="continuum-rss-"), "page.png")
    render_page(page)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, "serve", "--model-repository", os.path.join(catalog, "models"),
                               "--catalog", os.path.join(catalog, "catalog"), "--http-port", str(port),
                               "--http-address", "127.0.0.1", "--grpc-port", "-1"] + flags,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port

    def memory():
        status = open("/proc/%d/status" % server.pid).read()
        mb = lambda key: int(re.search(key + r":\s+(\d+)", status).group(1)) // 1024
        return "rss %d MB, peak %d MB" % (mb("VmRSS"), mb("VmHWM"))

    def ocr(_=None):
        request = urllib.request.Request(url + "/ai/run/@cf/paddle/pp-ocrv4", data=open(page, "rb").read())
        try:
            with urllib.request.urlopen(request, timeout=600) as r:
                return r.status, len(json.loads(r.read())["result"]["lines"])
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())["errors"][0]["message"]

    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(url + "/v2/health/ready", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        print("ready:", memory())
        print("one request:", ocr(), memory())
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            print("four at once:", list(pool.map(ocr, range(4))), memory())
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
