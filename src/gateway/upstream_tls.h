// The TLS settings the gateway reaches its https:// nodes with: the defaults (`continuum gateway
// --upstream-ca/--upstream-cert/--upstream-key`, libcontinuum's `upstream_*` keys) and, for a node
// whose topology entry has a "tls" block, that block's fields over the defaults.
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
};

// Loads every file now, so a bad one fails at startup: InvalidArgument naming the flag or node
// and the file. Two nodes with the same URL and different "tls" blocks are refused.
StatusOr<UpstreamTls> MakeUpstreamTls(const router::Topology& topology,
                                      const tls::ClientTlsOptions& defaults);

}  // namespace continuum::gateway
