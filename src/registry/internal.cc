#include "registry/internal.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <simdjson.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include "common/base64.h"

namespace continuum::registry {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void SkipSpace(std::string_view s, size_t* i) {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t')) ++*i;
}

std::string ReadToken(std::string_view s, size_t* i) {
  size_t start = *i;
  while (*i < s.size() && IsTokenChar(s[*i])) ++*i;
  return std::string(s.substr(start, *i - start));
}

// A quoted-string at s[*i] == '"', unescaped.
StatusOr<std::string> ReadQuoted(std::string_view s, size_t* i) {
  std::string out;
  for (++*i; *i < s.size(); ++*i) {
    if (s[*i] == '"') {
      ++*i;
      return out;
    }
    if (s[*i] == '\\' && *i + 1 < s.size()) ++*i;
    out.push_back(s[*i]);
  }
  return InvalidArgument("WWW-Authenticate: unterminated quoted string");
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

StatusOr<std::vector<Challenge>> ParseWwwAuthenticate(std::string_view header) {
  std::vector<Challenge> out;
  size_t i = 0;
  while (true) {
    SkipSpace(header, &i);
    while (i < header.size() && header[i] == ',') {
      ++i;
      SkipSpace(header, &i);
    }
    if (i >= header.size()) break;
    std::string word = ReadToken(header, &i);
    if (word.empty())
      return InvalidArgument("WWW-Authenticate: expected a scheme at \"" + std::string(header.substr(i)) +
                             "\"");
    SkipSpace(header, &i);
    if (i < header.size() && header[i] == '=') {  // a parameter of the current challenge
      if (out.empty()) return InvalidArgument("WWW-Authenticate: parameter " + word + " before any scheme");
      ++i;
      SkipSpace(header, &i);
      std::string value;
      if (i < header.size() && header[i] == '"') {
        auto q = ReadQuoted(header, &i);
        if (!q.ok()) return q.status();
        value = *q;
      } else {  // a token; leniently, anything up to the next ',' or space
        size_t start = i;
        while (i < header.size() && header[i] != ',' && header[i] != ' ' && header[i] != '\t') ++i;
        value = std::string(header.substr(start, i - start));
      }
      out.back().params[Lower(word)] = value;
      SkipSpace(header, &i);
      if (i < header.size() && header[i] != ',')
        return InvalidArgument("WWW-Authenticate: expected ',' after parameter " + word);
      continue;
    }
    // A new challenge: the scheme, then a parameter (name=...) or token68 or nothing.
    out.push_back(Challenge{Lower(word), {}});
    if (i < header.size() && header[i] != ',' && !IsTokenChar(header[i]))
      return InvalidArgument("WWW-Authenticate: unexpected '" + std::string(1, header[i]) + "' after " +
                             word);
  }
  if (out.empty()) return InvalidArgument("WWW-Authenticate: no challenge");
  return out;
}

std::filesystem::path DefaultDockerConfig() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d != nullptr && *d != '\0')
    return std::filesystem::path(d) / "config.json";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr ? home : "") / ".docker" / "config.json";
}

namespace {

// "https://host:port/v1/" -> "host:port".
std::string HostOfAuthKey(std::string_view key) {
  if (size_t p = key.find("://"); p != std::string_view::npos) key.remove_prefix(p + 3);
  if (size_t p = key.find('/'); p != std::string_view::npos) key = key.substr(0, p);
  return Lower(key);
}

}  // namespace

StatusOr<Credentials> ReadDockerConfig(const std::filesystem::path& file, std::string_view host,
                                       int64_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return Credentials{};
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return FailedPrecondition("Docker config " + file.string() + ": " + ec.message());
  if (static_cast<int64_t>(size) > max_bytes)
    return PayloadTooLarge("Docker config " + file.string() + " is larger than " + std::to_string(max_bytes) +
                           " bytes");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.load(file.string()).get(root))
    return InvalidArgument("Docker config " + file.string() +
                           " is not JSON: " + simdjson::error_message(err));
  simdjson::dom::object auths;
  if (root["auths"].get(auths)) return Credentials{};
  const std::string want = Lower(host);
  for (auto [key, value] : auths) {
    if (HostOfAuthKey(key) != want) continue;
    Credentials c;
    std::string_view s;
    if (!value["identitytoken"].get(s)) c.identity_token = std::string(s);
    if (!value["auth"].get(s) && !s.empty()) {
      auto decoded = Base64Decode(s);
      size_t colon = decoded ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos)
        return InvalidArgument("Docker config " + file.string() + ": auths[\"" + std::string(key) +
                               "\"].auth is not base64 of user:password");
      c.username = decoded->substr(0, colon);
      c.password = decoded->substr(colon + 1);
    } else {
      if (!value["username"].get(s)) c.username = std::string(s);
      if (!value["password"].get(s)) c.password = std::string(s);
    }
    return c;
  }
  return Credentials{};
}

bool IsLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (Lower(host) == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) == 1) {
    static const in6_addr loopback = IN6ADDR_LOOPBACK_INIT;
    return std::equal(std::begin(v6.s6_addr), std::end(v6.s6_addr), std::begin(loopback.s6_addr));
  }
  return false;
}

StatusOr<ContentRange> ParseContentRange(std::string_view value) {
  auto bad = [&] {
    return InvalidArgument("Content-Range \"" + std::string(value) + "\" is not bytes FIRST-LAST/TOTAL");
  };
  constexpr std::string_view kBytes = "bytes ";
  if (value.substr(0, kBytes.size()) != kBytes) return bad();
  value.remove_prefix(kBytes.size());
  size_t dash = value.find('-'), slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) return bad();
  ContentRange r;
  if (!ParseInt64(value.substr(0, dash), &r.first) ||
      !ParseInt64(value.substr(dash + 1, slash - dash - 1), &r.last) || r.last < r.first)
    return bad();
  std::string_view total = value.substr(slash + 1);
  if (total != "*" && (!ParseInt64(total, &r.total) || r.total <= r.last)) return bad();
  return r;
}

StatusOr<ResumeAction> ResumeDecision(int status, const std::string* content_range, int64_t have,
                                      int64_t size) {
  if (status == 200) return ResumeAction::kStartOver;
  if (status != 206) return Unavailable("answer " + std::to_string(status) + " to a ranged GET");
  if (content_range == nullptr) return InvalidArgument("a 206 answer without Content-Range");
  auto r = ParseContentRange(*content_range);
  if (!r.ok()) return r.status();
  if (r->first != have)
    return InvalidArgument("asked for bytes from " + std::to_string(have) + ", got Content-Range " +
                           *content_range);
  if (r->total != size || r->last != size - 1)
    return InvalidArgument("Content-Range " + *content_range + " does not end the blob of " +
                           std::to_string(size) + " bytes");
  return ResumeAction::kAppend;
}

bool IsSha256Digest(std::string_view d) {
  constexpr std::string_view kPrefix = "sha256:";
  if (d.size() != kPrefix.size() + 64 || d.substr(0, kPrefix.size()) != kPrefix) return false;
  return std::all_of(d.begin() + kPrefix.size(), d.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

namespace {

StatusOr<Descriptor> ReadDescriptor(simdjson::dom::element e, const std::string& where) {
  Descriptor d;
  std::string_view s;
  if (e["digest"].get(s) || !IsSha256Digest(s))
    return InvalidArgument(where + ".digest is not sha256:<64 lower-case hex>");
  d.digest = std::string(s);
  if (e["size"].get(d.size) || d.size < 0)
    return InvalidArgument(where + ".size is not a non-negative integer");
  if (!e["mediaType"].get(s)) d.media_type = std::string(s);
  return d;
}

}  // namespace

StatusOr<ManifestInfo> ParseManifest(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root))
    return InvalidArgument(std::string("manifest is not JSON: ") + simdjson::error_message(err));
  if (!root.is_object()) return InvalidArgument("manifest is not a JSON object");
  ManifestInfo info;
  std::string_view s;
  if (!root["mediaType"].get(s)) info.media_type = std::string(s);
  simdjson::dom::array list;
  if (!root["manifests"].get(list)) {
    info.is_index = true;
    size_t i = 0;
    for (auto e : list) {
      auto d = ReadDescriptor(e, "manifests[" + std::to_string(i++) + "]");
      if (!d.ok()) return d.status();
      info.children.push_back(*d);
    }
    return info;
  }
  simdjson::dom::element config;
  if (root["config"].get(config)) return InvalidArgument("manifest has neither config nor manifests");
  auto c = ReadDescriptor(config, "config");
  if (!c.ok()) return c.status();
  info.blobs.push_back(*c);
  if (root["layers"].get(list)) return InvalidArgument("manifest has no layers array");
  size_t i = 0;
  for (auto e : list) {
    auto d = ReadDescriptor(e, "layers[" + std::to_string(i++) + "]");
    if (!d.ok()) return d.status();
    info.blobs.push_back(*d);
  }
  return info;
}

Status StartWriteback(int fd, int64_t n, int64_t every, int64_t* unsynced) {
  *unsynced += n;
  if (every <= 0 || *unsynced < every) return Status();
  *unsynced = 0;
  if (::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) != 0)
    return FailedPrecondition(std::string("cannot start writing back: ") + std::strerror(errno));
  return Status();
}

std::filesystem::path DefaultLocationsFile() {
  if (const char* d = std::getenv("XDG_STATE_HOME"); d != nullptr && *d != '\0')
    return std::filesystem::path(d) / "continuum" / "registry-blobs.tsv";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr ? home : "") / ".local" / "state" / "continuum" /
         "registry-blobs.tsv";
}

namespace {

std::vector<std::string> ReadLines(const std::filesystem::path& file) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (std::count(line.begin(), line.end(), '\t') == 2) lines.push_back(line);
  return lines;
}

std::string Line(std::string_view host, std::string_view repository, std::string_view digest) {
  return std::string(host) + "\t" + std::string(repository) + "\t" + std::string(digest);
}

}  // namespace

Locations::Locations(std::filesystem::path file, int64_t max_entries)
    : file_(file.empty() ? DefaultLocationsFile() : std::move(file)),
      max_entries_(max_entries),
      lines_(ReadLines(file_)) {}

std::optional<std::string> Locations::Find(std::string_view host, std::string_view digest,
                                           std::string_view not_repository) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto* list : {&added_, &lines_}) {
    for (auto it = list->rbegin(); it != list->rend(); ++it) {
      size_t a = it->find('\t'), b = it->find('\t', a + 1);
      std::string_view line(*it);
      if (line.substr(0, a) != host || line.substr(b + 1) != digest) continue;
      std::string_view repo = line.substr(a + 1, b - a - 1);
      if (repo != not_repository) return std::string(repo);
    }
  }
  return std::nullopt;
}

void Locations::Add(std::string_view host, std::string_view repository, std::string_view digest) {
  std::lock_guard<std::mutex> l(mu_);
  added_.push_back(Line(host, repository, digest));
}

Status Locations::Save() {
  std::lock_guard<std::mutex> l(mu_);
  if (added_.empty()) return Status();
  std::error_code ec;
  std::filesystem::create_directories(file_.parent_path(), ec);
  if (ec)
    return FailedPrecondition("state file folder " + file_.parent_path().string() + ": " + ec.message());
  // One writer at a time: the lock file beside it, held while the file is read, merged and renamed.
  std::string lock_path = file_.string() + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return FailedPrecondition("cannot open " + lock_path);
  ::flock(fd, LOCK_EX);
  std::vector<std::string> lines = ReadLines(file_);
  for (const auto& l : added_) {
    lines.erase(std::remove(lines.begin(), lines.end(), l), lines.end());
    lines.push_back(l);
  }
  if (static_cast<int64_t>(lines.size()) > max_entries_)
    lines.erase(lines.begin(), lines.end() - std::max<int64_t>(max_entries_, 0));
  std::filesystem::path tmp = file_.string() + ".tmp";
  Status st;
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& l : lines) out << l << '\n';
    out.flush();
    if (!out) st = FailedPrecondition("cannot write " + tmp.string());
  }
  if (st.ok()) {
    std::filesystem::rename(tmp, file_, ec);
    if (ec) st = FailedPrecondition("cannot rename " + tmp.string() + ": " + ec.message());
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  if (st.ok()) {
    lines_ = std::move(lines);
    added_.clear();
  }
  return st;
}

}  // namespace continuum::registry
