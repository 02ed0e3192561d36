// Fuzzes what the gateway writes to a node: an arbitrary method, target and headers (any bytes,
// CR, LF and NUL included) through the wire rules (http/validate.h) and the upstream request
// writer. Properties: the rules agree with a byte-by-byte reference; a request is written only
// when they accept it; what is written is CRLF-delimited lines only, with the request line the
// input meant and no header line the input did not name; a target the server splits is valid and
// its decoded path encodes back to a valid target that decodes to the same path; the bytes are
// those Beast's serializer writes for the same message (the writer builds most heads itself).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <boost/beast/http/write.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/client.h"
#include "http/internal/request_writer.h"
#include "http/validate.h"

namespace {

bool Control(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool RefToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  }
  return true;
}

bool RefValue(std::string_view s) {
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return Control(static_cast<unsigned char>(c)) && c != '\t'; });
}

bool RefTarget(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return Control(static_cast<unsigned char>(c)) || c == ' ';
  });
}

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace http = continuum::http;
  FuzzedDataProvider in(data, size);
  continuum::http::ClientRequest req;
  req.method = in.ConsumeBool() ? "POST" : in.ConsumeRandomLengthString(16);
  req.target = in.ConsumeRandomLengthString(256);
  const int count = in.ConsumeIntegralInRange(0, 8);
  for (int i = 0; i < count; ++i) {
    std::string name = in.ConsumeRandomLengthString(32);
    std::string value = in.ConsumeRandomLengthString(64);
    req.headers.emplace_back(std::move(name), std::move(value));
  }
  req.body = in.ConsumeRemainingBytesAsString();

  // The rules against the reference.
  Check(http::IsToken(req.method) == RefToken(req.method));
  Check(http::IsRequestTarget(req.target) == RefTarget(req.target));
  bool headers_ok = true;
  for (const auto& [k, v] : req.headers) {
    Check(http::IsToken(k) == RefToken(k));
    Check(http::IsFieldValue(v) == RefValue(v));
    Check(http::CheckHeader(k, v).ok() == (RefToken(k) && RefValue(v)));
    headers_ok = headers_ok && RefToken(k) && RefValue(v);
  }
  const bool head_ok = RefToken(req.method) && RefTarget(req.target) && headers_ok;
  Check(http::CheckRequestHead(req.method, req.target, req.headers).ok() == head_ok);

  // The server's split, and encoding the decoded path again.
  std::string path, query;
  if (http::SplitTarget(req.target, path, query)) {
    Check(RefTarget(req.target));
    if (path != "*") {
      const std::string encoded = http::EncodePath(path);
      Check(RefTarget(encoded));
      std::string again, q2;
      Check(http::SplitTarget(encoded, again, q2));
      Check(again == path && q2.empty());
    }
  }

  // The writer.
  const std::string target = req.target.empty() ? "/" : req.target;
  const std::string method = req.method;
  std::vector<std::string> intended = {"host", "connection", "content-length", "transfer-encoding"};
  for (const auto& [k, v] : req.headers) intended.push_back(Lower(k));
  const size_t header_count = req.headers.size();
  const continuum::http::ParsedUrl url{"node", "8000", ""};
  auto written = continuum::http::WriteClientRequest(url, req);
  auto beast = continuum::http::internal::BeastClientRequest(url, req);
  Check(written.ok() == beast.ok());
  if (beast.ok()) {
    std::ostringstream serialized;
    serialized << *beast;
    Check(serialized.str() == *written);
  }
  const bool writable = RefToken(method) && RefTarget(target) && headers_ok;
  if (!written.ok()) {
    Check(!writable || method == "TRACE");  // refused only when a part is unsafe (or TRACE with a body)
    return 0;
  }
  Check(writable);
  const std::string& out = *written;
  const size_t head_end = out.find("\r\n\r\n");
  Check(head_end != std::string::npos);
  const std::string_view head(out.data(), head_end + 2);
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n') Check(i > 0 && head[i - 1] == '\r');
    if (head[i] == '\r') Check(i + 1 < head.size() && head[i + 1] == '\n');
    Check(head[i] != '\0');
  }
  const size_t line_end = head.find("\r\n");
  Check(head.substr(0, line_end) == method + " " + target + " HTTP/1.1");
  size_t lines = 0;
  for (size_t pos = line_end + 2; pos < head.size();) {
    const size_t eol = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    Check(colon != std::string_view::npos);
    const std::string name = Lower(std::string(line.substr(0, colon)));
    Check(std::find(intended.begin(), intended.end(), name) != intended.end());
    ++lines;
    pos = eol + 2;
  }
  Check(lines <= header_count + 3);
  return 0;
}
