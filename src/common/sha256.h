// SHA-256 through OpenSSL (the decision log's hash chain, API key hashes, cache keys).
#pragma once

#include <string>
#include <string_view>

namespace continuum {

// `bytes` in lower-case hex, two characters a byte.
std::string HexEncode(std::string_view bytes);

// The 32-byte digest.
std::string Sha256Raw(std::string_view data);
// The digest in lower-case hex (64 characters).
std::string Sha256Hex(std::string_view data);

}  // namespace continuum
