#include "cli/server_flags.h"

#include <memory>
#include <utility>

namespace continuum::cli {

ServerFlags::ServerFlags(std::string default_address, int64_t default_port)
    : address_(std::move(default_address)), port_(default_port) {
  const http::ServerOptions d;
  max_body_bytes_ = static_cast<int64_t>(d.max_body_bytes);
  max_header_bytes_ = static_cast<int64_t>(d.max_header_bytes);
  max_connections_ = static_cast<int64_t>(d.max_connections);
  max_accepts_per_wakeup_ = static_cast<int64_t>(d.max_accepts_per_wakeup);
  header_timeout_ms_ = d.header_timeout.count();
  body_timeout_ms_ = d.body_timeout.count();
  idle_timeout_ms_ = d.idle_timeout.count();
  write_timeout_ms_ = d.write_timeout.count();
  const tls::ServerTlsOptions t;
  tls_handshake_timeout_ms_ = t.handshake_timeout.count();
  tls_reload_interval_ms_ = t.reload_interval.count();
}

void ServerFlags::Register(Flags& f) {
  f.Int("http-port", &port_, "HTTP port (0: pick a free one and print it)");
  f.String("http-address", &address_, "address to listen on");
  f.Int("http-thread-count", &io_threads_, "HTTP I/O threads");
  f.Int("max-body-bytes", &max_body_bytes_, "largest request body accepted (413 beyond)");
  f.Int("max-header-bytes", &max_header_bytes_, "largest request header block accepted (431 beyond)");
  f.Int("header-timeout-ms", &header_timeout_ms_, "time allowed to receive a request's headers (408 beyond)");
  f.Int("body-timeout-ms", &body_timeout_ms_, "time allowed to receive a request's body (408 beyond)");
  f.Int("idle-timeout-ms", &idle_timeout_ms_, "keep-alive connections idle this long are closed");
  f.Int("write-timeout-ms", &write_timeout_ms_, "time allowed to write a response to a slow reader");
  f.Int("max-connections", &max_connections_, "open connections beyond this are refused");
  f.Int("max-accepts-per-wakeup", &max_accepts_per_wakeup_,
        "connections accepted in one turn of the I/O loop when several arrive at once");
  f.String("tls-cert", &tls_cert_,
           "serve HTTPS (every listener) with this certificate (PEM: the leaf, then intermediates)");
  f.String("tls-key", &tls_key_, "with --tls-cert: its private key (PEM)");
  f.String("tls-client-ca", &tls_client_ca_,
           "with --tls-cert: CA bundle (PEM) client certificates must chain to");
  f.String("tls-client-auth", &tls_client_auth_,
           "with --tls-cert: none | optional | require (default: require with --tls-client-ca, else none)");
  f.Int("tls-handshake-timeout-ms", &tls_handshake_timeout_ms_, "time allowed for a TLS handshake");
  f.Int("tls-reload-interval-ms", &tls_reload_interval_ms_,
        "how often the TLS files are checked for change and reloaded (0: only on SIGHUP)");
}

namespace {

Status InRange(const char* flag, int64_t v, int64_t lo, int64_t hi) {
  if (v >= lo && v <= hi) return Status::Ok();
  return InvalidArgument("--" + std::string(flag) + ": " + std::to_string(v) + " is out of range [" +
                         std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

}  // namespace

tls::ServerTlsOptions ServerFlags::TlsOptions() const {
  tls::ServerTlsOptions t;
  t.cert_file = tls_cert_;
  t.key_file = tls_key_;
  t.client_ca_file = tls_client_ca_;
  if (!tls_client_auth_.empty()) {
    auto auth = tls::ParseClientAuth(tls_client_auth_);
    if (auth.ok()) t.client_auth = *auth;
  } else if (!tls_client_ca_.empty()) {
    t.client_auth = tls::ClientAuth::kRequire;
  }
  t.handshake_timeout = std::chrono::milliseconds(tls_handshake_timeout_ms_);
  t.reload_interval = std::chrono::milliseconds(tls_reload_interval_ms_);
  return t;
}

Status ServerFlags::CheckTls() const {
  constexpr int64_t kDay = 86'400'000;
  RETURN_IF_ERROR(InRange("tls-handshake-timeout-ms", tls_handshake_timeout_ms_, 1, kDay));
  RETURN_IF_ERROR(InRange("tls-reload-interval-ms", tls_reload_interval_ms_, 0, kDay));
  if (!tls_client_auth_.empty()) {
    auto auth = tls::ParseClientAuth(tls_client_auth_);
    if (!auth.ok()) return InvalidArgument("--tls-client-auth: " + auth.status().message());
  }
  return TlsOptions().Check();
}

StatusOr<http::ServerOptions> ServerFlags::Options() const {
  auto range = InRange;
  constexpr int64_t kDay = 86'400'000;
  RETURN_IF_ERROR(range("http-port", port_, 0, 65535));
  RETURN_IF_ERROR(range("http-thread-count", io_threads_, 1, 1024));
  RETURN_IF_ERROR(range("max-body-bytes", max_body_bytes_, 1, int64_t{1} << 40));
  RETURN_IF_ERROR(range("max-header-bytes", max_header_bytes_, 256, int64_t{1} << 30));
  RETURN_IF_ERROR(range("header-timeout-ms", header_timeout_ms_, 1, kDay));
  RETURN_IF_ERROR(range("body-timeout-ms", body_timeout_ms_, 1, kDay));
  RETURN_IF_ERROR(range("idle-timeout-ms", idle_timeout_ms_, 1, kDay));
  RETURN_IF_ERROR(range("write-timeout-ms", write_timeout_ms_, 1, kDay));
  RETURN_IF_ERROR(range("max-connections", max_connections_, 1, 1'000'000));
  RETURN_IF_ERROR(range("max-accepts-per-wakeup", max_accepts_per_wakeup_, 1, 1'000'000));
  RETURN_IF_ERROR(CheckTls());
  http::ServerOptions o;
  o.address = address_;
  o.port = static_cast<uint16_t>(port_);
  o.io_threads = static_cast<int>(io_threads_);
  o.max_body_bytes = static_cast<size_t>(max_body_bytes_);
  o.max_header_bytes = static_cast<size_t>(max_header_bytes_);
  o.header_timeout = std::chrono::milliseconds(header_timeout_ms_);
  o.body_timeout = std::chrono::milliseconds(body_timeout_ms_);
  o.idle_timeout = std::chrono::milliseconds(idle_timeout_ms_);
  o.write_timeout = std::chrono::milliseconds(write_timeout_ms_);
  o.max_connections = static_cast<size_t>(max_connections_);
  o.max_accepts_per_wakeup = static_cast<size_t>(max_accepts_per_wakeup_);
  if (const tls::ServerTlsOptions t = TlsOptions(); t.enabled()) {
    ASSIGN_OR_RETURN(o.tls, tls::ServerContext::Load(t));
  }
  return o;
}

FilterFlags::FilterFlags(int64_t default_admin_port, std::string admin_routes)
    : admin_routes_(std::move(admin_routes)), admin_port_(default_admin_port) {}

void FilterFlags::Register(Flags& f) {
  f.String("filters", &config_path_, "AI-gateway filter chain config (JSON, see src/filters/README.md)");
  f.Int("admin-port", &admin_port_,
        "with --filters: admin API port (" + admin_routes_ + "; 0: pick a free one)");
  f.String("admin-address", &admin_address_, "with --filters: admin API address (keep it private)");
}

Status FilterFlags::Check() const { return InRange("admin-port", admin_port_, 0, 65535); }

http::ServerOptions FilterFlags::AdminOptions(std::shared_ptr<tls::ServerContext> tls) const {
  http::ServerOptions o;
  o.tls = std::move(tls);
  o.address = admin_address_;
  o.port = static_cast<uint16_t>(admin_port_);
  return o;
}

}  // namespace continuum::cli
