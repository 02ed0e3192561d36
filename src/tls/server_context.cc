#include "tls/server_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <boost/asio/ssl/context.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "common/log.h"

namespace continuum::tls {

namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites: ECDHE key exchange with an AEAD cipher only (TLS 1.3's are all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr unsigned char kSessionIdContext[] = "continuum";
constexpr long kSessionCacheSize = 20480;
constexpr unsigned char kAlpnHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};

// OpenSSL's error queue, drained into one line.
std::string OpenSslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

StatusOr<std::string> ReadFile(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(std::string(flag) + " " + path + ": cannot read: " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return InvalidArgument(std::string(flag) + " " + path + ": read failed");
  return s.str();
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

BioPtr MemBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// Every certificate of a PEM file, in order; an error when there is none or a block is damaged.
StatusOr<std::vector<X509Ptr>> ReadCertificates(const char* flag, const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadFile(flag, path));
  BioPtr bio = MemBio(pem);
  std::vector<X509Ptr> certs;
  ERR_clear_error();
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(x);
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (certs.empty() || (last != 0 && !clean_end)) {
    const std::string why = certs.empty() ? "no PEM certificate in it" : "a damaged PEM block";
    ERR_clear_error();
    return InvalidArgument(std::string(flag) + " " + path + ": " + why);
  }
  ERR_clear_error();
  return certs;
}

void WarnIfOutOfValidity(const std::string& path, X509* leaf) {
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
    LogWarning("--tls-cert " + path + ": the certificate has expired; clients will refuse it");
  } else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0) {
    LogWarning("--tls-cert " + path + ": the certificate is not valid yet; clients will refuse it");
  }
}

Status UseCertificateAndKey(SSL_CTX* ctx, const ServerTlsOptions& o) {
  ASSIGN_OR_RETURN(std::vector<X509Ptr> chain, ReadCertificates("--tls-cert", o.cert_file));
  if (SSL_CTX_use_certificate(ctx, chain.front().get()) != 1)
    return InvalidArgument("--tls-cert " + o.cert_file + ": unusable certificate: " + OpenSslErrors());
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1)
      return InvalidArgument("--tls-cert " + o.cert_file + ": unusable intermediate certificate " +
                             std::to_string(i) + ": " + OpenSslErrors());
  }
  WarnIfOutOfValidity(o.cert_file, chain.front().get());

  ASSIGN_OR_RETURN(std::string key_pem, ReadFile("--tls-key", o.key_file));
  BioPtr bio = MemBio(key_pem);
  // No passphrase callback: an encrypted key fails here instead of prompting.
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!key) {
    ERR_clear_error();
    return InvalidArgument("--tls-key " + o.key_file + ": no PEM private key in it (or it is encrypted)");
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return InvalidArgument("--tls-key " + o.key_file + ": the key does not match the certificate in " +
                           o.cert_file);
  }
  return Status::Ok();
}

Status UseClientVerification(SSL_CTX* ctx, const ServerTlsOptions& o) {
  if (o.client_auth == ClientAuth::kNone) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::vector<X509Ptr> cas, ReadCertificates("--tls-client-ca", o.client_ca_file));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  if (names == nullptr) return Internal("out of memory");
  for (const X509Ptr& ca : cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return InvalidArgument("--tls-client-ca " + o.client_ca_file + ": unusable CA: " + OpenSslErrors());
    }
    X509_NAME* name = X509_NAME_dup(X509_get_subject_name(ca.get()));
    if (name == nullptr || sk_X509_NAME_push(names, name) == 0) {
      X509_NAME_free(name);
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return Internal("out of memory");
    }
  }
  SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership: what the server asks clients for
  int mode = SSL_VERIFY_PEER;
  if (o.client_auth == ClientAuth::kRequire) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  SSL_CTX_set_verify_depth(ctx, o.max_client_chain_depth + 1);
  return Status::Ok();
}

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  // `in`: the client's protocols, each prefixed by its length.
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == sizeof kAlpnHttp11 && std::memcmp(in + i + 1, kAlpnHttp11, len) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;  // go on without ALPN: the connection speaks HTTP/1.1 regardless
}

StatusOr<std::shared_ptr<ssl::context>> BuildContext(const ServerTlsOptions& o) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // The chain sent is the one in --tls-cert, as given: without this, OpenSSL would complete it
  // from the store that holds --tls-client-ca, and a client trusting another CA would see the
  // client CA as "self-signed certificate in certificate chain".
  SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1)
    return Internal("TLS cipher list: " + OpenSslErrors());
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, kSessionCacheSize);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, nullptr);
  RETURN_IF_ERROR(UseCertificateAndKey(ctx, o));
  RETURN_IF_ERROR(UseClientVerification(ctx, o));
  return context;
}

// notAfter of the context's certificate in unix seconds (0 when it has none or it cannot be read).
int64_t NotAfterOf(ssl::context& context) {
  X509* leaf = SSL_CTX_get0_certificate(context.native_handle());
  if (leaf == nullptr) return 0;
  struct tm t {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &t) != 1) return 0;
  return static_cast<int64_t>(timegm(&t));
}

// What a file holds now (empty when it cannot be read). The files are small and read whole:
// a rewrite within the file system's timestamp granularity, same size, is still seen.
std::string ContentOf(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The contexts alive in the process, for ReloadAll (SIGHUP).
std::mutex registry_mu;
std::vector<std::weak_ptr<ServerContext>>& Registry() {
  static auto* contexts = new std::vector<std::weak_ptr<ServerContext>>();
  return *contexts;
}

}  // namespace

StatusOr<ClientAuth> ParseClientAuth(std::string_view name) {
  if (name == "none") return ClientAuth::kNone;
  if (name == "optional") return ClientAuth::kOptional;
  if (name == "require") return ClientAuth::kRequire;
  return InvalidArgument("'" + std::string(name) + "' is not one of none, optional, require");
}

std::string_view ClientAuthName(ClientAuth auth) {
  switch (auth) {
    case ClientAuth::kNone: return "none";
    case ClientAuth::kOptional: return "optional";
    case ClientAuth::kRequire: return "require";
  }
  return "none";
}

Status ServerTlsOptions::Check() const {
  if (cert_file.empty()) {
    if (!key_file.empty()) return InvalidArgument("--tls-key needs --tls-cert");
    if (!client_ca_file.empty()) return InvalidArgument("--tls-client-ca needs --tls-cert");
    if (client_auth != ClientAuth::kNone) return InvalidArgument("--tls-client-auth needs --tls-cert");
    return Status::Ok();
  }
  if (key_file.empty()) return InvalidArgument("--tls-cert needs --tls-key");
  if (client_auth != ClientAuth::kNone && client_ca_file.empty())
    return InvalidArgument("--tls-client-auth " + std::string(ClientAuthName(client_auth)) +
                           " needs --tls-client-ca");
  if (handshake_timeout.count() <= 0) return InvalidArgument("--tls-handshake-timeout-ms must be positive");
  if (reload_interval.count() < 0) return InvalidArgument("--tls-reload-interval-ms must not be negative");
  if (max_client_chain_depth < 0 || max_client_chain_depth > 100)
    return InvalidArgument("the client certificate chain depth must lie in [0, 100]");
  return Status::Ok();
}

struct ServerContext::FileStamps {
  std::array<std::string, 3> contents;
  bool operator==(const FileStamps& b) const { return contents == b.contents; }
  static FileStamps Of(const ServerTlsOptions& o) {
    return FileStamps{{ContentOf(o.cert_file), ContentOf(o.key_file), ContentOf(o.client_ca_file)}};
  }
};

ServerContext::ServerContext(const ServerTlsOptions& options) : options_(options) {}

StatusOr<std::shared_ptr<ServerContext>> ServerContext::Load(const ServerTlsOptions& options) {
  RETURN_IF_ERROR(options.Check());
  if (!options.enabled()) return InvalidArgument("TLS needs --tls-cert and --tls-key");
  std::shared_ptr<ServerContext> sc(new ServerContext(options));
  sc->stamps_ = std::make_unique<FileStamps>(FileStamps::Of(options));
  ASSIGN_OR_RETURN(sc->current_, BuildContext(options));
  sc->not_after_.store(NotAfterOf(*sc->current_), std::memory_order_relaxed);
  if (options.reload_interval.count() > 0) {
    // The watcher must not take the process's signals (the main thread waits for them):
    // it starts with every signal blocked.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
      sc->watcher_ = std::thread([raw = sc.get()] { raw->Watch(); });
    } catch (const std::exception& e) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      return Internal(std::string("cannot start the TLS file watcher: ") + e.what());
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  {
    std::lock_guard<std::mutex> lock(registry_mu);
    auto& r = Registry();
    r.erase(std::remove_if(r.begin(), r.end(), [](const auto& w) { return w.expired(); }), r.end());
    r.push_back(sc);
  }
  return sc;
}

ServerContext::~ServerContext() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

std::shared_ptr<ssl::context> ServerContext::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

uint64_t ServerContext::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

Status ServerContext::Reload() {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  // Stamped before reading: a file written during the read is seen as changed next time.
  auto stamps = std::make_unique<FileStamps>(FileStamps::Of(options_));
  auto built = BuildContext(options_);
  std::lock_guard<std::mutex> lock(mu_);
  stamps_ = std::move(stamps);
  if (!built.ok()) {
    reloads_failed_.fetch_add(1, std::memory_order_relaxed);
    return built.status();
  }
  current_ = std::move(built).value();
  not_after_.store(NotAfterOf(*current_), std::memory_order_relaxed);
  ++generation_;
  reloads_ok_.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

bool ServerContext::ReloadIfChanged() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (*stamps_ == FileStamps::Of(options_)) return false;
  }
  if (Status st = Reload(); !st.ok()) {
    LogWarning("TLS certificate files changed but did not reload (the previous ones stay): " + st.message());
    return false;
  }
  LogInfo("TLS certificate reloaded from " + options_.cert_file);
  return true;
}

void ServerContext::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.reload_interval, [this] { return stopping_; });
    if (stopping_) return;
    lock.unlock();
    try {
      ReloadIfChanged();
    } catch (...) {
    }
    lock.lock();
  }
}

int ServerContext::ReloadAll() {
  std::vector<std::shared_ptr<ServerContext>> live;
  {
    std::lock_guard<std::mutex> lock(registry_mu);
    for (const auto& w : Registry())
      if (auto sc = w.lock()) live.push_back(std::move(sc));
  }
  int failed = 0;
  for (const auto& sc : live) {
    if (Status st = sc->Reload(); !st.ok()) {
      ++failed;
      LogWarning("TLS reload failed (the previous certificate stays): " + st.message());
    } else {
      LogInfo("TLS certificate reloaded from " + sc->options().cert_file);
    }
  }
  return failed;
}

}  // namespace continuum::tls
