// The registry client's parts, each testable alone: WWW-Authenticate challenges, the Docker
// config file, loopback hosts, Content-Range and the resume decision, manifest descriptors, and
// the file of known blob locations.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum::registry {

// One challenge of a WWW-Authenticate header (RFC 7235): scheme lower-cased, parameter names
// lower-cased, values unquoted.
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
// Every challenge of the header, e.g. `Bearer realm="https://a/token",service="r",scope="x y"`.
// kInvalidArgument for a header that is not a challenge list.
StatusOr<std::vector<Challenge>> ParseWwwAuthenticate(std::string_view header);

struct Credentials {
  std::string username, password;
  std::string identity_token;  // an OAuth2 refresh token (`identitytoken`)
  bool empty() const { return username.empty() && identity_token.empty(); }
};
// $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json.
std::filesystem::path DefaultDockerConfig();
// The credentials for registry `host` ("host[:port]") in the Docker config `file`: `auths` keys
// are matched by host ("https://host/v1/" counts as "host"); `auth` is base64 "user:password".
// No file or no entry: empty credentials. kInvalidArgument for a file that is not such JSON.
StatusOr<Credentials> ReadDockerConfig(const std::filesystem::path& file, std::string_view host,
                                       int64_t max_bytes = 1 << 20);

// localhost, 127.0.0.0/8 or ::1 (brackets allowed).
bool IsLoopbackHost(std::string_view host);

// "bytes FIRST-LAST/TOTAL" (TOTAL may be "*": -1).
struct ContentRange {
  int64_t first = 0, last = 0, total = -1;
};
StatusOr<ContentRange> ParseContentRange(std::string_view value);

// What a download does with the answer to a GET sent with `Range: bytes=<have>-` (have > 0):
// keep the partial file and append (206 starting at `have`), start over (200: the server sent
// the whole blob), or fail (a 206 for another range, or one whose total is not `size`).
enum class ResumeAction { kAppend, kStartOver };
StatusOr<ResumeAction> ResumeDecision(int status, const std::string* content_range, int64_t have,
                                      int64_t size);

// A descriptor of a manifest or index.
struct Descriptor {
  std::string media_type, digest;
  int64_t size = 0;
};
struct ManifestInfo {
  std::string media_type;            // the document's mediaType ("" if absent)
  bool is_index = false;             // an image index (manifests[]) rather than a manifest
  std::vector<Descriptor> blobs;     // config then layers (a manifest)
  std::vector<Descriptor> children;  // manifests[] (an index)
};
// Parses an image manifest or index; every digest must be sha256:<64 lower-case hex> and every
// size non-negative. kInvalidArgument, saying which field, otherwise.
StatusOr<ManifestInfo> ParseManifest(std::string_view json);
bool IsSha256Digest(std::string_view digest);

// What Pull fetches and what it tags in the layout: REF "repository:tag" fetches the tag and
// tags it so (`layout_tag` ignored when empty, else the tag it gets in the layout);
// "repository@sha256:<hex>" fetches the manifest by digest and needs `layout_tag`. (pull.cc)
struct PullReference {
  std::string repository;  // "host[:port]/name"
  std::string fetch;       // the tag or the digest, as the manifest URL names it
  std::string tag;         // the tag written into the layout
};
StatusOr<PullReference> ParsePullReference(std::string_view ref, std::string_view layout_tag);

// The blob locations this machine knows: lines "host<TAB>repository<TAB>digest", newest last.
// Thread-safe.
class Locations {
 public:
  // `file` empty: DefaultLocationsFile(). A missing or unreadable file is an empty list.
  Locations(std::filesystem::path file, int64_t max_entries);
  // A repository of `host` other than `not_repository` known to hold `digest`, newest first.
  std::optional<std::string> Find(std::string_view host, std::string_view digest,
                                  std::string_view not_repository) const;
  void Add(std::string_view host, std::string_view repository, std::string_view digest);
  // Merges what was added into the file (under flock, written to a temporary name and renamed).
  Status Save();
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  int64_t max_entries_;
  mutable std::mutex mu_;
  std::vector<std::string> lines_, added_;
};
std::filesystem::path DefaultLocationsFile();

// A download's writeback: counts `n` more bytes written to `fd` in *unsynced; once that reaches
// `every`, hands what was written to the kernel's writeback (sync_file_range, not waited for) and
// starts counting again, so the fsync before the blob is adopted finds little left to write
// (it cost ~60 ms of a 330 ms pull of 100 MB, right after writing it). `every` <= 0: never.
Status StartWriteback(int fd, int64_t n, int64_t every, int64_t* unsynced);

}  // namespace continuum::registry
