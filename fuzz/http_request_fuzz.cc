// Fuzzes the whole request parse path of the inference node on raw bytes from the socket:
// the HTTP/1.1 parser with the server's limits (Beast, as configured in the connection), the
// request target decoding, the Inference-Header-Content-Length header, and the v2 body parser
// (JSON + binary sections). Must never crash, hang or allocate without bound.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/v2_codec.h"
#include "http/internal/wire.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = 0;
  while (used < input.size() && !parser.is_done()) {
    size_t n = parser.put(boost::asio::buffer(input.data() + used, input.size() - used), ec);
    if (ec == http::error::need_more) break;
    if (ec) return 0;
    if (n == 0) break;
    used += n;
  }
  if (!parser.is_done() && !parser.is_header_done()) return 0;
  const auto& req = parser.get();
  std::string path, query;
  if (!continuum::http::internal::ParseTarget(std::string_view(req.target().data(), req.target().size()),
                                              path, query)) {
    return 0;
  }
  if (!parser.is_done()) return 0;
  std::optional<size_t> json_length;
  auto it = req.find("Inference-Header-Content-Length");
  if (it != req.end()) {
    std::string_view v(it->value().data(), it->value().size());
    size_t n = 0;
    auto r = std::from_chars(v.data(), v.data() + v.size(), n);
    if (r.ec != std::errc() || r.ptr != v.data() + v.size()) return 0;
    json_length = n;
  }
  auto parsed = continuum::v2::ParseInferRequest(req.body(), json_length);
  if (parsed.ok()) {
    for (const auto& t : parsed->inputs) {
      if (!t.Validate().ok()) __builtin_trap();
    }
  }
  return 0;
}
