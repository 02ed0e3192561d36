// The hub's driver: each tick, every deployment's placement and rollout step, then a signed
// desired-state document for every node whose targets changed; and the long polls it answers.
#include "fleet/hub/hub.h"

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "common/sha256.h"
#include "fleet/hub/hub_impl.h"

namespace continuum::fleet {
namespace {

constexpr size_t kMaxSamples = 256;
constexpr int64_t kNodeFlushMs = 30000;  // metric-only node changes are written at most this often

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsConflict(const Status& st) {
  return !st.ok() && std::string(st.message()).find("conflict") != std::string::npos;
}

// The window a rollout's metrics are read over: since its current batch started.
int64_t WindowStart(const Rollout& r) {
  int64_t since = r.started_ms;
  for (const auto& b : r.batches)
    if (b.state == BatchState::kInProgress || b.state == BatchState::kFailed)
      since = std::max(since, b.started_ms);
  return since;
}

}  // namespace

void Hub::Impl::Wake() {
  {
    std::lock_guard<std::mutex> l(run_mu);
    wake = true;
  }
  run_cv.notify_all();
}

void Hub::Impl::Event(std::string subject, std::string kind, std::string reason) {
  fleet::Event e;
  e.at_ms = Now();
  e.subject = std::move(subject);
  e.kind = std::move(kind);
  e.reason = std::move(reason);
  LogInfo("hub: " + e.subject + " " + e.kind + ": " + e.reason);
  auto id = store->AppendEvent(e);
  if (!id.ok()) {
    LogWarning("hub: cannot record an event: " + id.status().message());
    return;
  }
  e.id = *id;
  recent_events.push_back(std::move(e));
  while (recent_events.size() > kRecentEvents) recent_events.pop_front();
}

Status Hub::Impl::LoadLocked() {
  ASSIGN_OR_RETURN(auto docs, store->List(DocKind::kNode));
  for (const Doc& doc : docs) {
    auto n = hub::ParseNodeDoc(doc.json, opt.max_models_per_node);
    if (!n.ok()) {
      LogWarning("hub: stored node " + doc.name + " ignored: " + n.status().message());
      continue;
    }
    auto& slot = nodes[doc.name];
    // Several replicas: a report this replica received after the stored one (not flushed yet) is
    // newer; keep it, or the node's metric history would go back in time. The stored document
    // still brings what only the store changes: the operator-set properties.
    if (slot.last_report_ms > n->last_report_ms) {
      slot.operator_properties = std::move(n->operator_properties);
      slot.revision = doc.revision;
      continue;
    }
    hub::NodeState keep = std::move(slot);
    slot = std::move(*n);
    slot.revision = doc.revision;
    slot.history = std::move(keep.history);
    slot.last_seen_ms = std::max(slot.last_seen_ms, keep.last_seen_ms);
    for (const auto& m : slot.report.models) hub::RecordSample(slot, m, slot.last_report_ms, kMaxSamples);
  }
  ASSIGN_OR_RETURN(auto states, store->List(DocKind::kDesiredState));
  for (const Doc& doc : states) {
    auto it = nodes.find(doc.name);
    if (it == nodes.end()) continue;
    auto s = VerifyDesiredState(doc.json, *public_key, doc.name);
    if (!s.ok()) {
      LogWarning("hub: stored desired state of " + doc.name + " ignored: " + s.status().message());
      continue;
    }
    it->second.sequence = s->sequence;
    it->second.expires_ms = s->expires_ms;
    it->second.targets = s->targets;
    it->second.envelope = doc.json;
  }
  deployments.clear();
  ASSIGN_OR_RETURN(auto deps, store->List(DocKind::kDeployment));
  for (const Doc& doc : deps) {
    auto d = hub::ParseDeploymentDoc(doc.json);
    if (!d.ok()) return Internal("stored deployment " + doc.name + ": " + d.status().message());
    d->revision = doc.revision;
    deployments[doc.name] = std::move(*d);
  }
  rollouts.clear();
  ASSIGN_OR_RETURN(auto rolls, store->List(DocKind::kRollout));
  for (const Doc& doc : rolls) {
    auto r = ParseRollout(doc.json);
    if (!r.ok()) return Internal("stored rollout " + doc.name + ": " + r.status().message());
    rollouts[doc.name] = StoredRollout{std::move(*r), doc.revision};
  }
  topology_dirty = true;
  return Status();
}

// Several replicas share one store; each reads back what the others wrote (node reports they
// received, deployments applied through them, the leader's rollouts and documents) when the
// store's change counter moved. Called under `mu` before any decision is taken from memory.
Status Hub::Impl::ReloadIfChanged() {
  ASSIGN_OR_RETURN(int64_t counter, store->ChangeCounter());
  if (counter == change_counter) return Status();
  bool first = change_counter < 0;
  change_counter = counter;
  if (first) return Status();
  Status st = LoadLocked();
  // Documents another replica (the leader) issued: answer the long polls this one holds for them.
  for (auto& [name, n] : nodes) AnswerWaiters(name);
  return st;
}

Status Hub::Impl::Issue(hub::NodeState& n, std::vector<Target> targets, int64_t now) {
  DesiredState s;
  s.node = n.name;
  ASSIGN_OR_RETURN(s.sequence, store->NextSequence(n.name));
  s.issued_ms = now;
  s.expires_ms = now + opt.desired_state_ttl_ms;
  s.targets = std::move(targets);
  ASSIGN_OR_RETURN(std::string envelope, SignDesiredState(s, *key));
  RETURN_IF_ERROR(store->Upsert(DocKind::kDesiredState, n.name, envelope, now).status());
  std::string what;
  for (const auto& t : s.targets) what += (what.empty() ? "" : ", ") + t.model + "@" + t.digest.substr(7, 12);
  Event("node/" + n.name, "desired_state",
        "sequence " + std::to_string(s.sequence) + ": " + (what.empty() ? "no packages" : what));
  n.sequence = s.sequence;
  n.expires_ms = s.expires_ms;
  n.targets = std::move(s.targets);
  n.envelope = std::move(envelope);
  documents_issued->Increment();
  AnswerWaiters(n.name);
  return Status();
}

void Hub::Impl::AnswerWaiters(const std::string& node) {
  auto it = nodes.find(node);
  if (it == nodes.end()) return;
  auto range = state_waiters.equal_range(node);
  for (auto w = range.first; w != range.second;) {
    if (it->second.sequence > w->second.after && !it->second.envelope.empty()) {
      http::Response r;
      r.body = it->second.envelope;
      control_bytes_out += static_cast<int64_t>(r.body.size());
      w->second.respond(std::move(r));
      w = state_waiters.erase(w);
    } else {
      ++w;
    }
  }
}

Status Hub::Impl::StepDeployment(hub::Deployment& d, int64_t now,
                                 std::map<std::string, std::vector<Target>>* want) {
  auto fresh = [&](const hub::NodeState& n) { return Fresh(n, now); };
  auto current = [&](const hub::NodeState& n) {
    return std::any_of(n.targets.begin(), n.targets.end(),
                       [&](const Target& t) { return t.deployment == d.name; });
  };
  ASSIGN_OR_RETURN(hub::PlanResult plan, hub::PlanDeployment(d, nodes, fresh, current));
  auto it = rollouts.find(d.name);
  if (it == rollouts.end() || it->second.rollout.generation != d.generation) {
    // Nodes already running the new digest first: they form the first batches and pass at once.
    std::vector<std::string> order;
    for (const auto& name : plan.selected) {
      const hub::ModelReport* m = nodes.at(name).Model(d.model);
      if (m != nullptr && m->digest == d.digest) order.push_back(name);
    }
    for (const auto& name : plan.selected)
      if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
    Rollout r = StartRollout(d.name, d.generation, d.stable_package, d.stable_digest, d.PinnedPackage(),
                             d.digest, order, d.rollout, now);
    int64_t revision = it == rollouts.end() ? 0 : it->second.revision;
    ASSIGN_OR_RETURN(int64_t rev, store->Put(DocKind::kRollout, d.name, RolloutToJson(r), revision, now));
    Event("deployment/" + d.name, "rollout_started",
          "generation " + std::to_string(d.generation) + ": " +
              (d.stable_digest.empty() ? std::string("first package")
                                       : "from " + d.stable_digest.substr(0, 19)) +
              " to " + d.digest.substr(0, 19) + " over " + std::to_string(order.size()) + " node(s)");
    for (const auto& e : StartEvents(r))
      Event("deployment/" + d.name, e.kind, e.node.empty() ? e.reason : e.node + ": " + e.reason);
    it = rollouts.insert_or_assign(d.name, StoredRollout{std::move(r), rev}).first;
  }
  for (const auto& w : plan.warnings) {
    std::string key = d.name + "\n" + w;
    if (conflicts_reported.insert(key).second) Event("deployment/" + d.name, "placement", w);
  }
  Rollout& r = it->second.rollout;
  std::map<std::string, ModelObservation> obs;
  int64_t since = WindowStart(r);
  const auto* all = &nodes;  // the lambda runs here, under mu (the analysis does not follow lambdas)
  auto observe = [&](const std::string& name) {
    auto n = all->find(name);
    if (n != all->end() && !obs.count(name))
      obs[name] = hub::Observe(n->second, d.model, since, Fresh(n->second, now));
  };
  for (const auto& b : r.batches)
    for (const auto& name : b.nodes) observe(name);
  for (const auto& name : plan.selected) observe(name);
  // The old version's nodes outside the rollout count for the comparison too.
  for (const auto& [name, n] : nodes) {
    const hub::ModelReport* m = n.Model(d.model);
    if (m != nullptr && !d.stable_digest.empty() && m->digest == d.stable_digest) observe(name);
  }
  AdvanceResult res = Advance(r, d.rollout, obs, plan.selected, now);
  if (RolloutToJson(res.rollout) != RolloutToJson(r)) {
    auto rev = store->Put(DocKind::kRollout, d.name, RolloutToJson(res.rollout), it->second.revision, now);
    if (!rev.ok()) return rev.status();
    it->second.revision = *rev;
    for (const auto& e : res.events) {
      if (e.kind == "rollback") rollbacks->Increment();
      Event("deployment/" + d.name, e.kind, e.node.empty() ? e.reason : e.node + ": " + e.reason);
    }
    r = std::move(res.rollout);
  }
  if (r.phase == RolloutPhase::kSucceeded && d.stable_digest != r.to_digest) {
    hub::Deployment next = d;
    next.stable_package = r.to_package;
    next.stable_digest = r.to_digest;
    next.updated_ms = now;
    ASSIGN_OR_RETURN(next.revision,
                     store->Put(DocKind::kDeployment, d.name, hub::DeploymentDocJson(next), d.revision, now));
    d = std::move(next);
  }
  std::set<std::string> selected(plan.selected.begin(), plan.selected.end());
  for (const auto& [name, n] : nodes) {
    auto a = AssignmentFor(r, name, selected.count(name) > 0);
    if (!a) continue;
    auto& list = (*want)[name];
    auto clash = std::find_if(list.begin(), list.end(), [&](const Target& t) { return t.model == d.model; });
    if (clash != list.end()) {
      std::string key = name + "\n" + d.model + "\n" + d.name;
      if (conflicts_reported.insert(key).second)
        Event("deployment/" + d.name, "conflict",
              "node " + name + ": model " + d.model + " is already placed there by deployment " +
                  clash->deployment);
      continue;
    }
    list.push_back(Target{d.model, a->package, a->digest, d.name});
  }
  return Status();
}

Status Hub::Impl::TickLocked(int64_t now) {
  std::map<std::string, std::vector<Target>> want;
  Status first;
  for (auto& [name, d] : deployments) {
    Status st = StepDeployment(d, now, &want);
    if (IsConflict(st)) {
      // Another replica wrote first (a deployment applied through it since this tick's reload, or
      // this replica lost the lease mid-tick). `want` now lacks this deployment's targets: issuing
      // from it would remove its model from its nodes. Read the store again (the reload replaces
      // `deployments`: the loop ends here) and decide at the next tick.
      Status reloaded = ReloadIfChanged();
      return reloaded.ok() ? st : reloaded;
    }
    if (st.ok()) continue;
    if (first.ok()) first = st;
    // Any other failure (the store unreachable for a moment): the nodes keep what this deployment
    // gave them, rather than documents without its model.
    for (auto& [node, n] : nodes) {
      auto& list = want[node];
      for (const Target& t : n.targets)
        if (t.deployment == name &&
            std::none_of(list.begin(), list.end(), [&](const Target& o) { return o.model == t.model; }))
          list.push_back(t);
    }
  }
  for (auto& [name, n] : nodes) {
    auto& targets = want[name];
    std::sort(targets.begin(), targets.end(),
              [](const Target& a, const Target& b) { return a.model < b.model; });
    bool changed = targets != n.targets;
    bool renew = n.sequence > 0 && n.expires_ms - now < opt.desired_state_ttl_ms / 2;
    if (!changed && !renew) continue;
    if (n.sequence == 0 && targets.empty()) continue;
    Status st = Issue(n, std::move(targets), now);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

void Hub::Impl::RefreshTopology(int64_t now) {
  if (!topology_dirty) return;
  topology_dirty = false;
  std::string json = hub::TopologyJson(nodes, [&](const hub::NodeState& n) { return Fresh(n, now); });
  if (json == topology_json) return;
  topology_json = std::move(json);
  topology_etag = "\"" + Sha256Hex(topology_json).substr(0, 32) + "\"";
  for (auto& w : topology_waiters) {
    http::Response r;
    r.headers.emplace_back("ETag", topology_etag);
    r.body = topology_json;
    w.respond(std::move(r));
  }
  topology_waiters.clear();
}

Status Hub::Impl::FlushNodes(int64_t now, bool all) {
  if (!all && now - last_flush_ms < kNodeFlushMs) return Status();
  last_flush_ms = now;
  Status first;
  for (const auto& name : dirty_nodes) {
    auto it = nodes.find(name);
    if (it == nodes.end()) continue;
    auto st = StoreNode(it->second, now, false);
    if (!st.ok() && first.ok()) first = st;
  }
  dirty_nodes.clear();
  return first;
}

// Replicas share node documents: each writes with the revision it last saw, and on a conflict
// takes in what the other wrote of the fields this write does not own (a report write owns the
// report and its times, unless the stored report is newer; an operator write owns the operator's
// properties), then tries again. No replica's change is lost to another's stale copy.
Status Hub::Impl::StoreNode(hub::NodeState& n, int64_t now, bool operator_write) {
  for (int attempt = 1;; ++attempt) {
    auto rev = store->Put(DocKind::kNode, n.name, hub::NodeDocJson(n), n.revision, now);
    if (rev.ok()) {
      n.revision = *rev;
      return Status();
    }
    if (rev.status().code() != StatusCode::kAborted || attempt == 5) return rev.status();
    ASSIGN_OR_RETURN(std::optional<Doc> doc, store->Get(DocKind::kNode, n.name));
    if (!doc) {
      n.revision = 0;
      continue;
    }
    n.revision = doc->revision;
    auto stored = hub::ParseNodeDoc(doc->json, opt.max_models_per_node);
    if (!stored.ok()) continue;  // a document that no longer parses is replaced
    if (stored->registered_ms > 0 && (n.registered_ms == 0 || stored->registered_ms < n.registered_ms))
      n.registered_ms = stored->registered_ms;
    n.last_seen_ms = std::max(n.last_seen_ms, stored->last_seen_ms);
    if (!operator_write) n.operator_properties = std::move(stored->operator_properties);
    if (operator_write || stored->last_report_ms > n.last_report_ms) {
      if (stored->last_report_ms >= n.last_report_ms) {
        n.report = std::move(stored->report);
        n.last_report_ms = stored->last_report_ms;
      }
    }
  }
}

std::vector<std::pair<http::Responder, http::Response>> Hub::Impl::ExpireWaiters(int64_t now) {
  std::vector<std::pair<http::Responder, http::Response>> out;
  http::Response not_modified;
  not_modified.status = 304;
  not_modified.content_type.clear();
  for (auto w = state_waiters.begin(); w != state_waiters.end();) {
    if (w->second.deadline_ms <= now || stopping) {
      out.emplace_back(std::move(w->second.respond), not_modified);
      w = state_waiters.erase(w);
    } else {
      ++w;
    }
  }
  for (auto w = topology_waiters.begin(); w != topology_waiters.end();) {
    if (w->deadline_ms <= now || stopping) {
      http::Response r = not_modified;
      r.headers.emplace_back("ETag", topology_etag);
      out.emplace_back(std::move(w->respond), std::move(r));
      w = topology_waiters.erase(w);
    } else {
      ++w;
    }
  }
  return out;
}

void Hub::Impl::DriverLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> l(run_mu);
      run_cv.wait_for(l, std::chrono::milliseconds(opt.tick_ms), [&] { return stopping.load() || wake; });
      if (stopping) return;
      wake = false;
    }
    auto started = std::chrono::steady_clock::now();
    Status st = [&] {
      MutexLock lock(mu);
      int64_t now = Now();
      ASSIGN_OR_RETURN(bool lead, store->TryLease("rollouts", opt.replica_id, now, opt.lease_ttl_ms));
      if (lead != leader) Event("hub", lead ? "leader" : "follower", "replica " + opt.replica_id);
      leader = lead;
      // Several replicas (one shared store): every replica reloads what the store's change counter
      // says changed (LoadLocked keeps a report received here and not yet written, and takes the
      // operator-set properties written through another replica, so the flush below does not
      // write them back stale); then a follower writes the reports it received, every tick: the
      // leader judges rollouts from the nodes' counters and reads them from the store. The leader
      // writes the counters of the reports it received itself on the single-replica schedule.
      bool replicas = store->backend() != "sqlite";
      if (replicas) RETURN_IF_ERROR(ReloadIfChanged());
      Status flushed = FlushNodes(now, replicas && !leader);
      if (!leader) return flushed;
      RETURN_IF_ERROR(TickLocked(now));
      return flushed;
    }();
    ticks->Increment();
    tick_seconds->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (!st.ok()) {
      tick_errors->Increment();
      LogWarning("hub: tick: " + st.message());
    }
  }
}

void Hub::Impl::SweeperLoop() {
  while (true) {
    std::vector<std::pair<http::Responder, http::Response>> due;
    bool stop;
    {
      std::unique_lock<std::mutex> l(run_mu);
      run_cv.wait_for(l, std::chrono::milliseconds(200), [&] { return stopping.load(); });
      stop = stopping;
    }
    {
      MutexLock lock(mu);
      RefreshTopology(Now());
      due = ExpireWaiters(Now());
    }
    for (auto& [respond, response] : due) respond(std::move(response));
    if (stop) return;
  }
}

StatusOr<std::unique_ptr<Hub>> Hub::Create(std::unique_ptr<Store> store,
                                           std::unique_ptr<signing::PrivateKey> key, HubOptions options) {
  if (!store || !key) return InvalidArgument("hub: a store and a signing key are required");
  auto impl = std::make_unique<Impl>();
  if (!options.now_ms) options.now_ms = SystemNowMs;
  if (!options.resolve_tag) {
    HubOptions copy = options;
    options.resolve_tag = [copy](const std::string& repository, const std::string& tag) {
      return hub::ResolveTagInRegistry(copy, repository, tag);
    };
  }
  impl->opt = std::move(options);
  impl->store = std::move(store);
  impl->key = std::move(key);
  ASSIGN_OR_RETURN(std::string pem, impl->key->PublicKeyPem());
  ASSIGN_OR_RETURN(impl->public_key, signing::PublicKey::FromPem(pem));
  auto& r = impl->registry;
  impl->reports = &r.AddCounter("continuum_hub_reports_total", "Node reports accepted.", {}).WithLabels({});
  impl->reports_refused = &r.AddCounter("continuum_hub_reports_refused_total",
                                        "Node reports refused (malformed, unauthorized).", {})
                               .WithLabels({});
  impl->documents_issued =
      &r.AddCounter("continuum_hub_desired_states_issued_total", "Signed desired-state documents issued.", {})
           .WithLabels({});
  impl->ticks = &r.AddCounter("continuum_hub_ticks_total", "Rollout driver passes.", {}).WithLabels({});
  impl->tick_errors =
      &r.AddCounter("continuum_hub_tick_errors_total", "Rollout driver passes that failed.", {})
           .WithLabels({});
  impl->rollbacks =
      &r.AddCounter("continuum_hub_rollbacks_total", "Rollouts rolled back.", {}).WithLabels({});
  impl->tick_seconds = &r.AddHistogram("continuum_hub_tick_duration_seconds", "Time of one driver pass.", {},
                                       {0.001, 0.005, 0.02, 0.1, 0.5, 2, 10})
                            .WithLabels({});
  Impl* p = impl.get();
  r.AddCallbackFamily("continuum_hub_nodes", "Known nodes by freshness.", false, {"state"}, [p] {
    MutexLock lock(p->mu);
    int64_t now = p->Now(), fresh = 0;
    for (const auto& [n, s] : p->nodes) fresh += p->Fresh(s, now) ? 1 : 0;
    return std::vector<telemetry::Registry::Sample>{{{"fresh"}, double(fresh)},
                                                    {{"stale"}, double(int64_t(p->nodes.size()) - fresh)}};
  });
  r.AddCallbackFamily("continuum_hub_rollouts", "Rollouts by phase.", false, {"phase"}, [p] {
    MutexLock lock(p->mu);
    std::map<std::string, double> by;
    for (auto ph : {RolloutPhase::kProgressing, RolloutPhase::kSucceeded, RolloutPhase::kRolledBack})
      by[std::string(RolloutPhaseName(ph))] = 0;
    for (const auto& [n, s] : p->rollouts) by[std::string(RolloutPhaseName(s.rollout.phase))] += 1;
    std::vector<telemetry::Registry::Sample> out;
    for (const auto& [k, v] : by) out.push_back({{k}, v});
    return out;
  });
  r.AddCallbackGauge("continuum_hub_deployments", "Deployments.", [p] {
    MutexLock lock(p->mu);
    return double(p->deployments.size());
  });
  r.AddCallbackGauge("continuum_hub_long_polls", "Long polls held (desired state and topology).", [p] {
    MutexLock lock(p->mu);
    return double(p->state_waiters.size() + p->topology_waiters.size());
  });
  r.AddCallbackGauge("continuum_hub_leader", "1 when this replica drives rollouts.", [p] {
    MutexLock lock(p->mu);
    return p->leader ? 1.0 : 0.0;
  });
  r.AddCallbackCounter("continuum_hub_control_bytes_received_total",
                       "Bytes of agent request bodies received.",
                       [p] { return double(p->control_bytes_in.load()); });
  r.AddCallbackCounter("continuum_hub_control_bytes_sent_total", "Bytes of answer bodies sent to agents.",
                       [p] { return double(p->control_bytes_out.load()); });
  telemetry::RegisterProcessMetrics(r);
  {
    MutexLock lock(impl->mu);
    RETURN_IF_ERROR(impl->LoadLocked());
  }
  return std::unique_ptr<Hub>(new Hub(std::move(impl)));
}

Hub::Hub(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Hub::~Hub() { Stop(); }

void Hub::Handle(http::Request&& request, http::Responder respond) {
  impl_->Handle(std::move(request), std::move(respond));
}

Status Hub::Tick() {
  MutexLock lock(impl_->mu);
  int64_t now = impl_->Now();
  ASSIGN_OR_RETURN(bool lead,
                   impl_->store->TryLease("rollouts", impl_->opt.replica_id, now, impl_->opt.lease_ttl_ms));
  impl_->leader = lead;
  RETURN_IF_ERROR(impl_->FlushNodes(now, true));
  if (!lead) return Status();
  return impl_->TickLocked(now);
}

void Hub::Start() {
  if (impl_->driver.joinable()) return;
  impl_->driver = std::thread([p = impl_.get()] { p->DriverLoop(); });
  impl_->sweeper = std::thread([p = impl_.get()] { p->SweeperLoop(); });
}

void Hub::Stop() {
  {
    std::lock_guard<std::mutex> l(impl_->run_mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->run_cv.notify_all();
  if (impl_->driver.joinable()) impl_->driver.join();
  if (impl_->sweeper.joinable()) impl_->sweeper.join();
  std::vector<std::pair<http::Responder, http::Response>> due;
  {
    MutexLock lock(impl_->mu);
    (void)impl_->FlushNodes(impl_->Now(), true);
    due = impl_->ExpireWaiters(impl_->Now());
    if (impl_->leader) (void)impl_->store->ReleaseLease("rollouts", impl_->opt.replica_id);
  }
  for (auto& [respond, response] : due) respond(std::move(response));
}

telemetry::Registry& Hub::metrics() { return impl_->registry; }

}  // namespace continuum::fleet
