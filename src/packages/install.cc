#include "packages/install.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <set>
#include <system_error>

#include "packages/digest.h"

namespace continuum::packages {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kStagingPrefix = ".staging-";
constexpr std::string_view kLinkPrefix = ".continuum-link-";

std::string Errno(std::string_view what, const fs::path& path) {
  return "cannot " + std::string(what) + " " + Quoted(path.string()) + ": " + std::strerror(errno);
}

// fsync of a file or folder: its bytes (or entries) are on disk before what follows.
Status SyncPath(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FailedPrecondition(Errno("open", path));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  errno = err;
  if (rc != 0) return FailedPrecondition(Errno("sync", path));
  return Status::Ok();
}

Status WriteSynced(const fs::path& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return FailedPrecondition(Errno("create", path));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = FailedPrecondition(Errno("write", path));
      ::close(fd);
      return st;
    }
    done += static_cast<size_t>(n);
  }
  Status st = ::fsync(fd) == 0 ? Status::Ok() : FailedPrecondition(Errno("sync", path));
  if (::close(fd) != 0 && st.ok()) st = FailedPrecondition(Errno("write", path));
  return st;
}

std::string NowRfc3339() {
  auto t = CreatedAtFromEpoch(std::to_string(static_cast<long long>(std::time(nullptr))));
  return t.ok() ? *t : "";
}

// The names the repository serves (repository.cc's ValidModelName), without '@' (package folders).
bool ServableModelName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

bool IsSymlink(const fs::path& p) {
  std::error_code ec;
  return fs::is_symlink(fs::symlink_status(p, ec));
}

// A layout whose files are symlinks could make install read anything on the machine; refused.
Status CheckNoSymlinks(const fs::path& layout, const Package& p) {
  std::vector<fs::path> paths = {layout / "oci-layout", layout / "index.json", layout / "blobs",
                                 layout / "blobs" / "sha256", p.config.source};
  for (const Blob& b : p.layers) paths.push_back(b.source);
  std::string hex = p.manifest_digest.substr(p.manifest_digest.rfind(':') + 1);
  paths.push_back(layout / "blobs" / "sha256" / hex);
  for (const fs::path& path : paths) {
    if (IsSymlink(path)) {
      return InvalidArgument("the layout holds a symlink at " + Quoted(path.string()) +
                             "; a package's files must be regular files");
    }
  }
  return Status::Ok();
}

struct PackageInfo {
  std::string model;
  int64_t max_version = 0;
  std::string created_at;
};

// The model the package installs as, from its runtime manifest, and what IsOlder compares.
StatusOr<PackageInfo> ReadPackageInfo(const Package& p, const InstallOptions& options) {
  auto it = std::find_if(p.layers.begin(), p.layers.end(),
                         [](const Blob& b) { return b.filepath() == kRuntimeManifestPath; });
  if (it == p.layers.end()) {
    return InvalidArgument("the package has no " + std::string(kRuntimeManifestPath) +
                           "; it was not made by `continuum pack`");
  }
  auto text = ReadBlobBytes(options.layout, it->digest, options.max_runtime_manifest_bytes);
  if (!text.ok()) return text.status().WithContext(std::string(kRuntimeManifestPath));
  simdjson::dom::parser parser;
  simdjson::dom::element m;
  simdjson::dom::array models;
  if (parser.parse(*text).get(m) || m["models"].get(models))
    return InvalidArgument(std::string(kRuntimeManifestPath) + " has no models array");
  simdjson::dom::element catalog;
  if (!m["catalog"].get(catalog)) {
    return InvalidArgument("the package is a catalog entry; install takes a single-model package");
  }
  if (models.size() != 1) {
    return InvalidArgument(std::string(kRuntimeManifestPath) + " lists " + std::to_string(models.size()) +
                           " models; a single-model package lists one");
  }
  PackageInfo info;
  std::string_view name;
  simdjson::dom::array versions;
  if (models.at(0)["config"]["name"].get(name) || models.at(0)["versions"].get(versions))
    return InvalidArgument(std::string(kRuntimeManifestPath) + ": the model has no config.name or versions");
  info.model = std::string(name);
  for (auto v : versions) {
    int64_t n = 0;
    if (v["version"].get(n))
      return InvalidArgument(std::string(kRuntimeManifestPath) + ": a version has no number");
    info.max_version = std::max(info.max_version, n);
  }
  std::string_view created;
  if (!parser.parse(p.config.data)["descriptor"]["createdAt"].get(created))
    info.created_at = std::string(created);
  if (!ServableModelName(info.model)) {
    return InvalidArgument(
        "the package's model name " + Quoted(info.model) +
        " is not one the repository serves (1 to 128 of A-Z a-z 0-9 _ - ., not starting with .)");
  }
  return info;
}

// The variant to install and its layers. A package without variants has one, "default", that
// holds every layer.
struct Selection {
  std::string variant;
  std::string reason;
  std::vector<Blob> layers;
};

StatusOr<Selection> SelectVariant(const Package& p, const Hardware& hw) {
  ASSIGN_OR_RETURN(VariantChoice choice, ChooseVariant(p, hw));
  ASSIGN_OR_RETURN(std::vector<Blob> layers, VariantLayers(p, choice.name));
  std::string reason = choice.reason;
  for (const auto& [name, why] : choice.rejected) reason += "; passed over " + Quoted(name) + ": " + why;
  return Selection{choice.name, std::move(reason), std::move(layers)};
}

// Where each layer lands in the model folder; refuses hidden paths (the repository ignores them
// and the install record is one) and a filepath listed twice.
Status CheckTargets(const std::vector<Blob>& layers) {
  std::set<std::string> seen;
  for (const Blob& b : layers) {
    const std::string& f = b.filepath();
    for (const auto& part : fs::path(f)) {
      if (!part.empty() && part.string().front() == '.') {
        return InvalidArgument("the manifest lists the file " + Quoted(f) +
                               ", a hidden path; a package holds no hidden files");
      }
    }
    if (!seen.insert(fs::path(f).lexically_normal().string()).second)
      return InvalidArgument("the manifest lists the file " + Quoted(f) + " twice");
  }
  return Status::Ok();
}

// The exclusive lock on REPO/.packages: one install at a time per repository.
class RepositoryLock {
 public:
  static StatusOr<std::unique_ptr<RepositoryLock>> Acquire(const fs::path& packages) {
    int fd = ::open(packages.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return FailedPrecondition(Errno("open", packages));
    if (::flock(fd, LOCK_EX) != 0) {
      Status st = FailedPrecondition(Errno("lock", packages));
      ::close(fd);
      return st;
    }
    return std::unique_ptr<RepositoryLock>(new RepositoryLock(fd));
  }
  ~RepositoryLock() { ::close(fd_); }

 private:
  explicit RepositoryLock(int fd) : fd_(fd) {}
  int fd_;
};

std::string RecordTempName() { return std::string(kInstallRecordFile) + ".tmp"; }

// With the lock held, every staging folder, temporary symlink and half-written install record is
// a killed install's.
void RemoveStale(const fs::path& repo) {
  std::error_code ec;
  for (const fs::path& dir : {repo / std::string(kPackagesDir), repo}) {
    std::vector<fs::path> stale;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string n = it->path().filename().string();
      if (n.rfind(kStagingPrefix, 0) == 0 || n.rfind(kLinkPrefix, 0) == 0) stale.push_back(it->path());
      if (dir != repo) stale.push_back(it->path() / RecordTempName());
    }
    for (const fs::path& p : stale) fs::remove_all(p, ec);
  }
}

// One folder per package and variant: REPO/.packages/<model>@sha256-<hex>-<variant>.
std::string FolderName(const std::string& model, const std::string& digest, const std::string& variant) {
  return model + "@sha256-" + digest.substr(digest.rfind(':') + 1) + "-" + variant;
}

// The record of what REPO/<model> serves now; nullopt when nothing is there. REPO/<model> that a
// package did not install is left alone.
StatusOr<std::optional<InstallRecord>> Installed(const fs::path& repo, const std::string& model,
                                                 const InstallOptions& options) {
  fs::path dir = repo / model;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) return std::optional<InstallRecord>();
  std::string target = IsSymlink(dir) ? fs::read_symlink(dir, ec).string() : "";
  std::string prefix = std::string(kPackagesDir) + "/" + model + "@";
  if (target.rfind(prefix, 0) != 0) {
    return FailedPrecondition(
        Quoted(dir.string()) +
        " exists and was not installed from a package; move it out of the repository first");
  }
  ASSIGN_OR_RETURN(InstallRecord r, ReadInstallRecord(repo, model, options.max_install_record_bytes));
  return std::optional<InstallRecord>(std::move(r));
}

// Copies each layer into `staging` while hashing it (the digest checked on the bytes written),
// fsyncs every file and folder, and writes the install record last.
Status Stage(const std::vector<Blob>& layers, const fs::path& staging, const InstallRecord& record,
             const InstallOptions& options) {
  std::error_code ec;
  if (!fs::create_directory(staging, ec) || ec) return FailedPrecondition(Errno("create", staging));
  std::set<fs::path> dirs = {staging};
  for (const Blob& b : layers) {
    fs::path target = staging / b.filepath();
    for (fs::path d = target.parent_path(); d != staging; d = d.parent_path()) dirs.insert(d);
    fs::create_directories(target.parent_path(), ec);
    if (ec)
      return FailedPrecondition("cannot create " + Quoted(target.parent_path().string()) + ": " +
                                ec.message());
    auto d = DigestFile(b.source, options.limits.max_blob_bytes, target);
    if (!d.ok()) return d.status().WithContext("unpacking " + Quoted(b.filepath()));
    if (d->digest != b.digest || d->size != b.size) {
      return InvalidArgument("unpacking " + Quoted(b.filepath()) + ": blob " + b.digest +
                             " changed while it was read (its bytes hash to " + d->digest + ")");
    }
    RETURN_IF_ERROR(SyncPath(target).WithContext("unpacking " + Quoted(b.filepath())));
  }
  RETURN_IF_ERROR(WriteSynced(staging / std::string(kInstallRecordFile), InstallRecordJson(record)));
  // Deepest folders first, so each folder's entries are on disk before its parent's.
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) RETURN_IF_ERROR(SyncPath(*it));
  return Status::Ok();
}

// REPO/<model> -> .packages/<folder>: a new symlink renamed over the old one.
Status Switch(const fs::path& repo, const std::string& model, const std::string& folder) {
  fs::path tmp = repo / (std::string(kLinkPrefix) + model + "-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(fs::path(std::string(kPackagesDir)) / folder, tmp, ec);
  if (ec)
    return FailedPrecondition("cannot create the symlink " + Quoted(tmp.string()) + ": " + ec.message());
  if (::rename(tmp.c_str(), (repo / model).c_str()) != 0) {
    Status st = FailedPrecondition(Errno("switch", repo / model));
    fs::remove(tmp, ec);
    return st;
  }
  return SyncPath(repo);
}

// Removes the model's package folders other than `keep`.
void CollectGarbage(const fs::path& repo, const std::string& model, const std::set<std::string>& keep) {
  std::error_code ec;
  fs::path packages = repo / std::string(kPackagesDir);
  std::vector<fs::path> old;
  for (fs::directory_iterator it(packages, ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.rfind(model + "@", 0) == 0 && !keep.count(n)) old.push_back(it->path());
  }
  for (const fs::path& p : old) fs::remove_all(p, ec);
}

// Puts the package folder in place: staged and renamed in, or (already there from an earlier
// install: folders are complete once renamed in and never changed) its record replaced.
Status PlaceFolder(const Selection& sel, const fs::path& repo, const std::string& folder,
                   const InstallRecord& record, const InstallOptions& options) {
  fs::path packages = repo / std::string(kPackagesDir);
  fs::path target = packages / folder;
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(target, ec))) {
    fs::path tmp = target / RecordTempName();
    RETURN_IF_ERROR(WriteSynced(tmp, InstallRecordJson(record)));
    if (::rename(tmp.c_str(), (target / std::string(kInstallRecordFile)).c_str()) != 0)
      return FailedPrecondition(Errno("replace the install record in", target));
    return SyncPath(target);
  }
  fs::path staging = packages / (std::string(kStagingPrefix) + folder);
  Status st = Stage(sel.layers, staging, record, options);
  if (st.ok() && ::rename(staging.c_str(), target.c_str()) != 0)
    st = FailedPrecondition(Errno("rename into", target));
  if (st.ok()) st = SyncPath(packages);
  if (!st.ok()) fs::remove_all(staging, ec);
  return st;
}

// The checks that need no lock: the layout, the signature, the model.
StatusOr<Package> ReadVerified(const Reference& reference, const InstallOptions& options) {
  if (!options.verify) {
    return FailedPrecondition("no signature verifier is configured; install refuses unverified packages");
  }
  ASSIGN_OR_RETURN(Package p, ReadLayout(options.layout, reference.tag, options.limits));
  RETURN_IF_ERROR(CheckNoSymlinks(options.layout, p));
  RETURN_IF_ERROR(
      options.verify(options.layout, p.manifest_digest).WithContext("signature of " + reference.ToString()));
  return p;
}

}  // namespace

bool IsOlder(const InstallRecord& candidate, const InstallRecord& installed) {
  if (candidate.max_version != installed.max_version) return candidate.max_version < installed.max_version;
  if (candidate.created_at.empty() || installed.created_at.empty()) return false;
  return candidate.created_at < installed.created_at;  // RFC 3339 UTC ("...Z") sorts as text
}

}  // namespace continuum::packages

namespace continuum::packages {

StatusOr<InstallResult> InstallPackage(const Reference& reference, const InstallOptions& options) {
  ASSIGN_OR_RETURN(Package p, ReadVerified(reference, options));
  ASSIGN_OR_RETURN(PackageInfo info, ReadPackageInfo(p, options));
  ASSIGN_OR_RETURN(Selection sel, SelectVariant(p, options.hardware));
  RETURN_IF_ERROR(CheckTargets(sel.layers));
  const fs::path& repo = options.repository;
  std::error_code ec;
  if (!fs::is_directory(repo, ec))
    return NotFound("the model repository " + Quoted(repo.string()) + " is not a folder");
  fs::path packages = repo / std::string(kPackagesDir);
  fs::create_directory(packages, ec);
  if (ec) return FailedPrecondition("cannot create " + Quoted(packages.string()) + ": " + ec.message());
  ASSIGN_OR_RETURN(auto lock, RepositoryLock::Acquire(packages));
  RemoveStale(repo);

  InstallResult result;
  result.model = info.model;
  InstallRecord& record = result.record;
  record = {reference.ToString(), p.manifest_digest, sel.variant,      sel.reason,
            NowRfc3339(),         info.created_at,   info.max_version, ""};
  const std::string folder = FolderName(info.model, p.manifest_digest, sel.variant);
  result.folder = packages / folder;
  ASSIGN_OR_RETURN(std::optional<InstallRecord> current, Installed(repo, info.model, options));
  if (current && current->digest == p.manifest_digest && current->variant == sel.variant) {
    result.unchanged = true;
    result.record = *current;
    CollectGarbage(repo, info.model, {folder, current->previous});
    return result;
  }
  if (current && IsOlder(record, *current) && !options.allow_downgrade) {
    return FailedPrecondition(
        "package " + reference.ToString() + " (highest version " + std::to_string(info.max_version) +
        ", created " + (info.created_at.empty() ? "?" : info.created_at) + ") is older than " +
        current->reference + " (highest version " + std::to_string(current->max_version) + ", created " +
        (current->created_at.empty() ? "?" : current->created_at) + "), installed as " + Quoted(info.model) +
        "; --allow-downgrade installs it anyway");
  }
  if (current) record.previous = FolderName(info.model, current->digest, current->variant);
  RETURN_IF_ERROR(PlaceFolder(sel, repo, folder, record, options));
  RETURN_IF_ERROR(Switch(repo, info.model, folder));
  CollectGarbage(repo, info.model, {folder, record.previous});
  return result;
}

StatusOr<bool> UninstallModel(const fs::path& repo, const std::string& model) {
  fs::path packages = repo / std::string(kPackagesDir);
  std::error_code ec;
  const fs::path dir = repo / model;
  // No package was ever installed here: nothing to remove, and REPO/<model>, if any, is not ours.
  if (!fs::is_directory(packages, ec)) return !fs::exists(fs::symlink_status(dir, ec));
  ASSIGN_OR_RETURN(auto lock, RepositoryLock::Acquire(packages));
  RemoveStale(repo);
  if (fs::exists(fs::symlink_status(dir, ec))) {
    const std::string target = IsSymlink(dir) ? fs::read_symlink(dir, ec).string() : "";
    if (target.rfind(std::string(kPackagesDir) + "/" + model + "@", 0) != 0) return false;  // not a package's
    if (!fs::remove(dir, ec) || ec)
      return FailedPrecondition("cannot remove " + Quoted(dir.string()) + ": " + ec.message());
    RETURN_IF_ERROR(SyncPath(repo));
  }
  CollectGarbage(repo, model, {});
  return true;
}

}  // namespace continuum::packages
