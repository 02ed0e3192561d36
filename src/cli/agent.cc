// `continuum agent --hub URL --name NODE --hub-key hub.pub --key cosign.pub --model-repository REPO
// --state-dir DIR`: the fleet agent beside a `continuum serve` (fleet/agent/agent.h).
#include "fleet/agent/agent.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "cli/agent_flags.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/serving.h"
#include "common/log.h"

namespace continuum::cli {
namespace {

constexpr char kUsage[] =
    "usage: continuum agent --hub URL --name NODE --hub-key hub.pub --key cosign.pub\n"
    "                       --model-repository REPO --state-dir DIR [--serve-url URL] [flags]\n\n"
    "Runs beside `continuum serve --model-control-mode poll` on the same model repository: registers\n"
    "NODE with the hub and reports its properties, health and per-model metrics; long-polls its\n"
    "desired state, checks the hub's signature (--hub-key), and makes the repository match it:\n"
    "pulls each package by digest into --layout, checks its cosign signature (--key), installs it,\n"
    "and removes the models it installed that are no longer wanted. Nothing else in REPO is\n"
    "touched. Prints \"continuum agent: ready\" once the hub accepted its first report; stops on\n"
    "SIGINT or SIGTERM and prints the control-plane bytes it exchanged. Exit status 2: usage,\n"
    "1: it could not start. `continuum serve --agent-hub URL ...` runs the same agent inside serve.";

}  // namespace

int Agent(const std::vector<std::string>& args) {
  AgentFlags a;
  Flags f;
  RegisterAgentFlags(f, a, "", false);
  if (auto code = f.ParseOrExplain("agent", kUsage, args)) return *code;
  if (Status st = PrepareAgent(a, ""); !st.ok()) {
    f.Explain("agent", kUsage, st);
    return 2;
  }
  StopSignals signals;  // before any thread starts
  fleet::Agent agent(a.o);
  std::atomic<bool> failed{false};
  std::thread waiter([&signals, &agent, &failed] {
    const int sig = signals.Wait();
    if (!failed)
      LogInfo(std::string("agent: received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
    agent.Stop();
  });
  Status st = agent.Run();
  if (!st.ok()) {
    failed = true;
    ::kill(::getpid(), SIGTERM);  // wakes the waiter: the signal is blocked, so it is only queued
    waiter.join();
    return PrintError("agent", st, 1);
  }
  if (waiter.joinable()) waiter.join();
  std::printf("continuum agent: control-plane bytes sent %llu received %llu\n",
              static_cast<unsigned long long>(agent.control_bytes_sent()),
              static_cast<unsigned long long>(agent.control_bytes_received()));
  std::fflush(stdout);
  return 0;
}

}  // namespace continuum::cli
