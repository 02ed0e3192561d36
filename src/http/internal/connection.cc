#include "http/internal/connection.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdint>
#include <limits>
#include <string_view>
#include <utility>

#include "common/log.h"
#include "http/internal/wire.h"
#include "http/io_loop.h"
#include "tls/peer_cert.h"
#include "tls/server_context.h"

namespace continuum::http::internal {
namespace bhttp = beast::http;

namespace {

constexpr size_t kHeaderReadChunk = 8u << 10;
constexpr size_t kBodyReadChunk = 64u << 10;
constexpr size_t kIdleBufferCapacity = 16u << 10;  // larger read buffers are freed between requests
constexpr size_t kMaxLingerBytes = 1u << 20;       // drained at most before a hard close
constexpr size_t kWatchReadChunk = 4u << 10;       // what WatchPeer reads at a time
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Deadline `d` from now; a non-positive `d` disables the timeout.
Clock::time_point After(std::chrono::milliseconds d) {
  if (d.count() <= 0) return Clock::time_point::max();
  const auto now = Clock::now();
  if (d >= std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now)) {
    return Clock::time_point::max();
  }
  return now + d;
}

// What the handshake settled, and the client certificate when one was presented.
std::shared_ptr<const TlsInfo> MakeTlsInfo(SSL* ssl) {
  auto info = std::make_shared<TlsInfo>();
  info->version = SSL_get_version(ssl);
  if (const char* cipher = SSL_get_cipher_name(ssl)) info->cipher = cipher;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn != nullptr) info->alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (const X509* peer = SSL_get0_peer_certificate(ssl)) {
    info->client_verified = SSL_get_verify_result(ssl) == X509_V_OK;
    if (auto cert = tls::ReadPeerCertificate(peer); cert.ok()) {
      info->client_subject = std::move(cert->subject);
      info->client_common_name = std::move(cert->common_name);
      info->client_sha256 = std::move(cert->sha256);
    } else {
      info->client_verified = false;
    }
  }
  return info;
}

// Shared by all copies of one Responder. The first call wins; whoever drops the last copy
// without answering triggers a 500, so a forgotten responder cannot park a connection forever.
class ResponderState {
 public:
  ResponderState(std::weak_ptr<Connection> conn, std::shared_ptr<Lifeline> lifeline, uint64_t generation)
      : conn_(std::move(conn)), lifeline_(std::move(lifeline)), generation_(generation) {}

  ~ResponderState() {
    if (done_.load(std::memory_order_acquire)) return;
    try {
      Response r;
      r.status = 500;
      r.body = JsonError("the request handler dropped the request without responding");
      Deliver(std::move(r));
    } catch (...) {
    }
  }

  ResponderState(const ResponderState&) = delete;
  ResponderState& operator=(const ResponderState&) = delete;

  void Send(Response&& response) noexcept {
    if (done_.exchange(true, std::memory_order_acq_rel)) return;
    Deliver(std::move(response));
  }

 private:
  void Deliver(Response&& response) noexcept {
    // seq_cst on both sides: either Stop sees our increment and waits, or we see alive == false.
    lifeline_->users.fetch_add(1);
    if (lifeline_->alive.load()) {
      try {
        if (auto conn = conn_.lock()) conn->PostResponse(generation_, std::move(response));
      } catch (...) {
      }
    }
    lifeline_->users.fetch_sub(1);
  }

  const std::weak_ptr<Connection> conn_;
  const std::shared_ptr<Lifeline> lifeline_;
  const uint64_t generation_;
  std::atomic<bool> done_{false};
};

}  // namespace

bool ServerShared::Register(Connection* c) {
  std::lock_guard<std::mutex> lock(mu);
  if (stopping || count >= options.max_connections) return false;
  c->next_ = head;
  if (head != nullptr) head->prev_ = c;
  head = c;
  ++count;
  c->registered_ = true;
  return true;
}

Connection::Connection(ServerShared& shared, tcp::socket socket, Strand strand, std::string remote)
    : shared_(shared),
      options_(shared.options),
      strand_(std::move(strand)),
      stream_(std::move(socket)),
      timer_(strand_),
      remote_(std::move(remote)) {
  for (const auto& loop : options_.loops) {
    if (&loop->context() == &strand_.context()) loop_ = loop.get();
  }
  if (options_.tls) {
    ssl_context_ = options_.tls->Current();
    ssl_.emplace(stream_.socket(), *ssl_context_);
    phase_ = Phase::kHandshake;
  }
}

Connection::~Connection() {
  std::lock_guard<std::mutex> lock(shared_.mu);
  if (!registered_) return;
  if (prev_ != nullptr) {
    prev_->next_ = next_;
  } else {
    shared_.head = next_;
  }
  if (next_ != nullptr) next_->prev_ = prev_;
  --shared_.count;
}

void Connection::Start() {
  if (phase_ == Phase::kClosed) return;  // Stop got here first
  try {
    beast::error_code ignored;
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    if (ssl_) {
      // The handshake must be done within handshake_timeout of the accept.
      deadline_ = After(options_.tls->options().handshake_timeout);
      ArmTimer();
      ssl_->async_handshake(net::ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) { self->OnHandshake(ec); });
      return;
    }
    // The first request's header block must arrive within header_timeout of the accept.
    deadline_ = After(options_.header_timeout);
    ArmTimer();
    StartRequest();
  } catch (...) {
    CloseNow();
  }
}

void Connection::OnHandshake(beast::error_code ec) {
  if (phase_ == Phase::kClosed) return;
  try {
    if (ec) {
      tls::HandshakeStats::Add(shared_.tls_stats->failed);
      if (LogEnabled(LogLevel::kDebug))
        Log(LogLevel::kDebug, "TLS handshake with " + remote_ + " failed: " + ec.message());
      CloseNow();
      return;
    }
    tls::HandshakeStats::Add(shared_.tls_stats->ok);
    if (SSL_session_reused(ssl_->native_handle()) == 1) tls::HandshakeStats::Add(shared_.tls_stats->resumed);
    tls_info_ = MakeTlsInfo(ssl_->native_handle());
    // The first request's header block must arrive within header_timeout of the handshake.
    phase_ = Phase::kIdle;
    SetDeadline(After(options_.header_timeout));
    StartRequest();
  } catch (...) {
    CloseNow();
  }
}

void Connection::Shutdown() {
  net::post(strand_, [self = shared_from_this()] { self->CloseNow(); });
}

void Connection::Abandon() noexcept {
  phase_ = Phase::kClosed;
  beast::error_code ignored;
  stream_.socket().close(ignored);
}

void Connection::PostResponse(uint64_t generation, Response&& response) {
  // The loop's one thread runs every handler of this connection: on it, nothing of the
  // connection can run concurrently, so the answer is written now. The strand's dispatch also ran
  // it at once there (a forwarded answer arrives on the client's completion, outside the strand
  // but inside the loop), after taking the strand's lock and wrapping the answer in a queued handler.
  if (loop_ != nullptr && loop_->InLoopThread()) {
    OnResponse(generation, std::move(response));
    return;
  }
  // Runs inline when called on this strand (a handler answering synchronously), else posts.
  net::dispatch(strand_, [self = shared_from_this(), generation, response = std::move(response)]() mutable {
    self->OnResponse(generation, std::move(response));
  });
}

// ---- timer -------------------------------------------------------------------------------

void Connection::ArmTimer() {
  timer_.expires_at(deadline_);
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) { self->OnTimer(ec); });
}

void Connection::SetDeadline(Clock::time_point t) {
  deadline_ = t;
  // Only an earlier deadline needs the wait re-armed: expires_at cancels it and OnTimer re-arms.
  if (t < timer_.expiry()) timer_.expires_at(t);
}

void Connection::OnTimer(beast::error_code) {
  if (phase_ == Phase::kClosed) return;
  try {
    if (deadline_ <= Clock::now()) {
      switch (phase_) {
        case Phase::kHeader:
        case Phase::kBody:
          if (timed_out_) {  // the cancelled operation never reported back
            CloseNow();
            return;
          }
          // Cancel the pending read (or 100-continue write); its completion answers 408.
          timed_out_ = true;
          {
            beast::error_code ignored;
            stream_.socket().cancel(ignored);
          }
          deadline_ = After(options_.write_timeout);
          if (deadline_ == Clock::time_point::max()) deadline_ = Clock::now() + std::chrono::seconds(5);
          break;
        case Phase::kHandler: deadline_ = Clock::time_point::max(); break;
        case Phase::kHandshake:  // slow, silent or stuck handshake
          tls::HandshakeStats::Add(shared_.tls_stats->timeout);
          CloseNow();
          return;
        case Phase::kIdle:    // keep-alive idle, or a new connection that sent nothing
        case Phase::kWrite:   // client not reading
        case Phase::kLinger:  // done draining
        case Phase::kClosed: CloseNow(); return;
      }
    }
    ArmTimer();
  } catch (...) {
    CloseNow();
  }
}

// ---- reading -----------------------------------------------------------------------------

void Connection::StartRequest() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<size_t>(options_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser_->body_limit(static_cast<std::uint64_t>(options_.max_body_bytes));
  timed_out_ = false;
  if (buffer_.size() == 0) {
    // No read is pending into buffer_ here (only WatchPeer's, into its own buffer).
    if (buffer_.capacity() > kIdleBufferCapacity) buffer_.shrink_to_fit();
    phase_ = Phase::kIdle;
    if (!first_request_) SetDeadline(After(options_.idle_timeout));
    Read();
  } else {
    EnterHeader();  // pipelined bytes already buffered
    Parse();
  }
}

void Connection::EnterHeader() {
  phase_ = Phase::kHeader;
  if (!first_request_) SetDeadline(After(options_.header_timeout));
}

void Connection::Read() {
  if (read_pending_) return;  // WatchPeer's read is still out: its completion continues
  read_pending_ = true;
  size_t chunk = kHeaderReadChunk;
  if (phase_ == Phase::kBody) {
    const auto length = parser_->content_length();
    if (!length || *length > kHeaderReadChunk) chunk = kBodyReadChunk;
  }
  AsyncReadSome(buffer_.prepare(chunk),
                [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnRead(ec, n); });
}

void Connection::OnRead(beast::error_code ec, size_t n) {
  read_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  try {
    if (phase_ != Phase::kLinger && !ec && !timed_out_) buffer_.commit(n);
    AfterRead(ec, n);
  } catch (...) {
    CloseNow();
  }
}

void Connection::WatchPeer() {
  if (read_pending_ || buffer_.size() >= options_.max_header_bytes) return;
  if (!watch_buf_) watch_buf_ = std::make_unique<char[]>(kWatchReadChunk);
  read_pending_ = true;
  AsyncReadSome(net::buffer(watch_buf_.get(), kWatchReadChunk),
                [self = shared_from_this()](beast::error_code ec, size_t n) { self->OnWatchRead(ec, n); });
}

void Connection::OnWatchRead(beast::error_code ec, size_t n) {
  read_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  try {
    if (phase_ != Phase::kLinger && !ec && !timed_out_ && n > 0) {
      net::buffer_copy(buffer_.prepare(n), net::buffer(watch_buf_.get(), n));
      buffer_.commit(n);
    }
    AfterRead(ec, n);
  } catch (...) {
    CloseNow();
  }
}

void Connection::AfterRead(beast::error_code ec, size_t n) {
  if (phase_ == Phase::kHandler) {
    if (ec) {  // the client is gone: its request need not run, its answer has nowhere to go
      cancel_.Cancel();
      CloseNow();
    } else {
      WatchPeer();
    }
    return;
  }
  if (phase_ == Phase::kWrite) {
    // The write finishes (or fails) by itself; OnWrite then closes or reads what is buffered.
    if (ec) peer_gone_ = true;
    return;
  }
  if (phase_ == Phase::kLinger && ssl_) {
    // A read from before the close_notify went out; the shutdown's own read drains the rest.
    if (ec) CloseNow();
    return;
  }
  if (phase_ == Phase::kLinger) {
    lingered_bytes_ += n;  // discarded: never committed
    if (ec || lingered_bytes_ > kMaxLingerBytes) {
      CloseNow();
    } else {
      Read();
    }
    return;
  }
  if (timed_out_) {
    SendError(408, "timed out reading the request");
    return;
  }
  if (ec) {  // EOF, reset, ...: nothing sensible to answer
    CloseNow();
    return;
  }
  if (phase_ == Phase::kIdle) EnterHeader();
  Parse();
}

void Connection::Parse() {
  for (;;) {
    if (buffer_.size() == 0) {
      Read();
      return;
    }
    beast::error_code ec;
    const size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::need_more) {
      Read();
      return;
    }
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        SendError(431, "request header fields too large: the limit is " +
                           std::to_string(options_.max_header_bytes) + " bytes (--max-header-bytes)");
      } else if (ec == bhttp::error::body_limit) {
        SendError(413, "request body too large: the limit is " + std::to_string(options_.max_body_bytes) +
                           " bytes (--max-body-bytes)");
      } else {
        SendError(400, "malformed HTTP request: " + ec.message());
      }
      return;
    }
    if (phase_ == Phase::kHeader && parser_->is_header_done()) {
      if (!OnHeaderDone()) return;
    } else if (used == 0 && !parser_->is_done()) {
      Read();
      return;
    }
    if (parser_->is_done()) {
      Dispatch();
      return;
    }
  }
}

bool Connection::OnHeaderDone() {
  // RFC 7230 3.3.3: a request Transfer-Encoding that does not end in chunked has no knowable
  // length. Beast ignores such a header; we must not, or the stream desynchronises.
  if (!parser_->chunked() && parser_->has_transfer_encoding()) {
    SendError(400, "unsupported transfer-encoding");
    return false;
  }
  if (parser_->is_done()) return true;
  phase_ = Phase::kBody;
  SetDeadline(After(options_.body_timeout));
  if (buffer_.size() == 0 && parser_->version() >= 11) {
    const std::string* expect = parser_->expect();
    if (expect != nullptr && beast::iequals(*expect, "100-continue")) {
      AsyncWrite(net::const_buffer(kContinue.data(), kContinue.size()),
                 [self = shared_from_this()](beast::error_code ec, size_t) { self->OnContinueWritten(ec); });
      return false;
    }
  }
  return true;
}

void Connection::OnContinueWritten(beast::error_code ec) {
  if (phase_ == Phase::kClosed) return;
  try {
    if (ec || timed_out_) {
      CloseNow();
      return;
    }
    Parse();
  } catch (...) {
    CloseNow();
  }
}

// ---- handing off -------------------------------------------------------------------------

Responder Connection::MakeResponder() {
  auto state = std::make_shared<ResponderState>(weak_from_this(), shared_.lifeline, generation_);
  return [state = std::move(state)](Response response) { state->Send(std::move(response)); };
}

void Connection::Dispatch() {
  Request& parsed = parser_->request();
  if (!ParseTarget(parsed.target, parsed.path, parsed.query)) {
    SendError(400, "malformed request target");
    return;
  }
  keep_alive_ = parser_->keep_alive();
  http10_ = parser_->version() < 11;
  head_request_ = parser_->method() == bhttp::verb::head;
  Request req = std::move(parsed);
  req.remote = remote_;
  req.tls = tls_info_;
  cancel_ = CancelToken::Make();
  req.cancel = cancel_;
  parser_.reset();

  first_request_ = false;
  phase_ = Phase::kHandler;
  deadline_ = Clock::time_point::max();  // no deadline while the handler works
  ++generation_;
  Responder responder = MakeResponder();
  // Started before the handler runs: a handler that answers inline moves the phase on, and the
  // read's completion then sees that (it never completes inside this call).
  WatchPeer();
  try {
    shared_.handler(std::move(req), std::move(responder));
  } catch (...) {
    // A responder destroyed during unwinding answers 500 by itself.
  }
  // Nothing may follow: the handler may have answered inline and the connection moved on.
}

// ---- writing -----------------------------------------------------------------------------

void Connection::OnResponse(uint64_t generation, Response&& response) {
  if (phase_ != Phase::kHandler || generation != generation_) return;
  try {
    if (response.status < 200 || response.status > 999) {
      response.status = 500;
      response.content_type = "application/json";
      response.headers.clear();
      response.body = JsonError("the request handler returned an invalid status");
    }
    if (ExtraHeadersRequestClose(response.headers)) keep_alive_ = false;
    close_after_write_ = !keep_alive_;
    response_body_ = std::move(response.body);
    StartWrite(response.status, response.content_type, &response.headers, !head_request_);
  } catch (...) {
    CloseNow();
  }
}

void Connection::SendError(int status, std::string_view message) {
  const bool head = parser_ && parser_->is_header_done() && parser_->method() == bhttp::verb::head;
  parser_.reset();
  close_after_write_ = true;
  response_body_ = JsonError(message);
  StartWrite(status, "application/json", nullptr, !head);
}

void Connection::StartWrite(int status, std::string_view content_type,
                            const std::vector<std::pair<std::string, std::string>>* extra, bool send_body) {
  ResponseHead head;
  head.status = status;
  head.content_type = content_type;
  head.extra = extra;
  head.content_length = response_body_.size();
  if (close_after_write_) {
    head.connection = ConnectionHeader::kClose;
  } else if (http10_) {
    head.connection = ConnectionHeader::kKeepAlive;
  }
  head_.clear();
  AppendResponseHead(head_, head);
  if (!send_body || !StatusAllowsBody(status)) std::string().swap(response_body_);

  phase_ = Phase::kWrite;
  timed_out_ = false;
  SetDeadline(After(options_.write_timeout));
  const std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(response_body_)};
  AsyncWrite(buffers, [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
}

void Connection::OnWrite(beast::error_code ec) {
  if (phase_ == Phase::kClosed) return;
  try {
    if (ec) {
      CloseNow();
      return;
    }
    std::string().swap(response_body_);
    cancel_ = CancelToken();
    if (peer_gone_) {
      CloseNow();
      return;
    }
    if (close_after_write_) {
      Linger();
      return;
    }
    StartRequest();
  } catch (...) {
    CloseNow();
  }
}

void Connection::Linger() {
  if (ssl_) {
    LingerTls();
    return;
  }
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    CloseNow();
    return;
  }
  if (BeginLinger()) Read();
}

// Enters the linger phase with its deadline; false (and closed) when lingering is disabled.
bool Connection::BeginLinger() {
  phase_ = Phase::kLinger;
  lingered_bytes_ = 0;
  parser_.reset();
  buffer_.consume(buffer_.size());
  SetDeadline(After(options_.linger_timeout));
  if (deadline_ == Clock::time_point::max()) {
    CloseNow();  // lingering disabled
    return false;
  }
  return true;
}

// Sends close_notify and waits for the peer's (or its close) within linger_timeout, reading and
// discarding what it still sends; then closes.
void Connection::LingerTls() {
  if (!BeginLinger()) return;
  ssl_->async_shutdown([self = shared_from_this()](beast::error_code) { self->CloseNow(); });
}

void Connection::CloseNow() noexcept {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  beast::error_code ignored;
  stream_.socket().close(ignored);
  try {
    timer_.cancel();
  } catch (...) {
  }
  parser_.reset();
}

}  // namespace continuum::http::internal
