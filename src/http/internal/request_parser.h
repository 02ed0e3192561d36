// The parser the server reads a request with: Beast's HTTP/1.1 `basic_parser` (request line,
// fields, Content-Length or chunked body, the header and body limits set on it), writing the
// method, the target, the fields (names lower-cased once, in order) and the body straight into
// an http::Request. Beast's own request_parser first built a basic_fields list (one allocation
// per field) that the connection then copied out field by field. The fields keep the wire
// order; Beast's list filed a repeated name after its earlier fields (the values of one name keep
// their order either way, the only order RFC 9110 5.3 gives meaning to).
//
// What the connection asked of the Beast message is kept here with the same meaning:
// keep_alive() reads the first Connection field as `message::keep_alive()` does, expect() is the
// first Expect field, has_transfer_encoding() whether any Transfer-Encoding field came.
// request_parser_test and fuzz/http_request_fuzz.cc compare it with Beast's request_parser.
#pragma once

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "http/internal/direct_parser.h"
#include "http/message.h"

namespace continuum::http::internal {

class RequestParser final : public DirectParser<true, Request> {
 public:
  using verb = boost::beast::http::verb;

  static constexpr size_t kNone = static_cast<size_t>(-1);

  RequestParser() : DirectParser(kReservedFields) {}

  // What was parsed: the method, target and headers once the header is done, the body once the
  // parser is done. The connection moves it out when it hands the request on.
  Request& request() { return message_; }
  verb method() const { return method_; }
  int version() const { return version_; }
  // As Beast's `message::keep_alive()`: HTTP/1.1 unless the first Connection field lists
  // "close", HTTP/1.0 only when it lists "keep-alive". Valid once the header is done.
  bool keep_alive() const {
    if (version_ < 11) {
      return connection_ != kNone && boost::beast::http::token_list{Value(connection_)}.exists("keep-alive");
    }
    return connection_ == kNone || !boost::beast::http::token_list{Value(connection_)}.exists("close");
  }
  // The first Expect field's value, or nullptr.
  const std::string* expect() const { return expect_ == kNone ? nullptr : &message_.headers[expect_].second; }
  bool has_transfer_encoding() const { return transfer_encoding_; }

 private:
  static constexpr size_t kReservedFields = 16;

  string_view Value(size_t index) const {
    const std::string& v = message_.headers[index].second;
    return {v.data(), v.size()};
  }

  void on_request_impl(verb method, string_view method_str, string_view target, int version,
                       error_code&) override {
    method_ = method;
    version_ = version;
    message_.method.assign(method_str.data(), method_str.size());
    message_.target.assign(target.data(), target.size());
  }

  void on_response_impl(int, string_view, int, error_code&) override {}

  void on_field_impl(boost::beast::http::field f, string_view name, string_view value, error_code&) override {
    using boost::beast::http::field;
    const size_t index = message_.headers.size();
    if (f == field::connection && connection_ == kNone) connection_ = index;
    if (f == field::expect && expect_ == kNone) expect_ = index;
    if (f == field::transfer_encoding) transfer_encoding_ = true;
    AddField(name, value);
  }

  verb method_ = verb::unknown;
  int version_ = 0;
  size_t connection_ = kNone;
  size_t expect_ = kNone;
  bool transfer_encoding_ = false;
};

}  // namespace continuum::http::internal
