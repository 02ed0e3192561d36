// libcontinuum for C++: a thin header-only wrapper over continuum.h. RAII handles, std::string,
// and no exceptions: every call returns a Result that is either a value or a status code with
// its message. Thread-safety is the C API's: one Client may serve concurrent Request calls;
// destroying it must not race with them.
//
//   auto client = continuum::device::Client::Open(R"({"topology": "topology.json",
//                                                     "model_repository": "models"})");
//   if (!client.ok()) { std::cerr << client.message() << "\n"; return 1; }
//   auto r = client->Post("/v2/models/add_sub/infer", body, {{"X-Continuum-Policy", "prefer_tier=cloud"}});
//   if (r.ok()) std::cout << r->status() << " on " << r->node() << " (" << r->tier() << ")\n";
#ifndef CONTINUUM_CONTINUUM_HPP_
#define CONTINUUM_CONTINUUM_HPP_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "continuum/continuum.h"

namespace continuum::device {

// A value, or the status code and message of why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit, as a return value
  Result(continuum_status code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == CONTINUUM_OK && value_.has_value(); }
  continuum_status code() const { return code_; }
  const std::string& message() const { return message_; }
  // Only when ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  continuum_status code_ = CONTINUUM_OK;
  std::string message_;
  std::optional<T> value_;
};

namespace internal {
// Takes ownership of a C message and turns it into a std::string.
inline std::string TakeMessage(char* error, const char* fallback) {
  std::string s = error ? error : fallback;
  continuum_string_free(error);
  return s;
}

// Frees a C object with `Free` (the deleter of the owning handles below).
template <auto Free>
struct Freer {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
}  // namespace internal

using Headers = std::vector<std::pair<std::string, std::string>>;

// The answer to one request. Owns its continuum_response; movable, not copyable.
class Response {
 public:
  explicit Response(continuum_response* r) : r_(r) {}

  int status() const { return continuum_response_status(r_.get()); }
  std::string_view body() const {
    size_t n = 0;
    const char* p = continuum_response_body(r_.get(), &n);
    return {p, n};
  }
  std::string_view content_type() const { return continuum_response_content_type(r_.get()); }
  // The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(const std::string& name) const {
    const char* v = continuum_response_header(r_.get(), name.c_str());
    if (!v) return std::nullopt;
    return std::string_view(v);
  }
  // Routing facts: see continuum.h.
  std::string_view tier() const { return continuum_response_tier(r_.get()); }
  std::string_view node() const { return continuum_response_node(r_.get()); }
  std::string_view fallback_step() const { return continuum_response_fallback_step(r_.get()); }
  std::string_view reason() const { return continuum_response_reason(r_.get()); }

  const continuum_response* get() const { return r_.get(); }

 private:
  std::unique_ptr<continuum_response, internal::Freer<continuum_response_free>> r_;
};

// An open library instance. Owns its continuum_handle; movable, not copyable.
class Client {
 public:
  // See continuum_open for the configuration.
  static Result<Client> Open(const std::string& config_json) {
    continuum_handle* h = nullptr;
    char* error = nullptr;
    continuum_status st = continuum_open(config_json.c_str(), &h, &error);
    if (st != CONTINUUM_OK) return {st, internal::TakeMessage(error, "continuum_open failed")};
    return Client(h);
  }

  // See continuum_request. Ok with a Response whatever its HTTP status.
  Result<Response> Request(const std::string& method, const std::string& path, std::string_view body = {},
                           const Headers& headers = {}) const {
    std::vector<continuum_header> hs;
    hs.reserve(headers.size());
    for (const auto& [k, v] : headers) hs.push_back({k.c_str(), v.c_str()});
    continuum_response* r = nullptr;
    char* error = nullptr;
    continuum_status st = continuum_request(h_.get(), method.c_str(), path.c_str(), hs.data(), hs.size(),
                                            body.data(), body.size(), &r, &error);
    if (st != CONTINUUM_OK) return {st, internal::TakeMessage(error, "continuum_request failed")};
    return Response(r);
  }
  Result<Response> Post(const std::string& path, std::string_view body, const Headers& headers = {}) const {
    return Request("POST", path, body, headers);
  }

  continuum_handle* get() const { return h_.get(); }

 private:
  explicit Client(continuum_handle* h) : h_(h) {}
  std::unique_ptr<continuum_handle, internal::Freer<continuum_close>> h_;
};

inline std::string_view Version() { return continuum_version(); }

}  // namespace continuum::device

#endif  // CONTINUUM_CONTINUUM_HPP_
