#include "http/client.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "http/internal/request_writer.h"
#include "http/internal/response_parser.h"
#include "http/io_loop.h"
#include "tls/client_context.h"

namespace continuum::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
// A plain socket on the loop's own executor type: no type-erased executor copied through every
// operation, and no timer armed per operation (a call has one deadline timer).
using Stream = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
using TlsStream = asio::ssl::stream<Stream>;

// One connection to a node: a plain socket, or TLS over one (which keeps its settings alive).
struct Connection {
  Connection(asio::io_context& io, std::shared_ptr<const tls::ClientContext> settings)
      : tls(std::move(settings)) {
    if (tls) {
      secure.emplace(io.get_executor(), tls->context());
    } else {
      plain.emplace(io.get_executor());
    }
  }
  Stream& socket() { return secure ? secure->next_layer() : *plain; }
  // Calls `f` with the stream the HTTP bytes go through.
  template <class F>
  void Visit(F&& f) {
    if (secure) {
      f(*secure);
    } else {
      f(*plain);
    }
  }
  std::shared_ptr<const tls::ClientContext> tls;
  std::optional<Stream> plain;
  std::optional<TlsStream> secure;
};

const std::string* ClientResponse::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return &v;
  return nullptr;
}

StatusOr<ParsedUrl> ParseHttpUrl(const std::string& url) {
  constexpr std::string_view kHttp = "http://", kHttps = "https://";
  ParsedUrl out;
  std::string rest;
  if (url.compare(0, kHttp.size(), kHttp) == 0) {
    rest = url.substr(kHttp.size());
  } else if (url.compare(0, kHttps.size(), kHttps) == 0) {
    rest = url.substr(kHttps.size());
    out.tls = true;
  } else {
    return InvalidArgument("url must start with http:// or https://: " + url);
  }
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) out.prefix = rest.substr(slash);
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  size_t colon = hostport.rfind(':');
  if (colon == std::string::npos || (hostport.find(']') != std::string::npos && colon < hostport.find(']'))) {
    out.host = hostport;
    out.port = out.tls ? "443" : "80";
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

// One loop of the client and what only its thread touches.
struct ClientLane {
  asio::io_context* io;
  IoLoop* loop;  // null: the client's own thread
  // Idle keep-alive connections per "host:port" (plain) or "https://host:port settings".
  std::map<std::string, std::vector<std::unique_ptr<Connection>>, std::less<>> idle;
};

struct Client::Impl {
  explicit Impl(ClientOptions o)
      : options(std::move(o)),
        own_io(options.loops.empty() ? std::optional<asio::io_context>(std::in_place, 1) : std::nullopt) {
    if (own_io) {
      work.emplace(asio::make_work_guard(*own_io));
      lanes.push_back(ClientLane{&*own_io, nullptr, {}});
    }
    for (const auto& l : options.loops) lanes.push_back(ClientLane{&l->context(), l.get(), {}});
  }
  ClientOptions options;
  std::optional<asio::io_context> own_io;  // without shared loops
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::vector<ClientLane> lanes;  // fixed after construction
  std::atomic<size_t> next_lane{0};

  // The lane of the calling thread, or SIZE_MAX.
  size_t CurrentLane() const {
    if (own_io) return std::this_thread::get_id() == thread.get_id() ? 0 : SIZE_MAX;
    for (size_t i = 0; i < lanes.size(); ++i)
      if (lanes[i].loop->InLoopThread()) return i;
    return SIZE_MAX;
  }
  size_t Pick() {
    size_t here = CurrentLane();
    if (here != SIZE_MAX) return here;
    return next_lane.fetch_add(1, std::memory_order_relaxed) % lanes.size();
  }
  ClientLane& Lane(size_t i) { return lanes[i < lanes.size() ? i : 0]; }

  std::unique_ptr<Connection> TakeIdle(ClientLane& lane, const std::string& key) {
    auto it = lane.idle.find(key);
    while (it != lane.idle.end() && !it->second.empty()) {
      auto s = std::move(it->second.back());
      it->second.pop_back();
      if (s->socket().is_open()) return s;
    }
    return nullptr;
  }
  void GiveBack(ClientLane& lane, const std::string& key, std::unique_ptr<Connection> s) {
    auto& v = lane.idle[key];
    if (v.size() >= options.max_idle_per_host) return;
    v.push_back(std::move(s));
  }

  // The TLS settings of an https:// call to `base_url`, or the error that makes it impossible.
  StatusOr<std::shared_ptr<const tls::ClientContext>> TlsFor(
      const std::string& base_url, std::shared_ptr<const tls::ClientContext> given) {
    if (given) return given;
    if (auto it = options.tls_by_url.find(base_url); it != options.tls_by_url.end() && it->second)
      return it->second;
    if (options.tls) return options.tls;
    std::call_once(default_tls_once, [this] {
      auto c = tls::ClientContext::Create({});
      if (c.ok()) {
        default_tls = std::move(c).value();
      } else {
        default_tls_error = c.status();
      }
    });
    if (!default_tls) return Unavailable("TLS: " + default_tls_error.message());
    return default_tls;
  }
  std::once_flag default_tls_once;
  std::shared_ptr<const tls::ClientContext> default_tls;  // the system trust store
  Status default_tls_error;
};

namespace {

// What the first read of an answer asks for (a small answer arrives whole in it).
constexpr size_t kFirstReadBytes = size_t{16} * 1024;

class Call : public ClientCall, public std::enable_shared_from_this<Call> {
 public:
  Call(Client::Impl* impl, ClientLane* lane, ParsedUrl url, std::shared_ptr<const tls::ClientContext> tls,
       internal::ClientWireRequest req, std::chrono::steady_clock::time_point deadline, ClientCallback cb,
       ClientRequest extras)
      : impl_(impl),
        lane_(lane),
        url_(std::move(url)),
        key_(url_.host + ":" + url_.port),
        tls_(std::move(tls)),
        pool_key_(tls_ ? "https://" + key_ + " " + std::to_string(reinterpret_cast<uintptr_t>(tls_.get()))
                       : key_),
        deadline_(deadline),
        cb_(std::move(cb)),
        timer_(*lane_->io),
        head_(internal::ClientRequestHead(req)),
        body_(std::move(req.body())),
        head_request_(extras.method == "HEAD"),
        max_body_(extras.max_response_bytes ? extras.max_response_bytes : impl->options.max_response_bytes),
        sink_(std::move(extras.body_sink)),
        source_(std::move(extras.body_source)),
        source_bytes_(extras.body_source_bytes),
        max_write_(std::max<size_t>(impl->options.max_write_bytes, 1)),
        max_read_(std::max<size_t>(impl->options.max_read_bytes, kFirstReadBytes)) {}

  void Start() {
    start_ = std::chrono::steady_clock::now();
    if (cancelled_) return Finish(Unavailable("cancelled"));
    if (start_ >= deadline_) return Finish(DeadlineExceeded("deadline passed before sending"));
    // One timer for the whole call (resolve, connect, write, read): at the deadline it aborts
    // whatever is in flight, whose completion then answers DeadlineExceeded.
    timer_.expires_at(deadline_);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->done_) return;
      self->timed_out_ = true;
      self->Abort();
    });
    stream_ = impl_->TakeIdle(*lane_, pool_key_);
    if (stream_) {
      reused_ = true;
      return Write();
    }
    Connect();
  }

  void Cancel() override {
    auto self = shared_from_this();
    asio::post(*lane_->io, [self] {
      if (self->done_) return;
      self->cancelled_ = true;
      self->Abort();
    });
  }

 private:
  // Closed, not only cancelled: a connect over several addresses would go on to the next one.
  void Abort() {
    if (resolver_) resolver_->cancel();
    beast::error_code ignored;
    if (stream_) stream_->socket().close(ignored);
  }

  // True (and the call finished) once cancelled or past its deadline: `what` was in flight.
  bool Ended(const char* what) {
    if (cancelled_) {
      Finish(Unavailable("cancelled"));
    } else if (timed_out_) {
      Finish(DeadlineExceeded(std::string(what) + " " + key_ + ": timed out"));
    } else {
      return false;
    }
    return true;
  }

  void Connect() {
    stream_ = std::make_unique<Connection>(*lane_->io, tls_);
    if (!resolver_) resolver_.emplace(*lane_->io);  // only when a connection is made
    auto self = shared_from_this();
    resolver_->async_resolve(
        url_.host, url_.port, [self](beast::error_code ec, const tcp::resolver::results_type& r) {
          if (self->Ended("resolve")) return;
          if (ec) return self->Finish(Unavailable("resolve " + self->key_ + ": " + ec.message()));
          asio::async_connect(self->stream_->socket(), r, [self](beast::error_code ec, const tcp::endpoint&) {
            if (self->Ended("connect")) return;
            if (ec) return self->Finish(self->ErrorFor("connect", ec));
            if (self->tls_) return self->Handshake();
            self->Write();
          });
        });
  }

  // TLS over the connected socket, within the call's deadline; a certificate that fails the
  // check ends the call with the reason, and nothing is sent.
  void Handshake() {
    SSL* ssl = stream_->secure->native_handle();
    if (Status st = tls_->Prepare(ssl, url_.host, url_.port); !st.ok())
      return Finish(Unavailable("TLS handshake with " + key_ + " failed: " + st.message()));
    auto self = shared_from_this();
    stream_->secure->async_handshake(asio::ssl::stream_base::client, [self](beast::error_code ec) {
      if (self->Ended("TLS handshake with")) return;
      SSL* ssl = self->stream_->secure->native_handle();
      if (ec)
        return self->Finish(Unavailable("TLS handshake with " + self->key_ +
                                        " failed: " + tls::ClientContext::HandshakeError(ssl, ec)));
      self->tls_->CountHandshake(ssl);
      self->Write();
    });
  }

  void Write() {
    if (source_) return WriteFromSource(0);
    auto self = shared_from_this();
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body_)};
    stream_->Visit([&](auto& s) {
      asio::async_write(s, buffers, [self](beast::error_code ec, size_t) {
        if (self->Ended("write")) return;
        if (ec) return self->RetryOrFail("write", ec);
        self->Read();
      });
    });
  }

  // The body from ClientRequest::body_source, a piece at a time from `offset`; the head goes in
  // the same gathered write as the first piece.
  void WriteFromSource(uint64_t offset) {
    const uint64_t left = source_bytes_ - offset;
    size_t n = 0;
    if (left > 0) {
      piece_.resize(static_cast<size_t>(std::min<uint64_t>(left, max_write_)));
      auto got = source_(offset, std::span<char>(piece_.data(), piece_.size()));
      if (!got.ok()) return Finish(got.status());
      if (*got == 0 || *got > piece_.size())
        return Finish(FailedPrecondition("the body source gave " + std::to_string(*got) +
                                         " bytes at offset " + std::to_string(offset) + " of " +
                                         std::to_string(source_bytes_)));
      n = *got;
    }
    auto self = shared_from_this();
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(offset == 0 ? head_ : std::string_view()),
                                                    asio::buffer(piece_.data(), n)};
    stream_->Visit([&](auto& s) {
      asio::async_write(s, buffers, [self, next = offset + n](beast::error_code ec, size_t) {
        if (self->Ended("write")) return;
        if (ec) return self->RetryOrFail("write", ec);
        if (next == self->source_bytes_) return self->Read();
        self->WriteFromSource(next);
      });
    });
  }

  void Read() {
    parser_.emplace();
    parser_->body_limit(max_body_);
    parser_->header_limit(64 * 1024);
    parser_->eager(true);                    // each put takes every byte of the buffer it can
    if (head_request_) parser_->skip(true);  // a HEAD answer's Content-Length announces no body
    if (sink_) parser_->set_body_sink(sink_);
    read_size_ = kFirstReadBytes;
    Parse();
  }

  // Hands what the buffer holds to the parser, then reads more until the answer is complete.
  void Parse() {
    beast::error_code ec;
    while (buffer_.size() > 0 && !parser_->is_done()) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return RetryOrFail("read", ec);
      if (used == 0) break;
    }
    if (parser_->is_done()) return Done();
    ReadSome();
  }

  // One read of at most read_size_ bytes. Beast's own read asks for 512 bytes while its buffer is
  // small and never more than 64 KiB, so a large body (a blob streamed to a file) took hundreds of
  // thousands of reads; here a read that fills what was asked for doubles the next one, up to
  // ClientOptions::max_read_bytes, and a small answer still needs only a small buffer.
  void ReadSome() {
    auto self = shared_from_this();
    const size_t want = read_size_;
    stream_->Visit([&](auto& s) {
      s.async_read_some(buffer_.prepare(want), [self, want](beast::error_code ec, size_t n) {
        if (self->Ended("read")) return;
        self->buffer_.commit(n);
        if (ec == asio::error::eof) {
          // The peer closed: the end of an answer delimited by the close, else a short answer.
          if (!self->parser_->got_some()) return self->RetryOrFail("read", bhttp::error::end_of_stream);
          ec = {};
          self->parser_->put_eof(ec);
          if (ec) return self->RetryOrFail("read", ec);
          return self->Done();
        }
        if (ec) return self->RetryOrFail("read", ec);
        if (n == want) self->read_size_ = std::min(want * 2, self->max_read_);
        self->Parse();
      });
    });
  }

  // A pooled connection may have been closed by the node while idle: nothing was received, so
  // the request is retried once on a fresh connection.
  void RetryOrFail(const char* what, beast::error_code ec) {
    if (parser_ && !parser_->sink_error().ok()) return Finish(parser_->sink_error());
    bool nothing_received = !parser_ || !parser_->got_some();
    if (reused_ && nothing_received) {
      reused_ = false;
      stream_.reset();
      buffer_.consume(buffer_.size());
      return Connect();
    }
    Finish(ErrorFor(what, ec));
  }

  Status ErrorFor(const char* what, beast::error_code ec) {
    return Unavailable(std::string(what) + " " + key_ + ": " + ec.message());
  }

  void Done() {
    ClientResponse r = std::move(parser_->response());  // header names already lower-cased
    // Kept only when the answer left the connection reusable: HTTP/1.1 without "close" (1.0 with
    // "keep-alive"), its end marked by length or chunking (not by the node closing), nothing
    // unread after it.
    bool keep = parser_->keep_alive() && buffer_.size() == 0;
    if (keep) impl_->GiveBack(*lane_, pool_key_, std::move(stream_));
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
    timer_.cancel();  // its wait holds the call
    if (result.ok())
      result->duration_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
    auto cb = std::move(cb_);
    if (cb) cb(std::move(result));
  }

  Client::Impl* impl_;  // outlives every call that runs
  ClientLane* lane_;    // the loop the call runs on
  ParsedUrl url_;
  std::string key_;                                // host:port, for messages
  std::shared_ptr<const tls::ClientContext> tls_;  // null: plain http
  std::string pool_key_;                           // where its idle connections are kept
  std::chrono::steady_clock::time_point deadline_, start_;
  ClientCallback cb_;
  asio::steady_timer timer_;  // the call's deadline
  std::optional<tcp::resolver> resolver_;
  std::unique_ptr<Connection> stream_;
  const std::string head_, body_;  // the request as written (ClientRequestHead), kept for a retry
  const bool head_request_;        // HEAD: the answer has no body
  const size_t max_body_;
  const std::function<Status(const ClientResponse&, std::string_view)> sink_;
  const std::function<StatusOr<size_t>(uint64_t, std::span<char>)> source_;
  const uint64_t source_bytes_;
  const size_t max_write_;
  std::string piece_;  // the piece of the source's body being written
  std::optional<internal::ResponseParser> parser_;
  beast::flat_buffer buffer_;
  const size_t max_read_;  // the most bytes one read asks for
  size_t read_size_ = 0;   // what the next read asks for
  bool reused_ = false, cancelled_ = false, timed_out_ = false, done_ = false;
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
  if (impl_->own_io) impl_->thread = std::thread([impl = impl_.get()] { impl->own_io->run(); });
}

Client::~Client() {
  // Pending calls refer to impl_: the loops stop here, before it goes, whoever runs them.
  if (!impl_->own_io) {
    for (const auto& l : impl_->options.loops) l->Stop();
    return;
  }
  impl_->work.reset();
  impl_->own_io->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::shared_ptr<ClientCall> Client::Send(const std::string& base_url, ClientRequest request,
                                         std::chrono::steady_clock::time_point deadline,
                                         ClientCallback callback) {
  ClientLane& lane = impl_->Lane(impl_->Pick());
  auto url = ParseHttpUrl(base_url);
  std::shared_ptr<const tls::ClientContext> settings;
  Status st = url.status();
  if (st.ok() && url->tls) {
    auto t = impl_->TlsFor(base_url, std::move(request.tls));
    if (t.ok()) {
      settings = std::move(t).value();
    } else {
      st = t.status();
    }
  }
  // What the call itself uses, not written on the wire.
  ClientRequest extras;
  extras.method = request.method;
  extras.max_response_bytes = request.max_response_bytes;
  extras.body_sink = std::move(request.body_sink);
  extras.body_source = request.body_source;  // the writer needs it too: it sets the length
  extras.body_source_bytes = request.body_source_bytes;
  // A request that cannot be written safely fails here, before any connection is made.
  auto wire = st.ok() ? internal::BuildClientRequest(*url, std::move(request))
                      : StatusOr<internal::ClientWireRequest>(st);
  if (!wire.ok()) {
    asio::post(*lane.io, [cb = std::move(callback), st = wire.status()] { cb(st); });
    return std::make_shared<FailedCall>();
  }
  auto call =
      std::make_shared<Call>(impl_.get(), &lane, std::move(url).value(), std::move(settings),
                             std::move(wire).value(), deadline, std::move(callback), std::move(extras));
  asio::post(*lane.io, [call] { call->Start(); });
  return call;
}

size_t Client::PickLoop() { return impl_->Pick(); }

size_t Client::loop_count() const { return impl_->lanes.size(); }

std::shared_ptr<ClientCall> Client::After(std::chrono::microseconds delay, std::function<void()> fn) {
  return After(PickLoop(), delay, std::move(fn));
}

std::shared_ptr<ClientCall> Client::After(size_t loop, std::chrono::microseconds delay,
                                          std::function<void()> fn) {
  asio::io_context& io = *impl_->Lane(loop).io;
  auto t = std::make_shared<Timer>(io, std::move(fn));
  asio::post(io, [t, delay] { t->Start(delay); });
  return t;
}

void Client::Post(std::function<void()> fn) { Post(PickLoop(), std::move(fn)); }

void Client::Post(size_t loop, std::function<void()> fn) { asio::post(*impl_->Lane(loop).io, std::move(fn)); }

bool Client::InIoThread() const { return impl_->CurrentLane() != SIZE_MAX; }

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
