#include "tls/test_pki.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <memory>

namespace continuum::tls::testing {
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PKeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

PKeyPtr NewKey() { return PKeyPtr(EVP_EC_gen("P-256")); }

std::string BioString(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return BioString(bio.get());
}

std::string CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return BioString(bio.get());
}

bool AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

bool SetName(X509_NAME* name, const std::string& cn, const std::string& org) {
  if (!org.empty() &&
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0) != 1)
    return false;
  return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1;
}

X509Ptr NewCert(EVP_PKEY* key, const std::string& cn, const std::string& org, long not_before_s,
                long not_after_s) {
  X509Ptr cert(X509_new());
  if (!cert) return nullptr;
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), not_after_s);
  X509_set_pubkey(cert.get(), key);
  if (!SetName(X509_get_subject_name(cert.get()), cn, org)) return nullptr;
  return cert;
}

StatusOr<X509Ptr> ReadCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return InvalidArgument("test PKI: unreadable issuer certificate");
  return cert;
}

StatusOr<PKeyPtr> ReadKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PKeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return InvalidArgument("test PKI: unreadable issuer key");
  return key;
}

Status WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Unavailable("test PKI: cannot write " + path.string());
  return Status::Ok();
}

}  // namespace

StatusOr<KeyPair> MakeCa(const std::string& common_name) {
  PKeyPtr key = NewKey();
  if (!key) return Internal("test PKI: key generation failed");
  X509Ptr cert = NewCert(key.get(), common_name, "continuum-tests", -3600, 10L * 365 * 24 * 3600);
  if (!cert) return Internal("test PKI: certificate creation failed");
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  if (!AddExt(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE") ||
      !AddExt(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !AddExt(cert.get(), cert.get(), NID_subject_key_identifier, "hash"))
    return Internal("test PKI: CA extensions failed");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return Internal("test PKI: signing failed");
  return KeyPair{CertPem(cert.get()), KeyPem(key.get())};
}

StatusOr<KeyPair> MakeLeaf(const KeyPair* issuer, const CertSpec& spec) {
  PKeyPtr key = NewKey();
  if (!key) return Internal("test PKI: key generation failed");
  X509Ptr cert = NewCert(key.get(), spec.common_name, spec.organization, spec.not_before_s, spec.not_after_s);
  if (!cert) return Internal("test PKI: certificate creation failed");
  X509Ptr issuer_cert;
  PKeyPtr issuer_key;
  if (issuer != nullptr) {
    ASSIGN_OR_RETURN(issuer_cert, ReadCert(issuer->cert_pem));
    ASSIGN_OR_RETURN(issuer_key, ReadKey(issuer->key_pem));
  }
  X509* signer_cert = issuer ? issuer_cert.get() : cert.get();
  EVP_PKEY* signer_key = issuer ? issuer_key.get() : key.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer_cert));
  std::string san;
  for (const auto& d : spec.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : spec.ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  std::string eku;
  if (spec.server) eku = "serverAuth";
  if (spec.client) eku += (eku.empty() ? "" : ",") + std::string("clientAuth");
  bool ok = AddExt(cert.get(), signer_cert, NID_basic_constraints, "critical,CA:FALSE") &&
            AddExt(cert.get(), signer_cert, NID_key_usage, "critical,digitalSignature,keyAgreement");
  if (ok && !san.empty()) ok = AddExt(cert.get(), signer_cert, NID_subject_alt_name, san);
  if (ok && !eku.empty()) ok = AddExt(cert.get(), signer_cert, NID_ext_key_usage, eku);
  if (ok && issuer != nullptr)
    ok = AddExt(cert.get(), signer_cert, NID_authority_key_identifier, "keyid:always");
  if (!ok) return Internal("test PKI: leaf extensions failed");
  if (X509_sign(cert.get(), signer_key, EVP_sha256()) == 0) return Internal("test PKI: signing failed");
  return KeyPair{CertPem(cert.get()), KeyPem(key.get())};
}

Status WriteTestPki(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Unavailable("test PKI: cannot create " + dir + ": " + ec.message());
  const std::filesystem::path root(dir);
  auto write = [&](const std::string& name, const KeyPair& kp) -> Status {
    RETURN_IF_ERROR(WriteFile(root / (name + ".pem"), kp.cert_pem));
    return WriteFile(root / (name + ".key"), kp.key_pem);
  };
  CertSpec server;
  server.common_name = "localhost";
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1", "::1"};
  CertSpec client;
  client.common_name = "tenant-a";
  client.server = false;
  client.client = true;
  client.organization = "continuum-tests";

  ASSIGN_OR_RETURN(KeyPair ca, MakeCa("continuum test CA"));
  ASSIGN_OR_RETURN(KeyPair other_ca, MakeCa("continuum other CA"));
  RETURN_IF_ERROR(write("ca", ca));
  RETURN_IF_ERROR(write("other-ca", other_ca));

  ASSIGN_OR_RETURN(KeyPair kp, MakeLeaf(&ca, server));
  RETURN_IF_ERROR(write("server", kp));
  RETURN_IF_ERROR(WriteFile(root / "server-chain.pem", kp.cert_pem + ca.cert_pem));
  ASSIGN_OR_RETURN(kp, MakeLeaf(&ca, server));
  RETURN_IF_ERROR(write("server2", kp));
  ASSIGN_OR_RETURN(kp, MakeLeaf(&ca, client));
  RETURN_IF_ERROR(write("client", kp));
  CertSpec client_b = client;
  client_b.common_name = "tenant-b";
  ASSIGN_OR_RETURN(kp, MakeLeaf(&ca, client_b));
  RETURN_IF_ERROR(write("client-b", kp));
  CertSpec expired = server;
  expired.not_before_s = -48L * 3600;
  expired.not_after_s = -3600;
  ASSIGN_OR_RETURN(kp, MakeLeaf(&ca, expired));
  RETURN_IF_ERROR(write("expired", kp));
  CertSpec future = server;
  future.not_before_s = 24L * 3600;
  future.not_after_s = 48L * 3600;
  ASSIGN_OR_RETURN(kp, MakeLeaf(&ca, future));
  RETURN_IF_ERROR(write("not-yet-valid", kp));
  CertSpec wrong_host;
  wrong_host.common_name = "other.example";
  wrong_host.dns_names = {"other.example"};
  ASSIGN_OR_RETURN(kp, MakeLeaf(&ca, wrong_host));
  RETURN_IF_ERROR(write("wrong-host", kp));
  ASSIGN_OR_RETURN(kp, MakeLeaf(nullptr, server));
  RETURN_IF_ERROR(write("self-signed", kp));
  ASSIGN_OR_RETURN(kp, MakeLeaf(&other_ca, server));
  RETURN_IF_ERROR(write("other-ca-server", kp));
  ASSIGN_OR_RETURN(kp, MakeLeaf(&other_ca, client));
  RETURN_IF_ERROR(write("other-ca-client", kp));
  return Status::Ok();
}

}  // namespace continuum::tls::testing
