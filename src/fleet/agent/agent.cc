// The agent's loop: reports, the desired-state long poll, acceptance, the hub's outages
// (agent.h). The repository side is apply.cc, serve's side observe.cc.
#include "fleet/agent/agent.h"

#include <algorithm>
#include <cstdio>

#include "common/log.h"
#include "signing/signing.h"

namespace continuum::fleet {

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::milliseconds Ms(int64_t ms) { return std::chrono::milliseconds(ms); }

}  // namespace

Agent::Agent(AgentOptions options) : options_(std::move(options)) {
  // Made here, not in Run, so that the byte counters may be read from any thread at any time.
  auto hub = HubClient::Create(options_.hub);
  if (hub.ok()) {
    hub_ = std::move(*hub);
  } else {
    hub_status_ = hub.status().WithContext("--hub " + options_.hub.hub_url);
  }
}

Agent::~Agent() {
  // A call holds timers on its client's loop: cancelled and let go before the client goes. Then
  // the clients, before the rest: a callback still running posts into mu_ / events_.
  for (auto* call : {&poll_call_, &report_call_}) {
    if (*call) (*call)->Cancel();
    call->reset();
  }
  hub_.reset();
  serve_client_.reset();
}

uint64_t Agent::control_bytes_sent() const { return hub_ ? hub_->bytes_sent() : 0; }
uint64_t Agent::control_bytes_received() const { return hub_ ? hub_->bytes_received() : 0; }

void Agent::Stop() {
  stop_ = true;
  std::lock_guard<std::mutex> l(mu_);
  cv_.notify_all();
}

void Agent::Post(Event e) {
  std::lock_guard<std::mutex> l(mu_);
  events_.push_back(std::move(e));
  cv_.notify_all();
}

void Agent::WaitForWork(Clock::time_point until) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_until(l, until, [this] { return stop_.load() || !events_.empty(); });
}

Status Agent::Start() {
  RETURN_IF_ERROR(hub_status_);
  ASSIGN_OR_RETURN(std::string pem, signing::ReadKeyFile(options_.hub_key, 64 << 10));
  auto key = signing::PublicKey::FromPem(pem);
  if (!key.ok()) return key.status().WithContext("--hub-key " + options_.hub_key.string());
  hub_key_ = std::move(*key);
  ASSIGN_OR_RETURN(auto loaded, LoadAgentState(options_.state_file, options_.max_state_bytes));
  if (loaded) state_ = std::move(*loaded);
  if (!state_.envelope.empty()) {
    // The last-known-good document: what the agent serves by until the hub sends another.
    auto v = VerifyDesiredStateEnvelope(state_.envelope, *hub_key_, options_.hub.node, options_.limits);
    if (v.ok()) {
      current_ = std::move(v->state);
    } else {
      LogWarning("agent: the applied desired state in " + options_.state_file.string() +
                 " no longer verifies (" + v.status().message() + "); waiting for the hub's");
    }
  }
  if (!options_.serve_handler && !options_.serve_url.empty()) {
    RETURN_IF_ERROR(http::ParseHttpUrl(options_.serve_url).status().WithContext("--serve-url"));
    http::ClientOptions co;
    co.max_idle_per_host = 2;
    co.max_response_bytes = static_cast<size_t>(options_.scrape.max_bytes);
    serve_client_ = std::make_unique<http::Client>(std::move(co));
  }
  LogInfo("agent: node " + options_.hub.node + ", hub " + options_.hub.hub_url + ", applied sequence " +
          std::to_string(state_.highest_sequence) + ", " + std::to_string(state_.installed.size()) +
          " models installed by the agent");
  return Status::Ok();
}

Status Agent::Run() {
  RETURN_IF_ERROR(Start());
  Loop();
  for (auto* call : {&poll_call_, &report_call_})
    if (*call) (*call)->Cancel();
  // The cancelled calls answer at once; wait for them (bounded) so nothing is left in flight.
  const auto until = Clock::now() + std::chrono::seconds(5);
  while ((poll_in_flight_ || report_in_flight_) && Clock::now() < until) {
    WaitForWork(until);
    std::deque<Event> events;
    {
      std::lock_guard<std::mutex> l(mu_);
      events.swap(events_);
    }
    for (Event& e : events) {
      if (e.poll) poll_in_flight_ = false;
      if (e.report) report_in_flight_ = false;
    }
  }
  LogInfo("agent: stopped");
  return Status::Ok();
}

void Agent::Loop() {
  const auto start = Clock::now();
  next_check_ = next_poll_ = start;
  next_heartbeat_ = start + std::chrono::seconds(options_.heartbeat_secs);
  report_wanted_ = true;
  while (!stop_) {
    auto now = Clock::now();
    if (now >= next_check_) {
      Observe();
      next_check_ = Clock::now() + Ms(options_.report_interval_ms);
    }
    if (failed_targets_ && current_ && now >= retry_failed_at_) Reconcile();
    if (now >= next_heartbeat_) report_wanted_ = true;
    now = Clock::now();
    if (!report_in_flight_ && now >= hub_retry_at_) StartReport(false);
    const Clock::time_point poll_at = std::max({next_poll_, hub_retry_at_, refused_until_});
    if (registered_ && !poll_in_flight_ && now >= poll_at) StartPoll();
    // Every deadline below is in the future, or its work just started (or waits for a later one).
    Clock::time_point until = next_check_;
    if (next_heartbeat_ > now) until = std::min(until, next_heartbeat_);
    if (registered_ && !poll_in_flight_) until = std::min(until, poll_at);
    if (report_wanted_ && !report_in_flight_) until = std::min(until, hub_retry_at_);
    if (failed_targets_) until = std::min(until, retry_failed_at_);
    WaitForWork(until);
    std::deque<Event> events;
    {
      std::lock_guard<std::mutex> l(mu_);
      events.swap(events_);
    }
    for (Event& e : events) HandleEvent(e);
  }
}

void Agent::HandleEvent(Event& e) {
  if (e.poll) HandlePoll(*e.poll);
  if (e.report) HandleReport(*e.report);
}

void Agent::StartReport(bool force) {
  if (report_in_flight_ || stop_) return;
  NodeReport r = BuildReport();
  if (!force && !report_wanted_ && last_sent_ && r == *last_sent_) return;
  report_in_flight_ = true;
  report_wanted_ = false;
  auto sent = std::make_shared<NodeReport>(r);
  report_call_ = hub_->Report(NodeReportJson(r), [this, sent](StatusOr<int64_t> answer) {
    Event e;
    e.report = std::move(answer);
    Post(std::move(e));
  });
  in_flight_report_ = std::move(sent);
}

void Agent::HandleReport(StatusOr<int64_t>& answer) {
  report_in_flight_ = false;
  report_call_.reset();
  if (!answer.ok()) {
    report_wanted_ = true;
    HubFailed(answer.status(), "report");
    return;
  }
  HubOk();
  last_sent_ = *in_flight_report_;
  next_heartbeat_ = Clock::now() + std::chrono::seconds(options_.heartbeat_secs);
  if (!registered_) {
    registered_ = true;
    next_poll_ = Clock::now();
  }
  if (!announced_) {
    announced_ = true;
    std::printf("continuum agent: ready\n");
    std::fflush(stdout);
  }
  if (*answer > state_.highest_sequence && !poll_in_flight_) next_poll_ = Clock::now();
}

void Agent::StartPoll() {
  poll_in_flight_ = true;
  poll_started_ = Clock::now();
  const int64_t after = std::max(state_.highest_sequence, refused_sequence_);
  poll_call_ = hub_->Poll(after, options_.wait_s, [this](StatusOr<PollAnswer> answer) {
    Event e;
    e.poll = std::move(answer);
    Post(std::move(e));
  });
}

void Agent::HandlePoll(StatusOr<PollAnswer>& answer) {
  poll_in_flight_ = false;
  poll_call_.reset();
  const auto earliest = poll_started_ + Ms(options_.min_poll_interval_ms);
  next_poll_ = std::max(Clock::now(), earliest);
  if (stop_) return;
  if (!answer.ok()) {
    HubFailed(answer.status(), "desired state");
    return;
  }
  HubOk();
  if (answer->status == 404) {  // the hub does not know this node (yet, or any more): report first
    registered_ = false;
    report_wanted_ = true;
    return;
  }
  if (answer->status == 200) ApplyEnvelope(answer->envelope);
}

void Agent::HubFailed(const Status& st, std::string_view what) {
  if (stop_) return;
  if (!hub_down_) {
    hub_down_ = true;
    hub_down_since_ = Clock::now();
    hub_backoff_ms_ = options_.backoff_initial_ms;
    LogWarning("agent: hub unavailable (" + std::string(what) + ": " + st.message() +
               "); serving what is installed, retrying every " + std::to_string(options_.backoff_initial_ms) +
               " ms doubling up to " + std::to_string(options_.backoff_max_ms) + " ms");
  } else {
    hub_backoff_ms_ = std::min(hub_backoff_ms_ * 2, options_.backoff_max_ms);
  }
  hub_retry_at_ = Clock::now() + Ms(hub_backoff_ms_);
}

void Agent::HubOk() {
  if (hub_down_) {
    const auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - hub_down_since_).count();
    LogInfo("agent: hub available again after " + std::to_string(secs) + " s");
    hub_down_ = false;
    report_wanted_ = true;
  }
  hub_backoff_ms_ = 0;
  hub_retry_at_ = Clock::time_point{};
}

void Agent::Refuse(int64_t sequence, const std::string& reason, bool expired) {
  const std::string line =
      "refused desired state " + (sequence > 0 ? std::to_string(sequence) : std::string("?")) + ": " + reason;
  if (line != refusal_) LogWarning("agent: " + line);  // once per document and reason
  refusal_ = line;
  refusal_expired_ = expired;
  report_wanted_ = true;
  // The hub would answer the same document to the next poll at once: ask it for a newer one than
  // a refused (verified) document, and only after a backoff.
  if (sequence > 0) refused_sequence_ = std::max(refused_sequence_, sequence);
  refuse_backoff_ms_ = refuse_backoff_ms_ == 0 ? options_.backoff_initial_ms
                                               : std::min(refuse_backoff_ms_ * 2, options_.backoff_max_ms);
  refused_until_ = Clock::now() + Ms(refuse_backoff_ms_);
}

void Agent::ApplyEnvelope(const std::string& envelope) {
  auto v = VerifyDesiredStateEnvelope(envelope, *hub_key_, options_.hub.node, options_.limits);
  if (!v.ok()) return Refuse(0, v.status().message(), false);  // its sequence cannot be trusted
  const int64_t n = v->state.sequence;
  const std::string seq = std::to_string(n);
  switch (Accept(v->state, v->payload_sha256, state_.highest_sequence, state_.payload_sha256, NowMs())) {
    case Acceptance::kUnchanged: return;
    case Acceptance::kReplay:
      return Refuse(
          n,
          n < state_.highest_sequence
              ? "replay: sequence " + seq + " is below the applied " + std::to_string(state_.highest_sequence)
              : "replay: sequence " + seq + " was applied with another payload",
          false);
    case Acceptance::kExpired:
      return Refuse(n, "expired at " + FormatTimeMs(v->state.expires_ms) + "; serving what is installed",
                    true);
    case Acceptance::kApply: break;
  }
  refusal_.clear();
  refuse_backoff_ms_ = 0;
  refused_sequence_ = 0;
  refused_until_ = Clock::time_point{};
  LogInfo("agent: applying desired state " + seq + " (" + std::to_string(v->state.targets.size()) +
          " targets)");
  current_ = std::move(v->state);
  applying_envelope_ = envelope;
  applying_sha256_ = v->payload_sha256;
  failed_targets_ = false;
  retry_failed_backoff_ms_ = 0;
  Reconcile();
}

}  // namespace continuum::fleet
