// The request the upstream client writes to a node, built and checked in one place: nothing
// that cannot be written safely (a method that is not a token, a control character or space in
// the target, a header name that is not a token, a control character in a header value, the
// Host included) ever reaches the wire; such a request fails with InvalidArgument instead.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "common/status.h"
#include "gateway/upstream.h"

namespace continuum::gateway {

using WireRequest = boost::beast::http::request<boost::beast::http::string_body>;

// `request` sent to `url`: the URL's path prefix before the target ("/" when it is empty), the
// headers as given, then Host, keep-alive and Content-Length.
StatusOr<WireRequest> BuildUpstreamRequest(const ParsedUrl& url, UpstreamRequest request);

// The bytes BuildUpstreamRequest's request is written as, head and body.
StatusOr<std::string> WriteUpstreamRequest(const ParsedUrl& url, UpstreamRequest request);

}  // namespace continuum::gateway
