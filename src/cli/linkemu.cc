// `continuum linkemu --listen HOST:PORT --target HOST:PORT [--scenario FILE | fixed link flags]`:
// a TCP relay that emulates a network link (delay, jitter, bandwidth, loss, partition) in user
// space, for kernels without netem. Prints each phase change of a scenario.
#include "linkemu/linkemu.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/serving.h"
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

constexpr const char* kCommand = "linkemu";

struct LinkEmuConfig {
  std::string listen, target, scenario_path, loss_text = "0";
  int64_t delay_ms = 0, jitter_ms = 0, bandwidth_kbps = 0, burst_bytes = 0, seed = 1;
  int64_t max_in_flight = 256 * 1024;
  // Checked and parsed:
  std::pair<std::string, uint16_t> listen_at, target_at;
  double loss = 0;
  std::optional<linkemu::Scenario> scenario;
};

// Parses and checks the arguments into `c`; returns the exit code when the command ends here
// (--help, a usage error).
std::optional<int> ParseLinkEmuArgs(const std::vector<std::string>& args, LinkEmuConfig* c) {
  Flags f;
  f.String("listen", &c->listen, "address to accept connections on, HOST:PORT (port 0: pick a free one)");
  f.String("target", &c->target, "address to relay each connection to, HOST:PORT");
  f.String("scenario", &c->scenario_path,
           "scenario file (JSON, schema_version 1); overrides the fixed link flags");
  f.Int("delay-ms", &c->delay_ms, "fixed link: one-way delay, each direction");
  f.Int("jitter-ms", &c->jitter_ms, "fixed link: uniform +-jitter around the delay (never reorders bytes)");
  f.Int("bandwidth-kbps", &c->bandwidth_kbps,
        "fixed link: kilobits per second, each direction (0: unlimited)");
  f.String("loss", &c->loss_text,
           "fixed link: probability in [0,1] that a chunk is held back one retransmission timeout");
  f.Int("burst-bytes", &c->burst_bytes,
        "fixed link: token bucket depth (0: max(16 KiB, 10 ms of bandwidth))");
  f.Int("seed", &c->seed, "fixed link: PRNG seed for jitter and loss (a scenario brings its own)");
  f.Int("max-in-flight-bytes", &c->max_in_flight, "per connection and direction: stop reading beyond this");
  const std::string usage =
      "usage: continuum linkemu --listen HOST:PORT --target HOST:PORT [--scenario FILE | --delay-ms N "
      "--jitter-ms N --bandwidth-kbps N --loss P]\n\n"
      "Loss on TCP is emulated as the retransmission it causes: a 'lost' chunk arrives one RTO\n"
      "(max(200 ms, 2 x RTT)) late, and the bytes behind it wait.";
  if (auto code = f.ParseOrExplain(kCommand, usage, args)) return code;
  if (c->listen.empty() || c->target.empty())
    return PrintError(kCommand, InvalidArgument("--listen and --target are required (see --help)"));
  auto listen_at = ParseHostPort("listen", c->listen, true);
  if (!listen_at.ok()) return PrintError(kCommand, listen_at.status());
  auto target_at = ParseHostPort("target", c->target, false);
  if (!target_at.ok()) return PrintError(kCommand, target_at.status());
  c->listen_at = *listen_at;
  c->target_at = *target_at;
  char* end = nullptr;
  c->loss = std::strtod(c->loss_text.c_str(), &end);
  if (*end != '\0' || !(c->loss >= 0 && c->loss <= 1))
    return PrintError(kCommand, InvalidArgument("--loss: expected a probability in [0, 1]"));
  if (c->delay_ms < 0 || c->jitter_ms < 0 || c->bandwidth_kbps < 0 || c->burst_bytes < 0 || c->seed < 0 ||
      c->max_in_flight < 1)
    return PrintError(kCommand, InvalidArgument("a numeric flag is out of range (see --help)"));
  if (!c->scenario_path.empty()) {
    auto sc = linkemu::LoadScenario(c->scenario_path);
    if (!sc.ok()) return PrintError(kCommand, sc.status());
    c->scenario = std::move(*sc);
  }
  return std::nullopt;
}

// The fixed link of the flags, each direction.
linkemu::LinkProfile FixedProfile(const LinkEmuConfig& c) {
  linkemu::LinkProfile p;
  p.delay_ms = static_cast<double>(c.delay_ms);
  p.jitter_ms = static_cast<double>(c.jitter_ms);
  p.bandwidth_kbps = static_cast<double>(c.bandwidth_kbps);
  p.loss = c.loss;
  p.burst_bytes = c.burst_bytes;
  return p;
}

// Plays the scenario, printing each phase as it begins.
void PlayAndPrint(linkemu::Relay& relay, const linkemu::Scenario& scenario) {
  const auto t0 = linkemu::Clock::now();
  const size_t n = scenario.phases.size();
  relay.PlayScenario(scenario, [t0, n](size_t i, const linkemu::Phase& phase) {
    const double at = std::chrono::duration<double>(linkemu::Clock::now() - t0).count();
    if (i == n) {
      std::printf("[%9.3fs] scenario finished; '%s' stays in effect\n", at, phase.name.c_str());
    } else if (phase.partition) {
      std::printf("[%9.3fs] phase %zu/%zu '%s' (%.1f s): partition (%s)\n", at, i + 1, n, phase.name.c_str(),
                  phase.duration_s,
                  phase.partition_mode == linkemu::PartitionMode::kReset ? "reset" : "stall");
    } else {
      std::printf("[%9.3fs] phase %zu/%zu '%s' (%.1f s): up %s; down %s\n", at, i + 1, n, phase.name.c_str(),
                  phase.duration_s, Describe(phase.up).c_str(), Describe(phase.down).c_str());
    }
    std::fflush(stdout);
  });
}

}  // namespace

int LinkEmu(const std::vector<std::string>& args) {
  LinkEmuConfig c;
  if (std::optional<int> code = ParseLinkEmuArgs(args, &c)) return *code;

  StopSignals signals;  // before any thread starts
  linkemu::RelayOptions options;
  options.listen_host = c.listen_at.first;
  options.listen_port = c.listen_at.second;
  options.target_host = c.target_at.first;
  options.target_port = c.target_at.second;
  options.seed = static_cast<uint64_t>(c.seed);
  options.max_in_flight_bytes = static_cast<size_t>(c.max_in_flight);
  linkemu::Relay relay(options);
  const linkemu::LinkProfile fixed = FixedProfile(c);
  if (!c.scenario) relay.SetProfile(fixed, fixed);
  if (Status st = relay.Start(); !st.ok()) {
    LogError(st.message());
    return 1;
  }
  std::printf("linkemu: listening on %s:%u, relaying to %s:%u\n", c.listen_at.first.c_str(), relay.port(),
              c.target_at.first.c_str(), c.target_at.second);
  if (c.scenario) {
    PlayAndPrint(relay, *c.scenario);
  } else {
    std::printf("linkemu: fixed link, each direction: %s\n", Describe(fixed).c_str());
  }
  std::fflush(stdout);

  signals.Wait();
  relay.Stop();
  const linkemu::RelayStats s = relay.stats();
  std::printf(
      "linkemu: stopped; %llu connections, %llu bytes up, %llu bytes down, %llu chunks held back as lost\n",
      static_cast<unsigned long long>(s.connections_accepted), static_cast<unsigned long long>(s.bytes_up),
      static_cast<unsigned long long>(s.bytes_down), static_cast<unsigned long long>(s.chunks_lost));
  return 0;
}

}  // namespace continuum::cli
