#include "filters/internal/admin_access.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace continuum::filters {

namespace {

constexpr size_t kMaxTokenBytes = 4096;
constexpr size_t kGeneratedTokenBytes = 32;  // 256 bits from OpenSSL's CSPRNG, written as hex
constexpr size_t kMaxEchoedBytes = 200;      // of a refused Host or Origin, in the error

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::string Echo(std::string_view s) {
  return std::string(s.substr(0, kMaxEchoedBytes)) + (s.size() > kMaxEchoedBytes ? "..." : "");
}

// A token fits in a header: printable ASCII without spaces, and never mistaken for a tenant key.
Status CheckToken(const config::Reader& rd, std::string_view field, std::string_view token) {
  if (token.empty()) return rd.Err(field, "the token is empty");
  if (token.size() > kMaxTokenBytes) {
    return rd.Err(field, "the token is longer than " + std::to_string(kMaxTokenBytes) + " bytes");
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) return rd.Err(field, "the token must be printable ASCII without spaces");
  }
  if (token.starts_with("ck_")) return rd.Err(field, "must not look like a tenant key (ck_...)");
  return Status::Ok();
}

StatusOr<std::string> ReadTokenFile(const config::Reader& rd, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return rd.Err("admin_token_file", "cannot read " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return rd.Err("admin_token_file", path + " is not a regular file");
  if (st.st_uid != ::geteuid()) {
    return rd.Err("admin_token_file",
                  path + " belongs to another user (uid " + std::to_string(st.st_uid) + ")");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return rd.Err("admin_token_file", path + " may be used by group or others (mode " + mode +
                                          "): make it its owner's only (chmod 600 " + path + ")");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return rd.Err("admin_token_file", "cannot read " + path + ": " + std::strerror(errno));
  std::string data(kMaxTokenBytes + 2, '\0');
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  std::string token(Trim(data));
  if (token.empty()) return rd.Err("admin_token_file", path + " is empty");
  RETURN_IF_ERROR(CheckToken(rd, "admin_token_file", token).WithContext(path));
  return token;
}

// Writes a new random token to `path` (mode 0600, never over an existing file). nullopt when the
// file appeared meanwhile (another process wrote it): the caller reads that one.
StatusOr<std::optional<std::string>> GenerateTokenFile(const config::Reader& rd, const std::string& path) {
  ASSIGN_OR_RETURN(std::string token, RandomHex(kGeneratedTokenBytes));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return std::optional<std::string>();
    return rd.Err("admin_token_file", "cannot create " + path + ": " + std::strerror(errno));
  }
  const std::string line = token + "\n";
  bool ok = ::fchmod(fd, 0600) == 0;  // whatever the umask left
  for (size_t done = 0; ok && done < line.size();) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(path.c_str());
    return rd.Err("admin_token_file", "cannot write " + path + ": " + std::strerror(saved));
  }
  return std::optional<std::string>(std::move(token));
}

StatusOr<std::string> TokenFromFile(const config::Reader& rd, const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
    ASSIGN_OR_RETURN(auto generated, GenerateTokenFile(rd, path));
    if (generated) return *std::move(generated);
  }
  return ReadTokenFile(rd, path);
}

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::string_view BearerToken(const http::Request& req) {
  const std::string* h = req.Header("authorization");
  if (!h) return {};
  std::string_view v = *h;
  if (v.size() < 7 || strncasecmp(v.data(), "bearer ", 7) != 0) return {};
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return v;
}

std::optional<std::string> HostOfAuthority(std::string_view a) {
  std::string_view host, port;
  bool bracketed = false;
  if (a.starts_with('[')) {
    const size_t close = a.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = a.substr(1, close - 1);
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (!AllDigits(port)) return std::nullopt;
    }
    bracketed = true;
  } else {
    const size_t colon = a.find(':');
    host = a.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = a.substr(colon + 1);
      if (!AllDigits(port)) return std::nullopt;  // also a bare IPv6 address: it needs brackets
    }
  }
  if (host.empty()) return std::nullopt;
  std::string out = Lower(host);
  if (bracketed) {
    in6_addr a6{};
    if (inet_pton(AF_INET6, out.c_str(), &a6) != 1) return std::nullopt;
    return out;
  }
  for (char c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') return std::nullopt;
  }
  return out;
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
  }
  return false;
}

StatusOr<AdminAccess> AdminAccess::FromSettings(const config::Reader& rd, simdjson::dom::object o,
                                                const std::string& database, const std::string& config_dir) {
  AdminAccess access;
  simdjson::dom::element e;
  const bool has_token = !o["admin_token"].get(e);
  std::string token;
  if (has_token) {
    ASSIGN_OR_RETURN(token, rd.String(e, "admin_token", true));
    RETURN_IF_ERROR(CheckToken(rd, "admin_token", token));
  }
  if (!o["admin_token_file"].get(e)) {
    if (has_token) return rd.Err("admin_token_file", "set admin_token or admin_token_file, not both");
    ASSIGN_OR_RETURN(access.token_file_, rd.String(e, "admin_token_file", true));
    if (std::filesystem::path(access.token_file_).is_relative()) {
      access.token_file_ = (std::filesystem::path(config_dir) / access.token_file_).string();
    }
  } else if (!has_token) {
    access.token_file_ = database == ":memory:" ? (std::filesystem::path(config_dir) / "admin-token").string()
                                                : database + ".admin-token";
  }
  if (!access.token_file_.empty()) {
    // Absolute, so that the path printed at start leads to the file from any folder.
    std::error_code ec;
    auto absolute = std::filesystem::absolute(access.token_file_, ec);
    if (!ec) access.token_file_ = absolute.lexically_normal().string();
    ASSIGN_OR_RETURN(token, TokenFromFile(rd, access.token_file_));
  }
  access.token_sha256_ = Sha256Raw(token);

  if (!o["admin_allowed_hosts"].get(e)) {
    ASSIGN_OR_RETURN(auto hosts, rd.StringList(e, "admin_allowed_hosts"));
    if (hosts.empty()) {
      return rd.Err("admin_allowed_hosts",
                    "is empty: leave it out to allow loopback names and addresses only");
    }
    for (size_t i = 0; i < hosts.size(); ++i) {
      std::string h = Lower(Trim(hosts[i]));
      if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
      const std::string field = "admin_allowed_hosts[" + std::to_string(i) + "]";
      if (h.empty()) return rd.Err(field, "is empty");
      in6_addr a6{};
      const bool ipv6_or_glob = inet_pton(AF_INET6, h.c_str(), &a6) == 1 || h.find('*') != std::string::npos;
      if (h.find_first_of("/ \t[]") != std::string::npos ||
          (h.find(':') != std::string::npos && !ipv6_or_glob)) {
        return rd.Err(field,
                      "'" + hosts[i] + "' is not a host name or address (give no scheme, path or port)");
      }
      access.allowed_hosts_.push_back(std::move(h));
    }
  }
  return access;
}

bool AdminAccess::HostAllowed(const std::string& host) const {
  if (allowed_hosts_.empty()) return IsLoopbackHost(host);
  return AnyGlobMatches(allowed_hosts_, host);
}

std::optional<http::Response> AdminAccess::Check(const http::Request& req) const {
  const std::string* host = req.Header("host");
  if (!host || host->empty()) {
    return ErrorFor(InvalidArgument("the admin API needs a Host header"));
  }
  if (auto h = HostOfAuthority(*host); !h || !HostAllowed(*h)) {
    return JsonError(421, "Host '" + Echo(*host) + "' is not allowed on the admin listener (" +
                              (allowed_hosts_.empty() ? "loopback names and addresses only"
                                                      : "see auth.settings.admin_allowed_hosts") +
                              ")");
  }
  // Browsers send Origin on cross-site requests: a page elsewhere never reaches the admin API.
  if (const std::string* origin = req.Header("origin")) {
    std::string_view o = *origin;
    std::optional<std::string> h;
    for (std::string_view scheme : {"http://", "https://"}) {
      if (o.size() > scheme.size() && strncasecmp(o.data(), scheme.data(), scheme.size()) == 0) {
        h = HostOfAuthority(o.substr(scheme.size()));
      }
    }
    if (!h || !HostAllowed(*h)) {
      return JsonError(403, "Origin '" + Echo(o) + "' is not allowed on the admin listener");
    }
  }
  std::string_view token = BearerToken(req);
  if (token.starts_with("ck_")) return JsonError(403, "tenant API keys cannot use the admin API");
  const std::string given = Sha256Raw(token);
  if (token.empty() || CRYPTO_memcmp(given.data(), token_sha256_.data(), given.size()) != 0) {
    http::Response r = JsonError(401, "the admin API needs 'Authorization: Bearer <admin token>'" +
                                          std::string(token.empty() ? "" : ": wrong admin token"));
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  if (!req.body.empty()) {
    const std::string* type = req.Header("content-type");
    std::string_view media =
        type ? Trim(std::string_view(*type).substr(0, type->find(';'))) : std::string_view();
    if (Lower(media) != "application/json") {
      return JsonError(415, "the admin API takes JSON bodies: send 'Content-Type: application/json'" +
                                (type ? " (got '" + Echo(*type) + "')" : std::string(" (got none)")));
    }
  }
  return std::nullopt;
}

}  // namespace continuum::filters
