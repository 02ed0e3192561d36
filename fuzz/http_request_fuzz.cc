// Fuzzes the whole request parse path of the inference node on raw bytes from the socket:
// the server's HTTP/1.1 parser with its limits (RequestParser, as configured in the connection),
// compared with Beast's request_parser on the same bytes (the same outcome; for a parsed request
// the same method, target, version, keep-alive, fields per name and body), the request target
// decoding, the Inference-Header-Content-Length header, and the v2 body parser (JSON + binary
// sections). Must never crash, hang, allocate without bound, or differ from Beast.
#include <algorithm>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/v2_codec.h"
#include "http/internal/request_parser.h"
#include "http/internal/wire.h"

namespace http = boost::beast::http;

namespace {

// Feeds `input` as the connection does: what is buffered, again after more arrived.
template <class Parser>
boost::beast::error_code Feed(Parser& parser, std::string_view input) {
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = 0;
  while (used < input.size() && !parser.is_done()) {
    size_t n = parser.put(boost::asio::buffer(input.data() + used, input.size() - used), ec);
    if (ec) return ec;
    if (n == 0) break;
    used += n;
  }
  return ec;
}

std::string_view View(boost::beast::string_view s) { return {s.data(), s.size()}; }

void Check(bool same) {
  if (!same) __builtin_trap();
}

// The server's parser against Beast's on a request both parsed.
void Compare(const continuum::http::internal::RequestParser& ours,
             const http::request_parser<http::string_body>& beast) {
  Check(ours.is_header_done() == beast.is_header_done() && ours.is_done() == beast.is_done());
  if (!beast.is_header_done()) return;
  const auto& msg = beast.get();
  const auto& req = const_cast<continuum::http::internal::RequestParser&>(ours).request();
  Check(ours.method() == msg.method() && req.method == View(msg.method_string()));
  Check(req.target == View(msg.target()) && ours.version() == static_cast<int>(msg.version()));
  Check(ours.keep_alive() == msg.keep_alive() && ours.chunked() == beast.chunked());
  Check(ours.content_length() == beast.content_length());
  Check(ours.has_transfer_encoding() == (msg.find(http::field::transfer_encoding) != msg.end()));
  const auto expect = msg.find(http::field::expect);
  Check((ours.expect() != nullptr) == (expect != msg.end()));
  if (expect != msg.end()) Check(*ours.expect() == View(expect->value()));
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& f : msg) {
    std::string name(View(f.name_string()));
    for (char& c : name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    fields.emplace_back(std::move(name), std::string(View(f.value())));
  }
  auto ours_fields = req.headers;  // wire order; Beast files a repeated name after its earlier ones
  const auto by_name = [](const auto& a, const auto& b) { return a.first < b.first; };
  std::stable_sort(ours_fields.begin(), ours_fields.end(), by_name);
  std::stable_sort(fields.begin(), fields.end(), by_name);
  Check(ours_fields == fields);
  if (beast.is_done()) Check(req.body == msg.body());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  continuum::http::internal::RequestParser parser;
  http::request_parser<http::string_body> beast;
  const auto ec = Feed(parser, input);
  const auto beast_ec = Feed(beast, input);
  Check(ec == beast_ec);
  if (ec && ec != http::error::need_more) return 0;
  Compare(parser, beast);
  if (!parser.is_done() && !parser.is_header_done()) return 0;
  auto& req = parser.request();
  std::string path, query;
  if (!continuum::http::internal::ParseTarget(req.target, path, query)) return 0;
  if (!parser.is_done()) return 0;
  std::optional<size_t> json_length;
  if (const std::string* v = req.Header("inference-header-content-length")) {
    size_t n = 0;
    auto r = std::from_chars(v->data(), v->data() + v->size(), n);
    if (r.ec != std::errc() || r.ptr != v->data() + v->size()) return 0;
    json_length = n;
  }
  auto parsed = continuum::v2::ParseInferRequest(req.body, json_length);
  if (parsed.ok()) {
    for (const auto& t : parsed->inputs) {
      if (!t.Validate().ok()) __builtin_trap();
    }
  }
  return 0;
}
