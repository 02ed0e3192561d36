// TLS on the gRPC endpoint: gRPC's TLS server credentials over the same certificate, key and
// client CA files as the HTTP listener (serve's --tls-* flags, tls::ServerTlsOptions). The files
// are checked by loading them as the HTTP listener does (tls::ServerContext), so a missing file,
// a key that does not match its certificate or an unusable CA bundle is an error at start, not a
// failed handshake later. With a reload interval gRPC's FileWatcherCertificateProvider re-reads
// them (in whole seconds, at least 1): a certificate replaced on disk is used by new handshakes,
// and open connections keep theirs. With 0 the files are read once; SIGHUP does not reach gRPC.
#pragma once

#include <memory>

#include "common/status.h"
#include "tls/server_context.h"

namespace grpc {
class ServerCredentials;  // grpcpp/security/server_credentials.h, kept out of this header
}

namespace continuum::grpc_api {

// Credentials for ServerBuilder::AddListeningPort (`options` enabled). Errors: kInvalidArgument
// naming the flag or the file and what is wrong with it.
StatusOr<std::shared_ptr<::grpc::ServerCredentials>> MakeGrpcServerCredentials(
    const tls::ServerTlsOptions& options);

}  // namespace continuum::grpc_api
