#include "http/message.h"

#include <future>
#include <mutex>

namespace continuum::http {

const std::string* Request::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

StatusOr<Response> CallHandler(const Handler& handler, Request request,
                               std::chrono::steady_clock::time_point deadline) {
  struct Answer {
    std::promise<Response> promise;
    std::once_flag once;
  };
  auto answer = std::make_shared<Answer>();
  std::future<Response> done = answer->promise.get_future();
  const CancelToken cancel = CancelToken::Make();
  request.cancel = cancel;
  // Only the Responder holds the promise: when the handler drops it unanswered, the future breaks.
  handler(std::move(request), [answer = std::move(answer)](Response r) {
    std::call_once(answer->once, [&] { answer->promise.set_value(std::move(r)); });
  });
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    done.wait();
  } else if (done.wait_until(deadline) != std::future_status::ready) {
    cancel.Cancel();
    return DeadlineExceeded("no answer before the deadline");
  }
  try {
    return done.get();
  } catch (const std::future_error&) {  // every copy of the Responder was dropped unanswered
    return Internal("the handler dropped the request unanswered");
  }
}

}  // namespace continuum::http
