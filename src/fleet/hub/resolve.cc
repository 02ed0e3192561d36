// A deployment's tag resolved to its manifest digest, as the registry says it now: the hub pins
// every deployment to a digest when it is applied, so agents install exactly what was planned.
#include "common/sha256.h"
#include "fleet/hub/internal.h"
#include "registry/session.h"
#include "registry/transfer.h"

namespace continuum::fleet::hub {

StatusOr<std::string> ResolveTagInRegistry(const HubOptions& options, const std::string& repository,
                                           const std::string& tag) {
  ASSIGN_OR_RETURN(registry::RepositoryName repo, registry::SplitRepository(repository));
  registry::Options ro;
  ro.insecure = options.registry_insecure;
  ro.ca_file = options.registry_ca_file;
  ro.docker_config = options.docker_config;
  ro.retries = 2;
  ro.timeout_ms = 10000;
  ASSIGN_OR_RETURN(auto session, registry::Session::Open(ro, repo, "pull"));
  for (const char* method : {"HEAD", "GET"}) {
    http::ClientRequest req;
    req.method = method;
    req.target = "/v2/" + repo.name + "/manifests/" + tag;
    req.headers = {{"Accept", registry::kManifestAccept}};
    req.max_response_bytes = static_cast<size_t>(ro.max_manifest_bytes);
    ASSIGN_OR_RETURN(http::ClientResponse r, session->Do(req));
    if (r.status == 404) return NotFound("no tag " + tag + " in " + repository);
    if (r.status != 200) return registry::Session::Unexpected(req, r);
    const std::string* digest = r.Header("docker-content-digest");
    if (digest != nullptr && registry::IsSha256Digest(*digest)) return *digest;
    // No digest header: hash what the registry serves (the GET).
    if (req.method == "GET") return "sha256:" + Sha256Hex(r.body);
  }
  return Internal("unreachable");
}

}  // namespace continuum::fleet::hub
