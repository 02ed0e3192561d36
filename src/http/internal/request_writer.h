// The request http::Client writes, built and checked in one place (the rules are
// WriteClientRequest's, client.h); the Beast message the client sends.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "common/status.h"
#include "http/client.h"

namespace continuum::http::internal {

using ClientWireRequest = boost::beast::http::request<boost::beast::http::string_body>;

// `request` sent to `url`: the URL's path prefix before the target ("/" when it is empty), the
// headers as given, then Host, keep-alive and Content-Length.
StatusOr<ClientWireRequest> BuildClientRequest(const ParsedUrl& url, ClientRequest request);

}  // namespace continuum::http::internal
