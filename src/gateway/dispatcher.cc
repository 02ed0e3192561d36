#include "gateway/dispatcher.h"

#include <memory>

namespace continuum::gateway {

namespace {

// All state is touched on the client's single I/O thread only.
struct Exchange : std::enable_shared_from_this<Exchange> {
  UpstreamClient* client;
  Plan plan;
  UpstreamRequest request;
  DispatchHooks hooks;
  std::function<void(Outcome)> done;

  size_t next = 0;  // next chain index to try
  bool finished = false;
  bool hedge_sent = false;
  int in_flight = 0;
  std::shared_ptr<UpstreamCall> chain_call, hedge_call, hedge_timer;
  std::vector<Attempt> attempts;
  Status last_error = Unavailable("no node to try");
  std::string last_node;
  int last_step = 0;

  void Start() {
    TryNext();
    if (plan.hedge && !finished) {
      auto self = shared_from_this();
      hedge_timer = client->After(plan.hedge_delay, [self] { self->SendHedge(); });
    }
  }

  void TryNext() {
    if (finished) return;
    if (next >= plan.chain.size() || std::chrono::steady_clock::now() >= plan.deadline) {
      if (in_flight == 0) Fail();
      return;
    }
    const int step = static_cast<int>(next);
    const Target t = plan.chain[next++];
    in_flight++;
    if (hooks.on_send) hooks.on_send(t.node);
    auto self = shared_from_this();
    chain_call = client->Send(t.url, request, plan.deadline, [self, t, step](StatusOr<UpstreamResponse> r) {
      self->OnAnswer(t, step, std::move(r));
    });
  }

  void SendHedge() {
    if (finished || hedge_sent) return;
    hedge_sent = true;
    in_flight++;
    const Target t = *plan.hedge;
    if (hooks.on_send) hooks.on_send(t.node);
    auto self = shared_from_this();
    hedge_call = client->Send(t.url, request, plan.deadline, [self, t](StatusOr<UpstreamResponse> r) {
      self->OnAnswer(t, -1, std::move(r));
    });
  }

  void OnAnswer(const Target& t, int step, StatusOr<UpstreamResponse> r) {
    in_flight--;
    if (finished) {  // the loser of a hedge race, cancelled
      if (hooks.on_cancel) hooks.on_cancel(t.node);
      return;
    }
    Attempt a{t.node, step, r.ok() ? Status() : r.status(), r.ok() ? r->status : 0};
    if (r.ok() && r->status >= 500)
      a.status = Unavailable("node " + t.node + " answered " + std::to_string(r->status));
    attempts.push_back(a);
    if (!a.status.ok()) {
      if (hooks.on_failure) hooks.on_failure(t.node);
      last_error = a.status;
      last_node = t.node;
      last_step = step;
      if (step >= 0) return TryNext();
      if (in_flight == 0) TryNext();  // the hedge failed and nothing else is running
      return;
    }
    finished = true;
    if (hooks.on_success)
      hooks.on_success(t.node, r->status, request.body.size() + r->body.size(), r->duration_ms);
    if (step >= 0 && hedge_call) hedge_call->Cancel();
    if (step < 0 && chain_call) chain_call->Cancel();
    if (hedge_timer) hedge_timer->Cancel();
    Outcome o;
    o.served = true;
    o.node = t.node;
    o.step = step;
    o.response = std::move(r).value();
    o.attempts = std::move(attempts);
    Complete(std::move(o));
  }

  void Fail() {
    finished = true;
    if (hedge_timer) hedge_timer->Cancel();
    Outcome o;
    o.served = false;
    o.node = last_node;
    o.step = last_step;
    o.error = std::chrono::steady_clock::now() >= plan.deadline && !attempts.empty()
                  ? DeadlineExceeded("deadline exceeded; last error: " + last_error.message())
                  : Unavailable("every candidate failed; last error: " + last_error.message());
    o.attempts = std::move(attempts);
    Complete(std::move(o));
  }

  void Complete(Outcome o) {
    auto d = std::move(done);
    chain_call.reset();
    hedge_call.reset();
    hedge_timer.reset();
    if (d) d(std::move(o));
  }
};

}  // namespace

void Dispatch(UpstreamClient* client, Plan plan, UpstreamRequest request, DispatchHooks hooks,
              std::function<void(Outcome)> done) {
  auto ex = std::make_shared<Exchange>();
  ex->client = client;
  ex->plan = std::move(plan);
  ex->request = std::move(request);
  ex->hooks = std::move(hooks);
  ex->done = std::move(done);
  client->Post([ex] { ex->Start(); });
}

}  // namespace continuum::gateway
