#include "tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <utility>

namespace continuum::tls {

namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2 suites: ECDHE key exchange with an AEAD cipher only (TLS 1.3's are all AEAD).
constexpr const char* kTls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";

void FreeKey(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); }

// The SSL's "host:port", where OnNewSession files the session it is handed.
int KeyIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeKey);
  return index;
}

// The ClientContext of an SSL_CTX (Asio keeps its own callback in the context's app data).
int OwnerIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string LastSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

Status Readable(const std::string& what, const std::string& file) {
  std::ifstream in(file);
  if (!in) return InvalidArgument(what + " " + file + ": cannot be read");
  return Status::Ok();
}

}  // namespace

ClientContext::ClientContext(ClientTlsOptions options)
    : options_(std::move(options)), ctx_(ssl::context::tls_client) {}

ClientContext::~ClientContext() {
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
}

StatusOr<std::shared_ptr<const ClientContext>> ClientContext::Create(const ClientTlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty())
    return InvalidArgument("a client certificate needs both a certificate file and a key file");
  std::shared_ptr<ClientContext> c(new ClientContext(options));
  SSL_CTX* ctx = c->ctx_.native_handle();
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1)
    return Internal("TLS client settings: " + LastSslError());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (options.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1)
      return Internal("the system trust store cannot be loaded: " + LastSslError());
  } else {
    RETURN_IF_ERROR(Readable("CA file", options.ca_file));
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1)
      return InvalidArgument("CA file " + options.ca_file + ": no PEM certificate could be loaded (" +
                             LastSslError() + ")");
  }
  if (!options.cert_file.empty()) {
    RETURN_IF_ERROR(Readable("client certificate file", options.cert_file));
    RETURN_IF_ERROR(Readable("client key file", options.key_file));
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1)
      return InvalidArgument("client certificate file " + options.cert_file + ": " + LastSslError());
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
        return InvalidArgument("client key file " + options.key_file + ": " + LastSslError());
      ERR_clear_error();
      return InvalidArgument("client key file " + options.key_file + " does not match the certificate in " +
                             options.cert_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1)
      return InvalidArgument("client key file " + options.key_file + " does not match the certificate in " +
                             options.cert_file);
  }
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn) - 1);
  // Sessions are kept here, per host:port, not in OpenSSL's internal store (a client's has no
  // lookup by server anyway).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  if (SSL_CTX_set_ex_data(ctx, OwnerIndex(), c.get()) != 1)
    return Internal("TLS client settings: " + LastSslError());
  SSL_CTX_sess_set_new_cb(ctx, &ClientContext::OnNewSession);
  return std::shared_ptr<const ClientContext>(std::move(c));
}

int ClientContext::OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<ClientContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), OwnerIndex()));
  auto* key = static_cast<std::string*>(SSL_get_ex_data(ssl, KeyIndex()));
  if (!self || !key || SSL_SESSION_is_resumable(session) != 1) return 0;
  // A copy: the connection's own is marked not resumable when the connection is dropped without
  // a TLS shutdown, as idle pooled connections are.
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (!copy) return 0;
  std::lock_guard<std::mutex> lock(self->mu_);
  SSL_SESSION*& slot = self->sessions_[*key];
  if (slot) SSL_SESSION_free(slot);
  slot = copy;
  return 0;  // the connection keeps its reference
}

Status ClientContext::Prepare(SSL* ssl, const std::string& host, const std::string& port) const {
  const std::string& name = options_.server_name.empty() ? host : options_.server_name;
  auto* key = new std::string(host + ":" + port);
  if (SSL_set_ex_data(ssl, KeyIndex(), key) != 1) {
    delete key;
    return Internal("TLS: cannot attach the session key");
  }
  if (IsIpAddress(name)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1)
      return InvalidArgument("TLS: bad IP address " + name);
  } else {
    if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1 || SSL_set1_host(ssl, name.c_str()) != 1)
      return InvalidArgument("TLS: bad server name " + name);
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find(*key);
  if (it != sessions_.end()) {
    SSL_set_session(ssl, it->second);  // takes its own reference
    // A TLS 1.3 ticket is offered once (RFC 8446 C.4); the server sends fresh ones.
    if (SSL_SESSION_get_protocol_version(it->second) >= TLS1_3_VERSION) {
      SSL_SESSION_free(it->second);
      sessions_.erase(it);
    }
  }
  return Status::Ok();
}

std::string ClientContext::HandshakeError(SSL* ssl, const boost::system::error_code& ec) {
  long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK)
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  return ec.message();
}

void ClientContext::CountHandshake(SSL* ssl) const {
  (SSL_session_reused(ssl) ? resumed_ : full_).fetch_add(1, std::memory_order_relaxed);
}

}  // namespace continuum::tls
