// The parser http::Client reads a node's answer with: Beast's HTTP/1.1 response parser (status
// line, fields, Content-Length or chunked body, the limits set on it), writing the status, the
// fields and the body straight into a ClientResponse. Beast's own response_parser first builds a
// basic_fields list (one allocation per field) that the client then copied out field by field.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <string>
#include <utility>

#include "http/client.h"

namespace continuum::http::internal {

class ResponseParser final : public boost::beast::http::basic_parser<false> {
 public:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  ResponseParser() { response_.headers.reserve(16); }

  // What was parsed; complete once the parser is done (is_done()).
  ClientResponse& response() { return response_; }

 private:
  void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}

  void on_response_impl(int code, string_view, int, error_code&) override { response_.status = code; }

  void on_field_impl(boost::beast::http::field, string_view name, string_view value, error_code&) override {
    std::string lower(name.data(), name.size());
    for (char& c : lower)  // ASCII: a field name is a token
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    response_.headers.emplace_back(std::move(lower), std::string(value.data(), value.size()));
  }

  void on_header_impl(error_code&) override {}

  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code& ec) override {
    if (!content_length) return;
    if (*content_length > response_.body.max_size()) {
      ec = boost::beast::http::error::buffer_overflow;
      return;
    }
    // body_limit (checked by the parser before this call) bounds what is reserved.
    response_.body.reserve(static_cast<size_t>(*content_length));
  }

  size_t on_body_impl(string_view body, error_code& ec) override { return Append(body, ec); }

  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}

  size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override {
    return Append(body, ec);
  }

  void on_finish_impl(error_code&) override {}

  size_t Append(string_view body, error_code& ec) {
    if (body.size() > response_.body.max_size() - response_.body.size()) {
      ec = boost::beast::http::error::buffer_overflow;
      return 0;
    }
    response_.body.append(body.data(), body.size());
    return body.size();
  }

  ClientResponse response_;
};

}  // namespace continuum::http::internal
