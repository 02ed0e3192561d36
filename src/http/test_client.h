// What the HTTP server's tests share: a tiny blocking client on a raw socket, the test options,
// and the server start.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/server.h"

namespace continuum::http::test_support {

using namespace std::chrono_literals;  // NOLINT
using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string H(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

inline std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads one response from `buf` (a 1xx counts as one), calling `fill` (which appends to `buf` and
// returns the bytes appended, <= 0 on timeout, EOF or error) until it is whole. nullopt when
// `fill` fails first or the head is malformed. Any client of the tests reads with it.
template <class Fill>
std::optional<HttpResponse> ReadResponse(std::string& buf_, bool head_request, Fill&& fill) {
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (fill() <= 0) return std::nullopt;
  }
  HttpResponse r;
  const std::string head = buf_.substr(0, end + 2);
  buf_.erase(0, end + 4);
  size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
  r.status = std::stoi(status_line.substr(9, 3));
  size_t pos = line_end + 2;
  while (pos < head.size()) {
    const size_t eol = head.find("\r\n", pos);
    const std::string line = head.substr(pos, eol - pos);
    pos = eol + 2;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) return std::nullopt;
    size_t v = colon + 1;
    while (v < line.size() && line[v] == ' ') ++v;
    r.headers[Lower(line.substr(0, colon))] = line.substr(v);
  }
  size_t length = 0;
  if (!head_request && r.status >= 200 && r.status != 204 && r.status != 304 &&
      r.headers.count("content-length")) {
    length = std::stoul(r.headers["content-length"]);
  }
  while (buf_.size() < length) {
    if (fill() <= 0) return std::nullopt;
  }
  r.body = buf_.substr(0, length);
  buf_.erase(0, length);
  return r;
}

// A tiny blocking HTTP/1.1 client on a raw socket, with poll()-based timeouts.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (a 1xx counts as one). nullopt on timeout, EOF or error first.
  std::optional<HttpResponse> Read(bool head_request = false, Ms timeout = 2000ms) {
    const auto deadline = SteadyClock::now() + timeout;
    return ReadResponse(buf_, head_request, [&] { return Fill(deadline); });
  }

  // Sends `request` and reads the answer; nullopt when either fails.
  std::optional<HttpResponse> Exchange(std::string_view request) {
    if (!Send(request)) return std::nullopt;
    return Read();
  }

  // True when the server closes (EOF or reset) within `timeout` without sending anything more.
  bool WaitClosed(Ms timeout = 2000ms) {
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
      if (!buf_.empty()) return false;
      const int r = Fill(deadline);
      if (r == 0 || r == -1) return buf_.empty();
      if (r == -2) return false;
    }
  }

  // True when data (or EOF) is readable within `timeout`.
  bool Readable(Ms timeout) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  }

 private:
  // >0: bytes appended; 0: EOF; -1: error; -2: timeout.
  int Fill(SteadyClock::time_point deadline) {
    const auto left = std::chrono::duration_cast<Ms>(deadline - SteadyClock::now());
    if (left.count() <= 0) return -2;
    pollfd p{fd_, POLLIN, 0};
    const int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr == 0) return -2;
    if (pr < 0) return errno == EINTR ? Fill(deadline) : -1;
    char tmp[16384];
    const ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n < 0) return errno == EINTR ? Fill(deadline) : -1;
    buf_.append(tmp, static_cast<size_t>(n));
    return static_cast<int>(n);
  }

  int fd_ = -1;
  std::string buf_;
};

inline ServerOptions TestOptions() {
  ServerOptions o;
  o.address = "127.0.0.1";
  o.port = 0;
  o.io_threads = 2;
  return o;
}

inline std::unique_ptr<Server> StartOrDie(const ServerOptions& options, Handler handler) {
  auto server = Server::Start(options, std::move(handler));
  if (!server.ok()) {
    ADD_FAILURE() << server.status().ToString();
    return nullptr;
  }
  return std::move(server).value();
}

// `r` came, with `status` and `body`.
inline void ExpectResponse(const std::optional<HttpResponse>& r, int status, std::string_view body) {
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, status);
  EXPECT_EQ(r->body, body);
}

}  // namespace continuum::http::test_support
