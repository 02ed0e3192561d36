// `continuum linkemu --listen HOST:PORT --target HOST:PORT [--scenario FILE | fixed link flags]`:
// a TCP relay that emulates a network link (delay, jitter, bandwidth, loss, partition) in user
// space, for kernels without netem. Prints each phase change of a scenario.
#include "linkemu/linkemu.h"

#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "cli/commands.h"
#include "cli/flags.h"
#include "common/log.h"

namespace continuum::cli {

namespace {

StatusOr<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& flag, const std::string& value,
                                                         bool allow_zero) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) {
    return InvalidArgument("--" + flag + ": expected HOST:PORT, got '" + value + "'");
  }
  std::string host = value.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  long port = std::strtol(value.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < (allow_zero ? 0 : 1) || port > 65535) {
    return InvalidArgument("--" + flag + ": bad port in '" + value + "'");
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

std::string Describe(const linkemu::LinkProfile& p) {
  char buf[200];
  std::string bw = p.bandwidth_kbps > 0 ? std::to_string(static_cast<int64_t>(p.bandwidth_kbps)) + " kbit/s"
                                        : std::string("unlimited");
  std::snprintf(buf, sizeof(buf), "delay %.1f+-%.1f ms, %s, loss %.2f%%", p.delay_ms, p.jitter_ms, bw.c_str(),
                p.loss * 100.0);
  return buf;
}

}  // namespace

int LinkEmu(const std::vector<std::string>& args) {
  std::string listen, target, scenario_path, loss_text = "0";
  int64_t delay_ms = 0, jitter_ms = 0, bandwidth_kbps = 0, burst_bytes = 0, seed = 1;
  int64_t max_in_flight = 256 * 1024;
  bool help = false;

  Flags f;
  f.String("listen", &listen, "address to accept connections on, HOST:PORT (port 0: pick a free one)");
  f.String("target", &target, "address to relay each connection to, HOST:PORT");
  f.String("scenario", &scenario_path,
           "scenario file (JSON, schema_version 1); overrides the fixed link flags");
  f.Int("delay-ms", &delay_ms, "fixed link: one-way delay, each direction");
  f.Int("jitter-ms", &jitter_ms, "fixed link: uniform +-jitter around the delay (never reorders bytes)");
  f.Int("bandwidth-kbps", &bandwidth_kbps, "fixed link: kilobits per second, each direction (0: unlimited)");
  f.String("loss", &loss_text,
           "fixed link: probability in [0,1] that a chunk is held back one retransmission timeout");
  f.Int("burst-bytes", &burst_bytes, "fixed link: token bucket depth (0: max(16 KiB, 10 ms of bandwidth))");
  f.Int("seed", &seed, "fixed link: PRNG seed for jitter and loss (a scenario brings its own)");
  f.Int("max-in-flight-bytes", &max_in_flight, "per connection and direction: stop reading beyond this");
  f.Bool("help", &help, "show this help");
  if (Status st = f.Parse(args); !st.ok() || help) {
    if (!st.ok()) std::fprintf(stderr, "continuum linkemu: %s\n\n", st.message().c_str());
    std::fprintf(
        stderr,
        "usage: continuum linkemu --listen HOST:PORT --target HOST:PORT [--scenario FILE | --delay-ms N "
        "--jitter-ms N --bandwidth-kbps N --loss P]\n\n"
        "Loss on TCP is emulated as the retransmission it causes: a 'lost' chunk arrives one RTO\n"
        "(max(200 ms, 2 x RTT)) late, and the bytes behind it wait.\n\n%s",
        f.Usage().c_str());
    return help ? 0 : 2;
  }
  if (listen.empty() || target.empty()) {
    std::fprintf(stderr, "continuum linkemu: --listen and --target are required (see --help)\n");
    return 2;
  }
  auto listen_at = ParseHostPort("listen", listen, true);
  auto target_at = ParseHostPort("target", target, false);
  for (const Status& st : {listen_at.status(), target_at.status()}) {
    if (!st.ok()) {
      std::fprintf(stderr, "continuum linkemu: %s\n", st.message().c_str());
      return 2;
    }
  }
  char* end = nullptr;
  const double loss = std::strtod(loss_text.c_str(), &end);
  if (*end != '\0' || !(loss >= 0 && loss <= 1)) {
    std::fprintf(stderr, "continuum linkemu: --loss: expected a probability in [0, 1]\n");
    return 2;
  }
  if (delay_ms < 0 || jitter_ms < 0 || bandwidth_kbps < 0 || burst_bytes < 0 || seed < 0 ||
      max_in_flight < 1) {
    std::fprintf(stderr, "continuum linkemu: a numeric flag is out of range (see --help)\n");
    return 2;
  }
  std::optional<linkemu::Scenario> scenario;
  if (!scenario_path.empty()) {
    auto sc = linkemu::LoadScenario(scenario_path);
    if (!sc.ok()) {
      std::fprintf(stderr, "continuum linkemu: %s\n", sc.status().message().c_str());
      return 2;
    }
    scenario = std::move(*sc);
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  linkemu::RelayOptions options;
  options.listen_host = listen_at->first;
  options.listen_port = listen_at->second;
  options.target_host = target_at->first;
  options.target_port = target_at->second;
  options.seed = static_cast<uint64_t>(seed);
  options.max_in_flight_bytes = static_cast<size_t>(max_in_flight);
  linkemu::Relay relay(options);
  if (!scenario) {
    linkemu::LinkProfile p;
    p.delay_ms = static_cast<double>(delay_ms);
    p.jitter_ms = static_cast<double>(jitter_ms);
    p.bandwidth_kbps = static_cast<double>(bandwidth_kbps);
    p.loss = loss;
    p.burst_bytes = burst_bytes;
    relay.SetProfile(p, p);
  }
  if (Status st = relay.Start(); !st.ok()) {
    LogError(st.message());
    return 1;
  }
  std::printf("linkemu: listening on %s:%u, relaying to %s:%u\n", listen_at->first.c_str(), relay.port(),
              target_at->first.c_str(), target_at->second);
  if (scenario) {
    const auto t0 = linkemu::Clock::now();
    const size_t n = scenario->phases.size();
    relay.PlayScenario(*scenario, [t0, n](size_t i, const linkemu::Phase& phase) {
      const double at = std::chrono::duration<double>(linkemu::Clock::now() - t0).count();
      if (i == n) {
        std::printf("[%9.3fs] scenario finished; '%s' stays in effect\n", at, phase.name.c_str());
      } else if (phase.partition) {
        std::printf("[%9.3fs] phase %zu/%zu '%s' (%.1f s): partition (%s)\n", at, i + 1, n,
                    phase.name.c_str(), phase.duration_s,
                    phase.partition_mode == linkemu::PartitionMode::kReset ? "reset" : "stall");
      } else {
        std::printf("[%9.3fs] phase %zu/%zu '%s' (%.1f s): up %s; down %s\n", at, i + 1, n,
                    phase.name.c_str(), phase.duration_s, Describe(phase.up).c_str(),
                    Describe(phase.down).c_str());
      }
      std::fflush(stdout);
    });
  } else {
    linkemu::LinkProfile p;
    p.delay_ms = static_cast<double>(delay_ms);
    p.jitter_ms = static_cast<double>(jitter_ms);
    p.bandwidth_kbps = static_cast<double>(bandwidth_kbps);
    p.loss = loss;
    std::printf("linkemu: fixed link, each direction: %s\n", Describe(p).c_str());
  }
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  relay.Stop();
  const linkemu::RelayStats s = relay.stats();
  std::printf(
      "linkemu: stopped; %llu connections, %llu bytes up, %llu bytes down, %llu chunks held back as lost\n",
      static_cast<unsigned long long>(s.connections_accepted), static_cast<unsigned long long>(s.bytes_up),
      static_cast<unsigned long long>(s.bytes_down), static_cast<unsigned long long>(s.chunks_lost));
  return 0;
}

}  // namespace continuum::cli
