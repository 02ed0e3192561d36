#!/usr/bin/python3
"""bench/tls/count.py BUILD_DIR [--tool callgrind|strace] [--server continuum|nginx] [-n N] [--clients K]

The server's cost per TLS handshake in figures that do not depend on the machine's load: the
instructions it executes (valgrind --tool=callgrind) or the system calls it makes (strace -c -f)
per handshake, for a full TLS 1.3, a full TLS 1.2 and a resumed TLS 1.2 handshake. K clients
(threads of this script, Python's ssl module; 1 by default) each connect, handshake and close N
times per case, the way `openssl s_time` does (no close_notify). The counters are zeroed after a warm-up and read after
the N handshakes, so start-up and the model repository do not count. Standard library only.
"""

import argparse
import glob
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import tls.run as R  # noqa: E402  (the nginx configuration of the benchmark)

CASES = (("full TLS 1.3", ssl.TLSVersion.TLSv1_3, False), ("full TLS 1.2", ssl.TLSVersion.TLSv1_2, False),
         ("resumed TLS 1.2", ssl.TLSVersion.TLSv1_2, True))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=120):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit("count: the server exited (%d)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("count: the server did not listen on %d" % port)


def handshakes(port, ca, version, resume, n):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ctx.maximum_version = version
    session = None
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port)) as raw:
            s = ctx.wrap_socket(raw, server_hostname="localhost", session=session if resume else None)
            if resume:
                if session is not None and not s.session_reused:
                    sys.exit("count: the session was not resumed")
                session = s.session
            s.close()


class Counter:
    """The server under callgrind or strace; zero() and read() bracket what is counted."""

    def __init__(self, tool, argv, workdir):
        self.tool, self.dir = tool, workdir
        if tool == "callgrind":
            self.out = os.path.join(workdir, "callgrind.out")
            argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + self.out + ".%p", *argv]
        else:
            self.out = os.path.join(workdir, "strace.out")
            argv = ["strace", "-f", "-qq", "-o", self.out, "-e", "trace=all", *argv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def zero(self):
        if self.tool == "callgrind":
            subprocess.run(["callgrind_control", "-z", str(self.proc.pid)], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        else:
            self.mark = sum(1 for _ in open(self.out, errors="replace"))

    def read(self):
        """The instructions (callgrind) or {syscall: calls} (strace) since zero()."""
        if self.tool == "callgrind":
            for f in glob.glob(self.out + ".*"):
                os.unlink(f)
            subprocess.run(["callgrind_control", "-d", str(self.proc.pid)], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            total = 0
            for f in glob.glob(self.out + ".*"):
                for line in open(f):
                    if line.startswith("summary:"):
                        total += int(line.split()[1])
            return total
        time.sleep(0.5)  # strace writes behind the traced process
        calls = {}
        with open(self.out, errors="replace") as f:
            for i, line in enumerate(f):
                m = re.match(r"\d+\s+(\w+)\(", line)
                if i >= self.mark and m:
                    calls[m.group(1)] = calls.get(m.group(1), 0) + 1
        return calls

    def stop(self):
        # strace detaches on SIGTERM and leaves the server running: stop the server first.
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                children = [int(c) for c in f.read().split()]
        except OSError:
            children = []
        for c in children if self.tool == "strace" else []:
            try:
                os.kill(c, signal.SIGTERM)
            except OSError:
                pass
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def server_argv(args, port, workdir):
    pki = os.path.join(os.path.abspath(args.build), "test_pki")
    cert, key = os.path.join(pki, "server.pem"), os.path.join(pki, "server.key")
    if args.server == "continuum":
        repo = os.path.join(workdir, "repo")
        os.mkdir(repo)
        return [os.path.join(args.build, "bin", "continuum"), "serve", "--model-repository", repo, "--http-port",
                str(port), "--http-address", "127.0.0.1", "--grpc-port", "-1", "--tls-cert", cert, "--tls-key", key]
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        conf_text = R.NGINX_CONF.format(d=workdir, cert=cert, key=key, ciphers=R.NGINX_CIPHERS,
                                        node_port=free_port(), port=port, plain_port=free_port())
        f.write("master_process off;\n" + conf_text)
    return [os.environ.get("CONTINUUM_BENCH_NGINX") or "/usr/sbin/nginx", "-p", workdir, "-c", conf, "-e",
            os.path.join(workdir, "error.log")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--tool", choices=("callgrind", "strace"), default="callgrind")
    ap.add_argument("--server", choices=("continuum", "nginx"), default="continuum")
    ap.add_argument("-n", type=int, default=200, help="handshakes per client and case")
    ap.add_argument("--clients", type=int, default=1, help="clients at once")
    args = ap.parse_args()
    ca = os.path.join(args.build, "test_pki", "ca.pem")
    workdir = tempfile.mkdtemp(prefix="continuum-tls-count-")
    os.chmod(workdir, 0o755)
    port = free_port()
    counter = Counter(args.tool, server_argv(args, port, workdir), workdir)
    try:
        wait_port(port, counter.proc)
        for what, version, resume in CASES:
            handshakes(port, ca, version, resume, 20)  # warm-up (and the first, full, handshake)
            counter.zero()
            clients = [threading.Thread(target=handshakes, args=(port, ca, version, resume, args.n))
                       for _ in range(args.clients)]
            for c in clients:
                c.start()
            for c in clients:
                c.join()
            got = counter.read()
            total = args.n * args.clients
            if args.tool == "callgrind":
                print("%-16s %s: %8.0f instructions per handshake" % (what, args.server, got / total), flush=True)
            else:
                per = ", ".join("%s %.2f" % (k, v / total) for k, v in sorted(got.items(), key=lambda kv: -kv[1]))
                print("%-16s %s: %.1f syscalls per handshake: %s" % (what, args.server, sum(got.values()) / total,
                                                                   per), flush=True)
    finally:
        counter.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
