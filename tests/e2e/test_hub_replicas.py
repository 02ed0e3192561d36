"""Two `continuum hub` replicas on one PostgreSQL behind one address (Debian's nginx), the replica
holding the rollout lease killed (SIGKILL) in the middle of a rollout in batches:

- the other replica takes the lease (within the lease's TTL) and the rollout completes on real nodes
  (`continuum serve` + `continuum agent`, whose hub is nginx);
- the deployment exists exactly once, with its generation; every node's desired-state sequence only
  ever increased and no two documents share a sequence (recorded by long polls through nginx, and
  from the events);
- the events show the leader change; a deployment PUT through nginx works while a replica is dead;
- the killed replica restarted on its address rejoins without duplicating anything.

Skipped when PostgreSQL's server binaries (tools/postgres.sh) or nginx are missing.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from fleet import Fleet, Hub, http_json, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POSTGRES_SH = os.path.join(ROOT, "tools", "postgres.sh")
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
NGINX = os.environ.get("CONTINUUM_TEST_NGINX", "/usr/sbin/nginx")
LEASE_TTL_MS = 1000
ROLLOUT = {"batch_size": 1, "min_success_ms": 1500, "health_timeout_ms": 60000, "min_requests": 1000000}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leader(hub):
    """1.0 when `hub`'s /metrics says it holds the rollout lease (continuum_hub_leader)."""
    with urllib.request.urlopen(hub.url + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("continuum_hub_leader "):
                return float(line.split()[1])
    return 0.0


def sim_report(success):
    """A simulated node's report: one model whose success counter is `success`."""
    return {"schema_version": 1, "address": "http://127.0.0.1:9", "properties": [{"name": "tier", "value": "sim"}],
            "sequence": 0, "state": "ok", "message": "",
            "models": [{"name": "sim", "digest": "sha256:" + "0" * 64, "versions": [1], "ready": True, "error": "",
                        "since_ms": 1, "success": success, "failure": 0,
                        "duration_buckets": [[0.001, 0], ["+Inf", success]]}]}


class Nginx:
    """nginx on a free port in front of the hub replicas (round robin; a dead replica's requests are
    retried on the other when the connection fails, as nginx does for idempotent methods)."""

    def __init__(self, tmp, ports):
        self.dir = tempfile.mkdtemp(dir=tmp, prefix="nginx-")
        self.port = free_port()
        temp = os.path.join(self.dir, "temp")
        os.makedirs(temp)
        servers = "".join("    server 127.0.0.1:%d max_fails=1 fail_timeout=2s;\n" % p for p in ports)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""daemon off; master_process off; worker_processes 1;
pid %(dir)s/nginx.pid; error_log %(dir)s/error.log warn;
events { worker_connections 512; }
http {
  client_body_temp_path %(temp)s; proxy_temp_path %(temp)s; fastcgi_temp_path %(temp)s;
  uwsgi_temp_path %(temp)s; scgi_temp_path %(temp)s;
  access_log %(dir)s/access.log;
  upstream hubs {
%(servers)s  }
  server {
    listen 127.0.0.1:%(port)d;
    client_max_body_size 2m;
    location / {
      proxy_pass http://hubs; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_connect_timeout 1s; proxy_read_timeout 60s; proxy_buffering off;
      proxy_next_upstream error timeout;
    }
  }
}
""" % {"dir": self.dir, "temp": temp, "port": self.port, "servers": servers})
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.url = "http://127.0.0.1:%d" % self.port
        wait_for(self.ready, 30, "nginx")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("nginx exited: " + self.proc.stderr.read())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class Recorder:
    """Long polls one node's desired state through nginx, as its agent does, and records every
    document received: (sequence, payload)."""

    def __init__(self, url, node):
        self.url = url
        self.node = node
        self.seen = []
        self.errors = 0
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        after = 0
        while not self.stopping:
            try:
                req = "%s/api/v1/nodes/%s/desired-state?after=%d&wait_s=2" % (self.url, self.node, after)
                with urllib.request.urlopen(req, timeout=30) as r:
                    if r.status != 200:
                        continue
                    envelope = json.loads(r.read())
            except Exception:  # 304, 404 before the node registered, 502 while a replica dies
                self.errors += 1
                time.sleep(0.1)
                continue
            payload = base64.b64decode(envelope["payload"])
            seq = json.loads(payload)["sequence"]
            self.seen.append((seq, payload))
            after = max(after, seq)

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=10)


@unittest.skipUnless(os.path.exists(os.path.join(PG_BIN, "pg_ctl")),
                     "PostgreSQL's server binaries are not installed (apt-get install postgresql)")
@unittest.skipUnless(os.path.exists(NGINX), "nginx is not installed")
class HubReplicasTest(unittest.TestCase):
    def start_postgres(self):
        self.pg_dir = tempfile.mkdtemp(prefix="continuum-pg-")
        os.chmod(self.pg_dir, 0o755)
        self.addCleanup(shutil.rmtree, self.pg_dir, True)
        r = subprocess.run([POSTGRES_SH, "start", self.pg_dir, str(free_port())], capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.addCleanup(subprocess.run, [POSTGRES_SH, "stop", self.pg_dir], capture_output=True, timeout=120)
        return r.stdout.strip().splitlines()[-1]

    def start_replica(self, f, uri, replica, port=0):
        folder = os.path.join(f.tmp, "hub-" + replica)
        os.makedirs(folder, exist_ok=True)
        hub = Hub(folder, f.hub_key, "--replica-id", replica, "--lease-ttl-ms", str(LEASE_TTL_MS),
                  store=uri, port=port)
        self.addCleanup(lambda: hub.proc.poll() is None and hub.stop())
        return hub

    def test_leader_killed_mid_rollout(self):
        uri = self.start_postgres()
        with Fleet(self) as f:
            d1 = f.publish("1", versions=(1,))
            a = self.start_replica(f, uri, "a")
            b = self.start_replica(f, uri, "b")
            nginx = Nginx(f.tmp, [a.port, b.port])
            self.addCleanup(nginx.stop)
            f.hub_url = nginx.url  # the agents' hub is the one address
            wait_for(lambda: leader(a) + leader(b) == 1, 30, "one leader")
            names = ["edge-1", "edge-2", "edge-3"]
            recorders = [Recorder(nginx.url, n) for n in names]
            for r in recorders:
                self.addCleanup(r.stop)
            nodes = [f.start_node(n, tier="edge") for n in names]
            wait_for(lambda: len(http_json(nginx.url + "/api/v1/nodes")[1]) == 3, 30, "three nodes registered")

            deployment = {"name": "add-sub", "package": f.ref("1"), "constraint": "tier == edge",
                          "rollout": ROLLOUT}
            status, body = http_json(nginx.url + "/api/v1/deployments/add-sub", "PUT", deployment)
            self.assertEqual(status, 200, body)
            self.assertEqual(body["generation"], 1)

            def rollout():
                return http_json(nginx.url + "/api/v1/rollouts/add-sub")[1]

            # Mid-rollout: the first batch done, the others not.
            wait_for(lambda: rollout()["batches"][0]["state"] == "succeeded", 120, "the first batch")
            self.assertEqual(rollout()["phase"], "progressing")
            old, survivor = (a, b) if leader(a) == 1 else (b, a)
            old_port = old.port
            old.proc.kill()
            old.proc.wait(timeout=30)
            killed_at = time.time()
            wait_for(lambda: leader(survivor) == 1, 30, "the survivor takes the lease", interval=0.02)
            failover = time.time() - killed_at
            print("failover: %.2f s (lease TTL %d ms)" % (failover, LEASE_TTL_MS))
            self.assertLess(failover, 30)  # the failure deadline; the measured time is printed

            # Writes through the one address while a replica is dead.
            status, body = http_json(nginx.url + "/api/v1/deployments/add-sub", "PUT", deployment)
            self.assertEqual(status, 200, body)
            self.assertEqual(body["generation"], 1)  # the same package: no new rollout
            other = {"name": "other", "package": f.ref("1"), "model": "other",
                     "constraint": "tier == nowhere"}
            status, body = http_json(nginx.url + "/api/v1/deployments/other", "PUT", other)
            self.assertEqual(status, 200, body)

            wait_for(lambda: rollout()["phase"] == "succeeded", 120, "the rollout completes on the survivor")
            for n in nodes:
                wait_for(lambda: n.installed_digest() == d1 and n.ready(), 60, n.name + " serves the package")

            # The killed replica back on its address: it follows (or leads) and duplicates nothing.
            back = self.start_replica(f, uri, "a" if old is a else "b", port=old_port)
            wait_for(lambda: http_json(back.url + "/api/v1/rollouts/add-sub")[1]["phase"] == "succeeded", 30,
                     "the restarted replica reads the rollout")
            for hub in (survivor, back):
                deps = http_json(hub.url + "/api/v1/deployments")[1]
                self.assertEqual(sorted(d["name"] for d in deps), ["add-sub", "other"])
                mine = [d for d in deps if d["name"] == "add-sub"][0]
                self.assertEqual(mine["generation"], 1)
                self.assertEqual(mine["digest"], d1)
            self.assertEqual(leader(survivor) + leader(back), 1)

            # A node's reports received by the follower reach the leader's view (the counters its
            # rollouts are judged by) through the store within ticks; the 10 s deadline is well
            # under the 30 s after which a replica writes metric-only changes of its own.
            lead, follow = (survivor, back) if leader(survivor) == 1 else (back, survivor)
            for success in (1, 50):
                status, body = http_json(follow.url + "/api/v1/nodes/sim-1/report", "POST", sim_report(success))
                self.assertEqual(status, 200, body)
            wait_for(lambda: http_json(lead.url + "/api/v1/nodes/sim-1")[1]["report"]["models"][0]["success"] == 50,
                     10, "the follower's report in the leader's view")

            # A long poll held by the follower is answered when the leader issues the node a document.
            answer = {}
            poll = threading.Thread(target=lambda: answer.update(result=http_json(
                follow.url + "/api/v1/nodes/sim-1/desired-state?after=0&wait_s=60", timeout=120)))
            poll.start()
            status, body = http_json(nginx.url + "/api/v1/deployments/sim", "PUT",
                                     {"name": "sim", "package": f.ref("1"), "model": "sim", "constraint": "tier == sim",
                                      "rollout": ROLLOUT})
            self.assertEqual(status, 200, body)
            poll.join(120)
            status, envelope = answer["result"]
            self.assertEqual(status, 200, envelope)
            document = json.loads(base64.b64decode(envelope["payload"]))
            self.assertEqual(document["node"], "sim-1")
            self.assertEqual([t["model"] for t in document["targets"]], ["sim"])

            for r in recorders:
                wait_for(lambda: len(r.seen) > 0, 30, r.node + "'s document")
                r.stop()
                seqs = [s for s, _ in r.seen]
                self.assertEqual(seqs, sorted(set(seqs)), r.node + ": sequences only increase")
            events = http_json(nginx.url + "/api/v1/events?limit=1000")[1]
            by_seq = {}
            for e in events:
                if e["kind"] == "desired_state":
                    seq = int(e["reason"].split(":")[0].split()[1])
                    key = (e["subject"], seq)
                    self.assertNotIn(key, by_seq, "two documents share a sequence: %s" % (key,))
                    by_seq[key] = e
            leaders = [e["reason"] for e in events if e["subject"] == "hub" and e["kind"] == "leader"]
            self.assertIn("replica " + ("b" if old is a else "a"), leaders, leaders)
            self.assertGreaterEqual(len(leaders), 2, leaders)
            applied = [e for e in events if e["subject"] == "deployment/add-sub" and e["kind"] == "rollout_started"]
            self.assertEqual(len(applied), 1, applied)
            for n in nodes:
                self.assertEqual(n.infer(), 200)


if __name__ == "__main__":
    unittest.main()
