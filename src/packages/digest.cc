#include "packages/digest.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "common/sha256.h"

namespace continuum::packages {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string Errno(const std::filesystem::path& path, std::string_view what) {
  return "cannot " + std::string(what) + " " + Quoted(path.string()) + ": " + std::strerror(errno);
}

}  // namespace

std::string DigestOf(std::string_view bytes) { return "sha256:" + Sha256Hex(bytes); }

StatusOr<FileDigest> DigestFile(const std::filesystem::path& path, int64_t max_bytes,
                                const std::filesystem::path& copy_to) {
  File in(std::fopen(path.c_str(), "rb"));
  if (!in) return FailedPrecondition(Errno(path, "read"));
  File out;
  if (!copy_to.empty()) {
    out.reset(std::fopen(copy_to.c_str(), "wb"));
    if (!out) return FailedPrecondition(Errno(copy_to, "write"));
  }
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return Internal("SHA-256 unavailable");
  std::vector<char> buf(1 << 20);
  FileDigest d;
  for (;;) {
    size_t n = std::fread(buf.data(), 1, buf.size(), in.get());
    if (n == 0) break;
    d.size += static_cast<int64_t>(n);
    if (d.size > max_bytes) {
      return InvalidArgument(Quoted(path.string()) + " is larger than the limit of " +
                             std::to_string(max_bytes) + " bytes");
    }
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
    if (out && std::fwrite(buf.data(), 1, n, out.get()) != n)
      return FailedPrecondition(Errno(copy_to, "write"));
  }
  if (std::ferror(in.get())) return FailedPrecondition(Errno(path, "read"));
  if (out && std::fflush(out.get()) != 0) return FailedPrecondition(Errno(copy_to, "write"));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  d.digest = "sha256:" + HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
  return d;
}

}  // namespace continuum::packages
