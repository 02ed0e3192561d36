#!/usr/bin/python3
"""bench/gateway/callgrind.py [BUILD_DIR] [-n REQUESTS]: instructions per forwarded request.

The gateway's CPU cost per forwarded cache miss as a deterministic count, for a loaded machine
where timings drift: one `continuum serve` node (add_sub) and `continuum gateway` in front of it
under `valgrind --tool=callgrind`, without filters, with the cache filter, and with auth + ratelimit
+ cache as run.py sets them up (one key made through the admin API); the miss request of run.py
(`cf-aig-cache-ttl: 0`, so every request reaches the node). After a warm-up
(the pools, the parser's buffers, the router's state), the counters are zeroed, N requests are
sent on one connection, and the dump's total divided by N is printed: instructions per request,
all of the gateway's threads (the prober's idle wake-ups included). Needs valgrind.

Standard library only, /usr/bin/python3. Every process is stopped on exit.
"""
import argparse
import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import benchlib as B  # noqa: E402
import run as R  # noqa: E402

WARMUP_REQUESTS = 200


def loadgen_n(build, port, request_file, n):
    argv = [build.loadgen, "--port", str(port), "--request", request_file, "-c", "1", "-n", str(n), "--json"]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit("callgrind bench: continuum_loadgen failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr))


def dump_total(out_dir, pid):
    """The instruction total of the dump of `pid` made after zeroing (its first part)."""
    total = 0
    for path in glob.glob(os.path.join(out_dir, "callgrind.out.%d.1" % pid)):
        with open(path) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    total += int(line.split()[1])
                    break
    return total


def measure(build, node, name, filters, miss_raw, n, keep=None):
    out_dir = B.tmpdir("continuum-bench-callgrind-")
    if keep:
        out_dir = os.path.join(keep, name.replace(" ", "-"))
        os.makedirs(out_dir, exist_ok=True)
    valgrind = ["valgrind", "--tool=callgrind", "--separate-threads=no",
                "--callgrind-out-file=" + os.path.join(out_dir, "callgrind.out.%p")]
    pinned = B.pinned
    B.pinned = lambda cpus, argv: valgrind + argv  # run.GatewayServer pins through benchlib
    try:
        gw = R.GatewayServer(build, node.port, name, filters)
    finally:
        B.pinned = pinned
    try:
        raw = miss_raw
        if gw.admin_port is not None:  # auth: the request carries a key of its own tenant
            raw = R.with_headers(raw, ["Authorization: Bearer " + gw.new_keys("bench", 1)[0]])
        request_file = B.write_request(raw)
        loadgen_n(build, gw.port, request_file, WARMUP_REQUESTS)
        subprocess.run(["callgrind_control", "-z", str(gw.pid())], check=True, stdout=subprocess.DEVNULL)
        before = set(glob.glob(os.path.join(out_dir, "*")))
        loadgen_n(build, gw.port, request_file, n)
        subprocess.run(["callgrind_control", "-d", str(gw.pid())], check=True, stdout=subprocess.DEVNULL)
        deadline = time.time() + 60
        while set(glob.glob(os.path.join(out_dir, "*"))) == before and time.time() < deadline:
            time.sleep(0.1)
        return dump_total(out_dir, gw.pid()) if set(glob.glob(os.path.join(out_dir, "*"))) != before else None
    finally:
        gw.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("-n", type=int, default=2000, help="requests measured per configuration")
    ap.add_argument("--keep", metavar="DIR", help="keep the callgrind dumps here (for callgrind_annotate)")
    args = ap.parse_args()
    build = R.Build(args.build)
    repo = B.make_repository(build, {R.MODEL: {"max_batch_size": 8}})
    miss_raw = R.with_headers(R.miss_variant(B.json_request(R.MODEL, R.ADD_SUB)), [R.NO_STORE])
    node = B.ContinuumServer(build, repo)
    try:
        cache_cfg = {"schema_version": 1, "filters": [{"name": "cache", "settings": {"ttl_seconds": 3600}}]}
        full_cfg = {"schema_version": 1, "filters": [
            {"name": "auth", "settings": {"database": ":memory:", "admin_token": R.ADMIN_TOKEN}},
            {"name": "ratelimit", "settings": {"window": "sliding", "rules": [
                {"scope": "key", "window_seconds": 60, "requests": 1e9}]}},
            {"name": "cache", "settings": {"ttl_seconds": 3600}}]}
        for name, filters in (("no filters", None), ("cache", cache_cfg), ("auth+ratelimit+cache", full_cfg)):
            total = measure(build, node, name, filters, miss_raw, args.n, args.keep)
            if total is None:
                print("%-20s no callgrind dump" % name)
            else:
                print("%-20s %d instructions per forwarded request (%d requests)" % (name, total // args.n, args.n))
    finally:
        node.stop()


if __name__ == "__main__":
    main()
