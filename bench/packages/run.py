#!/usr/bin/python3
"""bench/packages/run.py [BUILD_DIR] [--large] [--sizes-mb 100,1000]: model packages against the
registry clients people already use, all against the same registry, in one run.

Model: bench/packages/gen_model.py (an ONNX embedding table whose initializer lives in an external
data file; fixed seed), 100 MB, and 1 GB with --large (about 5 GB of disk in /tmp while it runs).
Registry: Debian's docker-registry (distribution 2.8) on loopback, tests/e2e/registry.py, a fresh
one for every push so nothing is deduplicated.

pack      `continuum pack` of the model folder into a new OCI layout: seconds, MB/s.
push/pull throughput (MB of package per second) of `continuum push`/`pull` vs `skopeo copy`
          (layout <-> registry, --preserve-digests) and `oras push`/`pull` (the same files);
          ratio = continuum MB/s / peer MB/s (> 1: continuum is faster). Without continuum
          push/pull in this build the peers alone are printed, and the line says so.
resume    a proxy in front of the registry closes the connection after half the largest blob on
          the first download; `continuum pull` is run again if it stopped; reported: body bytes
          the proxy served after the cut / package bytes (goal <= 0.55: the resumed pull moves
          only the rest). `oras pull` after the same cut, as the peer (it starts over).
update    pull -> install -> `continuum serve` answers the new version: seconds from the start of
          the pull to the first answer of version 2 (needs continuum pull, install, sign and
          generate-key-pair; otherwise the line says which is missing).

Environment: CONTINUUM_BENCH_ROUNDS (default 3; the median is reported).
Standard library only, /usr/bin/python3; every process is stopped on exit, Ctrl-C and SIGTERM.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, HERE)
import benchlib as B  # noqa: E402
import registry  # noqa: E402
from cutproxy import CutProxy  # noqa: E402

ROUNDS = int(os.environ.get("CONTINUUM_BENCH_ROUNDS", "3"))
EPOCH = "1767323045"
TOOL_TIMEOUT_S = 1800
RESUME_GOAL = 0.55
MB = 10**6


def log(msg=""):
    print(msg, flush=True)


class Tools:
    def __init__(self, build_dir):
        self.continuum = os.path.join(os.path.abspath(build_dir), "bin", "continuum")  # B.ContinuumServer reads it
        if not os.path.exists(self.continuum):
            sys.exit("packages bench: %s is missing; build first: ninja -C %s continuum" % (self.continuum, build_dir))
        self.skopeo = shutil.which("skopeo")
        self.oras, self.oras_why = self._go_tool("oras.sh")
        self.commands = {c: self._has(c) for c in ("push", "pull", "install", "sign", "generate-key-pair")}
        self.tmp = B.tmpdir("continuum-bench-packages-")
        self.policy = os.path.join(self.tmp, "policy.json")
        with open(self.policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        # No credentials of the user's are read by the clients.
        self.env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH, DOCKER_CONFIG=os.path.join(self.tmp, "docker"),
                        REGISTRY_AUTH_FILE=os.path.join(self.tmp, "auth.json"), COSIGN_PASSWORD="")
        with open(self.env["REGISTRY_AUTH_FILE"], "w") as f:
            f.write('{"auths": {}}')

    @staticmethod
    def _go_tool(script):
        if not (shutil.which("go") or os.access("/usr/local/go/bin/go", os.X_OK)):
            return None, "Go is not installed, tools/%s cannot build it" % script
        r = subprocess.run([os.path.join(ROOT, "tools", script)], capture_output=True, text=True)
        if r.returncode != 0:
            return None, "tools/%s failed: %s" % (script, r.stderr.strip()[-300:])
        return r.stdout.strip().splitlines()[-1], None

    def _has(self, command):
        r = subprocess.run([self.continuum, command, "--help"], capture_output=True, text=True)
        return "unknown command" not in r.stderr  # a known command explains itself (its exit code may be 2)

    def run(self, argv, cwd=None, check=True):
        r = subprocess.run(argv, capture_output=True, text=True, env=self.env, cwd=cwd, timeout=TOOL_TIMEOUT_S)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), r.returncode, (r.stderr or r.stdout)[-800:]))
        return r

    def timed(self, argv, cwd=None):
        start = time.monotonic()
        self.run(argv, cwd=cwd)
        return time.monotonic() - start

    def skopeo_args(self, *args):
        return [self.skopeo, "--policy", self.policy, *args]


def package_bytes(layout):
    """Bytes of every blob in the layout (manifest, config and layers of the one package there)."""
    d = os.path.join(layout, "blobs", "sha256")
    return sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))


def model_files(model_dir):
    return sorted(os.path.relpath(os.path.join(d, f), model_dir) for d, _, fs in os.walk(model_dir) for f in fs)


# --- the clients: push the package to REF, pull it from REF into a new folder ---------------

def push_cmd(tools, client, layout, model_dir, ref):
    if client == "continuum":
        return [tools.continuum, "push", ref, "--layout", layout, "--insecure"], None
    if client == "skopeo":
        return tools.skopeo_args("copy", "--preserve-digests", "--dest-tls-verify=false", "oci:%s:1" % layout,
                                 "docker://" + ref), None
    return [tools.oras, "push", "--plain-http", ref, *model_files(model_dir)], model_dir


def pull_cmd(tools, client, ref, dest):
    if client == "continuum":
        return [tools.continuum, "pull", ref, "--layout", dest, "--insecure"]
    if client == "skopeo":
        return tools.skopeo_args("copy", "--preserve-digests", "--src-tls-verify=false", "docker://" + ref,
                                 "oci:%s:1" % dest)
    return [tools.oras, "pull", "--plain-http", "-o", dest, ref]


def clients(tools):
    out = []
    if tools.commands["push"] and tools.commands["pull"]:
        out.append("continuum")
    if tools.skopeo:
        out.append("skopeo")
    if tools.oras:
        out.append("oras")
    return out


def measure_transfers(tools, layout, model_dir, nbytes):
    """{client: (push MB/s, pull MB/s)}, the median of ROUNDS rounds, each on a fresh registry."""
    result = {}
    for client in clients(tools):
        push_s, pull_s = [], []
        for i in range(ROUNDS):
            with registry.Registry() as reg:
                ref = "%s/bench/model:1" % reg.host
                argv, cwd = push_cmd(tools, client, layout, model_dir, ref)
                push_s.append(tools.timed(argv, cwd=cwd))
                dest = os.path.join(tools.tmp, "pull-%s-%d" % (client, i))
                pull_s.append(tools.timed(pull_cmd(tools, client, ref, dest)))
                shutil.rmtree(dest, ignore_errors=True)
        result[client] = (nbytes / MB / statistics.median(push_s), nbytes / MB / statistics.median(pull_s))
        log("  %-10s push %8.1f MB/s   pull %8.1f MB/s   (median of %d; push %s s, pull %s s)" % (
            client, result[client][0], result[client][1], ROUNDS,
            "/".join("%.2f" % s for s in push_s), "/".join("%.2f" % s for s in pull_s)))
    return result


def print_ratios(result):
    if "continuum" not in result:
        log("  ratios: not measured, this continuum has no push/pull commands (the peers alone above)")
        return
    c_push, c_pull = result["continuum"]
    for peer in ("skopeo", "oras"):
        if peer in result:
            p_push, p_pull = result[peer]
            log("  ratio continuum/%-6s push %.2fx   pull %.2fx" % (peer, c_push / p_push, c_pull / p_pull))


# --- resume after a cut -------------------------------------------------------------------

def largest_layer(layout):
    with open(os.path.join(layout, "index.json")) as f:
        digest = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":")[1])) as f:
        manifest = json.load(f)
    return max(manifest["layers"], key=lambda l: l["size"])


def cut_pull(tools, client, proxy, ref, dest, blob, nbytes):
    """Pulls through the proxy with the cut armed; pulls again while the client stops short (at most
    3 times). Returns (bytes served after the cut / package bytes, pulls run)."""
    proxy.arm(blob["digest"], blob["size"] // 2)
    runs = 0
    while runs < 3:
        runs += 1
        if tools.run(pull_cmd(tools, client, ref, dest), check=False).returncode == 0:
            break
    else:
        raise RuntimeError("%s pull did not finish in 3 tries after the cut" % client)
    if not proxy.cut_done.is_set():
        raise RuntimeError("the proxy never cut the download of %s" % blob["digest"])
    return (proxy.body_bytes - proxy.bytes_at_cut) / nbytes, runs


def measure_resume(tools, layout, nbytes):
    """{client: (fraction moved after the cut, pulls)} for continuum (if it pulls) and oras."""
    blob = largest_layer(layout)
    out = {}
    with registry.Registry() as reg:
        ref = "%s/bench/model:1" % reg.host
        tools.run(tools.skopeo_args("copy", "--preserve-digests", "--dest-tls-verify=false", "oci:%s:1" % layout,
                                    "docker://" + ref))
        for client in [c for c in clients(tools) if c in ("continuum", "oras")]:
            with CutProxy(reg.host) as proxy:
                dest = os.path.join(tools.tmp, "resume-" + client)
                out[client] = cut_pull(tools, client, proxy, "%s/bench/model:1" % proxy.host, dest, blob, nbytes)
                shutil.rmtree(dest, ignore_errors=True)
            log("  %-10s after a cut at 50 %% of %s (%.0f MB): %.3f of the package moved again (%d pulls)" % (
                client, blob["digest"][:19], blob["size"] / MB, out[client][0], out[client][1]))
    if "continuum" not in out:
        log("  continuum: not measured, this continuum has no pull command")
    return out


# --- pull -> install -> serve answers the new version --------------------------------------

def publish(tools, work, model_dir, ref):
    """Packs the model folder as REF, signs it and pushes it (the publisher's side, not timed)."""
    layout = os.path.join(work, "publisher")
    tools.run([tools.continuum, "pack", model_dir, "-t", ref, "--output", layout])
    tools.run([tools.continuum, "sign", ref, "--key", os.path.join(work, "cosign.key"), "--layout", layout])
    tools.run([tools.continuum, "push", ref, "--layout", layout, "--insecure"])


def pull_and_install(tools, work, ref, repo):
    node = os.path.join(work, "node-layout")
    tools.run([tools.continuum, "pull", ref, "--layout", node, "--insecure"])
    tools.run([tools.continuum, "install", ref, "--layout", node, "--model-repository", repo,
               "--key", os.path.join(work, "cosign.pub")])


def measure_update(tools, model_dir, size_mb):
    """Version 1 installed and served; then the seconds from the start of `continuum pull` of the
    package holding version 2 to the first answer of version 2 (serve in poll mode, 1 s scans)."""
    missing = [c for c in ("push", "pull", "install", "sign", "generate-key-pair") if not tools.commands[c]]
    if missing:
        log("  not measured: this continuum has no %s command(s)" % ", ".join(missing))
        return None
    work = B.tmpdir("continuum-bench-update-")
    tools.run([tools.continuum, "generate-key-pair", "--output-key-prefix", os.path.join(work, "cosign")])
    repo = os.path.join(work, "repo")
    os.makedirs(repo)
    name = os.path.basename(model_dir)
    body = json.dumps({"inputs": [{"name": "ids", "shape": [1, 2], "datatype": "INT64", "data": [0, 1]}]})
    with registry.Registry() as reg:
        publish(tools, work, model_dir, "%s/bench/%s:1" % (reg.host, name))
        pull_and_install(tools, work, "%s/bench/%s:1" % (reg.host, name), repo)
        subprocess.run([sys.executable, os.path.join(HERE, "gen_model.py"), model_dir, str(size_mb), "--version",
                        "2"], check=True, capture_output=True)
        ref = "%s/bench/%s:2" % (reg.host, name)
        publish(tools, work, model_dir, ref)
        with B.ContinuumServer(tools, repo, extra=("--model-control-mode", "poll", "--repository-poll-secs", "1")) \
                as server:
            server.wait_ok("/v2/models/%s/versions/1/ready" % name, 120, "does not serve version 1")
            start = time.monotonic()
            pull_and_install(tools, work, ref, repo)
            installed = time.monotonic() - start
            answered = None
            while answered is None and time.monotonic() - start < 600:
                status, _, _ = server.request("POST", "/v2/models/%s/versions/2/infer" % name, body,
                                              {"Content-Type": "application/json"})
                answered = time.monotonic() - start if status == 200 else None
    if answered is None:
        raise RuntimeError("serve did not answer version 2 within 600 s of the pull")
    log("  pull + install %.2f s; first answer of version 2 at %.2f s after the pull began" % (installed, answered))
    return answered


# --- one size -----------------------------------------------------------------------------

def bench_size(tools, size_mb):
    log("\n== %d MB model package ==" % size_mb)
    model_dir = os.path.join(B.tmpdir("continuum-bench-model-"), "bench_embedding")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_model.py"), model_dir, str(size_mb)], check=True,
                   capture_output=True)
    pack_s = []
    for i in range(ROUNDS):
        layout = os.path.join(tools.tmp, "pack-%d-%d" % (size_mb, i))
        pack_s.append(tools.timed([tools.continuum, "pack", model_dir, "-t", "127.0.0.1:5000/bench/model:1",
                                   "--output", layout]))
        if i:
            shutil.rmtree(layout)
    layout = os.path.join(tools.tmp, "pack-%d-0" % size_mb)
    nbytes = package_bytes(layout)
    log("pack      %.2f s (median of %d), %.1f MB/s, package %.1f MB" % (
        statistics.median(pack_s), ROUNDS, nbytes / MB / statistics.median(pack_s), nbytes / MB))
    log("push/pull throughput (same registry, a fresh one per push):")
    transfers = measure_transfers(tools, layout, model_dir, nbytes)
    print_ratios(transfers)
    log("resume after a cut at 50 %:")
    resume = measure_resume(tools, layout, nbytes)
    log("pull -> install -> serve answers the new version:")
    try:
        update = measure_update(tools, model_dir, size_mb)
    except (RuntimeError, OSError) as e:
        log("  not measured: %s" % e)
        update = None
    shutil.rmtree(layout, ignore_errors=True)
    shutil.rmtree(os.path.dirname(model_dir), ignore_errors=True)
    return {"pack_s": statistics.median(pack_s), "transfers": transfers, "resume": resume, "update_s": update}


def summary(results):
    figures, ok = [], None
    for size_mb, r in results.items():
        t = r["transfers"]
        if "continuum" in t:
            for peer in ("skopeo", "oras"):
                if peer in t:
                    figures.append("%dMB push/pull vs %s %.2fx/%.2fx" % (
                        size_mb, peer, t["continuum"][0] / t[peer][0], t["continuum"][1] / t[peer][1]))
        else:
            figures.append("%dMB peers only (no continuum push/pull)" % size_mb)
        if "continuum" in r["resume"]:
            frac = r["resume"]["continuum"][0]
            figures.append("%dMB resume %.2f" % (size_mb, frac))
            ok = (ok is not False) and frac <= RESUME_GOAL
        if r["update_s"] is not None:
            figures.append("%dMB pull->answer %.1fs" % (size_mb, r["update_s"]))
    B.result_line("packages", "resumed pull moves <= %.0f %% of the package" % (RESUME_GOAL * 100), ok,
                  "; ".join(figures))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir", nargs="?", default=os.path.join(ROOT, "build"))
    ap.add_argument("--large", action="store_true", help="also the 1 GB package (about 5 GB of disk, minutes)")
    ap.add_argument("--sizes-mb", help="comma-separated package sizes in MB (default 100, and 1000 with --large)")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes_mb.split(",")] if a.sizes_mb else [100] + ([1000] if a.large else [])
    if not registry.available():
        sys.exit("packages bench: docker-registry is not installed (tools/setup.sh installs it)")
    tools = Tools(a.build_dir)
    log("packages bench: %s" % B.machine_line())
    log("clients: continuum %s; skopeo %s; oras %s" % (
        "push/pull" if "continuum" in clients(tools) else "(no push/pull in this build: peers only)",
        tools.skopeo or "missing (Debian package skopeo)", tools.oras or "missing: " + str(tools.oras_why)))
    results = {size: bench_size(tools, size) for size in sizes}
    summary(results)


if __name__ == "__main__":
    main()
