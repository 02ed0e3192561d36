// `continuum push REF` and `continuum pull REF`: a package between an OCI image layout and an
// OCI registry (registry/client.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>

#include "cli/commands.h"
#include "cli/flags.h"
#include "registry/client.h"

namespace continuum::cli {
namespace {

constexpr char kPushUsage[] =
    "usage: continuum push REF [--layout DIR] [flags]\n\n"
    "Pushes the package tagged with REF's tag in the OCI image layout DIR (and its cosign signature\n"
    "tag sha256-<hex>.sig when the layout has it) to the registry REF names, e.g.\n"
    "registry.example.com/models/add_sub:1. Blobs the registry holds are skipped, blobs another\n"
    "repository of the registry holds are mounted, the rest uploaded in chunks; the manifest last.\n"
    "Credentials come from the Docker config file. Exit status 2: usage, 1: failure.";
constexpr char kPullUsage[] =
    "usage: continuum pull REF [--layout DIR] [--tag TAG] [flags]\n\n"
    "Pulls REF, host/name:tag or host/name@sha256:<hex> (tagged TAG in the layout), and its cosign\n"
    "signature tag when the registry has one, into the OCI image layout DIR:\n"
    "blobs are checked against their digests, a cut download resumes where it stopped, and the tag is\n"
    "written last. Credentials come from the Docker config file. Exit status 2: usage, 1: failure.";

void AddFlags(Flags* f, registry::Options* o) {
  f->String("layout", &o->layout, "the OCI image layout (created by pull if missing)");
  f->Bool("insecure", &o->insecure, "plain http instead of https (loopback hosts only)");
  f->String("ca-file", &o->ca_file,
            "PEM CA bundle the registry's certificate must chain to (default: system)");
  f->String("docker-config", &o->docker_config,
            "Docker config file with credentials (default: $DOCKER_CONFIG/config.json, else "
            "~/.docker/config.json)");
  f->String("state-file", &o->state_file,
            "where known blob locations are kept (default: $XDG_STATE_HOME/continuum/registry-blobs.tsv)");
  f->Int("max-state-entries", &o->max_state_entries, "most blob locations the state file keeps");
  f->Int("chunk-bytes", &o->chunk_bytes, "bytes per request of a blob upload (PATCHes, the last in the PUT)");
  f->Int("concurrency", &o->concurrency, "blobs moved at once");
  f->Int("writeback-bytes", &o->writeback_bytes,
         "pull: start writing a download to disk every this many bytes (0: only when it is done)");
  f->Int("max-manifest-bytes", &o->max_manifest_bytes, "largest manifest accepted");
  f->Int("max-blob-bytes", &o->max_blob_bytes, "largest blob accepted");
  f->Int("timeout-ms", &o->timeout_ms, "deadline of each HTTP request");
  f->Int("retries", &o->retries, "retries of a 5xx answer or a dropped connection");
  f->Int("retry-backoff-ms", &o->retry_backoff_ms, "wait before the first retry, doubled after each");
}

// A progress bar on stderr, redrawn at most every 100 ms, only when stderr is a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(std::string verb) : verb_(std::move(verb)), tty_(::isatty(2) == 1) {}
  void Update(int64_t done, int64_t total) {
    if (!tty_) return;
    std::lock_guard<std::mutex> l(mu_);
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100) && done < total) return;
    last_ = now;
    const int width = 30;
    int filled = total > 0 ? static_cast<int>(width * std::min(done, total) / total) : width;
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld MiB", verb_.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), static_cast<long long>(done >> 20),
                 static_cast<long long>(total >> 20));
    drawn_ = true;
  }
  void End() {
    if (drawn_) std::fprintf(stderr, "\n");
  }

 private:
  std::string verb_;
  bool tty_, drawn_ = false;
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_{};
};

int Transfer(const std::string& command, const char* usage, const std::vector<std::string>& args) {
  registry::Options options;
  Flags f;
  AddFlags(&f, &options);
  if (command == "pull")
    f.String("tag", &options.tag,
             "the tag the package gets in the layout (default: REF's; required for REPO@sha256:<hex>)");
  std::vector<std::string> flag_args, positional;
  f.Split(args, {}, &flag_args, &positional);
  if (auto code = f.ParseOrExplain(command, usage, flag_args)) return *code;
  if (positional.size() != 1) {
    f.Explain(command, usage, InvalidArgument("give one REF"));
    return 2;
  }
  ProgressBar bar(command == "push" ? "pushing" : "pulling");
  options.progress = [&bar](int64_t done, int64_t total) { bar.Update(done, total); };
  auto summary =
      command == "push" ? registry::Push(positional[0], options) : registry::Pull(positional[0], options);
  bar.End();
  if (!summary.ok()) {
    bool usage_error = summary.status().code() == StatusCode::kInvalidArgument &&
                       summary.status().message().find("reference") != std::string::npos;
    return PrintError(command, summary.status(), usage_error ? 2 : 1);
  }
  const auto& s = *summary;
  std::fprintf(
      stderr,
      "continuum %s: %s %s %s: %lld blobs, %lld already there, %lld mounted, %lld %s (%lld bytes)%s\n",
      command.c_str(), positional[0].c_str(), command == "push" ? "<-" : "->", options.layout.c_str(),
      static_cast<long long>(s.blobs), static_cast<long long>(s.blobs_present),
      static_cast<long long>(s.blobs_mounted), static_cast<long long>(s.blobs_moved),
      command == "push" ? "uploaded" : "downloaded", static_cast<long long>(s.bytes_moved),
      s.signature ? ", with signature" : "");
  std::printf("%s\n", s.manifest_digest.c_str());
  return 0;
}

}  // namespace

int Push(const std::vector<std::string>& args) { return Transfer("push", kPushUsage, args); }
int Pull(const std::vector<std::string>& args) { return Transfer("pull", kPullUsage, args); }

}  // namespace continuum::cli
