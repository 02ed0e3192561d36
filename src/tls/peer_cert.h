// Reads the fields of a peer's X.509 certificate that the server hands on (http::TlsInfo) and that
// tenants are bound to: the subject in RFC 2253 form, the common name, the SHA-256 of the DER
// encoding, the DNS names of subjectAltName and the end of validity.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct x509_st;  // OpenSSL's X509

namespace continuum::tls {

struct PeerCertificate {
  std::string subject;                 // RFC 2253, e.g. "CN=tenant-a,O=continuum-tests"
  std::string common_name;             // the subject's (last) CN, UTF-8; empty when it has none
  std::string sha256;                  // lower-case hex SHA-256 of the DER encoding
  std::vector<std::string> dns_names;  // subjectAltName DNS entries
  int64_t not_after = 0;               // end of validity, seconds since the Unix epoch
};

// From DER bytes; kInvalidArgument when they are not one whole certificate in canonical DER.
StatusOr<PeerCertificate> ReadPeerCertificate(std::string_view der);
// From a parsed certificate (not null).
StatusOr<PeerCertificate> ReadPeerCertificate(const x509_st* cert);

}  // namespace continuum::tls
