// The hub's state and threads (hub.cc: the driver and long polls; api.cc: the HTTP API).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"
#include "fleet/hub/hub.h"
#include "fleet/hub/internal.h"
#include "fleet/store/store.h"
#include "signing/signing.h"
#include "telemetry/metrics.h"

namespace continuum::fleet {

struct Hub::Impl {
  HubOptions opt;
  std::unique_ptr<Store> store;
  std::unique_ptr<signing::PrivateKey> key;
  std::unique_ptr<signing::PublicKey> public_key;  // the key's own, to read back documents it issued
  telemetry::Registry registry;

  struct Waiter {
    int64_t after = 0;
    int64_t deadline_ms = 0;
    http::Responder respond;
  };
  struct TopologyWaiter {
    std::string etag;
    int64_t deadline_ms = 0;
    http::Responder respond;
  };
  struct StoredRollout {
    Rollout rollout;
    int64_t revision = 0;
  };

  mutable Mutex mu;
  std::map<std::string, hub::NodeState> nodes GUARDED_BY(mu);
  std::map<std::string, hub::Deployment> deployments GUARDED_BY(mu);
  std::map<std::string, StoredRollout> rollouts GUARDED_BY(mu);
  std::set<std::string> dirty_nodes GUARDED_BY(mu);  // node records to write at the next flush
  std::multimap<std::string, Waiter> state_waiters GUARDED_BY(mu);
  std::vector<TopologyWaiter> topology_waiters GUARDED_BY(mu);
  std::string topology_json GUARDED_BY(mu), topology_etag GUARDED_BY(mu);
  bool topology_dirty GUARDED_BY(mu) = true;
  bool leader GUARDED_BY(mu) = false;
  int64_t change_counter GUARDED_BY(mu) = -1;
  int64_t last_flush_ms GUARDED_BY(mu) = 0;
  std::set<std::string> conflicts_reported GUARDED_BY(mu);
  std::deque<fleet::Event> recent_events GUARDED_BY(mu);  // the newest, for the dashboard
  static constexpr size_t kRecentEvents = 50;

  // Threads: the driver (Tick every tick_ms, or at once when woken) and the sweeper (long polls).
  std::mutex run_mu;
  std::condition_variable run_cv;
  std::atomic<bool> stopping{false};
  bool wake = false;
  std::thread driver, sweeper;

  // Metrics.
  telemetry::Counter* reports = nullptr;
  telemetry::Counter* reports_refused = nullptr;
  telemetry::Counter* documents_issued = nullptr;
  telemetry::Counter* ticks = nullptr;
  telemetry::Counter* tick_errors = nullptr;
  telemetry::Counter* rollbacks = nullptr;
  telemetry::Histogram* tick_seconds = nullptr;
  std::atomic<int64_t> control_bytes_in{0}, control_bytes_out{0};

  int64_t Now() const { return opt.now_ms(); }
  bool Fresh(const hub::NodeState& n, int64_t now) const {
    return now - n.last_seen_ms <= opt.stale_after_ms;
  }
  void Wake();

  // hub.cc
  Status LoadLocked() REQUIRES(mu);
  Status TickLocked(int64_t now) REQUIRES(mu);
  Status StepDeployment(hub::Deployment& d, int64_t now, std::map<std::string, std::vector<Target>>* want)
      REQUIRES(mu);
  Status Issue(hub::NodeState& n, std::vector<Target> targets, int64_t now) REQUIRES(mu);
  void Event(std::string subject, std::string kind, std::string reason) REQUIRES(mu);
  void AnswerWaiters(const std::string& node) REQUIRES(mu);
  void RefreshTopology(int64_t now) REQUIRES(mu);
  Status FlushNodes(int64_t now, bool all) REQUIRES(mu);
  // Writes the node's document at the revision this replica last saw; another replica's write in
  // between is merged, not overwritten (see hub.cc). `operator_write`: the operator's properties
  // changed, else the agent's report.
  Status StoreNode(hub::NodeState& n, int64_t now, bool operator_write) REQUIRES(mu);
  Status ReloadIfChanged() REQUIRES(mu);
  std::vector<std::pair<http::Responder, http::Response>> ExpireWaiters(int64_t now) REQUIRES(mu);
  void DriverLoop();
  void SweeperLoop();

  // api.cc
  void Handle(http::Request&& req, http::Responder respond);
  void HandleAgent(http::Request&& req, http::Responder respond, const std::vector<std::string_view>& parts,
                   int64_t now);
  void HandleTopology(const http::Request& req, http::Responder respond, int64_t now);
  bool HandleViews(http::Request& req, http::Responder& respond, const std::vector<std::string_view>& parts,
                   int64_t now);
  void HandleDeployments(http::Request&& req, http::Responder respond,
                         const std::vector<std::string_view>& parts, int64_t now);
  std::string PlanJson(const hub::Deployment& d, int64_t now) REQUIRES(mu);
  // dashboard.cc
  std::string DashboardJson(int64_t now) REQUIRES(mu);
};

}  // namespace continuum::fleet
