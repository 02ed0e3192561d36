// `continuum generate-key-pair`, `continuum sign` and `continuum verify`: cosign-compatible key
// pairs and signatures of the packages in an OCI image layout (signing/signing.h).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>

#include "cli/commands.h"
#include "cli/flags.h"
#include "packages/layout.h"
#include "packages/package.h"
#include "signing/signing.h"

namespace continuum::cli {
namespace {

constexpr char kGenerateUsage[] =
    "usage: continuum generate-key-pair [--output-key-prefix PREFIX]\n\n"
    "Writes an ECDSA P-256 key pair in cosign's formats: PREFIX.key (encrypted with the password in\n"
    "$COSIGN_PASSWORD, which may be empty; scrypt and nacl/secretbox) and PREFIX.pub (PEM public key).\n"
    "Existing files are not overwritten. Exit status 2: usage, 1: failure.";
constexpr char kSignUsage[] =
    "usage: continuum sign REF --key cosign.key [--layout DIR] [-a key=value ...]\n\n"
    "Signs the package tagged with REF's tag in the OCI image layout DIR as cosign does: the\n"
    "simple-signing payload for REF's repository and the manifest digest, signed with the key\n"
    "(encrypted cosign key, password from $COSIGN_PASSWORD, or PKCS#8 PEM), stored under the tag\n"
    "sha256-<hex>.sig; signing again adds a signature. -a adds annotations to the payload.\n"
    "Prints the signature tag. Exit status 2: usage, 1: failure.";
constexpr char kVerifyUsage[] =
    "usage: continuum verify REF --key cosign.pub [--layout DIR]\n\n"
    "Checks offline that the package tagged with REF's tag in the OCI image layout DIR has a cosign\n"
    "signature by the public key over exactly its manifest digest; prints a line per good signature.\n"
    "Exit status 0: verified; 1: unsigned, signed by another key, a signature over another digest,\n"
    "a malformed signature, or no such package; 2: usage.";

// The repository as go-containerregistry names it in cosign's payload: a first component
// without "." or ":" (and not "localhost") is a Docker Hub name.
std::string DockerReference(const std::string& repository) {
  std::string first = repository.substr(0, repository.find('/'));
  bool has_registry = repository.find('/') != std::string::npos &&
                      (first.find_first_of(".:") != std::string::npos || first == "localhost");
  if (has_registry) return repository;
  if (repository.find('/') == std::string::npos) return "index.docker.io/library/" + repository;
  return "index.docker.io/" + repository;
}

// Writes `bytes` to a new file `path` with `mode`; kAlreadyExists when it exists.
Status WriteNewFile(const std::filesystem::path& path, const std::string& bytes, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0 && errno == EEXIST) return AlreadyExists(Quoted(path.string()) + " exists; not overwriting it");
  if (fd < 0)
    return FailedPrecondition("cannot create " + Quoted(path.string()) + ": " + std::strerror(errno));
  ssize_t n = ::write(fd, bytes.data(), bytes.size());
  bool ok = n == static_cast<ssize_t>(bytes.size()) && ::close(fd) == 0;
  if (!ok) return FailedPrecondition("cannot write " + Quoted(path.string()));
  return Status::Ok();
}

// Parses REF and the flags; returns the exit code when the command should stop.
std::optional<int> ParseRefCommand(const std::string& command, const char* usage, Flags& f,
                                   const std::vector<std::string>& args, const std::string& key,
                                   packages::Reference* ref) {
  std::vector<std::string> flag_args, positional;
  f.Split(args, {{"-a", "--annotation"}}, &flag_args, &positional);
  if (auto code = f.ParseOrExplain(command, usage, flag_args)) return code;
  if (positional.size() != 1 || key.empty()) {
    f.Explain(command, usage, InvalidArgument(positional.size() != 1 ? "give one REF" : "give --key"));
    return 2;
  }
  auto parsed = packages::ParseReference(positional[0]);
  if (!parsed.ok()) return PrintError(command, parsed.status());
  *ref = *parsed;
  return std::nullopt;
}

}  // namespace

int GenerateKeyPair(const std::vector<std::string>& args) {
  std::string prefix = "cosign";
  Flags f;
  f.String("output-key-prefix", &prefix, "the key files' names: PREFIX.key and PREFIX.pub");
  if (auto code = f.ParseOrExplain("generate-key-pair", kGenerateUsage, args)) return *code;
  const char* password = std::getenv("COSIGN_PASSWORD");
  if (password == nullptr) {
    return PrintError(
        "generate-key-pair",
        InvalidArgument("set COSIGN_PASSWORD to the password for the private key (it may be empty)"));
  }
  auto key = signing::PrivateKey::Generate();
  if (!key.ok()) return PrintError("generate-key-pair", key.status(), 1);
  auto encrypted = (*key)->EncryptedPem(password);
  auto pub = (*key)->PublicKeyPem();
  if (!encrypted.ok() || !pub.ok())
    return PrintError("generate-key-pair", encrypted.ok() ? pub.status() : encrypted.status(), 1);
  std::filesystem::path key_path = prefix + ".key", pub_path = prefix + ".pub";
  std::error_code ec;
  if (std::filesystem::exists(pub_path, ec))
    return PrintError("generate-key-pair",
                      AlreadyExists(Quoted(pub_path.string()) + " exists; not overwriting it"), 1);
  if (Status st = WriteNewFile(key_path, *encrypted, 0600); !st.ok())
    return PrintError("generate-key-pair", st, 1);
  if (Status st = WriteNewFile(pub_path, *pub, 0644); !st.ok()) return PrintError("generate-key-pair", st, 1);
  std::fprintf(stderr, "Private key written to %s\nPublic key written to %s\n", key_path.c_str(),
               pub_path.c_str());
  return 0;
}

int Sign(const std::vector<std::string>& args) {
  std::string key_path, layout = "packages";
  std::vector<std::string> annotations;
  signing::SignOptions options;
  signing::KeyLimits limits;
  Flags f;
  f.String("key", &key_path, "the private key: cosign.key (password from $COSIGN_PASSWORD) or PKCS#8 PEM");
  f.String("layout", &layout, "the OCI image layout that holds the package");
  f.List("annotation", &annotations, "key=value for the payload's \"optional\" (also -a; repeatable)");
  f.Int("max-manifest-bytes", &options.max_manifest_bytes, "largest manifest read from the layout");
  f.Int("max-key-file-bytes", &limits.max_key_file_bytes, "largest key file");
  packages::Reference ref;
  if (auto code = ParseRefCommand("sign", kSignUsage, f, args, key_path, &ref)) return *code;
  for (const std::string& a : annotations) {
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      return PrintError("sign", InvalidArgument("annotation " + Quoted(a) + " is not key=value"));
    options.annotations[a.substr(0, eq)] = a.substr(eq + 1);
  }
  auto pem = signing::ReadKeyFile(key_path, limits.max_key_file_bytes);
  if (!pem.ok()) return PrintError("sign", pem.status(), 1);
  const char* password = std::getenv("COSIGN_PASSWORD");
  auto key = signing::PrivateKey::FromPem(*pem, password == nullptr ? "" : password, limits);
  if (!key.ok()) return PrintError("sign", key.status().WithContext(Quoted(key_path)), 1);
  auto signed_ = signing::SignPackage(layout, ref.tag, DockerReference(ref.repository), **key, options);
  if (!signed_.ok()) return PrintError("sign", signed_.status(), 1);
  std::fprintf(stderr, "continuum sign: %s@%s signed (%zu signatures under tag %s in %s)\n",
               ref.repository.c_str(), signed_->manifest_digest.c_str(), signed_->signatures,
               signed_->signature_tag.c_str(), layout.c_str());
  std::printf("%s\n", signed_->signature_tag.c_str());
  return 0;
}

int Verify(const std::vector<std::string>& args) {
  std::string key_path, layout = "packages";
  signing::VerifyOptions options;
  Flags f;
  f.String("key", &key_path, "the public key (cosign.pub)");
  f.String("layout", &layout, "the OCI image layout that holds the package and its signature");
  f.Int("max-manifest-bytes", &options.max_manifest_bytes, "largest manifest read from the layout");
  f.Int("max-payload-bytes", &options.max_payload_bytes, "largest signature payload");
  f.Int("max-signatures", &options.max_signatures, "most signatures one signature manifest may hold");
  f.Int("max-key-file-bytes", &options.key_limits.max_key_file_bytes, "largest key file");
  packages::Reference ref;
  if (auto code = ParseRefCommand("verify", kVerifyUsage, f, args, key_path, &ref)) return *code;
  packages::LayoutLimits limits;
  limits.max_manifest_bytes = options.max_manifest_bytes;
  auto manifest = packages::ReadTaggedManifest(layout, ref.tag, limits);
  if (!manifest.ok()) return PrintError("verify", manifest.status(), 1);
  auto good = signing::VerifySignatures(layout, manifest->digest, key_path, options);
  if (!good.ok()) return PrintError("verify", good.status().WithContext(ref.ToString()), 1);
  for (const signing::VerifiedSignature& s : *good) {
    std::string annotations;
    for (const auto& [k, v] : s.annotations) annotations += " " + k + "=" + v;
    std::printf("Verified OK: %s@%s signed by %s for %s (payload %s)%s%s\n", ref.repository.c_str(),
                manifest->digest.c_str(), key_path.c_str(), s.docker_reference.c_str(),
                s.payload_digest.c_str(), annotations.empty() ? "" : ", annotations:", annotations.c_str());
  }
  return 0;
}

}  // namespace continuum::cli
