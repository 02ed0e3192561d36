// ECDSA P-256 keys in cosign's formats (OpenSSL for the keys and scrypt, libsodium for
// nacl/secretbox).
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <simdjson.h>
#include <sodium.h>

#include <fstream>
#include <sstream>
#include <system_error>

#include "common/base64.h"
#include "common/json_writer.h"
#include "signing/signing.h"

namespace continuum::signing {
namespace {

constexpr size_t kSaltBytes = 32;  // as go-securesystemslib's encrypted package
constexpr size_t kBoxKeyBytes = crypto_secretbox_KEYBYTES;
constexpr size_t kBoxNonceBytes = crypto_secretbox_NONCEBYTES;
constexpr std::string_view kPkcs8PemType = "PRIVATE KEY";
constexpr std::string_view kPublicKeyPemType = "PUBLIC KEY";

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// A P-256 key, or kInvalidArgument saying what it is instead.
Status CheckP256(EVP_PKEY* key, std::string_view what) {
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
      EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1 ||
      std::string_view(group) != "prime256v1") {
    return InvalidArgument(std::string(what) + " is not an ECDSA P-256 key (cosign's default)");
  }
  return Status::Ok();
}

// PEM text: "-----BEGIN <type>-----", base64 lines (64 a line, as Go's encoding/pem), END.
std::string PemEncode(std::string_view type, std::string_view der) {
  std::string b64 = Base64Encode(der);
  std::string out = "-----BEGIN " + std::string(type) + "-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  out += "-----END " + std::string(type) + "-----\n";
  return out;
}

struct PemBlock {
  std::string type;
  std::string bytes;
};

// The first PEM block of `text`; kInvalidArgument when there is none or its body is not base64.
StatusOr<PemBlock> PemDecode(std::string_view text) {
  constexpr std::string_view kBegin = "-----BEGIN ", kDashes = "-----";
  size_t begin = text.find(kBegin);
  if (begin == std::string_view::npos) return InvalidArgument("no PEM block (-----BEGIN ...-----)");
  size_t type_end = text.find(kDashes, begin + kBegin.size());
  if (type_end == std::string_view::npos)
    return InvalidArgument("a PEM BEGIN line without its closing dashes");
  PemBlock block;
  block.type = std::string(text.substr(begin + kBegin.size(), type_end - begin - kBegin.size()));
  std::string end_line = "-----END " + block.type + "-----";
  size_t body = type_end + kDashes.size();
  size_t end = text.find(end_line, body);
  if (end == std::string_view::npos)
    return InvalidArgument("PEM block " + Quoted(block.type) + " has no END line");
  std::string_view b = text.substr(body, end - body);
  if (b.find(':') != std::string_view::npos)
    return InvalidArgument("PEM block " + Quoted(block.type) + " has headers, which no cosign key has");
  std::string compact;
  for (char c : b) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') compact.push_back(c);
  }
  auto decoded = Base64Decode(compact);
  if (!decoded) return InvalidArgument("PEM block " + Quoted(block.type) + " is not base64");
  block.bytes = std::move(*decoded);
  return block;
}

StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    return Internal("no random bytes: " + OpenSslError());
  return out;
}

Status CheckScrypt(const ScryptParams& p, const KeyLimits& limits) {
  bool power_of_two = p.n > 1 && (p.n & (p.n - 1)) == 0;
  if (!power_of_two || p.r == 0 || p.p == 0 || p.r > 64 || p.p > 64)
    return InvalidArgument("scrypt parameters N " + std::to_string(p.n) + ", r " + std::to_string(p.r) +
                           ", p " + std::to_string(p.p) + " are not valid (N a power of two, r and p 1..64)");
  if (p.n > limits.max_scrypt_n || 128 * p.r * (p.n + 2 + p.p) > limits.max_scrypt_memory_bytes) {
    return InvalidArgument("scrypt parameters N " + std::to_string(p.n) + ", r " + std::to_string(p.r) +
                           " exceed the limits (N up to " + std::to_string(limits.max_scrypt_n) +
                           ", memory up to " + std::to_string(limits.max_scrypt_memory_bytes) + " bytes)");
  }
  return Status::Ok();
}

StatusOr<std::string> ScryptKey(std::string_view password, std::string_view salt, const ScryptParams& p,
                                const KeyLimits& limits) {
  RETURN_IF_ERROR(CheckScrypt(p, limits));
  std::string key(kBoxKeyBytes, '\0');
  if (EVP_PBE_scrypt(password.data(), password.size(), reinterpret_cast<const unsigned char*>(salt.data()),
                     salt.size(), p.n, p.r, p.p, limits.max_scrypt_memory_bytes,
                     reinterpret_cast<unsigned char*>(key.data()), key.size()) != 1) {
    return Internal("scrypt failed: " + OpenSslError());
  }
  return key;
}

Status InitSodium() {
  if (sodium_init() < 0) return Internal("libsodium does not initialize");
  return Status::Ok();
}

StatusOr<Pkey> ParsePkcs8(std::string_view der, std::string_view what) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  PKCS8_PRIV_KEY_INFO* info = d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size()));
  if (info == nullptr) return InvalidArgument(std::string(what) + " is not a PKCS#8 private key");
  Pkey key(EVP_PKCS82PKEY(info));
  PKCS8_PRIV_KEY_INFO_free(info);
  if (!key)
    return InvalidArgument(std::string(what) + " is not a usable PKCS#8 private key: " + OpenSslError());
  RETURN_IF_ERROR(CheckP256(key.get(), what));
  return key;
}

// The PKCS#8 DER inside cosign's encrypted JSON.
StatusOr<std::string> DecryptKeyJson(std::string_view json, std::string_view password,
                                     const KeyLimits& limits) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view kdf_name, cipher_name, salt_b64, nonce_b64, ct_b64;
  ScryptParams params;
  if (parser.parse(json.data(), json.size()).get(doc) || doc["kdf"]["name"].get(kdf_name) ||
      doc["kdf"]["params"]["N"].get(params.n) || doc["kdf"]["params"]["r"].get(params.r) ||
      doc["kdf"]["params"]["p"].get(params.p) || doc["kdf"]["salt"].get(salt_b64) ||
      doc["cipher"]["name"].get(cipher_name) || doc["cipher"]["nonce"].get(nonce_b64) ||
      doc["ciphertext"].get(ct_b64)) {
    return InvalidArgument(
        "the encrypted key is not cosign's JSON {kdf: {name, params: {N, r, p}, salt}, cipher: {name, "
        "nonce}, "
        "ciphertext}");
  }
  if (kdf_name != "scrypt")
    return InvalidArgument("the encrypted key's kdf " + Quoted(kdf_name) + " is not scrypt");
  if (cipher_name != "nacl/secretbox")
    return InvalidArgument("the encrypted key's cipher " + Quoted(cipher_name) + " is not nacl/secretbox");
  auto salt = Base64Decode(salt_b64);
  auto nonce = Base64Decode(nonce_b64);
  auto ciphertext = Base64Decode(ct_b64);
  if (!salt || !nonce || !ciphertext || nonce->size() != kBoxNonceBytes ||
      ciphertext->size() < crypto_secretbox_MACBYTES) {
    return InvalidArgument("the encrypted key's salt, nonce (24 bytes) or ciphertext is not valid base64");
  }
  ASSIGN_OR_RETURN(std::string box_key, ScryptKey(password, *salt, params, limits));
  RETURN_IF_ERROR(InitSodium());
  std::string der(ciphertext->size() - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(der.data()),
                                 reinterpret_cast<const unsigned char*>(ciphertext->data()),
                                 ciphertext->size(), reinterpret_cast<const unsigned char*>(nonce->data()),
                                 reinterpret_cast<const unsigned char*>(box_key.data())) != 0) {
    return InvalidArgument(
        "the key does not decrypt: wrong password (COSIGN_PASSWORD) or a damaged key file");
  }
  return der;
}

StatusOr<std::string> Pkcs8Der(EVP_PKEY* key) {
  PKCS8_PRIV_KEY_INFO* info = EVP_PKEY2PKCS8(key);
  if (info == nullptr) return Internal("cannot write the key as PKCS#8: " + OpenSslError());
  unsigned char* der = nullptr;
  int n = i2d_PKCS8_PRIV_KEY_INFO(info, &der);
  PKCS8_PRIV_KEY_INFO_free(info);
  if (n <= 0) return Internal("cannot write the key as PKCS#8: " + OpenSslError());
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_clear_free(der, static_cast<size_t>(n));
  return out;
}

}  // namespace

struct PrivateKey::Impl {
  Pkey key;
};
struct PublicKey::Impl {
  Pkey key;
};

PrivateKey::PrivateKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PrivateKey::~PrivateKey() = default;
PublicKey::PublicKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PublicKey::~PublicKey() = default;

StatusOr<std::unique_ptr<PrivateKey>> PrivateKey::Generate() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return Internal("cannot generate a P-256 key: " + OpenSslError());
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  return std::unique_ptr<PrivateKey>(new PrivateKey(std::move(impl)));
}

StatusOr<std::unique_ptr<PrivateKey>> PrivateKey::FromPem(std::string_view pem, std::string_view password,
                                                          const KeyLimits& limits) {
  ASSIGN_OR_RETURN(PemBlock block, PemDecode(pem));
  std::string der;
  if (block.type == kEncryptedKeyPemType || block.type == kLegacyEncryptedKeyPemType) {
    ASSIGN_OR_RETURN(der, DecryptKeyJson(block.bytes, password, limits));
  } else if (block.type == kPkcs8PemType) {
    der = std::move(block.bytes);
  } else {
    return InvalidArgument("PEM block " + Quoted(block.type) + " is not a private key cosign writes (" +
                           std::string(kEncryptedKeyPemType) + ", " +
                           std::string(kLegacyEncryptedKeyPemType) + " or PKCS#8 " +
                           std::string(kPkcs8PemType) + ")");
  }
  auto impl = std::make_unique<Impl>();
  auto key = ParsePkcs8(der, "the private key");
  OPENSSL_cleanse(der.data(), der.size());
  if (!key.ok()) return key.status();
  impl->key = std::move(*key);
  return std::unique_ptr<PrivateKey>(new PrivateKey(std::move(impl)));
}

StatusOr<std::string> PrivateKey::EncryptedPem(std::string_view password, const ScryptParams& params) const {
  RETURN_IF_ERROR(InitSodium());
  ASSIGN_OR_RETURN(std::string der, Pkcs8Der(impl_->key.get()));
  ASSIGN_OR_RETURN(std::string salt, RandomBytes(kSaltBytes));
  ASSIGN_OR_RETURN(std::string nonce, RandomBytes(kBoxNonceBytes));
  KeyLimits limits;
  limits.max_scrypt_n = std::max(limits.max_scrypt_n, params.n);
  limits.max_scrypt_memory_bytes =
      std::max(limits.max_scrypt_memory_bytes, 128 * params.r * (params.n + 2 + params.p));
  ASSIGN_OR_RETURN(std::string box_key, ScryptKey(password, salt, params, limits));
  std::string sealed(der.size() + crypto_secretbox_MACBYTES, '\0');
  crypto_secretbox_easy(reinterpret_cast<unsigned char*>(sealed.data()),
                        reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                        reinterpret_cast<const unsigned char*>(nonce.data()),
                        reinterpret_cast<const unsigned char*>(box_key.data()));
  OPENSSL_cleanse(der.data(), der.size());
  OPENSSL_cleanse(box_key.data(), box_key.size());
  // Go's encoding/json of go-securesystemslib's struct: fields in declaration order.
  std::string json;
  JsonWriter w(&json);
  w.BeginObject().Key("kdf").BeginObject().Key("name").String("scrypt").Key("params").BeginObject();
  w.Key("N").Uint(params.n).Key("r").Uint(params.r).Key("p").Uint(params.p).EndObject();
  w.Key("salt").String(Base64Encode(salt)).EndObject();
  w.Key("cipher").BeginObject().Key("name").String("nacl/secretbox").Key("nonce").String(Base64Encode(nonce));
  w.EndObject().Key("ciphertext").String(Base64Encode(sealed)).EndObject();
  return PemEncode(kEncryptedKeyPemType, json);
}

StatusOr<std::string> PrivateKey::Pkcs8Pem() const {
  ASSIGN_OR_RETURN(std::string der, Pkcs8Der(impl_->key.get()));
  std::string pem = PemEncode(kPkcs8PemType, der);
  OPENSSL_cleanse(der.data(), der.size());
  return pem;
}

StatusOr<std::string> PrivateKey::PublicKeyPem() const {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(impl_->key.get(), &der);
  if (n <= 0) return Internal("cannot write the public key: " + OpenSslError());
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return PemEncode(kPublicKeyPemType, out);
}

StatusOr<std::string> PrivateKey::Sign(std::string_view data) const {
  MdCtx ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    return Internal("cannot sign: " + OpenSslError());
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return Internal("cannot sign: " + OpenSslError());
  }
  sig.resize(len);
  return sig;
}

StatusOr<std::unique_ptr<PublicKey>> PublicKey::FromPem(std::string_view pem) {
  ASSIGN_OR_RETURN(PemBlock block, PemDecode(pem));
  if (block.type != kPublicKeyPemType)
    return InvalidArgument("PEM block " + Quoted(block.type) + " is not a PUBLIC KEY (cosign.pub)");
  const auto* p = reinterpret_cast<const unsigned char*>(block.bytes.data());
  Pkey key(d2i_PUBKEY(nullptr, &p, static_cast<long>(block.bytes.size())));
  if (!key) return InvalidArgument("the PUBLIC KEY is not a valid public key: " + OpenSslError());
  RETURN_IF_ERROR(CheckP256(key.get(), "the public key"));
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  return std::unique_ptr<PublicKey>(new PublicKey(std::move(impl)));
}

bool PublicKey::Verify(std::string_view data, std::string_view der_signature) const {
  MdCtx ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der_signature.data()),
                             der_signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  ERR_clear_error();
  return ok;
}

StatusOr<std::string> ReadKeyFile(const std::filesystem::path& path, int64_t max_bytes) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return NotFound("key file " + Quoted(path.string()) + " cannot be read: " + ec.message());
  if (static_cast<int64_t>(size) > max_bytes)
    return InvalidArgument("key file " + Quoted(path.string()) + " is larger than the limit of " +
                           std::to_string(max_bytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return NotFound("key file " + Quoted(path.string()) + " cannot be read");
  return ss.str();
}

}  // namespace continuum::signing
