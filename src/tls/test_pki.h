// Test certificates made with OpenSSL's API, for the TLS tests of every component (never for
// production use): a CA, server and client leaves it signs, and the bad cases a TLS test needs
// (expired, wrong host, self-signed, signed by another CA). Keys are ECDSA P-256.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace continuum::tls::testing {

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

struct CertSpec {
  std::string common_name;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries ("127.0.0.1", "::1")
  // Validity, in seconds relative to now (negative: in the past).
  long not_before_s = -3600;
  long not_after_s = 365L * 24 * 3600;
  bool server = true;        // extendedKeyUsage serverAuth
  bool client = false;       // extendedKeyUsage clientAuth
  std::string organization;  // subject O, when not empty
};

StatusOr<KeyPair> MakeCa(const std::string& common_name);
// A leaf signed by `issuer` (a CA from MakeCa); a self-signed leaf when `issuer` is null.
StatusOr<KeyPair> MakeLeaf(const KeyPair* issuer, const CertSpec& spec);

// Writes the standard test PKI into `dir` (created if missing), each as NAME.pem + NAME.key:
//   ca                 the trusted CA (ca.pem; ca.key signs the others)
//   server             CN=localhost, SAN localhost, 127.0.0.1, ::1 (serverAuth)
//   server2            the same names, a different key: what a rotation swaps in
//   client             CN=tenant-a, O=continuum-tests (clientAuth), signed by ca
//   client-b           CN=tenant-b (clientAuth), signed by ca
//   expired            like server, expired an hour ago
//   not-yet-valid      like server, valid from tomorrow
//   wrong-host         CN/SAN other.example only
//   self-signed        like server, self-signed
//   other-ca           another CA, not trusted by anyone
//   other-ca-server    like server, signed by other-ca
//   other-ca-client    like client, signed by other-ca
// plus server-chain.pem (server.pem followed by ca.pem).
Status WriteTestPki(const std::string& dir);

}  // namespace continuum::tls::testing
