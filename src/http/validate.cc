#include "http/validate.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "http/internal/wire.h"

namespace continuum::http {
namespace {

// tchar (RFC 9110): ALPHA, DIGIT and "!#$%&'*+-.^_`|~", as a table (checked per character of
// every header name written).
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool IsTokenChar(unsigned char c) { return kTokenChars[c]; }

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// "0x0d at byte 12"
std::string Where(unsigned char c, size_t offset) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "0x%02x at byte %zu", c, offset);
  return buf;
}

// The name as it can be shown in a message: printable ASCII kept, the rest as \xNN, cut short.
std::string Shown(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= 64) {
      out.append("...");
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out.append(buf);
    }
  }
  return out;
}

}  // namespace

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!IsTokenChar(c)) return false;
  return true;
}

bool IsFieldValue(std::string_view s) {
  // Eight bytes at a time (every header value written is checked): a word with no byte below 0x20
  // and none equal to 0x7f holds no control character. From the first word that may, and for the
  // tail, byte by byte (a tab is allowed).
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, sizeof w);
    const uint64_t del = w ^ (kOnes * 0x7f);
    if ((((w - kOnes * 0x20) & ~w) | ((del - kOnes) & ~del)) & kHigh) break;
  }
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (IsControl(c) && c != '\t') return false;
  }
  return true;
}

bool IsRequestTarget(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (IsControl(c) || c == ' ') return false;
  return true;
}

Status CheckHeader(std::string_view name, std::string_view value) {
  if (IsToken(name) && IsFieldValue(value)) return Status();  // the common case; below, what is wrong
  if (name.empty()) return InvalidArgument("header name: is empty");
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (!IsTokenChar(c))
      return InvalidArgument("header name '" + Shown(name) + "': not a token (RFC 9110): character " +
                             Where(c, i));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (IsControl(c) && c != '\t')
      return InvalidArgument("header '" + Shown(name) + "': value holds control character " + Where(c, i));
  }
  return Status();
}

Status CheckRequestHead(std::string_view method, std::string_view target, const HeaderList& headers) {
  if (!IsToken(method)) return InvalidArgument("method '" + Shown(method) + "': not a token (RFC 9110)");
  if (target.empty()) return InvalidArgument("request target: is empty");
  for (size_t i = 0; i < target.size(); ++i) {
    const auto c = static_cast<unsigned char>(target[i]);
    if (IsControl(c) || c == ' ')
      return InvalidArgument(std::string("request target: ") + (c == ' ' ? "space " : "control character ") +
                             Where(c, i));
  }
  for (const auto& [name, value] : headers) RETURN_IF_ERROR(CheckHeader(name, value));
  return Status();
}

bool SplitTarget(std::string_view target, std::string& path, std::string& query) {
  return internal::ParseTarget(target, path, query);
}

std::string EncodePath(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size());
  for (unsigned char c : path) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      (c != 0 && std::strchr("-._~!$&'()*+,;=:@/", c) != nullptr);
    if (keep) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

}  // namespace continuum::http
