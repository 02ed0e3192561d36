// Sends one request along a plan: the choice, then each fallback in order while the deadline
// allows, plus an optional hedge copy after a delay. A failure is a transport error, a timeout,
// an answer that is not valid HTTP, or a 5xx; a 4xx is the client's error and ends the dispatch
// unchanged (no retry). The first good answer wins and the other in-flight copy is cancelled.
// A request that cannot be written safely (InvalidArgument from the client: nothing was sent)
// ends the dispatch at once with that error, and no node is blamed (on_cancel, not on_failure).
// A target whose url starts with local:// is served in-process by the plan's LocalEndpoint.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/status.h"
#include "http/client.h"
#include "http/message.h"

namespace continuum::gateway {

// True for the in-process node url, "local://".
bool IsLocalUrl(const std::string& url);

// An in-process node: requests for local:// targets go to an http::Handler (a node's V2 and
// task APIs) instead of a socket, with the same contract as an http::Client call: the
// callback runs exactly once, on the client's loop the call was made on (see
// http::Client::PickLoop), with the handler's answer, with
// DeadlineExceeded when the deadline passes first, or with "cancelled" after Cancel; a late
// answer is dropped. The node's request carries its own CancelToken (`http::Request::cancel`), set
// when the call is cancelled, times out or is dropped by Detach, so a node that has not started
// the request drops it (its scheduler never runs it). Thread-safe.
class LocalEndpoint {
 public:
  // `client` delivers the callbacks (its Post and After) and must stay alive until Detach.
  LocalEndpoint(http::Client* client, http::Handler handler);
  LocalEndpoint(const LocalEndpoint&) = delete;
  LocalEndpoint& operator=(const LocalEndpoint&) = delete;

  // Calls the handler on the calling thread (which must not block: the handler only parses and
  // queues). The answer may come from any thread; it is posted back to the call's loop. `work`
  // is the token the node's request carries: the caller may set it to stop the node's work while
  // still awaiting the answer.
  std::shared_ptr<http::ClientCall> Send(const http::ClientRequest& request,
                                         std::chrono::steady_clock::time_point deadline,
                                         http::ClientCallback callback,
                                         CancelToken work = CancelToken::Make());

  // From now on nothing is posted to the client: the callbacks of calls still pending are
  // dropped (each on its call's loop, which must still run) and never run; late answers are
  // ignored. Call before the client is destroyed, never on one of its I/O threads. Idempotent.
  void Detach();

  struct Link;  // shared with in-flight calls, which may outlive the endpoint

 private:
  std::shared_ptr<Link> link_;
  http::Handler handler_;
};

// Sends one request to a node: in-process through `local` for a local:// url (Unavailable when
// `local` is null: nothing serves such nodes here), else over `client`. Same contract as
// http::Client::Send. `work`: the in-process request's token (see LocalEndpoint::Send; a socket
// call stops its node's work only by Cancel, which closes the connection).
std::shared_ptr<http::ClientCall> SendToNode(http::Client* client, LocalEndpoint* local,
                                             const std::string& url, http::ClientRequest request,
                                             std::chrono::steady_clock::time_point deadline,
                                             http::ClientCallback callback,
                                             CancelToken work = CancelToken::Make());

struct Target {
  std::string node;
  std::string url;
  // Longest wait for an attempt on this target (0: the plan's attempt_timeout).
  std::chrono::milliseconds timeout{0};
  // For an https:// url: the TLS settings of the calls to it (null: the client's for the url).
  std::shared_ptr<const tls::ClientContext> tls{};
};

struct Plan {
  std::vector<Target> chain;  // chain[0]: the choice; then the fallbacks in order
  std::optional<Target> hedge;
  std::chrono::microseconds hedge_delay{0};
  std::chrono::steady_clock::time_point deadline;
  // Longest wait for one attempt (0: until the deadline). With it a node that hangs fails in
  // time for the next candidate to run inside the deadline.
  std::chrono::milliseconds attempt_timeout{0};
  // Serves local:// targets; null when this process has no in-process node (such targets fail).
  std::shared_ptr<LocalEndpoint> local;
  // The losing copy of a hedge race: false, its call is cancelled at once; true, its answer is
  // awaited (within its attempt deadline) and dropped, and on_cancel runs when it ends. A node
  // goes on with a request whether or not anyone listens (the answer is computed anyway), so
  // what is still queued there is only known while its call is open: a router that stopped
  // counting it saw a stalled node as idle and sent it new requests, into the stall.
  bool await_losers = false;
  // The client's request token (`http::Request::cancel`): once it is set (the client went away),
  // every call still out is cancelled (a socket call closes its upstream connection, which
  // cancels the request on that node; an in-process call sets its request's token), the timers
  // stop, and the dispatch ends with Cancelled. With await_losers, a losing in-process copy's
  // token is set when the winner answers: the node drops it if it has not started it, and the
  // call still ends with whatever the node answers.
  CancelToken cancel;
};

struct Attempt {
  std::string node;
  int step = 0;   // index in the chain; -1 for the hedge
  Status status;  // ok when the node answered (any non-5xx status)
  int http_status = 0;
};

struct Outcome {
  bool served = false;  // a node answered (2xx..4xx)
  std::string node;     // the node that answered (or the last one tried)
  int step = 0;         // -1: the hedge
  http::ClientResponse response;
  // When !served: Unavailable, DeadlineExceeded, InvalidArgument (not writable), or Cancelled
  // (the client went away: Plan::cancel).
  Status error;
  std::vector<Attempt> attempts;
};

// Hooks run on the client's loop Dispatch was called on (http::Client::PickLoop). Every on_send is followed
// by exactly one on_failure, on_success or on_cancel for that node.
struct DispatchHooks {
  std::function<void(const std::string& node)> on_send;
  std::function<void(const std::string& node)> on_failure;
  // An answer (2xx..4xx): the response (status, headers, wall time of the exchange) and the
  // bytes sent + received.
  std::function<void(const std::string& node, const http::ClientResponse& response, uint64_t bytes)>
      on_success;
  // The losing copy of a hedge race, abandoned: at once, or with Plan::await_losers when its
  // answer (dropped) arrives or its attempt deadline passes.
  std::function<void(const std::string& node)> on_cancel;
  // With Plan::await_losers, the losing copy's answer (2xx..4xx), just before its on_cancel: what
  // it measured of that node and its link is worth learning, though the answer is dropped.
  std::function<void(const std::string& node, const http::ClientResponse& response, uint64_t bytes)>
      on_loser_answer;
  // Asked when the hedge is due, with the nodes already serving the request: where the hedge goes
  // (nullopt: it is not sent, e.g. the hedge budget is spent). Unset: to Plan::hedge.
  std::function<std::optional<Target>(const std::vector<std::string>& busy)> hedge_target;
  // What the hooks share, kept alive as long as the hooks are (they may refer to it by plain
  // pointer, which a std::function stores without an allocation).
  std::shared_ptr<void> state;
};

// `done` runs exactly once, on the client's loop Dispatch was called on.
void Dispatch(http::Client* client, Plan plan, http::ClientRequest request, DispatchHooks hooks,
              std::function<void(Outcome)> done);

}  // namespace continuum::gateway
