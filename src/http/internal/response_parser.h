// The parser http::Client reads a node's answer with: Beast's HTTP/1.1 response parser (status
// line, fields, Content-Length or chunked body, the limits set on it), writing the status, the
// fields and the body straight into a ClientResponse. Beast's own response_parser first builds a
// basic_fields list (one allocation per field) that the client then copied out field by field.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "http/client.h"
#include "http/internal/direct_parser.h"

namespace continuum::http::internal {

class ResponseParser final : public DirectParser<false, ClientResponse> {
 public:
  ResponseParser() : DirectParser(16) {}

  // What was parsed; complete once the parser is done (is_done()).
  ClientResponse& response() { return message_; }

 private:
  void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}

  void on_response_impl(int code, string_view, int, error_code&) override { message_.status = code; }

  void on_field_impl(boost::beast::http::field, string_view name, string_view value, error_code&) override {
    AddField(name, value);
  }
};

}  // namespace continuum::http::internal
