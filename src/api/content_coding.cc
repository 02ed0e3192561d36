#include "api/content_coding.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>

namespace continuum::v2 {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsLower(std::string_view s, std::string_view lower) {
  return s.size() == lower.size() && std::equal(s.begin(), s.end(), lower.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

// zlib's windowBits: 15 for the zlib wrapper (deflate), 15 + 16 for the gzip wrapper.
int WindowBits(ContentCoding coding) { return coding == ContentCoding::kGzip ? MAX_WBITS + 16 : MAX_WBITS; }

// zlib counts in uInt: long inputs are fed, and large outputs offered, in pieces of at most this
// many bytes.
constexpr size_t kMaxPiece = 1u << 30;

// Hands zlib the next piece of `body` once it has taken the last; `fed` counts the bytes handed.
void FeedInput(z_stream& zs, std::string_view body, size_t& fed) {
  if (zs.avail_in != 0 || fed == body.size()) return;
  const size_t n = std::min(body.size() - fed, kMaxPiece);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data() + fed));
  zs.avail_in = static_cast<uInt>(n);
  fed += n;
}

// Offers out[used, ...) (one piece at most) as zlib's output window; returns the room offered.
size_t OfferOutput(z_stream& zs, std::string& out, size_t used) {
  const size_t room = std::min(out.size() - used, kMaxPiece);
  zs.next_out = reinterpret_cast<Bytef*>(out.data() + used);
  zs.avail_out = static_cast<uInt>(room);
  return room;
}

// The q-value of one Accept-Encoding element's parameters ("q=0.5"); 1 when absent, -1 when
// malformed (the element is then ignored).
double QValue(std::string_view params) {
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = Trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    if (p.size() < 2 || std::tolower(static_cast<unsigned char>(p[0])) != 'q' || p[1] != '=') continue;
    std::string_view v = p.substr(2);
    double q = 0;
    auto r = std::from_chars(v.data(), v.data() + v.size(), q);
    if (r.ec != std::errc() || r.ptr != v.data() + v.size() || q < 0 || q > 1) return -1;
    return q;
  }
  return 1;
}

}  // namespace

const char* ContentCodingName(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kGzip: return "gzip";
    case ContentCoding::kDeflate: return "deflate";
    case ContentCoding::kIdentity: break;
  }
  return "identity";
}

StatusOr<ContentCoding> ParseContentEncoding(std::string_view header_value) {
  std::string_view v = Trim(header_value);
  if (EqualsLower(v, "gzip") || EqualsLower(v, "x-gzip")) return ContentCoding::kGzip;
  if (EqualsLower(v, "deflate")) return ContentCoding::kDeflate;
  if (v.empty() || EqualsLower(v, "identity")) return ContentCoding::kIdentity;
  return InvalidArgument("header Content-Encoding: '" + std::string(v.substr(0, 64)) +
                         "' is not supported (gzip, deflate or identity)");
}

StatusOr<std::string> DecodeBody(std::string_view body, ContentCoding coding, size_t max_bytes) {
  if (coding == ContentCoding::kIdentity) {
    if (body.size() > max_bytes) {
      return PayloadTooLarge("request body: " + std::to_string(body.size()) + " bytes, the limit is " +
                             std::to_string(max_bytes));
    }
    return std::string(body);
  }
  const std::string where =
      std::string("request body (Content-Encoding: ") + ContentCodingName(coding) + "): ";
  z_stream zs{};
  if (inflateInit2(&zs, WindowBits(coding)) != Z_OK) return Internal(where + "cannot start inflating");
  struct End {
    z_stream* zs;
    ~End() { inflateEnd(zs); }
  } end{&zs};

  // The output grows geometrically but never past max_bytes + 1: one byte more than the limit
  // is how an oversize body is recognized.
  const size_t cap = max_bytes == SIZE_MAX ? max_bytes : max_bytes + 1;
  std::string out;
  size_t used = 0;
  size_t fed = 0;  // input bytes handed to zlib so far
  for (;;) {
    FeedInput(zs, body, fed);
    if (used == out.size()) {
      if (out.size() >= cap) {
        return PayloadTooLarge(where + "inflates to more than " + std::to_string(max_bytes) + " bytes");
      }
      size_t want = out.empty() ? std::max<size_t>(body.size() * 4, 64 << 10) : out.size() * 2;
      out.resize(std::min(want, cap));
    }
    const size_t room = OfferOutput(zs, out, used);
    int rc = inflate(&zs, Z_NO_FLUSH);
    used += room - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0 && fed == body.size()) break;
      // A gzip body may hold several members one after another; anything else after the end of
      // the stream is refused.
      if (coding != ContentCoding::kGzip) return InvalidArgument(where + "bytes after the end of the stream");
      if (inflateReset(&zs) != Z_OK) return Internal(where + "cannot restart inflating");
      continue;
    }
    if (rc == Z_OK) continue;
    // The output is full (it grows above), or the next piece of input is still to be fed.
    if (rc == Z_BUF_ERROR && (zs.avail_out == 0 || fed < body.size())) continue;
    if (rc == Z_BUF_ERROR) return InvalidArgument(where + "the compressed stream is truncated");
    if (rc == Z_MEM_ERROR) return Internal(where + "out of memory while inflating");
    return InvalidArgument(where + "not valid " + ContentCodingName(coding) + " data" +
                           (zs.msg ? std::string(" (") + zs.msg + ")" : std::string()));
  }
  out.resize(used);
  if (used > max_bytes) {
    return PayloadTooLarge(where + "inflates to more than " + std::to_string(max_bytes) + " bytes");
  }
  return out;
}

ContentCoding NegotiateCoding(std::string_view accept_encoding) {
  ContentCoding best = ContentCoding::kIdentity;
  double best_q = 0;
  std::string_view list = accept_encoding;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    size_t semi = element.find(';');
    std::string_view name = Trim(element.substr(0, semi));
    double q = semi == std::string_view::npos ? 1 : QValue(element.substr(semi + 1));
    ContentCoding c;
    if (EqualsLower(name, "gzip") || EqualsLower(name, "x-gzip") || name == "*") {
      c = ContentCoding::kGzip;
    } else if (EqualsLower(name, "deflate")) {
      c = ContentCoding::kDeflate;
    } else {
      continue;
    }
    if (q > best_q) {
      best = c;
      best_q = q;
    }
  }
  return best;
}

StatusOr<std::string> EncodeBody(std::string_view body, ContentCoding coding) {
  if (coding == ContentCoding::kIdentity) return std::string(body);
  z_stream zs{};
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, WindowBits(coding), 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Internal("cannot start compressing the response");
  }
  struct End {
    z_stream* zs;
    ~End() { deflateEnd(zs); }
  } end{&zs};
  std::string out(deflateBound(&zs, body.size()), '\0');
  size_t fed = 0;
  size_t used = 0;
  for (;;) {
    FeedInput(zs, body, fed);
    if (used == out.size()) out.resize(out.size() * 2 + 64);
    const size_t room = OfferOutput(zs, out, used);
    int rc = deflate(&zs, fed == body.size() ? Z_FINISH : Z_NO_FLUSH);
    used += room - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return Internal("cannot compress the response");
  }
  out.resize(used);
  return out;
}

}  // namespace continuum::v2
