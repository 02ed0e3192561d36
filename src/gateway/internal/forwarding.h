// Header forwarding: what of the client's request goes upstream, what of the node's answer goes
// back, and the routing headers the gateway adds to every answer. Internal to the gateway.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "http/client.h"
#include "http/server.h"

namespace continuum::gateway::internal {

// The routing headers of an answer: X-Continuum-Tier, -Node, -Fallback-Step ("none" when no
// node was reached) and -Reason.
struct Tags {
  std::string tier = "none", node = "none", step = "none", reason;
};
void AddTags(http::Response* r, const Tags& t);

// {"error": message}, the message made printable and cut at 4096 characters.
std::string ErrorJson(std::string_view message);

// An answer of the gateway's own, with its routing headers.
http::Response LocalAnswer(int status, std::string body, const Tags& tags);

// Headers never forwarded in either direction: hop-by-hop (RFC 9110 §7.6.1), or written by the
// HTTP layer. `lower_name` is lower-cased.
bool HopByHop(std::string_view lower_name);

// The header names a message's Connection headers list, lower-cased: that message's own
// hop-by-hop headers, never forwarded.
std::vector<std::string> ConnectionOptions(const std::vector<std::pair<std::string, std::string>>& headers);

// True for an end-to-end header of a message whose Connection headers named `named`.
bool Forwarded(std::string_view lower_name, const std::vector<std::string>& named);

// The headers the gateway sets itself; a node's own values for them are dropped.
bool IsRoutingTag(std::string_view lower_name);

// The target written upstream: the client's own, still percent-encoded (an escaped CR or LF
// stays three harmless characters); a request made in-process, or sent in absolute-form, gets
// its decoded path encoded again.
std::string UpstreamTarget(const http::Request& req);

// The request as it goes upstream, without its body: method, target, the end-to-end headers and
// the content type. InvalidArgument naming the header or target when it could not be written on
// the wire as it is (http::CheckRequestHead).
StatusOr<http::ClientRequest> UpstreamHead(const http::Request& req);

// A node's answer as passed back to the client: its status, content type, end-to-end headers
// (node timings included; its routing headers dropped) and body. The routing headers are added
// by the caller.
http::Response ForwardedAnswer(http::ClientResponse&& answer);

}  // namespace continuum::gateway::internal
