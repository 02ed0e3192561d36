#include "gateway/dispatcher.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "http/validate.h"

namespace continuum::gateway {

bool IsLocalUrl(const std::string& url) { return url.rfind("local://", 0) == 0; }

namespace {
class LocalCall;
}

// What in-flight local calls share with their endpoint. Lock order: Link::mu, then a call's mu.
struct LocalEndpoint::Link {
  std::mutex mu;
  http::Client* client = nullptr;  // null once detached
  uint64_t next_id = 0;
  struct Pending {
    size_t loop;  // the client's loop its callback runs on
    std::weak_ptr<LocalCall> call;
  };
  std::unordered_map<uint64_t, Pending> live;  // calls whose callback is pending

  // Posts `fn` to the client's loop `loop`; false (and `fn` dropped) once detached.
  bool Post(size_t loop, std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu);
    if (!client) return false;
    client->Post(loop, std::move(fn));
    return true;
  }
  void Forget(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    live.erase(id);
  }
};

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One in-process call. Every completion (answer, deadline, cancel) is posted to the client's
// loop the call was made on and the first one wins, so the callback runs once, there, as a socket
// call's does.
class LocalCall : public http::ClientCall, public std::enable_shared_from_this<LocalCall> {
 public:
  LocalCall(std::shared_ptr<LocalEndpoint::Link> link, http::ClientCallback callback, CancelToken work)
      : link_(std::move(link)), work_(std::move(work)), callback_(std::move(callback)) {}

  // Registers the call (so Detach can drop it) and arms the deadline. False once detached.
  bool Start(std::chrono::steady_clock::time_point deadline) {
    std::weak_ptr<LocalCall> weak = shared_from_this();
    std::lock_guard<std::mutex> lock(link_->mu);
    if (!link_->client) return false;
    loop_ = link_->client->PickLoop();
    id_ = link_->next_id++;
    link_->live.emplace(id_, LocalEndpoint::Link::Pending{loop_, weak});
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    // The timer holds the call weakly, and the call the timer weakly: neither keeps the other
    // (nor the exchange its callback holds) alive, and nothing here outlives the client's loop.
    auto timer = link_->client->After(loop_, std::max(left, std::chrono::milliseconds(0)), [weak] {
      if (auto call = weak.lock()) {
        call->work_.Cancel();  // nobody waits for it any more: the node need not compute it
        call->Finish(DeadlineExceeded("in-process node did not answer in time"));
      }
    });
    std::lock_guard<std::mutex> call_lock(mu_);
    timer_ = timer;
    return true;
  }

  void Cancel() override {
    work_.Cancel();  // the node drops the request if it has not started it
    auto self = shared_from_this();
    link_->Post(loop_, [self] { self->Finish(Unavailable("cancelled")); });
  }

  // Runs on the I/O thread.
  void Finish(StatusOr<http::ClientResponse> r) {
    http::ClientCallback cb = Take();
    if (!cb) return;
    link_->Forget(id_);
    cb(std::move(r));
  }

  // Detached: the callback will never run; let go of what it holds (on the call's loop).
  void Drop() {
    work_.Cancel();
    (void)Take();
  }

  // Posts a completion; dropped once detached (Detach has dealt with the callback).
  void Deliver(StatusOr<http::ClientResponse> r) {
    auto self = shared_from_this();
    auto boxed = std::make_shared<StatusOr<http::ClientResponse>>(std::move(r));
    link_->Post(loop_, [self, boxed] { self->Finish(std::move(*boxed)); });
  }

 private:
  http::ClientCallback Take() {
    std::weak_ptr<http::ClientCall> timer;
    http::ClientCallback cb;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cb = std::move(callback_);
      callback_ = nullptr;
      timer = std::move(timer_);
    }
    if (auto t = timer.lock(); t && cb) t->Cancel();
    return cb;
  }

  std::shared_ptr<LocalEndpoint::Link> link_;
  const CancelToken work_;  // the request's token as the node sees it
  size_t loop_ = 0;         // the client's loop the callback runs on; set once by Start
  uint64_t id_ = 0;
  std::mutex mu_;
  http::ClientCallback callback_;  // empty once completed or dropped
  std::weak_ptr<http::ClientCall> timer_;
};

// The handler's side of a local call. A handler that drops every copy of its responder without
// answering fails the call, as a node that hung up would.
struct LocalReply {
  std::shared_ptr<LocalCall> call;
  std::chrono::steady_clock::time_point start;
  std::atomic<bool> answered{false};

  ~LocalReply() {
    if (!answered.exchange(true))
      call->Deliver(Unavailable("in-process node dropped the request unanswered"));
  }

  void Answer(http::Response resp) {
    if (answered.exchange(true)) return;
    http::ClientResponse out;
    out.status = resp.status;
    out.headers.reserve(resp.headers.size() + 1);
    for (auto& [k, v] : resp.headers) out.headers.emplace_back(Lower(std::move(k)), std::move(v));
    if (!resp.content_type.empty()) out.headers.emplace_back("content-type", std::move(resp.content_type));
    out.body = std::move(resp.body);
    out.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    call->Deliver(std::move(out));
  }
};

// A call that never reached a node: its error is already on the way.
class NoCall : public http::ClientCall {
 public:
  void Cancel() override {}
};

}  // namespace

LocalEndpoint::LocalEndpoint(http::Client* client, http::Handler handler)
    : link_(std::make_shared<Link>()), handler_(std::move(handler)) {
  link_->client = client;
}

void LocalEndpoint::Detach() {
  http::Client* client;
  std::unordered_map<uint64_t, Link::Pending> live;
  {
    std::lock_guard<std::mutex> lock(link_->mu);
    client = link_->client;
    link_->client = nullptr;
    live.swap(link_->live);
  }
  if (!client) return;
  // Drop the pending callbacks each on its call's loop: they hold exchanges whose other calls
  // belong to that thread, and must be gone before the client is.
  std::vector<std::promise<void>> dropped(client->loop_count());
  for (size_t loop = 0; loop < dropped.size(); ++loop) {
    client->Post(loop, [&live, &dropped, loop] {
      for (auto& [id, pending] : live) {
        if (pending.loop != loop) continue;
        if (auto call = pending.call.lock()) call->Drop();
      }
      dropped[loop].set_value();
    });
  }
  for (auto& d : dropped) d.get_future().wait();
}

std::shared_ptr<http::ClientCall> LocalEndpoint::Send(const http::ClientRequest& request,
                                                      std::chrono::steady_clock::time_point deadline,
                                                      http::ClientCallback callback, CancelToken work) {
  auto call = std::make_shared<LocalCall>(link_, std::move(callback), work);
  if (!call->Start(deadline)) return call;                        // detached: the callback never runs
  if (std::chrono::steady_clock::now() >= deadline) return call;  // the timer fails it at once
  http::Request req;
  req.method = request.method;
  // The node sees what a socket would have given it: the target as written, decoded as the HTTP
  // server decodes it.
  req.target = request.target.empty() ? "/" : request.target;
  if (!http::SplitTarget(req.target, req.path, req.query)) {
    call->Deliver(InvalidArgument("upstream request: malformed request target"));
    return call;
  }
  req.headers.reserve(request.headers.size());
  for (const auto& [k, v] : request.headers) req.headers.emplace_back(Lower(k), v);
  req.body = request.body;
  req.remote = "local";
  req.cancel = std::move(work);
  auto reply = std::make_shared<LocalReply>();
  reply->call = call;
  reply->start = std::chrono::steady_clock::now();
  handler_(std::move(req), [reply](http::Response resp) { reply->Answer(std::move(resp)); });
  return call;
}

std::shared_ptr<http::ClientCall> SendToNode(http::Client* client, LocalEndpoint* local,
                                             const std::string& url, http::ClientRequest request,
                                             std::chrono::steady_clock::time_point deadline,
                                             http::ClientCallback callback, CancelToken work) {
  if (!IsLocalUrl(url)) return client->Send(url, std::move(request), deadline, std::move(callback));
  if (local) return local->Send(request, deadline, std::move(callback), std::move(work));
  client->Post([callback = std::move(callback)] {
    callback(Unavailable(
        "node url local:// names an in-process node, but this process serves none (no model repository)"));
  });
  return std::make_shared<NoCall>();
}

namespace {

// All state is touched on one loop of the client only: the one Dispatch was called on (see
// http::Client::PickLoop).
struct Exchange : std::enable_shared_from_this<Exchange> {
  http::Client* client;
  Plan plan;
  http::ClientRequest request;  // moved into the last send that can be made
  uint64_t request_bytes = 0;
  DispatchHooks hooks;
  std::function<void(Outcome)> done;

  size_t next = 0;  // next chain index to try
  bool finished = false;
  bool hedge_sent = false;
  std::optional<Target> hedge_sent_to;  // where the hedge went (its answer names it)
  int in_flight = 0;
  std::shared_ptr<http::ClientCall> chain_call, hedge_call, hedge_timer;
  CancelToken chain_work, hedge_work;  // the in-process requests' tokens (unset for sockets)
  CancelToken::Hook client_gone;       // on plan.cancel, while the dispatch runs
  std::vector<Attempt> attempts;
  Status last_error = Unavailable("no node to try");
  std::string last_node;
  int last_step = 0;

  void Start() {
    if (plan.cancel.cancelled()) return Abandon();
    std::weak_ptr<Exchange> weak = shared_from_this();
    const size_t loop = client->PickLoop();  // this one: Dispatch ran or posted Start here
    http::Client* c = client;
    // On the thread that sets the token (the client's connection): only a post to this loop.
    client_gone = plan.cancel.OnCancel([weak, c, loop] {
      if (auto self = weak.lock()) c->Post(loop, [self] { self->Abandon(); });
    });
    TryNext();
    if (plan.hedge && !finished) {
      auto self = shared_from_this();
      hedge_timer = client->After(plan.hedge_delay, [self] { self->SendHedge(); });
    }
  }

  std::chrono::steady_clock::time_point AttemptDeadline(const Target& t) const {
    const auto timeout = t.timeout.count() > 0 ? t.timeout : plan.attempt_timeout;
    if (timeout.count() <= 0) return plan.deadline;
    return std::min(plan.deadline, std::chrono::steady_clock::now() + timeout);
  }

  static CancelToken WorkToken(const Target& t) {
    return IsLocalUrl(t.url) ? CancelToken::Make() : CancelToken();
  }

  void TryNext() {
    if (finished) return;
    if (next >= plan.chain.size() || std::chrono::steady_clock::now() >= plan.deadline) {
      if (in_flight == 0) Fail();
      return;
    }
    const int step = static_cast<int>(next);
    const Target& t = plan.chain[next++];  // the chain is not changed once dispatched
    in_flight++;
    if (hooks.on_send) hooks.on_send(t.node);
    auto self = shared_from_this();
    chain_work = WorkToken(t);
    // No fallback left and no hedge to come: nothing will send the request again.
    const bool last = next == plan.chain.size() && (!plan.hedge || hedge_sent);
    http::ClientRequest r = last ? std::move(request) : request;
    if (t.tls) r.tls = t.tls;
    chain_call = SendToNode(
        client, plan.local.get(), t.url, std::move(r), AttemptDeadline(t),
        [self, step](StatusOr<http::ClientResponse> r) {
          self->OnAnswer(self->plan.chain[step], step, std::move(r));
        },
        chain_work);
  }

  void SendHedge() {
    if (finished || hedge_sent) return;
    hedge_sent = true;
    Target t = *plan.hedge;
    if (hooks.hedge_target) {
      std::vector<std::string> busy;
      if (in_flight > 0 && next > 0) busy.push_back(plan.chain[next - 1].node);
      auto chosen = hooks.hedge_target(busy);
      if (!chosen) return;
      t = std::move(*chosen);
    }
    in_flight++;
    if (hooks.on_send) hooks.on_send(t.node);
    auto self = shared_from_this();
    hedge_work = WorkToken(t);
    const Target& sent = hedge_sent_to.emplace(std::move(t));
    http::ClientRequest r = request;
    if (sent.tls) r.tls = sent.tls;
    hedge_call = SendToNode(
        client, plan.local.get(), sent.url, std::move(r), AttemptDeadline(sent),
        [self](StatusOr<http::ClientResponse> r) { self->OnAnswer(*self->hedge_sent_to, -1, std::move(r)); },
        hedge_work);
  }

  void OnAnswer(const Target& t, int step, StatusOr<http::ClientResponse> r) {
    in_flight--;
    if (finished) {  // the loser of a hedge race, cancelled
      if (r.ok() && r->status < 500 && hooks.on_loser_answer)
        hooks.on_loser_answer(t.node, *r, request_bytes + r->body.size());
      if (hooks.on_cancel) hooks.on_cancel(t.node);
      return;
    }
    Attempt a{t.node, step, r.ok() ? Status() : r.status(), r.ok() ? r->status : 0};
    if (r.ok() && r->status >= 500)
      a.status = Unavailable("node " + t.node + " answered " + std::to_string(r->status));
    attempts.push_back(a);
    if (!r.ok() && r.status().code() == StatusCode::kInvalidArgument) {
      // The request itself cannot be written (nothing was sent): no node is at fault, and no
      // other would be sent anything else.
      if (hooks.on_cancel) hooks.on_cancel(t.node);
      last_error = a.status;
      last_node = t.node;
      last_step = step;
      return Refuse();
    }
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
    if (hooks.on_success) hooks.on_success(t.node, *r, request_bytes + r->body.size());
    // The loser's node need not compute what nobody will use; an awaited socket call keeps its
    // connection (closing it is the only way to tell the node), an in-process one its callback.
    (step >= 0 ? hedge_work : chain_work).Cancel();
    if (!plan.await_losers) {
      if (step >= 0 && hedge_call) hedge_call->Cancel();
      if (step < 0 && chain_call) chain_call->Cancel();
    }
    if (hedge_timer) hedge_timer->Cancel();
    Outcome o;
    o.served = true;
    o.node = t.node;
    o.step = step;
    o.response = std::move(r).value();
    o.attempts = std::move(attempts);
    Complete(std::move(o));
  }

  // A request that cannot be written: no node would be sent anything else.
  void Refuse() { StopAll(last_error); }

  // The client went away (plan.cancel): every call still out is cancelled (each ends with
  // on_cancel, as a hedge loser does) and the timers stop.
  void Abandon() {
    if (!finished) StopAll(Cancelled("the client went away before a node answered"));
  }

  void StopAll(Status error) {
    finished = true;
    if (hedge_timer) hedge_timer->Cancel();
    if (chain_call) chain_call->Cancel();
    if (hedge_call) hedge_call->Cancel();
    Unserved(std::move(error));
  }

  void Fail() {
    finished = true;
    if (hedge_timer) hedge_timer->Cancel();
    Unserved(std::chrono::steady_clock::now() >= plan.deadline && !attempts.empty()
                 ? DeadlineExceeded("deadline exceeded; last error: " + last_error.message())
                 : Unavailable("every candidate failed; last error: " + last_error.message()));
  }

  void Unserved(Status error) {
    Outcome o;
    o.served = false;
    o.node = last_node;
    o.step = last_step;
    o.error = std::move(error);
    o.attempts = std::move(attempts);
    Complete(std::move(o));
  }

  void Complete(Outcome o) {
    client_gone.Reset();
    auto d = std::move(done);
    chain_call.reset();
    hedge_call.reset();
    hedge_timer.reset();
    if (d) d(std::move(o));
  }
};

}  // namespace

void Dispatch(http::Client* client, Plan plan, http::ClientRequest request, DispatchHooks hooks,
              std::function<void(Outcome)> done) {
  auto ex = std::make_shared<Exchange>();
  ex->client = client;
  ex->plan = std::move(plan);
  ex->request_bytes = request.body.size();
  ex->request = std::move(request);
  ex->hooks = std::move(hooks);
  ex->done = std::move(done);
  // On one of the client's loops (where the gateway's handlers run) the exchange starts at once,
  // on that loop; from another thread it is posted to one. A post costs the loop another turn
  // (and a poll of the reactor) per request.
  if (client->InIoThread()) return ex->Start();
  client->Post([ex] { ex->Start(); });
}

}  // namespace continuum::gateway
