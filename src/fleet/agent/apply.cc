// The agent's changes to the model repository: the reconcile diff carried out (pull by digest,
// verify, install; remove), each step saved to the state file (agent.h).
#include <set>
#include <system_error>

#include "common/log.h"
#include "fleet/agent/agent.h"
#include "fleet/agent/reconcile.h"
#include "packages/install.h"
#include "packages/layout.h"
#include "packages/provenance.h"
#include "registry/client.h"
#include "signing/signing.h"

namespace continuum::fleet {

namespace fs = std::filesystem;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The tag a package pulled by digest gets in the agent's layout: one per digest, so packages of
// different models never share a tag.
std::string LayoutTag(const std::string& digest) { return "fleet-" + digest.substr(digest.find(':') + 1); }

}  // namespace

void Agent::SaveState() {
  if (Status st = SaveAgentState(options_.state_file, state_); !st.ok())
    LogError("agent: cannot save " + options_.state_file.string() + ": " + st.message());
}

void Agent::Reconcile() {
  if (!current_) return;
  const bool retry = applying_envelope_.empty();
  if (retry && current_->expires_ms + options_.expiry_grace_ms <= NowMs()) {
    retry_failed_at_ = Clock::now() + std::chrono::milliseconds(options_.retry_failed_ms);
    return;  // an expired document installs nothing new
  }
  std::set<std::string> models;
  for (const Target& t : current_->targets) models.insert(t.model);
  for (const InstalledModel& m : state_.installed) models.insert(m.model);
  std::map<std::string, std::string> digests;
  for (const std::string& m : models)
    if (auto r = packages::ReadInstallRecord(options_.repository, m); r.ok()) digests[m] = r->digest;
  const ReconcilePlan plan = PlanReconcile(current_->targets, digests, state_.installed);
  if (!plan.empty()) {
    applying_now_ = true;
    StartReport(true);
  }
  bool failed = false;
  for (const Target& t : plan.keep) watch_[t.model].error.clear();
  for (const Target& t : plan.install) {
    if (stop_) break;
    Status st = InstallTarget(t);
    watch_[t.model].error = st.ok() ? "" : st.message();
    if (!st.ok()) {
      failed = true;
      LogWarning("agent: install of " + t.model + " " + t.digest + " failed: " + st.message());
    }
  }
  for (const std::string& m : plan.remove) {
    if (stop_) break;
    if (Status st = RemoveModel(m); !st.ok()) {
      failed = true;
      watch_[m].error = st.message();
      LogWarning("agent: removal of " + m + " failed: " + st.message());
    }
  }
  applying_now_ = false;
  if (stop_) return;  // not finished: the next start sees the same document again and the same diff
  if (!retry) {
    state_.highest_sequence = current_->sequence;
    state_.payload_sha256 = applying_sha256_;
    state_.envelope = std::move(applying_envelope_);
    applying_envelope_.clear();
    SaveState();
    LogInfo("agent: applied desired state " + std::to_string(current_->sequence) + " (" +
            std::to_string(plan.install.size()) + " to install, " + std::to_string(plan.keep.size()) +
            " unchanged, " + std::to_string(plan.remove.size()) + " to remove" +
            (failed ? ", with errors" : "") + ")");
  }
  failed_targets_ = failed;
  if (failed) {
    retry_failed_backoff_ms_ = retry_failed_backoff_ms_ == 0
                                   ? options_.retry_failed_ms
                                   : std::min(retry_failed_backoff_ms_ * 2, options_.retry_failed_ms * 10);
    retry_failed_at_ = Clock::now() + std::chrono::milliseconds(retry_failed_backoff_ms_);
  } else {
    retry_failed_backoff_ms_ = 0;
  }
  if (!failed && !(plan.install.empty() && plan.remove.empty())) PruneLayout();
  report_wanted_ = true;
  next_check_ = Clock::now();  // observe the new packages at once
}

// The packages the agent pulled for digests neither targeted nor installed any more, their cosign
// signatures, and the blobs only they reached leave the layout; tags the agent did not make stay.
void Agent::PruneLayout() {
  auto hex_of = [](const std::string& digest) { return digest.substr(digest.find(':') + 1); };
  std::set<std::string> keep;
  if (current_)
    for (const Target& t : current_->targets) keep.insert(hex_of(t.digest));
  for (const InstalledModel& m : state_.installed) keep.insert(hex_of(m.digest));
  auto writer = packages::LayoutWriter::Open(options_.layout);
  auto listed = packages::ListLayout(options_.layout);
  if (!writer.ok() || !listed.ok()) {
    LogWarning("agent: cannot prune " + options_.layout.string() + ": " +
               (writer.ok() ? listed.status() : writer.status()).message());
    return;
  }
  constexpr std::string_view kOurs = "fleet-";
  std::set<std::string> ours;
  for (const packages::LayoutEntry& e : *listed)
    if (e.tag.starts_with(kOurs)) ours.insert(e.tag.substr(kOurs.size()));
  auto pruned = (*writer)->Prune([&](const std::string& tag) {
    std::string hex;
    if (tag.starts_with(kOurs)) {
      hex = tag.substr(kOurs.size());
    } else if (tag.starts_with("sha256-") && tag.ends_with(".sig")) {
      hex = tag.substr(7, tag.size() - 7 - 4);
      if (!ours.count(hex)) return false;  // a signature of a package the agent did not pull
    } else {
      return false;
    }
    return keep.count(hex) == 0;
  });
  if (!pruned.ok()) {
    LogWarning("agent: cannot prune " + options_.layout.string() + ": " + pruned.status().message());
  } else if (pruned->untagged > 0 || pruned->blobs_removed > 0) {
    LogInfo("agent: pruned the layout: " + std::to_string(pruned->untagged) + " manifests untagged, " +
            std::to_string(pruned->blobs_removed) + " blobs (" + std::to_string(pruned->bytes_freed) +
            " bytes) removed");
  }
}

Status Agent::InstallTarget(const Target& t) {
  const std::string tag = LayoutTag(t.digest);
  registry::Options ro;
  ro.layout = options_.layout.string();
  ro.insecure = options_.registry_insecure;
  ro.ca_file = options_.registry_ca_file;
  ro.docker_config = options_.docker_config;
  ro.state_file = options_.registry_state_file;
  ro.timeout_ms = options_.registry_timeout_ms;
  ro.retries = options_.registry_retries;
  ro.tag = tag;
  auto pulled = registry::Pull(t.package, ro);
  if (!pulled.ok()) return pulled.status().WithContext("pull of " + t.package);
  if (pulled->manifest_digest != t.digest)
    return InvalidArgument("pull of " + t.package + " gave manifest " + pulled->manifest_digest);
  packages::InstallOptions io;
  io.layout = options_.layout;
  io.repository = options_.repository;
  io.verify = [key = options_.package_key](const fs::path& layout, std::string_view digest) {
    return signing::VerifyPackageSignature(layout, digest, key);
  };
  io.allow_downgrade = true;  // the hub decides the versions: a rollback installs an older one
  io.hardware = options_.hardware;
  const packages::Reference ref{t.package.substr(0, t.package.find('@')), tag};
  auto installed = packages::InstallPackage(ref, io);
  if (!installed.ok()) return installed.status().WithContext("install of " + t.package);
  if (installed->model != t.model) {
    // Installed under another name: the agent owns it, and the next pass removes it (no target).
    Target other = t;
    other.model = installed->model;
    state_.installed = RecordInstalled(state_.installed, other);
    SaveState();
    return FailedPrecondition("package " + t.package + " installs model " + Quoted(installed->model) +
                              ", not " + Quoted(t.model));
  }
  state_.installed = RecordInstalled(state_.installed, t);
  SaveState();
  watch_[t.model].installed_at = Clock::now();
  LogInfo("installed " + t.model + " " + t.digest + (installed->unchanged ? " (already there)" : ""));
  return Status::Ok();
}

Status Agent::RemoveModel(const std::string& model) {
  const fs::path path = options_.repository / model;
  std::error_code ec;
  const bool was_there = fs::exists(fs::symlink_status(path, ec));
  ASSIGN_OR_RETURN(bool removed, packages::UninstallModel(options_.repository, model));
  if (!removed) {
    LogWarning("agent: " + path.string() + " is no longer a package the agent installed: left alone");
  } else if (was_there) {
    LogInfo("removed " + model);
  }
  state_.installed = RecordRemoved(state_.installed, model);
  SaveState();
  watch_.erase(model);
  return Status::Ok();
}

}  // namespace continuum::fleet
