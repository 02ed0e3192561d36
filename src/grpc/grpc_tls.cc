#include "grpc/grpc_tls.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>
#include <fstream>
#include <vector>

namespace continuum::grpc_api {
namespace {

grpc_ssl_client_certificate_request_type RequestType(tls::ClientAuth auth) {
  switch (auth) {
    case tls::ClientAuth::kNone: return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    case tls::ClientAuth::kOptional: return GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    case tls::ClientAuth::kRequire: return GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
}

StatusOr<std::string> Slurp(const std::string& path, std::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) return InvalidArgument(std::string(flag) + " " + path + ": cannot be read");
  return data;
}

}  // namespace

StatusOr<std::shared_ptr<::grpc::ServerCredentials>> MakeGrpcServerCredentials(
    const tls::ServerTlsOptions& o) {
  // The files are checked exactly as the HTTP listener checks them (a context without a watcher,
  // dropped at once): one set of rules and messages for every listener.
  tls::ServerTlsOptions check = o;
  check.reload_interval = std::chrono::milliseconds(0);
  RETURN_IF_ERROR(tls::ServerContext::Load(check).status());

  std::shared_ptr<::grpc::experimental::CertificateProviderInterface> provider;
  if (o.reload_interval.count() == 0) {
    ASSIGN_OR_RETURN(std::string cert, Slurp(o.cert_file, "--tls-cert"));
    ASSIGN_OR_RETURN(std::string key, Slurp(o.key_file, "--tls-key"));
    std::string ca;
    if (!o.client_ca_file.empty()) {
      ASSIGN_OR_RETURN(ca, Slurp(o.client_ca_file, "--tls-client-ca"));
    }
    provider = std::make_shared<::grpc::experimental::StaticDataCertificateProvider>(
        ca, std::vector<::grpc::experimental::IdentityKeyCertPair>{{key, cert}});
  } else {
    // gRPC counts in whole seconds: rounded up, the files are never checked more often than asked.
    const auto seconds = static_cast<unsigned>(std::clamp<int64_t>((o.reload_interval.count() + 999) / 1000,
                                                                   1, std::numeric_limits<int32_t>::max()));
    provider = std::make_shared<::grpc::experimental::FileWatcherCertificateProvider>(
        o.key_file, o.cert_file, o.client_ca_file, seconds);
  }
  // TLS 1.2 is gRPC's minimum and 1.3 its maximum (1.51's C++ API has no setter for either), and
  // its TLS 1.2 cipher list is ECDHE with AES-GCM (GRPC_SSL_CIPHER_SUITES): the project's policy.
  ::grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!o.client_ca_file.empty()) options.watch_root_certs();
  options.set_cert_request_type(RequestType(o.client_auth));
  return ::grpc::experimental::TlsServerCredentials(options);
}

}  // namespace continuum::grpc_api
