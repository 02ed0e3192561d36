#include "http/client.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <future>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include "http/internal/request_writer.h"
#include "http/io_loop.h"

namespace continuum::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

const std::string* ClientResponse::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return &v;
  return nullptr;
}

StatusOr<ParsedUrl> ParseHttpUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.compare(0, kScheme.size(), kScheme) != 0)
    return InvalidArgument("url must start with http://: " + url);
  std::string rest = url.substr(kScheme.size());
  ParsedUrl out;
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) out.prefix = rest.substr(slash);
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  size_t colon = hostport.rfind(':');
  if (colon == std::string::npos || (hostport.find(']') != std::string::npos && colon < hostport.find(']'))) {
    out.host = hostport;
    out.port = "80";
  } else {
    out.host = hostport.substr(0, colon);
    out.port = hostport.substr(colon + 1);
  }
  if (!out.host.empty() && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  if (out.host.empty() || out.port.empty() ||
      !std::all_of(out.port.begin(), out.port.end(), [](unsigned char c) { return std::isdigit(c); }))
    return InvalidArgument("bad url: " + url);
  return out;
}

struct Client::Impl {
  explicit Impl(ClientOptions o)
      : options(std::move(o)),
        own_io(options.loop ? std::nullopt : std::optional<asio::io_context>(std::in_place, 1)),
        io(options.loop ? options.loop->context() : *own_io),
        work(asio::make_work_guard(io)) {}
  ClientOptions options;
  std::optional<asio::io_context> own_io;  // without a shared loop
  asio::io_context& io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  // Idle keep-alive connections per "host:port"; touched on the I/O thread only.
  std::map<std::string, std::vector<std::unique_ptr<beast::tcp_stream>>> idle;

  std::unique_ptr<beast::tcp_stream> TakeIdle(const std::string& key) {
    auto it = idle.find(key);
    while (it != idle.end() && !it->second.empty()) {
      auto s = std::move(it->second.back());
      it->second.pop_back();
      if (s->socket().is_open()) return s;
    }
    return nullptr;
  }
  void GiveBack(const std::string& key, std::unique_ptr<beast::tcp_stream> s) {
    auto& v = idle[key];
    if (v.size() >= options.max_idle_per_host) return;
    s->expires_never();
    v.push_back(std::move(s));
  }
};

namespace {

class Call : public ClientCall, public std::enable_shared_from_this<Call> {
 public:
  Call(Client::Impl* impl, ParsedUrl url, internal::ClientWireRequest req,
       std::chrono::steady_clock::time_point deadline, ClientCallback cb)
      : impl_(impl),
        url_(std::move(url)),
        key_(url_.host + ":" + url_.port),
        deadline_(deadline),
        cb_(std::move(cb)),
        resolver_(impl_->io),
        req_(std::move(req)) {}

  void Start() {
    start_ = std::chrono::steady_clock::now();
    if (cancelled_) return Finish(Unavailable("cancelled"));
    if (start_ >= deadline_) return Finish(DeadlineExceeded("deadline passed before sending"));
    stream_ = impl_->TakeIdle(key_);
    if (stream_) {
      reused_ = true;
      return Write();
    }
    Connect();
  }

  void Cancel() override {
    auto self = shared_from_this();
    asio::post(impl_->io, [self] {
      if (self->done_) return;
      self->cancelled_ = true;
      self->resolver_.cancel();
      if (self->stream_) self->stream_->cancel();
    });
  }

 private:
  void Connect() {
    stream_ = std::make_unique<beast::tcp_stream>(impl_->io);
    auto self = shared_from_this();
    resolver_.async_resolve(
        url_.host, url_.port, [self](beast::error_code ec, tcp::resolver::results_type r) {
          if (self->cancelled_) return self->Finish(Unavailable("cancelled"));
          if (ec) return self->Finish(Unavailable("resolve " + self->key_ + ": " + ec.message()));
          self->stream_->expires_at(self->deadline_);
          self->stream_->async_connect(r, [self](beast::error_code ec, const tcp::endpoint&) {
            if (self->cancelled_) return self->Finish(Unavailable("cancelled"));
            if (ec) return self->Finish(self->ErrorFor("connect", ec));
            self->Write();
          });
        });
  }

  void Write() {
    auto self = shared_from_this();
    stream_->expires_at(deadline_);
    bhttp::async_write(*stream_, req_, [self](beast::error_code ec, size_t) {
      if (self->cancelled_) return self->Finish(Unavailable("cancelled"));
      if (ec) return self->RetryOrFail("write", ec);
      self->Read();
    });
  }

  void Read() {
    auto self = shared_from_this();
    parser_.emplace();
    parser_->body_limit(impl_->options.max_response_bytes);
    parser_->header_limit(64 * 1024);
    bhttp::async_read(*stream_, buffer_, *parser_, [self](beast::error_code ec, size_t) {
      if (self->cancelled_) return self->Finish(Unavailable("cancelled"));
      if (ec) return self->RetryOrFail("read", ec);
      self->Done();
    });
  }

  // A pooled connection may have been closed by the node while idle: nothing was received, so
  // the request is retried once on a fresh connection.
  void RetryOrFail(const char* what, beast::error_code ec) {
    bool nothing_received = !parser_ || !parser_->got_some();
    if (reused_ && nothing_received && ec != beast::error::timeout) {
      reused_ = false;
      stream_.reset();
      buffer_.consume(buffer_.size());
      return Connect();
    }
    Finish(ErrorFor(what, ec));
  }

  Status ErrorFor(const char* what, beast::error_code ec) {
    if (ec == beast::error::timeout) return DeadlineExceeded(std::string(what) + " " + key_ + ": timed out");
    return Unavailable(std::string(what) + " " + key_ + ": " + ec.message());
  }

  void Done() {
    auto msg = parser_->release();
    ClientResponse r;
    r.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      r.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    r.body = std::move(msg.body());
    bool keep = msg.keep_alive() && buffer_.size() == 0;
    if (keep) impl_->GiveBack(key_, std::move(stream_));
    Finish(std::move(r));
  }

  void Finish(StatusOr<ClientResponse> result) {
    if (done_) return;
    done_ = true;
    if (stream_) {
      beast::error_code ignored;
      stream_->socket().close(ignored);
      stream_.reset();
    }
    if (result.ok())
      result->duration_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
    auto cb = std::move(cb_);
    if (cb) cb(std::move(result));
  }

  Client::Impl* impl_;  // outlives every call that runs
  ParsedUrl url_;
  std::string key_;
  std::chrono::steady_clock::time_point deadline_, start_;
  ClientCallback cb_;
  tcp::resolver resolver_;
  std::unique_ptr<beast::tcp_stream> stream_;
  internal::ClientWireRequest req_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  beast::flat_buffer buffer_;
  bool reused_ = false, cancelled_ = false, done_ = false;
};

class Timer : public ClientCall, public std::enable_shared_from_this<Timer> {
 public:
  Timer(asio::io_context& io, std::function<void()> fn) : timer_(io), fn_(std::move(fn)) {}
  void Start(std::chrono::microseconds delay) {
    timer_.expires_after(delay);
    auto self = shared_from_this();
    timer_.async_wait([self](beast::error_code ec) {
      if (ec || self->cancelled_) return;
      auto fn = std::move(self->fn_);
      if (fn) fn();
    });
  }
  void Cancel() override {
    auto self = shared_from_this();
    asio::post(timer_.get_executor(), [self] {
      self->cancelled_ = true;
      self->fn_ = nullptr;
      self->timer_.cancel();
    });
  }

 private:
  asio::steady_timer timer_;
  std::function<void()> fn_;
  bool cancelled_ = false;
};

class FailedCall : public ClientCall {
 public:
  void Cancel() override {}
};

}  // namespace

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  if (!impl_->options.loop) impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

Client::~Client() {
  impl_->work.reset();
  // Pending calls refer to impl_: the loop stops here, before it goes, whoever runs it.
  if (impl_->options.loop) {
    impl_->options.loop->Stop();
    return;
  }
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::shared_ptr<ClientCall> Client::Send(const std::string& base_url, ClientRequest request,
                                         std::chrono::steady_clock::time_point deadline,
                                         ClientCallback callback) {
  auto url = ParseHttpUrl(base_url);
  // A request that cannot be written safely fails here, before any connection is made.
  auto wire = url.ok() ? internal::BuildClientRequest(*url, std::move(request))
                       : StatusOr<internal::ClientWireRequest>(url.status());
  if (!wire.ok()) {
    Status st = wire.status();
    asio::post(impl_->io, [cb = std::move(callback), st] { cb(st); });
    return std::make_shared<FailedCall>();
  }
  auto call = std::make_shared<Call>(impl_.get(), std::move(url).value(), std::move(wire).value(), deadline,
                                     std::move(callback));
  asio::post(impl_->io, [call] { call->Start(); });
  return call;
}

std::shared_ptr<ClientCall> Client::After(std::chrono::microseconds delay, std::function<void()> fn) {
  auto t = std::make_shared<Timer>(impl_->io, std::move(fn));
  asio::post(impl_->io, [t, delay] { t->Start(delay); });
  return t;
}

void Client::Post(std::function<void()> fn) { asio::post(impl_->io, std::move(fn)); }

bool Client::InIoThread() const {
  if (impl_->options.loop) return impl_->options.loop->InLoopThread();
  return std::this_thread::get_id() == impl_->thread.get_id();
}

StatusOr<ClientResponse> AwaitCall(Client& client,
                                   const std::function<std::shared_ptr<ClientCall>(ClientCallback)>& send) {
  if (client.InIoThread())
    return FailedPrecondition("a call cannot be waited for on its client's I/O thread");
  std::promise<StatusOr<ClientResponse>> answer;
  send([&answer](StatusOr<ClientResponse> r) { answer.set_value(std::move(r)); });
  return answer.get_future().get();
}

StatusOr<ClientResponse> SendAndWait(Client& client, const std::string& base_url, ClientRequest request,
                                     std::chrono::steady_clock::time_point deadline) {
  return AwaitCall(client, [&](ClientCallback done) {
    return client.Send(base_url, std::move(request), deadline, std::move(done));
  });
}

}  // namespace continuum::http
