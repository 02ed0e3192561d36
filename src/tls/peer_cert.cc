#include "tls/peer_cert.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <memory>

#include "common/sha256.h"

namespace continuum::tls {

namespace {

// A subject longer than this is refused rather than copied whole.
constexpr size_t kMaxSubjectBytes = 16u << 10;

std::string Rfc2253(const X509_NAME* name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio) return {};
  // XN_FLAG_RFC2253 escapes as RFC 2253 asks; without ASN1_STRFLGS_ESC_MSB, UTF-8 stays UTF-8.
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) return {};
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  if (n <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<size_t>(std::min<long>(n, kMaxSubjectBytes)));
}

std::string Utf8(const ASN1_STRING* s) {
  unsigned char* out = nullptr;
  const int n = ASN1_STRING_to_UTF8(&out, s);
  if (n < 0 || out == nullptr) return {};
  std::string r(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  OPENSSL_free(out);
  return r;
}

std::string CommonName(const X509_NAME* name) {
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_commonName, i))
    last = i;
  if (last < 0) return {};
  return Utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last)));
}

std::vector<std::string> DnsNames(const X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_DNS) continue;
    const ASN1_IA5STRING* s = g->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(names);
  return out;
}

int64_t EpochSeconds(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

StatusOr<PeerCertificate> ReadPeerCertificate(std::string_view der) {
  if (der.empty() || der.size() > static_cast<size_t>(LONG_MAX))
    return InvalidArgument("not a DER certificate: empty or too large");
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509, decltype(&X509_free)> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())),
                                                   X509_free);
  if (!cert) return InvalidArgument("not a DER certificate");
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
    return InvalidArgument("not a DER certificate: bytes follow it");
  // OpenSSL also reads BER forms (long lengths, ...) and fingerprints its DER re-encoding: the
  // bytes must be that encoding, so the fingerprint is the SHA-256 of what was given.
  ASSIGN_OR_RETURN(PeerCertificate out, ReadPeerCertificate(cert.get()));
  if (out.sha256 != Sha256Hex(der))
    return InvalidArgument("not a DER certificate: not in canonical DER form");
  return out;
}

StatusOr<PeerCertificate> ReadPeerCertificate(const x509_st* cert) {
  if (cert == nullptr) return InvalidArgument("no certificate");
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert, &der);
  if (n <= 0 || der == nullptr) return InvalidArgument("the certificate cannot be encoded as DER");
  PeerCertificate out;
  out.sha256 = Sha256Hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(n)));
  OPENSSL_free(der);
  const X509_NAME* subject = X509_get_subject_name(cert);
  out.subject = Rfc2253(subject);
  out.common_name = CommonName(subject);
  out.dns_names = DnsNames(cert);
  out.not_after = EpochSeconds(X509_get0_notAfter(cert));
  return out;
}

}  // namespace continuum::tls
