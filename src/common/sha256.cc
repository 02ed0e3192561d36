#include "common/sha256.h"

#include <openssl/evp.h>

#include <memory>

namespace continuum {

namespace {

struct FreeMdCtx {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

std::string Sha256Raw(std::string_view data) {
  // Fetched once: EVP_sha256() makes EVP_Digest look the implementation up on every call (a
  // locked provider query), which cost more than hashing a cache key.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  const EVP_MD* md = sha256 ? sha256 : EVP_sha256();
  // One context per thread, initialised again for every digest: EVP_Digest would allocate and
  // free one per call (a cache key and an API key per request).
  thread_local std::unique_ptr<EVP_MD_CTX, FreeMdCtx> ctx(EVP_MD_CTX_new());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out, &len) != 1) {
    EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  char* p = out.data();
  for (unsigned char c : bytes) {
    *p++ = kHex[c >> 4];
    *p++ = kHex[c & 15];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256Raw(data)); }

}  // namespace continuum
