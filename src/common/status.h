// One error type for the whole code base. Exceptions thrown by libraries (ONNX Runtime, Boost)
// are caught at the edge of the component that calls them and turned into a Status.
// The mapping from StatusCode to an HTTP status lives in exactly one place: api/http_status.h.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace continuum {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // malformed or inconsistent input (HTTP 400)
  kNotFound,            // unknown model, version, route (HTTP 404)
  kAlreadyExists,       // (HTTP 409)
  kFailedPrecondition,  // exists but not in the right state, e.g. model not ready (HTTP 400)
  kPayloadTooLarge,     // a configured size limit was exceeded (HTTP 413)
  kResourceExhausted,   // a quota or rate limit (HTTP 429)
  kUnavailable,         // overloaded or shutting down; the caller may retry (HTTP 503)
  kDeadlineExceeded,    // a timeout fired (HTTP 504 / 408 on reads)
  kUnimplemented,       // (HTTP 501)
  kInternal,            // a broken invariant or an engine failure (HTTP 500)
  kCancelled,           // the client went away before the work ran; nothing is answered (HTTP 499)
  kAborted,             // a concurrent write won (revision conflict); read again and retry (HTTP 409)
};

std::string_view StatusCodeName(StatusCode code);

// A client-supplied string for an error message: in single quotes, cut to 64 bytes (at a UTF-8
// boundary, then "...") so that a huge name never makes a huge message.
std::string Quoted(std::string_view s);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

  // Returns a copy whose message is "<prefix>: <message>"; used to add where an error happened.
  Status WithContext(std::string_view prefix) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status PayloadTooLarge(std::string m) { return {StatusCode::kPayloadTooLarge, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT
  StatusOr(T value) : v_(std::move(value)) {}                                              // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace continuum

#define CONTINUUM_CONCAT_INNER(a, b) a##b
#define CONTINUUM_CONCAT(a, b) CONTINUUM_CONCAT_INNER(a, b)

// Returns from the current function when `expr` yields a non-OK Status.
#define RETURN_IF_ERROR(expr)         \
  do {                                \
    ::continuum::Status _st = (expr); \
    if (!_st.ok()) return _st;        \
  } while (0)
// NOLINTBEGIN(bugprone-macro-parentheses): `tmp` names a variable, `lhs` is a declaration
// `ASSIGN_OR_RETURN(auto x, F())` binds the value of a StatusOr or returns its Status.
#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(CONTINUUM_CONCAT(_status_or_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
