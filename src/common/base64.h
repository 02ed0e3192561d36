// Standard base64 (RFC 4648, with padding; decoding also accepts missing padding).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace continuum {

std::string Base64Encode(std::string_view data);
// nullopt on a character outside the alphabet or a broken length.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace continuum
