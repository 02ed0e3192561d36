// TLS on the gRPC endpoint: server credentials over the same certificate, key and client CA files
// as the HTTP listener (serve's --tls-* flags). The files are checked with OpenSSL before the
// server starts, so a missing file, a key that does not match its certificate or a CA bundle
// without a certificate is an error at start, not a failed handshake later. With a reload
// interval gRPC's FileWatcherCertificateProvider re-reads them (whole seconds, at least 1): a
// certificate replaced on disk is used by new handshakes, open connections keep theirs.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"

namespace grpc {
class ServerCredentials;  // grpcpp/security/server_credentials.h, kept out of this header
}

namespace continuum::grpc_api {

enum class GrpcClientAuth { kNone, kOptional, kRequire };

struct GrpcTlsOptions {
  std::string cert_file;       // PEM: the leaf first, then intermediates; empty: plaintext
  std::string key_file;        // PEM private key of the leaf
  std::string client_ca_file;  // PEM bundle client certificates are verified against
  GrpcClientAuth client_auth = GrpcClientAuth::kNone;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds reload_interval{2000};  // 0: the files are read once
  bool enabled() const { return !cert_file.empty(); }
};

// Credentials for ServerBuilder::AddListeningPort. Errors: kInvalidArgument naming the file and
// what is wrong with it, or an option that contradicts another.
StatusOr<std::shared_ptr<::grpc::ServerCredentials>> MakeGrpcServerCredentials(const GrpcTlsOptions& options);

}  // namespace continuum::grpc_api
