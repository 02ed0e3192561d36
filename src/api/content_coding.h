// HTTP content codings of v2 bodies (Content-Encoding / Accept-Encoding): gzip and deflate (the
// zlib format, RFC 9110 8.4.1.2), as Triton's clients send and accept them
// (request_compression_algorithm / response_compression_algorithm).
// Thread-safe: free functions with no shared state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace continuum::v2 {

enum class ContentCoding { kIdentity, kGzip, kDeflate };

// "gzip", "deflate" or "identity" (case-insensitive, surrounding spaces ignored); anything else,
// a list of codings included, is kInvalidArgument naming the header.
StatusOr<ContentCoding> ParseContentEncoding(std::string_view header_value);

// Decodes a body sent with `coding`. The decoded body may hold at most `max_bytes` bytes
// (kPayloadTooLarge beyond, found while inflating: no more than max_bytes + one chunk is ever
// allocated); a truncated or corrupt stream, or bytes after its end, are kInvalidArgument.
StatusOr<std::string> DecodeBody(std::string_view body, ContentCoding coding, size_t max_bytes);

// The coding to answer with, from an Accept-Encoding value: gzip or deflate with the highest
// q-value (ties: the one listed first; "*" means gzip), identity when neither is acceptable.
ContentCoding NegotiateCoding(std::string_view accept_encoding);

// Encodes a response body (fast compression level: it runs on the instance thread).
StatusOr<std::string> EncodeBody(std::string_view body, ContentCoding coding);

// "gzip" / "deflate" / "identity".
const char* ContentCodingName(ContentCoding coding);

}  // namespace continuum::v2
