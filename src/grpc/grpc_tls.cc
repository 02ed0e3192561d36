#include "grpc/grpc_tls.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

namespace continuum::grpc_api {
namespace {

// The largest certificate, key or CA file read (a CA bundle of the whole web is ~250 KiB).
constexpr std::streamsize kMaxPemBytes = 4 << 20;

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "not valid PEM";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

StatusOr<std::string> ReadPem(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(std::string(what) + " " + path + ": cannot be read");
  std::string data(static_cast<size_t>(kMaxPemBytes) + 1, '\0');
  in.read(data.data(), kMaxPemBytes + 1);
  data.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) return InvalidArgument(std::string(what) + " " + path + ": cannot be read");
  if (data.size() > static_cast<size_t>(kMaxPemBytes)) {
    return InvalidArgument(std::string(what) + " " + path + ": larger than " + std::to_string(kMaxPemBytes) +
                           " bytes");
  }
  if (data.empty()) return InvalidArgument(std::string(what) + " " + path + ": is empty");
  return data;
}

// The chain parses, the key parses and belongs to the chain's first certificate.
Status CheckIdentity(const GrpcTlsOptions& o, const std::string& key_pem) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Internal("TLS: cannot create an OpenSSL context: " + OpenSslError());
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert_file.c_str()) != 1) {
    return InvalidArgument("--tls-cert " + o.cert_file + ": " + OpenSslError());
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return InvalidArgument("--tls-key " + o.key_file + ": not a PEM private key: " + OpenSslError());
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    return InvalidArgument("--tls-key " + o.key_file + ": does not match the certificate in " + o.cert_file);
  }
  return Status::Ok();
}

// Every PEM block of the bundle is a certificate, and there is at least one.
Status CheckCaBundle(const std::string& path, const std::string& pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  int count = 0;
  ERR_clear_error();
  while (true) {
    std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    ++count;
  }
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (last != 0 && !clean_end) return InvalidArgument("--tls-client-ca " + path + ": " + OpenSslError());
  ERR_clear_error();
  if (count == 0) return InvalidArgument("--tls-client-ca " + path + ": holds no PEM certificate");
  return Status::Ok();
}

grpc_ssl_client_certificate_request_type RequestType(GrpcClientAuth auth) {
  switch (auth) {
    case GrpcClientAuth::kNone: return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    case GrpcClientAuth::kOptional: return GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    case GrpcClientAuth::kRequire: return GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
}

}  // namespace

StatusOr<std::shared_ptr<::grpc::ServerCredentials>> MakeGrpcServerCredentials(const GrpcTlsOptions& o) {
  if (o.key_file.empty()) return InvalidArgument("--tls-cert needs --tls-key");
  if (o.client_auth != GrpcClientAuth::kNone && o.client_ca_file.empty()) {
    return InvalidArgument("--tls-client-auth optional or require needs --tls-client-ca");
  }
  if (o.reload_interval.count() < 0) return InvalidArgument("--tls-reload-interval-ms must not be negative");
  if (o.handshake_timeout.count() < 1 || o.handshake_timeout.count() > INT32_MAX) {
    return InvalidArgument("--tls-handshake-timeout-ms must be between 1 and 2147483647");
  }
  ASSIGN_OR_RETURN(std::string cert, ReadPem(o.cert_file, "--tls-cert"));
  ASSIGN_OR_RETURN(std::string key, ReadPem(o.key_file, "--tls-key"));
  RETURN_IF_ERROR(CheckIdentity(o, key));
  std::string ca;
  if (!o.client_ca_file.empty()) {
    ASSIGN_OR_RETURN(ca, ReadPem(o.client_ca_file, "--tls-client-ca"));
    RETURN_IF_ERROR(CheckCaBundle(o.client_ca_file, ca));
  }
  std::shared_ptr<::grpc::experimental::CertificateProviderInterface> provider;
  if (o.reload_interval.count() == 0) {
    provider = std::make_shared<::grpc::experimental::StaticDataCertificateProvider>(
        ca, std::vector<::grpc::experimental::IdentityKeyCertPair>{{key, cert}});
  } else {
    // gRPC counts in whole seconds: round up, so the files are never checked more often than asked.
    const auto seconds =
        static_cast<unsigned>(std::max<int64_t>(1, (o.reload_interval.count() + 999) / 1000));
    provider = std::make_shared<::grpc::experimental::FileWatcherCertificateProvider>(
        o.key_file, o.cert_file, o.client_ca_file, seconds);
  }
  // gRPC's TLS stack negotiates TLS 1.2 and 1.3 only, and its TLS 1.2 cipher list is ECDHE with
  // AES-GCM (GRPC_SSL_CIPHER_SUITES); 1.51's C++ API cannot narrow either further.
  ::grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!ca.empty()) options.watch_root_certs();
  options.set_cert_request_type(RequestType(o.client_auth));
  return ::grpc::experimental::TlsServerCredentials(options);
}

}  // namespace continuum::grpc_api
