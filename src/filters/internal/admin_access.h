// Who may use the admin listener: a mandatory token (given, read from a file, or generated into
// an owner-only file), a Host that names this machine (or one the operator allowed), no foreign
// Origin, and JSON bodies only. Together they keep a web page in a browser on the same host, even
// one whose name was rebound to 127.0.0.1, from reaching the admin API.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "filters/internal/util.h"
#include "http/message.h"

namespace continuum::filters {

class AdminAccess {
 public:
  // Reads `admin_token`, `admin_token_file` and `admin_allowed_hosts` from the auth filter's
  // settings. Without either token setting, the token file is `<database>.admin-token` (for an
  // in-memory database, `admin-token` in `config_dir`): read when it exists, else generated
  // (32 random bytes, hex) and written with mode 0600. A file read must belong to this user and
  // not be accessible to group or others. Errors name the field.
  static StatusOr<AdminAccess> FromSettings(const config::Reader& rd, simdjson::dom::object settings,
                                            const std::string& database, const std::string& config_dir);

  // nullopt when the request may go on; else the refusal: 400 (no Host), 421 (Host not allowed),
  // 403 (foreign Origin, or a tenant key), 401 (no or a wrong token), 415 (a body that is not
  // JSON). Each is a JSON error naming what was wrong.
  std::optional<http::Response> Check(const http::Request& req) const;

  // The file the token was read from or written to; empty when the config holds it.
  const std::string& token_file() const { return token_file_; }

 private:
  bool HostAllowed(const std::string& host) const;

  std::string token_sha256_;  // of the token: compared in constant time and length
  std::string token_file_;
  std::vector<std::string> allowed_hosts_;  // lower-case globs; empty: loopback only
};

// The token of "Authorization: Bearer <token>", or empty.
std::string_view BearerToken(const http::Request& req);

// The host of a Host header or an Origin's authority ("name", "1.2.3.4", "[::1]", each with an
// optional ":port"), lower-cased and without brackets; nullopt when malformed.
std::optional<std::string> HostOfAuthority(std::string_view authority);
// 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and "localhost".
bool IsLoopbackHost(const std::string& host);

}  // namespace continuum::filters
