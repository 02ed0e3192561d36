// `continuum agent`: one per node, beside a `continuum serve --model-control-mode poll` on the
// same model repository. It registers with the hub and reports (fleet protocol, report.h),
// long-polls its signed desired state, verifies and accepts it (fleet/state), and reconciles the
// repository to it: pulls each missing package by digest (registry), verifies its cosign
// signature and installs it (packages::InstallPackage, downgrades allowed: the hub decides the
// versions), removes the models it installed that are no longer targets, and touches nothing
// else. It watches serve's readiness and metrics for the models and reports them.
//
// Contracts:
//  - One thread runs the loop (Run); the HTTP client's I/O thread only hands answers over.
//    Stop() may be called from any thread; Run returns promptly (a pull or an install in
//    progress finishes first).
//  - Persistence: agent-state.json (fleet/state) is saved after every install and removal and
//    after each applied document (its sequence and envelope: the last-known-good state), so a
//    kill at any point resumes with the same diff; a restart reinstalls nothing unchanged.
//  - The hub down: the agent keeps serving what is installed, retries with a capped backoff,
//    logs once per outage; on reconnect the hub resends what changed and the diff decides.
//  - Refused documents (bad signature, another node, replay, expired) change nothing; the
//    report says why ("error" or "expired").
//  - Stdout, for scripts: "continuum agent: ready" after the first report the hub accepted.
//    Log lines: "installed MODEL DIGEST", "removed MODEL", "refused desired state N: reason".
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"
#include "fleet/agent/hub_client.h"
#include "fleet/agent/report.h"
#include "fleet/agent/serve_metrics.h"
#include "fleet/state/desired_state.h"
#include "http/message.h"
#include "packages/variants.h"

namespace continuum::signing {
class PublicKey;
}

namespace continuum::fleet {

struct AgentOptions {
  HubClientOptions hub;               // hub URL, node name, token, CA file
  std::filesystem::path hub_key;      // the hub's desired-state public key (PEM)
  std::filesystem::path package_key;  // cosign.pub: every package must be signed by it
  std::filesystem::path layout;       // the OCI image layout packages are pulled into
  std::filesystem::path repository;   // the model repository serve polls
  std::filesystem::path state_file;   // agent-state.json
  std::string serve_url;              // the local serve (readiness, /metrics); empty: none
  // The agent inside `continuum serve`: serve's API in this process, called without a socket
  // (http::CallHandler); when set, serve_url is not used.
  http::Handler serve_handler;
  std::string address;                 // advertised to the hub
  std::string properties_json = "[]";  // the properties reported (JSON array)
  packages::Hardware hardware;         // the variant choice of every install
  // Registry access (registry::Options).
  bool registry_insecure = false;
  std::string registry_ca_file, docker_config, registry_state_file;
  int64_t registry_timeout_ms = 300000;
  int64_t registry_retries = 4;
  // Timing.
  int64_t report_interval_ms = 5000;    // how often serve is checked and a change reported
  int64_t heartbeat_secs = 600;         // a report at least this often
  int64_t wait_s = 300;                 // the long poll's wait
  int64_t min_poll_interval_ms = 1000;  // between two polls' starts (a hub answering at once)
  int64_t backoff_initial_ms = 1000;    // the hub unreachable: first retry, doubled ...
  int64_t backoff_max_ms = 60000;       // ... up to this
  int64_t retry_failed_ms = 30000;  // a target that failed is tried again after this (doubled, capped at 10x)
  int64_t expiry_grace_ms = 0;      // the applied document counts as expired this long after its expiry
  int64_t serve_poll_secs = 5;      // serve's --repository-poll-secs: an install counts ready only after
  int64_t serve_timeout_ms = 2000;  // one call to serve
  ScrapeLimits scrape;
  DesiredStateLimits limits;
  int64_t max_state_bytes = 16 << 20;
};

class Agent {
 public:
  explicit Agent(AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Loads the keys and the state file, then runs until Stop(). An error only when it cannot
  // start (an unreadable key, a corrupt state file, a bad URL).
  Status Run();
  void Stop();

  uint64_t control_bytes_sent() const;
  uint64_t control_bytes_received() const;

 private:
  using Clock = std::chrono::steady_clock;
  // An answer handed over by the I/O thread.
  struct Event {
    std::optional<StatusOr<PollAnswer>> poll;
    std::optional<StatusOr<int64_t>> report;
  };
  // What the loop remembers of one model.
  struct ModelWatch {
    Clock::time_point installed_at{};  // an install by this process: readiness settles after it
    std::string error;                 // the last install or removal error
    std::string since_digest;          // the digest since_ms is about
    int64_t since_ms = 0;
  };

  Status Start();
  void Loop();
  void WaitForWork(Clock::time_point until);
  void Post(Event e);
  // Hub.
  void StartPoll();
  void StartReport(bool force);
  void HandleEvent(Event& e);
  void HandlePoll(StatusOr<PollAnswer>& answer);
  void HandleReport(StatusOr<int64_t>& answer);
  void HubFailed(const Status& st, std::string_view what);
  void HubOk();
  void ApplyEnvelope(const std::string& envelope);
  void Refuse(int64_t sequence, const std::string& reason, bool expired);  // sequence 0: unknown
  // Repository (apply.cc).
  void Reconcile();
  Status InstallTarget(const Target& t);
  Status RemoveModel(const std::string& model);
  void PruneLayout();
  void SaveState();
  // Serve (observe.cc).
  void Observe();
  std::vector<std::string> WatchedModels() const;
  bool HasServe() const { return serve_client_ || options_.serve_handler; }
  // GET `target` from serve: in-process (serve_handler) or over HTTP (serve_url).
  StatusOr<http::Response> GetFromServe(const std::string& target);
  // The digest of the package serve says (GET /v2/models/{model}/config, "package") it serves the model from;
  // "" when it says none.
  std::string ServedDigest(const std::string& model);
  ModelReport ObserveModel(const std::string& model, const std::map<std::string, ModelCounters>& metrics,
                           int64_t now_ms);
  NodeReport BuildReport() const;

  AgentOptions options_;
  std::unique_ptr<HubClient> hub_;  // set by the constructor, never changed
  Status hub_status_;               // why there is no hub_
  std::unique_ptr<http::Client> serve_client_;
  std::unique_ptr<signing::PublicKey> hub_key_;

  // Handed over by the I/O thread and Stop().
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;  // guarded by mu_
  std::atomic<bool> stop_{false};

  // Loop thread only.
  AgentState state_;
  std::optional<DesiredState> current_;  // the applied document
  std::map<std::string, ModelWatch> watch_;
  std::map<std::string, ModelReport> observed_;
  std::string applying_envelope_, applying_sha256_;  // the document being applied, saved once done
  bool applying_now_ = false;                        // reported as "applying"
  std::string refusal_;                              // the last refused document's line, until one applies
  bool refusal_expired_ = false;
  int64_t refused_sequence_ = 0;       // the highest verified document refused: polls ask for newer
  Clock::time_point refused_until_{};  // no poll before this after a refusal
  bool registered_ = false, announced_ = false;
  bool poll_in_flight_ = false, report_in_flight_ = false, report_wanted_ = false;
  std::shared_ptr<http::ClientCall> poll_call_, report_call_;
  std::shared_ptr<NodeReport> in_flight_report_;
  std::optional<NodeReport> last_sent_;
  Clock::time_point poll_started_{}, next_poll_{}, next_check_{}, next_heartbeat_{}, hub_retry_at_{},
      retry_failed_at_{};
  int64_t hub_backoff_ms_ = 0, refuse_backoff_ms_ = 0, retry_failed_backoff_ms_ = 0;
  bool hub_down_ = false;
  Clock::time_point hub_down_since_{};
  bool failed_targets_ = false;  // a target of current_ failed: Reconcile again at retry_failed_at_
  bool serve_down_ = false;      // logged once until serve answers again
};

}  // namespace continuum::fleet
