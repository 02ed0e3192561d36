// Helpers shared by the filters: JSON error answers, header access, globs, hashing, and a
// reader for filter settings that refuses unknown fields.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "http/server.h"

namespace continuum::filters {

// {"error": message} with an explicit HTTP status. Used for the statuses that have no StatusCode
// (401, 402, 403); everything else goes through ErrorFor.
http::Response JsonError(int http_status, std::string_view message);
// The answer for a Status, its HTTP status from api/http_status.h.
http::Response ErrorFor(const Status& status);

// First header of a response with this name (case-insensitive), or nullptr.
const std::string* ResponseHeader(const http::Response& r, std::string_view name);
// Replaces every header of that name (case-insensitive) with one.
void SetHeader(http::Response& r, std::string_view name, std::string value);
void RemoveHeader(http::Request& r, std::string_view lower_name);

// The first of several request header names present (lower-case), with the name found.
struct FoundHeader {
  std::string_view name;
  const std::string* value = nullptr;
};
FoundHeader FirstHeader(const http::Request& r, std::initializer_list<std::string_view> lower_names);

// A header value as an integer in [min, max]; nullopt when none of the names is present; 400
// naming the header when malformed.
StatusOr<std::optional<int64_t>> IntHeader(const http::Request& r,
                                           std::initializer_list<std::string_view> names, int64_t min,
                                           int64_t max, std::string_view unit);
// "true"/"false"/"1"/"0"; nullopt when absent.
StatusOr<std::optional<bool>> BoolHeader(const http::Request& r,
                                         std::initializer_list<std::string_view> names);

// '*' matches any run of characters (also '/'), '?' one character; everything else literally.
bool GlobMatch(std::string_view pattern, std::string_view s);
bool AnyGlobMatches(const std::vector<std::string>& patterns, std::string_view s);

std::string Sha256Hex(std::string_view data);
std::string Sha256Raw(std::string_view data);
// Hex of `bytes` random bytes from OpenSSL's CSPRNG.
StatusOr<std::string> RandomHex(size_t bytes);
// A request id unique to this process and, with overwhelming probability, across processes and
// restarts: a random prefix drawn once per process (16 hex digits) and a counter (16 hex digits).
// Not a secret. One RAND_bytes per process instead of one per request.
std::string NewRequestId();

std::string FormatDouble(double v);  // shortest "%g"-like form used in headers and logs

// Reads a filter's settings object with errors that name the field ("settings.ttl_seconds: ...").
class SettingsReader {
 public:
  explicit SettingsReader(std::string prefix) : prefix_(std::move(prefix)) {}
  // Parses `json` into `out` (kept alive by the reader's parser).
  Status Parse(std::string_view json, simdjson::dom::object* out);
  Status CheckKeys(simdjson::dom::object o, std::string_view where,
                   std::initializer_list<std::string_view> known) const;
  Status Err(std::string_view field, std::string_view what) const;

  StatusOr<int64_t> Int(simdjson::dom::element e, std::string_view field, int64_t min, int64_t max) const;
  StatusOr<double> Number(simdjson::dom::element e, std::string_view field, double min, double max) const;
  StatusOr<std::string> String(simdjson::dom::element e, std::string_view field, bool nonempty) const;
  StatusOr<bool> Bool(simdjson::dom::element e, std::string_view field) const;
  StatusOr<std::vector<std::string>> StringList(simdjson::dom::element e, std::string_view field) const;
  StatusOr<simdjson::dom::object> Object(simdjson::dom::element e, std::string_view field) const;
  StatusOr<simdjson::dom::array> Array(simdjson::dom::element e, std::string_view field) const;

 private:
  std::string prefix_;
  simdjson::dom::parser parser_;
};

}  // namespace continuum::filters
