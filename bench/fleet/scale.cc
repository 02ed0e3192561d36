// The hub at fleet scale, on one machine: N simulated agents in this one process (lightweight:
// each is a few callbacks on the HTTP client's loop, not a process) speak the real protocol over
// real sockets with a real `continuum hub` process: they register, hold their desired-state long
// poll, send a heartbeat report at their normal interval, and when a document names a new
// package they check its signature and report the model ready on it.
//
// Printed: the hub's CPU (per cent of one core) and memory while the fleet idles, the control
// bytes an idle node costs per day (request and answer, heads included), and the time until a
// new deployment reaches 99 % (and 100 %) of its matching nodes: once in one batch, once as a
// progressive rollout in four batches. `bench/fleet/run.sh` builds and runs it.
//
//   continuum_fleet_scale --hub-url http://127.0.0.1:7000 --hub-pid PID --hub-key hub.pub
//                         [--agents 10000] [--idle-seconds 60] [--heartbeat-s 600] [--wait-s 300]
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "fleet/state/desired_state.h"
#include "http/client.h"
#include "signing/signing.h"

namespace {

using namespace continuum;
using Clock = std::chrono::steady_clock;

struct Config {
  std::string hub_url, hub_key;
  int pid = 0;
  int agents = 10000;
  int idle_seconds = 60;
  int heartbeat_s = 600;
  int wait_s = 300;
};

struct ProcSample {
  double cpu_seconds = 0;
  long rss_kb = 0, hwm_kb = 0;
};

ProcSample SampleProcess(int pid) {
  ProcSample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t close = line.rfind(')');
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string x; rest >> x;) f.push_back(x);
  if (f.size() > 13) s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / sysconf(_SC_CLK_TCK);
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kb = std::stol(line.substr(6));
  }
  return s;
}

size_t ResponseBytes(const http::ClientResponse& r) {
  size_t n = 17 + 2 + r.body.size();  // "HTTP/1.1 200 OK\r\n" ... "\r\n"
  for (const auto& [k, v] : r.headers) n += k.size() + 2 + v.size() + 2;
  return n;
}

class Fleet {
 public:
  Fleet(const Config& c, std::unique_ptr<signing::PublicKey> key)
      : c_(c), key_(std::move(key)), client_(Options()), agents_(static_cast<size_t>(c.agents)) {
    auto url = http::ParseHttpUrl(c.hub_url);
    url_ = *url;
    for (int i = 0; i < c.agents; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "sim-%05d", i);
      agents_[static_cast<size_t>(i)].name = name;
      agents_[static_cast<size_t>(i)].tier = i % 2 == 0 ? "edge" : "cloud";
    }
  }

  static http::ClientOptions Options() {
    http::ClientOptions o;
    o.max_idle_per_host = 15000;
    return o;
  }

  // Registers every agent (a few hundred at a time), then starts each one's long poll.
  void Start() {
    std::atomic<int> pending{0};
    for (size_t i = 0; i < agents_.size(); ++i) {
      while (pending.load() >= 256) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ++pending;
      Report(i, [this, i, &pending] {
        --pending;
        Poll(i);
      });
    }
    while (pending.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  // Heartbeats spread evenly over the interval, as agents started at random times send them.
  void Heartbeats(Clock::time_point until) {
    double per_second = static_cast<double>(agents_.size()) / c_.heartbeat_s;
    double owed = 0;
    size_t next = 0;
    auto last = Clock::now();
    while (Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto now = Clock::now();
      owed += per_second * std::chrono::duration<double>(now - last).count();
      last = now;
      while (owed >= 1) {
        owed -= 1;
        Report(next % agents_.size(), [] {});
        ++next;
      }
    }
  }

  // Seconds from `start` until `fraction` of the agents whose tier is `tier` run `digest` (-1: never).
  double TimeToReach(const std::string& digest, const std::string& tier, double fraction,
                     Clock::time_point start, double timeout_s) {
    size_t matching = 0;
    for (const auto& a : agents_) matching += a.tier == tier;
    size_t want = static_cast<size_t>(std::ceil(fraction * matching));
    while (std::chrono::duration<double>(Clock::now() - start).count() < timeout_s) {
      std::vector<double> times;
      {
        std::lock_guard<std::mutex> l(mu_);
        for (const auto& a : agents_)
          if (a.tier == tier && a.digest == digest) times.push_back(a.got_at_s);
      }
      if (times.size() >= want) {
        std::sort(times.begin(), times.end());
        return times[want - 1] - std::chrono::duration<double>(start - t0_).count();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  // The bytes of one long poll that ends empty (304 at the end of its wait), as every idle poll does.
  double EmptyPollBytes(const std::string& hub) {
    http::Client client;
    http::ClientRequest req;
    req.method = "GET";
    {
      std::lock_guard<std::mutex> l(mu_);
      req.target = "/api/v1/nodes/" + agents_[0].name +
                   "/desired-state?after=" + std::to_string(agents_[0].sequence) + "&wait_s=1";
    }
    auto r = http::SendAndWait(client, hub, req, Clock::now() + std::chrono::seconds(30));
    if (!r.ok() || r->status != 304) return -1;
    auto head = http::WriteClientRequest(url_, req);
    return static_cast<double>((head.ok() ? head->size() : 0) + ResponseBytes(*r));
  }

  int64_t bytes() const { return bytes_.load(); }
  int64_t exchanges() const { return exchanges_.load(); }
  int64_t errors() const { return errors_.load(); }

 private:
  struct Agent {
    std::string name, tier, digest;
    int64_t sequence = 0;
    double got_at_s = 0;
  };

  void Count(const http::ClientRequest& req, const StatusOr<http::ClientResponse>& r) {
    auto head = http::WriteClientRequest(url_, req);
    bytes_ += static_cast<int64_t>(head.ok() ? head->size() : 0) +
              (r.ok() ? static_cast<int64_t>(ResponseBytes(*r)) : 0);
    ++exchanges_;
    if (!r.ok() || (r->status != 200 && r->status != 304)) ++errors_;
  }

  void Report(size_t i, std::function<void()> then) {
    std::string digest, name, tier;
    {
      std::lock_guard<std::mutex> l(mu_);
      digest = agents_[i].digest;
      name = agents_[i].name;
      tier = agents_[i].tier;
    }
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/api/v1/nodes/" + name + "/report";
    req.headers = {{"Content-Type", "application/json"}};
    req.body =
        R"({"schema_version":1,"address":"http://10.0.0.1:8000","properties":[{"name":"tier","value":")" +
        tier + R"("}],"models":[)" +
        (digest.empty() ? std::string()
                        : R"({"name":"add_sub","digest":")" + digest + R"(","versions":[1],"ready":true})") +
        "]}";
    client_.Send(c_.hub_url, req, Clock::now() + std::chrono::seconds(120),
                 [this, req, then = std::move(then)](StatusOr<http::ClientResponse> r) {
                   Count(req, r);
                   then();
                 });
  }

  void Poll(size_t i) {
    int64_t after;
    std::string name;
    {
      std::lock_guard<std::mutex> l(mu_);
      after = agents_[i].sequence;
      name = agents_[i].name;
    }
    http::ClientRequest req;
    req.method = "GET";
    req.target = "/api/v1/nodes/" + name + "/desired-state?after=" + std::to_string(after) +
                 "&wait_s=" + std::to_string(c_.wait_s);
    client_.Send(c_.hub_url, req, Clock::now() + std::chrono::seconds(c_.wait_s + 60),
                 [this, i, req](StatusOr<http::ClientResponse> r) {
                   Count(req, r);
                   if (r.ok() && r->status == 200) Apply(i, r->body);
                   if (!r.ok()) {
                     // Back off a little before polling again, as an agent does.
                     client_.After(std::chrono::milliseconds(500), [this, i] { Poll(i); });
                     return;
                   }
                   Poll(i);
                 });
  }

  void Apply(size_t i, const std::string& envelope) {
    auto s = fleet::VerifyDesiredState(envelope, *key_, agents_[i].name);
    if (!s.ok()) {
      ++errors_;
      return;
    }
    std::string digest = s->targets.empty() ? "" : s->targets[0].digest;
    bool changed;
    {
      std::lock_guard<std::mutex> l(mu_);
      agents_[i].sequence = s->sequence;
      changed = agents_[i].digest != digest;
      agents_[i].digest = digest;
      agents_[i].got_at_s = std::chrono::duration<double>(Clock::now() - t0_).count();
    }
    if (changed) Report(i, [] {});  // "installed and ready" at once: the hub is what is measured
  }

  Config c_;
  std::unique_ptr<signing::PublicKey> key_;
  http::Client client_;
  http::ParsedUrl url_;
  std::mutex mu_;
  std::vector<Agent> agents_;
  Clock::time_point t0_ = Clock::now();
  std::atomic<int64_t> bytes_{0}, exchanges_{0}, errors_{0};
};

StatusOr<http::ClientResponse> Put(http::Client& client, const std::string& hub, const std::string& path,
                                   const std::string& body) {
  http::ClientRequest req;
  req.method = "PUT";
  req.target = path;
  req.body = body;
  req.headers = {{"Content-Type", "application/json"}};
  return http::SendAndWait(client, hub, req, Clock::now() + std::chrono::seconds(300));
}

int Main(int argc, char** argv) {
  Config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--hub-url")
      c.hub_url = v;
    else if (k == "--hub-key")
      c.hub_key = v;
    else if (k == "--hub-pid")
      c.pid = std::stoi(v);
    else if (k == "--agents")
      c.agents = std::stoi(v);
    else if (k == "--idle-seconds")
      c.idle_seconds = std::stoi(v);
    else if (k == "--heartbeat-s")
      c.heartbeat_s = std::stoi(v);
    else if (k == "--wait-s")
      c.wait_s = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  std::ifstream kf(c.hub_key);
  std::stringstream pem;
  pem << kf.rdbuf();
  auto key = signing::PublicKey::FromPem(pem.str());
  if (!key.ok() || c.hub_url.empty() || c.pid <= 0) {
    std::fprintf(stderr, "give --hub-url, --hub-pid and --hub-key (PEM public key)\n");
    return 2;
  }
  Fleet fleet(c, std::move(key).value());
  ProcSample before = SampleProcess(c.pid);
  auto t = Clock::now();
  fleet.Start();
  double register_s = std::chrono::duration<double>(Clock::now() - t).count();
  ProcSample registered = SampleProcess(c.pid);
  std::printf("agents %d registered in %.1f s (hub CPU %.1f s)\n", c.agents, register_s,
              registered.cpu_seconds - before.cpu_seconds);

  // Idle: long polls held, heartbeats at the normal interval.
  int64_t bytes0 = fleet.bytes();
  ProcSample idle0 = SampleProcess(c.pid);
  auto idle_start = Clock::now();
  fleet.Heartbeats(idle_start + std::chrono::seconds(c.idle_seconds));
  ProcSample idle1 = SampleProcess(c.pid);
  double idle_s = std::chrono::duration<double>(Clock::now() - idle_start).count();
  double cpu_pct = 100 * (idle1.cpu_seconds - idle0.cpu_seconds) / idle_s;
  // Bytes of an idle node per day: heartbeats and the polls that end empty at their wait.
  double per_day_heartbeat = 86400.0 / c.heartbeat_s, per_day_polls = 86400.0 / c.wait_s;
  double idle_bytes = static_cast<double>(fleet.bytes() - bytes0) / c.agents;  // heartbeats in the window
  double heartbeat_bytes = idle_bytes / (idle_s / c.heartbeat_s);
  std::printf("idle: hub CPU %.2f %% of one core, RSS %.1f MiB (peak %.1f MiB) for %d agents\n", cpu_pct,
              idle1.rss_kb / 1024.0, idle1.hwm_kb / 1024.0, c.agents);

  http::Client admin;
  const std::string pkg = "127.0.0.1:5999/models/add_sub@sha256:";
  auto deploy = [&](const std::string& digest_hex, const std::string& rollout) {
    return Put(
        admin, c.hub_url, "/api/v1/deployments/scale",
        R"({"package":")" + pkg + digest_hex + R"(","constraint":"tier == edge","rollout":)" + rollout + "}");
  };
  std::string d1(64, '1'), d2(64, '2');
  auto start = Clock::now();
  auto r = deploy(d1, R"({"batch_percent":100,"min_success_ms":0})");
  if (!r.ok() || r->status != 200) {
    std::fprintf(stderr, "deploy: %s\n", r.ok() ? r->body.c_str() : r.status().message().c_str());
    return 1;
  }
  double p99 = fleet.TimeToReach("sha256:" + d1, "edge", 0.99, start, 600);
  double p100 = fleet.TimeToReach("sha256:" + d1, "edge", 1.0, start, 600);
  ProcSample after1 = SampleProcess(c.pid);
  std::printf("deployment to %d matching nodes in one batch: 99 %% in %.2f s, 100 %% in %.2f s\n",
              c.agents / 2, p99, p100);
  start = Clock::now();
  r = deploy(d2, R"({"batch_percent":25,"min_success_ms":0,"health_timeout_ms":600000})");
  if (!r.ok() || r->status != 200) {
    std::fprintf(stderr, "deploy: %s\n", r.ok() ? r->body.c_str() : r.status().message().c_str());
    return 1;
  }
  p99 = fleet.TimeToReach("sha256:" + d2, "edge", 0.99, start, 900);
  p100 = fleet.TimeToReach("sha256:" + d2, "edge", 1.0, start, 900);
  ProcSample after2 = SampleProcess(c.pid);
  std::printf("progressive rollout in 4 batches (min_success_ms 0): 99 %% in %.2f s, 100 %% in %.2f s\n", p99,
              p100);
  std::printf("hub CPU for both deployments %.1f s; RSS %.1f MiB, peak %.1f MiB\n",
              after2.cpu_seconds - idle1.cpu_seconds, after2.rss_kb / 1024.0, after2.hwm_kb / 1024.0);
  (void)after1;
  double poll_bytes = fleet.EmptyPollBytes(c.hub_url);
  std::printf(
      "control traffic of an idle node: %.0f bytes per heartbeat exchange, %.0f per empty poll; per day "
      "%.0f heartbeats + %.0f polls = %.1f KB/day of HTTP (goal <= 1000 KB)\n",
      heartbeat_bytes, poll_bytes, per_day_heartbeat, per_day_polls,
      (per_day_heartbeat * heartbeat_bytes + per_day_polls * poll_bytes) / 1000.0);
  std::printf("exchanges %lld, errors %lld\n", static_cast<long long>(fleet.exchanges()),
              static_cast<long long>(fleet.errors()));
  std::fflush(stdout);
  std::_Exit(fleet.errors() > 0 ? 1 : 0);  // thousands of long polls are still held: do not wait for them
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
