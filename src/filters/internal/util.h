// Helpers shared by the filters: JSON error answers, header access, globs, random ids. Filter
// settings are read with config::Reader (common/config_reader.h).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config_reader.h"
#include "common/sha256.h"
#include "common/status.h"
#include "http/message.h"

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

// Hex of `bytes` random bytes from OpenSSL's CSPRNG.
StatusOr<std::string> RandomHex(size_t bytes);
// A request id unique to this process and, with overwhelming probability, across processes and
// restarts: a random prefix drawn once per process (16 hex digits) and a counter (16 hex digits).
// Not a secret. One RAND_bytes per process instead of one per request.
std::string NewRequestId();

using config::FormatDouble;  // the "%g" form of config errors, in headers and logs too

}  // namespace continuum::filters
