// The parser http::Client reads a node's answer with: Beast's HTTP/1.1 response parser (status
// line, fields, Content-Length or chunked body, the limits set on it), writing the status, the
// fields and the body straight into a ClientResponse. Beast's own response_parser first builds a
// basic_fields list (one allocation per field) that the client then copied out field by field.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "http/client.h"
#include "http/internal/direct_parser.h"

namespace continuum::http::internal {

class ResponseParser final : public DirectParser<false, ClientResponse> {
 public:
  ResponseParser() : DirectParser(16) {}

  // The body of a 2xx answer goes to `sink` instead of response().body (ClientRequest::body_sink).
  void set_body_sink(std::function<Status(const ClientResponse&, std::string_view)> sink) {
    sink_ = std::move(sink);
  }
  // The error the sink returned, which ended the read; ok otherwise.
  const Status& sink_error() const { return sink_error_; }

  // What was parsed; complete once the parser is done (is_done()).
  ClientResponse& response() { return message_; }

 private:
  bool Sinking() const { return sink_ && message_.status >= 200 && message_.status < 300; }

  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code& ec) override {
    if (!Sinking()) DirectParser::on_body_init_impl(content_length, ec);  // nothing reserved when sinking
  }
  size_t on_body_impl(string_view body, error_code& ec) override {
    return Sinking() ? Sink(body, ec) : DirectParser::on_body_impl(body, ec);
  }
  size_t on_chunk_body_impl(std::uint64_t remain, string_view body, error_code& ec) override {
    return Sinking() ? Sink(body, ec) : DirectParser::on_chunk_body_impl(remain, body, ec);
  }
  size_t Sink(string_view body, error_code& ec) {
    sink_error_ = sink_(message_, std::string_view(body.data(), body.size()));
    if (sink_error_.ok()) return body.size();
    ec =
        boost::beast::http::error::bad_transfer_encoding;  // any error: the read stops, sink_error() says why
    return 0;
  }

  void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}

  void on_response_impl(int code, string_view, int, error_code&) override { message_.status = code; }

  void on_field_impl(boost::beast::http::field, string_view name, string_view value, error_code&) override {
    AddField(name, value);
  }

  std::function<Status(const ClientResponse&, std::string_view)> sink_;
  Status sink_error_;
};

}  // namespace continuum::http::internal
