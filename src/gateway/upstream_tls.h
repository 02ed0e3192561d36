// The TLS settings the gateway reaches its https:// nodes with: the defaults (`continuum gateway
// --upstream-ca/--upstream-cert/--upstream-key`, libcontinuum's `upstream_*` keys) and, for a node
// whose topology entry has a "tls" block, that block's fields over the defaults. A topology that
// changes (`continuum gateway --hub`) gets its new nodes' contexts from UpdateUpstreamTls.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "router/topology.h"
#include "tls/client_context.h"

namespace continuum::gateway {

struct UpstreamTls {
  std::shared_ptr<const tls::ClientContext> defaults;  // null: no https:// node uses the defaults
  // Node URL -> the settings of a node with a "tls" block.
  std::map<std::string, std::shared_ptr<const tls::ClientContext>, std::less<>> by_url;
  // Node URL -> the "tls" block by_url's context was made from.
  std::map<std::string, router::NodeTls, std::less<>> blocks;

  // The context an https:// call to `url` uses: its own, else the defaults (null for http://,
  // local://, or when there are no defaults).
  std::shared_ptr<const tls::ClientContext> For(const std::string& url) const;
};

// Loads every file now, so a bad one fails at startup: InvalidArgument naming the flag or node
// and the file. Two nodes with the same URL and different "tls" blocks are refused.
StatusOr<UpstreamTls> MakeUpstreamTls(const router::Topology& topology,
                                      const tls::ClientTlsOptions& defaults);

// The settings for a new topology: contexts of `current` whose url keeps the same "tls" block
// (and the defaults) are kept, with their TLS sessions; new ones are loaded; urls no longer in
// the topology are dropped. Errors as MakeUpstreamTls (the caller keeps `current`).
StatusOr<UpstreamTls> UpdateUpstreamTls(const UpstreamTls& current, const router::Topology& topology,
                                        const tls::ClientTlsOptions& defaults);

}  // namespace continuum::gateway
