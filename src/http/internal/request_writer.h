// The request http::Client writes, built and checked in one place (the rules are
// WriteClientRequest's, client.h): its head as it goes on the wire, and its body.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "common/status.h"
#include "http/client.h"

namespace continuum::http::internal {

// The head (start line, fields, blank line) and the body that follows it unchanged (with a
// Content-Length, never chunked). The client sends both in one gathered write.
struct ClientWireRequest {
  std::string head;
  std::string payload;
  std::string& body() { return payload; }
  const std::string& body() const { return payload; }
};

// `request` sent to `url`: the URL's path prefix before the target ("/" when it is empty), the
// headers as given, then Host, keep-alive and Content-Length, byte for byte what Beast writes
// for the message BeastClientRequest makes. The head is written directly when no header needs
// Beast's rewriting (no Host, Connection, Content-Length or Transfer-Encoding, no name given
// twice, not TRACE); otherwise it is that message, serialized.
StatusOr<ClientWireRequest> BuildClientRequest(const ParsedUrl& url, ClientRequest request);

// The Beast message of `request` to `url`: each header set in turn (a later one of the same name
// replaces an earlier one), Host set, keep_alive(true), prepare_payload().
StatusOr<boost::beast::http::request<boost::beast::http::string_body>> BeastClientRequest(
    const ParsedUrl& url, ClientRequest request);

// The head of the request as it goes on the wire.
inline const std::string& ClientRequestHead(const ClientWireRequest& request) { return request.head; }

}  // namespace continuum::http::internal
