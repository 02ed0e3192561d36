// What the gateway writes upstream and passes back: the client's target still escaped (an
// encoded CR LF never becomes a header line), no hop-by-hop header in either direction, and no
// request that cannot be written safely ever reaching a node. The nodes here are raw sockets that
// record the bytes they receive.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gateway/dispatcher.h"
#include "gateway/gateway.h"
#include "gateway/test_node.h"
#include "http/client.h"
#include "http/server.h"
#include "router/router.h"

namespace continuum::gateway {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The header lines of a request or response head (the first line excluded), names lower-cased.
std::vector<std::pair<std::string, std::string>> HeaderLines(const std::string& head) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    const size_t start = pos + 2;
    const size_t end = head.find("\r\n", start);
    const std::string line = head.substr(start, end - start);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    out.emplace_back(Lower(line.substr(0, colon)),
                     colon == std::string::npos ? "" : line.substr(line.find_first_not_of(' ', colon + 1)));
    pos = end;
  }
  return out;
}

bool HasHeader(const std::vector<std::pair<std::string, std::string>>& headers, const std::string& name) {
  for (const auto& [k, v] : headers)
    if (k == name) return true;
  return false;
}

// A node on a raw socket: records every request's bytes (head and Content-Length body) and
// answers each with `answer`, keeping the connection open. One thread per connection.
class RawNode {
 public:
  explicit RawNode(std::string answer)
      : answer_(std::move(answer)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    url = "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~RawNode() {
    stop_ = true;
    boost::system::error_code ec;
    {
      tcp::socket s(io_);
      s.connect(acceptor_.local_endpoint(), ec);
    }
    accept_thread_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& s : sockets_) s->shutdown(tcp::socket::shutdown_both, ec);
    }
    for (auto& t : threads_) t.join();
  }
  std::vector<std::string> Requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  int Connections() const { return connections_.load(); }
  std::string url;

 private:
  void AcceptLoop() {
    for (;;) {
      auto s = std::make_shared<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*s, ec);
      if (ec || stop_) return;
      connections_.fetch_add(1);
      std::lock_guard<std::mutex> lock(mu_);
      sockets_.push_back(s);
      threads_.emplace_back([this, s] { Serve(*s); });
    }
  }
  void Serve(tcp::socket& s) {
    std::string buf;
    char chunk[4096];
    boost::system::error_code ec;
    for (;;) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        const size_t n = s.read_some(asio::buffer(chunk), ec);
        if (ec) return;
        buf.append(chunk, n);
      }
      size_t length = 0;
      for (const auto& [k, v] : HeaderLines(buf.substr(0, end + 2)))
        if (k == "content-length") length = std::stoul(v);
      while (buf.size() < end + 4 + length) {
        const size_t n = s.read_some(asio::buffer(chunk), ec);
        if (ec) return;
        buf.append(chunk, n);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(buf.substr(0, end + 4 + length));
      }
      buf.erase(0, end + 4 + length);
      asio::write(s, asio::buffer(answer_), ec);
      if (ec) return;
    }
  }

  std::string answer_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> threads_;
  std::vector<std::string> requests_;
};

constexpr const char* kOk =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

router::Topology OneNode(const std::string& url) {
  auto t = router::ParseTopology(R"({"schema_version":1,"nodes":[{"name":"n","url":")" + url +
                                 R"(","tier":"edge","models":[{"name":"@cf/m","versions":[1]},
                                 {"name":"m","versions":[1]}]}]})");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

GatewayOptions NoProbes() {
  GatewayOptions o;
  o.probe_period = std::chrono::milliseconds(0);
  return o;
}

http::Response Call(Gateway& gw, http::Request r) {
  std::promise<http::Response> p;
  gw.Handle(std::move(r), [&p](http::Response resp) { p.set_value(std::move(resp)); });
  return p.get_future().get();
}

http::Request Post(std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::Request r;
  r.method = "POST";
  r.path = std::move(path);
  r.headers = std::move(headers);
  r.body = "{}";
  return r;
}

std::string HeaderOf(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (Lower(k) == name) return v;
  return "<missing>";
}

// A client sends "%0d%0aX-Injected:%20yes" in a path segment to the gateway's HTTP server: the
// node receives the target as the client wrote it, and no X-Injected header line.
TEST(Forwarding, EscapedCrLfInThePathStaysEscapedUpstream) {
  RawNode node(kOk);
  router::Router router(OneNode(node.url));
  Gateway gw(&router, nullptr, NoProbes());
  TestNode front([&gw](http::Request&& r, http::Responder w) { gw.Handle(std::move(r), std::move(w)); });
  const std::string target = "/accounts/x%0d%0aX-Injected:%20yes/ai/run/@cf/m?q=%0d%0aX-Q:%201";
  http::Client client;
  http::ClientRequest req;
  req.target = target;
  req.body = "{}";
  std::promise<StatusOr<http::ClientResponse>> p;
  client.Send(front.url, req, std::chrono::steady_clock::now() + std::chrono::seconds(10),
              [&p](StatusOr<http::ClientResponse> r) { p.set_value(std::move(r)); });
  auto resp = p.get_future().get();
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->status, 200) << resp->body;
  const auto seen = node.Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].rfind("POST " + target + " HTTP/1.1\r\n", 0), 0u) << seen[0];
  const auto headers = HeaderLines(seen[0]);
  EXPECT_FALSE(HasHeader(headers, "x-injected")) << seen[0];
  EXPECT_FALSE(HasHeader(headers, "x-q")) << seen[0];
}

// A request made in-process has no raw target: its decoded path is encoded again.
TEST(Forwarding, InProcessPathWithCrLfIsEncodedAgain) {
  RawNode node(kOk);
  router::Router router(OneNode(node.url));
  Gateway gw(&router, nullptr, NoProbes());
  auto r = Call(gw, Post("/accounts/x\r\nX-Injected: yes/ai/run/@cf/m"));
  EXPECT_EQ(r.status, 200) << r.body;
  const auto seen = node.Requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].rfind("POST /accounts/x%0D%0AX-Injected:%20yes/ai/run/@cf/m HTTP/1.1\r\n", 0), 0u)
      << seen[0];
  EXPECT_FALSE(HasHeader(HeaderLines(seen[0]), "x-injected")) << seen[0];
}

// RFC 9110 §7.6.1: Connection, the headers it names, Keep-Alive, Proxy-*, TE, Trailer,
// Transfer-Encoding and Upgrade stay on their hop, going up and coming back.
TEST(Forwarding, HopByHopHeadersStayOnTheirHop) {
  RawNode node(
      "HTTP/1.1 200 OK\r\nConnection: X-Node-Private, keep-alive\r\nX-Node-Private: 1\r\n"
      "Proxy-Authenticate: Basic realm=\"n\"\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\n"
      "X-Kept: yes\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  router::Router router(OneNode(node.url));
  Gateway gw(&router, nullptr, NoProbes());
  auto r = Call(gw, Post("/v2/models/m/infer", {{"connection", "keep-alive, X-Secret , x-other"},
                                                {"x-secret", "s"},
                                                {"x-other", "o"},
                                                {"proxy-authorization", "Basic Zm9vOmJhcg=="},
                                                {"proxy-connection", "keep-alive"},
                                                {"keep-alive", "timeout=5"},
                                                {"te", "trailers"},
                                                {"trailer", "x-sum"},
                                                {"upgrade", "h2c"},
                                                {"authorization", "Bearer end-to-end"},
                                                {"x-end-to-end", "kept"}}));
  EXPECT_EQ(r.status, 200) << r.body;
  const auto seen = node.Requests();
  ASSERT_EQ(seen.size(), 1u);
  const auto up = HeaderLines(seen[0]);
  for (const char* name : {"x-secret", "x-other", "proxy-authorization", "proxy-connection", "keep-alive",
                           "te", "trailer", "upgrade", "transfer-encoding"})
    EXPECT_FALSE(HasHeader(up, name)) << name << " was forwarded:\n" << seen[0];
  EXPECT_TRUE(HasHeader(up, "x-end-to-end")) << seen[0];
  EXPECT_TRUE(HasHeader(up, "authorization")) << seen[0];
  for (const char* name : {"x-node-private", "proxy-authenticate", "keep-alive", "upgrade", "connection"})
    EXPECT_EQ(HeaderOf(r, name), "<missing>") << name << " was passed back";
  EXPECT_EQ(HeaderOf(r, "x-kept"), "yes");
}

// A header the gateway could not write on one line is refused with 400 naming it; no node sees
// anything, and the node is not blamed (it still serves the next request).
TEST(Forwarding, UnwritableHeadersAreRefusedBeforeAnyNode) {
  RawNode node(kOk);
  router::RouterOptions ro;
  ro.eject_after_failures = 1;
  router::Router router(OneNode(node.url), ro);
  Gateway gw(&router, nullptr, NoProbes());
  const std::vector<std::pair<std::string, std::string>> bad[] = {
      {{"x-evil", "a\r\nX-Injected: yes"}},
      {{"x-evil", std::string("a\0b", 3)}},
      {{"x-evil", "a\x7f"}},
      {{"x evil", "a"}},
  };
  for (const auto& headers : bad) {
    auto r = Call(gw, Post("/v2/models/m/infer", headers));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("header"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("evil"), std::string::npos) << r.body;
  }
  EXPECT_EQ(node.Requests().size(), 0u);
  auto ok = Call(gw, Post("/v2/models/m/infer", {{"x-fine", "a\tb"}}));
  EXPECT_EQ(ok.status, 200) << ok.body;
  ASSERT_EQ(node.Requests().size(), 1u);
  EXPECT_FALSE(HasHeader(HeaderLines(node.Requests()[0]), "x-injected"));
}

// The upstream client itself refuses what it cannot write: the callback gets InvalidArgument and
// no connection is made.
TEST(Forwarding, UpstreamClientNeverWritesAnUnsafeRequest) {
  RawNode node(kOk);
  http::Client client;
  auto send = [&](http::ClientRequest req, const std::string& url) {
    std::promise<StatusOr<http::ClientResponse>> p;
    client.Send(url, std::move(req), std::chrono::steady_clock::now() + std::chrono::seconds(10),
                [&p](StatusOr<http::ClientResponse> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  };
  std::vector<http::ClientRequest> bad(6);
  bad[0].target = "/a\r\nX-Injected: yes";
  bad[1].target = "/a b";
  bad[2].headers = {{"x-evil", "a\nX-Injected: yes"}};
  bad[3].headers = {{"x-evil\r\nx-injected", "yes"}};
  bad[4].method = "GET /x HTTP/1.1\r\nX-Injected: yes\r\n\r\nGET";
  bad[5].headers = {{"x-evil", std::string("\0", 1)}};
  for (auto& req : bad) {
    auto r = send(req, node.url);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_NE(r.status().message().find("upstream request"), std::string::npos) << r.status().ToString();
  }
  // A node URL whose host would put a line break into Host is refused the same way.
  http::ClientRequest plain;
  auto host = send(plain, "http://127.0.0.1\r\nX-Injected: yes:1");
  EXPECT_FALSE(host.ok());
  EXPECT_EQ(node.Connections(), 0);
  auto fine = send(plain, node.url);
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  ASSERT_EQ(node.Requests().size(), 1u);
  EXPECT_EQ(node.Requests()[0].rfind("POST / HTTP/1.1\r\n", 0), 0u) << node.Requests()[0];
}

TEST(Forwarding, RequestWriterWritesWhatItWasGiven) {
  http::ParsedUrl url{"10.0.0.1", "8000", "/pre"};
  http::ClientRequest req;
  req.target = "/v2/models/m/infer?x=%0d%0a";
  req.headers = {{"x-a", "1\t2"}, {"Authorization", "Bearer t"}};
  req.body = "{}";
  auto out = http::WriteClientRequest(url, req);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->rfind("POST /pre/v2/models/m/infer?x=%0d%0a HTTP/1.1\r\n", 0), 0u) << *out;
  const auto headers = HeaderLines(*out);
  EXPECT_TRUE(HasHeader(headers, "x-a"));
  EXPECT_TRUE(HasHeader(headers, "authorization"));
  EXPECT_TRUE(HasHeader(headers, "host"));
  EXPECT_EQ(out->substr(out->size() - 6), "\r\n\r\n{}");
  req.headers.emplace_back("x-b", "\x01");
  auto bad = http::WriteClientRequest(url, req);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("x-b"), std::string::npos) << bad.status().ToString();
}

// A request the client refuses ends the dispatch at once: no fallback, no failure counted.
TEST(Forwarding, DispatchDoesNotBlameNodesForAnUnwritableRequest) {
  RawNode a(kOk), b(kOk);
  http::Client client;
  Plan plan;
  plan.chain = {Target{"a", a.url}, Target{"b", b.url}};
  plan.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  http::ClientRequest req;
  req.target = "/v2/models/m/infer";
  req.headers = {{"x-evil", "a\r\nX-Injected: yes"}};
  std::vector<std::string> failures, cancels;
  DispatchHooks hooks;
  hooks.on_failure = [&failures](const std::string& n) { failures.push_back(n); };
  hooks.on_cancel = [&cancels](const std::string& n) { cancels.push_back(n); };
  std::promise<Outcome> p;
  Dispatch(&client, std::move(plan), req, hooks, [&p](Outcome o) { p.set_value(std::move(o)); });
  Outcome o = p.get_future().get();
  EXPECT_FALSE(o.served);
  EXPECT_EQ(o.error.code(), StatusCode::kInvalidArgument) << o.error.ToString();
  EXPECT_TRUE(failures.empty());
  EXPECT_EQ(cancels, std::vector<std::string>{"a"});
  EXPECT_EQ(a.Connections() + b.Connections(), 0);
}

// An in-process node sees what a socket would give it: the target as written, its path decoded.
TEST(Forwarding, LocalNodeGetsTheTargetDecodedAsTheServerWould) {
  std::promise<http::Request> seen;
  GatewayOptions o = NoProbes();
  o.local_handler = [&seen](http::Request&& r, http::Responder w) {
    seen.set_value(r);
    w(http::Response{});
  };
  router::Router router(OneNode("local://"));
  Gateway gw(&router, nullptr, o);
  http::Request r = Post("/ai/run/@cf/m");
  r.target = "/ai/run/%40cf/m?x=%20";
  auto resp = Call(gw, std::move(r));
  EXPECT_EQ(resp.status, 200) << resp.body;
  http::Request got = seen.get_future().get();
  EXPECT_EQ(got.target, "/ai/run/%40cf/m?x=%20");
  EXPECT_EQ(got.path, "/ai/run/@cf/m");
  EXPECT_EQ(got.query, "x=%20");
}

}  // namespace
}  // namespace continuum::gateway
