// What the server's request parser and the client's response parser share: Beast's HTTP/1.1
// `basic_parser` writing the fields (names lower-cased once, in wire order) and the body (within
// the limits set on the parser) straight into a message with `headers` (name/value pairs) and
// `body` (std::string), instead of Beast's basic_fields list copied out field by field.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

namespace continuum::http::internal {

template <bool isRequest, class Message>
class DirectParser : public boost::beast::http::basic_parser<isRequest> {
 public:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

 protected:
  explicit DirectParser(size_t reserved_fields) { message_.headers.reserve(reserved_fields); }

  // Appends a field, its name lower-cased; returns its index in message_.headers.
  size_t AddField(string_view name, string_view value) {
    const size_t index = message_.headers.size();
    auto& [lower, v] = message_.headers.emplace_back();
    lower.assign(name.data(), name.size());
    for (char& c : lower)  // ASCII: a field name is a token
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    v.assign(value.data(), value.size());
    return index;
  }

  void on_header_impl(error_code&) override {}

  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code& ec) override {
    if (!content_length) return;
    if (*content_length > message_.body.max_size()) {
      ec = boost::beast::http::error::buffer_overflow;
      return;
    }
    // body_limit (checked by the parser before this call) bounds what is reserved.
    message_.body.reserve(static_cast<size_t>(*content_length));
  }

  size_t on_body_impl(string_view body, error_code& ec) override { return Append(body, ec); }

  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}

  size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override {
    return Append(body, ec);
  }

  void on_finish_impl(error_code&) override {}

  Message message_;

 private:
  size_t Append(string_view body, error_code& ec) {
    if (body.size() > message_.body.max_size() - message_.body.size()) {
      ec = boost::beast::http::error::buffer_overflow;
      return 0;
    }
    message_.body.append(body.data(), body.size());
    return body.size();
  }
};

}  // namespace continuum::http::internal
