#include "gateway/upstream_tls.h"

#include <utility>

namespace continuum::gateway {

std::shared_ptr<const tls::ClientContext> UpstreamTls::For(const std::string& url) const {
  if (url.rfind("https://", 0) != 0) return nullptr;
  if (auto it = by_url.find(url); it != by_url.end()) return it->second;
  return defaults;
}

StatusOr<UpstreamTls> MakeUpstreamTls(const router::Topology& topology,
                                      const tls::ClientTlsOptions& defaults) {
  return UpdateUpstreamTls(UpstreamTls{}, topology, defaults);
}

StatusOr<UpstreamTls> UpdateUpstreamTls(const UpstreamTls& current, const router::Topology& topology,
                                        const tls::ClientTlsOptions& defaults) {
  UpstreamTls out;
  std::map<std::string, const router::Node*, std::less<>> owner;
  for (const router::Node& n : topology.nodes) {
    if (n.url.rfind("https://", 0) != 0) continue;
    if (!n.tls) {
      if (!out.defaults) out.defaults = current.defaults;
      if (!out.defaults) {
        auto c = tls::ClientContext::Create(defaults);
        if (!c.ok()) return InvalidArgument("upstream TLS: " + c.status().message());
        out.defaults = std::move(c).value();
      }
      continue;
    }
    if (auto it = owner.find(n.url); it != owner.end()) {
      if (*it->second->tls != *n.tls)
        return InvalidArgument("node " + n.name + ": url " + n.url + " is also node " + it->second->name +
                               "'s, with other tls settings");
      continue;
    }
    owner[n.url] = &n;
    out.blocks[n.url] = *n.tls;
    if (auto it = current.blocks.find(n.url); it != current.blocks.end() && it->second == *n.tls) {
      out.by_url[n.url] = current.by_url.at(n.url);
      continue;
    }
    tls::ClientTlsOptions o = defaults;
    if (!n.tls->ca.empty()) o.ca_file = n.tls->ca;
    if (!n.tls->cert.empty()) {
      o.cert_file = n.tls->cert;
      o.key_file = n.tls->key;
    }
    if (!n.tls->server_name.empty()) o.server_name = n.tls->server_name;
    auto c = tls::ClientContext::Create(o);
    if (!c.ok()) return InvalidArgument("node " + n.name + ": tls: " + c.status().message());
    out.by_url[n.url] = std::move(c).value();
  }
  return out;
}

}  // namespace continuum::gateway
