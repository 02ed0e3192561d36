#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "filters/filters.h"
#include "filters/internal/key_store.h"
#include "filters/internal/test_util.h"

namespace continuum::filters {
namespace {

using namespace testing;  // the helpers of filters/internal/test_util.h

std::string Field(const std::string& json, const char* key) {
  simdjson::dom::parser p;
  std::string_view v;
  if (p.parse(json)[key].get_string().get(v)) return "";
  return std::string(v);
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chain_ = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"auth","settings":)"
                                R"({"database":":memory:","admin_token":")" +
                                std::string(kAdminToken) + R"("}}]})");
    ASSERT_TRUE(chain_);
    admin_ = chain_->AdminHandler();
    ASSERT_TRUE(admin_);
    h_ = chain_->Wrap(inner_.handler());
  }
  http::Response Admin(std::string method, std::string path, std::string body = "") {
    return Call(admin_, AdminReq(std::move(method), std::move(path), std::move(body)));
  }
  std::string NewKey(const std::string& tenant, const std::string& body = "{}") {
    http::Response r = Admin("POST", "/admin/tenants/" + tenant + "/keys", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return Field(r.body, "key");
  }
  http::Response Get(const std::string& path, const std::string& key) {
    return Call(h_, Req("POST", path, "{}", {{"authorization", "Bearer " + key}}));
  }

  FakeInner inner_;
  std::unique_ptr<FilterChain> chain_;
  http::Handler admin_, h_;
};

TEST_F(AuthTest, KeysAuthenticateAndAreShownOnce) {
  EXPECT_EQ(Admin("POST", "/admin/tenants", R"({"id":"acme"})").status, 201);
  EXPECT_EQ(Admin("POST", "/admin/tenants", R"({"id":"acme"})").status, 409);
  std::string key = NewKey("acme");
  ASSERT_TRUE(key.starts_with("ck_"));
  EXPECT_EQ(key.size(), 3u + 64u);
  EXPECT_EQ(Get("/v2/models/m/infer", key).status, 200);
  EXPECT_EQ(inner_.calls, 1);
  http::Response list = Admin("GET", "/admin/tenants/acme/keys");
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(list.body.find(key), std::string::npos) << "secrets are never listed";
  EXPECT_EQ(list.body.find("\"key\""), std::string::npos);
}

TEST_F(AuthTest, MissingBadAndRevokedKeysGet401) {
  ASSERT_EQ(Admin("POST", "/admin/tenants", R"({"id":"acme"})").status, 201);
  http::Response created = Admin("POST", "/admin/tenants/acme/keys", "{}");
  std::string key = Field(created.body, "key"), id = Field(created.body, "id");
  http::Response none = Call(h_, Req("POST", "/v2/models/m/infer"));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(testing::Header(none, "www-authenticate"), "Bearer");
  EXPECT_EQ(Get("/v2/models/m/infer", "ck_" + std::string(64, '0')).status, 401);
  EXPECT_EQ(Admin("POST", "/admin/keys/" + id + "/revoke").status, 200);
  http::Response revoked = Get("/v2/models/m/infer", key);
  EXPECT_EQ(revoked.status, 401);
  EXPECT_NE(revoked.body.find("revoked"), std::string::npos);
  EXPECT_EQ(inner_.calls, 0);
  EXPECT_EQ(Call(h_, Req("GET", "/v2/health/ready")).status, 200) << "health needs no key";
}

TEST_F(AuthTest, ScopesGive403) {
  ASSERT_EQ(Admin("POST", "/admin/tenants", R"({"id":"acme"})").status, 201);
  std::string key = NewKey("acme", R"({"models":["add_*"],"routes":["/v2/models/*/infer"]})");
  EXPECT_EQ(Get("/v2/models/add_sub/infer", key).status, 200);
  EXPECT_EQ(Get("/v2/models/other/infer", key).status, 403);
  EXPECT_EQ(Get("/v2/models/add_sub/config", key).status, 403);
}

TEST_F(AuthTest, TenantsNeverSeeOtherTenantsModels) {
  ASSERT_EQ(Admin("POST", "/admin/tenants", R"({"id":"a","models":["a_*"]})").status, 201);
  ASSERT_EQ(Admin("POST", "/admin/tenants", R"({"id":"b","models":["b_*"]})").status, 201);
  std::string ka = NewKey("a");
  EXPECT_EQ(Get("/v2/models/a_model/infer", ka).status, 200);
  http::Response other = Get("/v2/models/b_model/infer", ka);
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.body, R"({"error":"unknown model 'b_model'"})")
      << "the same answer as a model that is not there";
  // Listings of every model are not tenant routes at all.
  EXPECT_EQ(Get("/v2/repository/index", ka).status, 404);
  EXPECT_EQ(Get("/v2/models/stats", ka).status, 404);
}

// The default tenant route /ai/models/* matches the catalog search, a listing of every model: it
// is refused like the other listings. A model described under /accounts/{a}/ai is scoped like
// one described under /ai.
TEST_F(AuthTest, TenantsNeitherSearchTheCatalogNorDescribeOtherTenantsModels) {
  chain_ = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"auth","settings":)"
                              R"({"database":":memory:","admin_token":")" +
                              std::string(kAdminToken) +
                              R"(","tenant_routes":["/ai/models/*","/accounts/*/ai/models/*"]}}]})");
  ASSERT_TRUE(chain_);
  admin_ = chain_->AdminHandler();
  h_ = chain_->Wrap(inner_.handler());
  ASSERT_EQ(Admin("POST", "/admin/tenants", R"({"id":"a","models":["a_*"]})").status, 201);
  std::string ka = NewKey("a");
  EXPECT_EQ(Get("/ai/models/a_model", ka).status, 200);
  EXPECT_EQ(Get("/accounts/a/ai/models/a_model", ka).status, 200);
  EXPECT_EQ(Get("/ai/models/search", ka).status, 404);
  EXPECT_EQ(Get("/accounts/a/ai/models/search", ka).status, 404);
  http::Response other = Get("/accounts/a/ai/models/b_model", ka);
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.body, R"({"error":"unknown model 'b_model'"})");
  EXPECT_EQ(inner_.calls, 2);
}

TEST_F(AuthTest, AdminRefusesTenantKeysAndIsNotOnThePublicChain) {
  ASSERT_EQ(Admin("POST", "/admin/tenants", R"({"id":"acme"})").status, 201);
  std::string key = NewKey("acme");
  http::Response r =
      Call(admin_, AdminReq("GET", "/admin/tenants", "", {{"authorization", "Bearer " + key}}));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Get("/admin/tenants", key).status, 404);
  EXPECT_EQ(Admin("POST", "/admin/tenants", R"({"id":"x","colour":1})").status, 400);
  EXPECT_EQ(Admin("POST", "/admin/tenants/nobody/keys", "{}").status, 404);
}

// A request on a TLS connection whose client certificate has this subject and SHA-256.
http::Request CertReq(const std::string& path, const std::string& subject, const std::string& sha256,
                      bool verified = true, std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::Request r = Req("POST", path, "{}", std::move(headers));
  auto tls = std::make_shared<http::TlsInfo>();
  tls->version = "TLSv1.3";
  tls->client_verified = verified;
  tls->client_subject = subject;
  tls->client_sha256 = sha256;
  r.tls = std::move(tls);
  return r;
}

const std::string kSubjectA = "CN=tenant-a,O=continuum-tests";
const std::string kShaA(64, 'a');
const std::string kShaB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

class AuthCertTest : public AuthTest {
 protected:
  void SetUp() override {
    AuthTest::SetUp();
    ASSERT_EQ(
        Admin("POST", "/admin/tenants",
              R"({"id":"a","models":["a_*"],"client_certificates":[{"subject":")" + kSubjectA + R"("}]})")
            .status,
        201);
    // Bound by SHA-256, given in upper case: stored and matched in lower case.
    http::Response b = Admin(
        "POST", "/admin/tenants",
        R"({"id":"b","models":["b_*"],"client_certificates":[{"sha256":")" + ToUpper(kShaB) + R"("}]})");
    ASSERT_EQ(b.status, 201) << b.body;
    EXPECT_NE(b.body.find(R"("client_certificates":[{"sha256":")" + kShaB + R"("}])"), std::string::npos)
        << b.body;
  }
  static std::string ToUpper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }
};

TEST_F(AuthCertTest, AVerifiedBoundCertificateAuthenticatesItsTenantWithoutAKey) {
  EXPECT_EQ(Call(h_, CertReq("/v2/models/a_model/infer", kSubjectA, kShaA)).status, 200);
  // Tenant a's own scope applies: b's model does not exist for it.
  EXPECT_EQ(Call(h_, CertReq("/v2/models/b_model/infer", kSubjectA, kShaA)).status, 404);
  EXPECT_EQ(Call(h_, CertReq("/v2/models/b_model/infer", "CN=someone-else", kShaB)).status, 200);
  // The SHA-256 binding wins over the subject's.
  EXPECT_EQ(Call(h_, CertReq("/v2/models/b_model/infer", kSubjectA, kShaB)).status, 200);
  EXPECT_EQ(Call(h_, CertReq("/v2/models/a_model/infer", kSubjectA, kShaB)).status, 404);
  EXPECT_EQ(inner_.calls, 3);
}

TEST_F(AuthCertTest, UnverifiedOrUnboundCertificatesFallBackToKeys) {
  const std::string key = NewKey("a");
  http::Response unverified = Call(h_, CertReq("/v2/models/a_model/infer", kSubjectA, kShaA, false));
  EXPECT_EQ(unverified.status, 401);
  EXPECT_NE(unverified.body.find("missing API key"), std::string::npos) << unverified.body;
  EXPECT_EQ(testing::Header(unverified, "www-authenticate"), "Bearer");
  EXPECT_NE(unverified.body.find("or a client certificate bound to a tenant"), std::string::npos);
  http::Response unbound = Call(h_, CertReq("/v2/models/a_model/infer", "CN=tenant-c", std::string(64, 'c')));
  EXPECT_EQ(unbound.status, 401);
  EXPECT_NE(unbound.body.find("the client certificate 'CN=tenant-c' is bound to no tenant"),
            std::string::npos)
      << unbound.body;
  // Over plain HTTP the message speaks of keys only.
  EXPECT_EQ(Call(h_, Req("POST", "/v2/models/a_model/infer", "{}")).body,
            R"({"error":"missing API key: send 'Authorization: Bearer <key>'"})");
  const std::vector<std::pair<std::string, std::string>> auth = {{"authorization", "Bearer " + key}};
  EXPECT_EQ(Call(h_, CertReq("/v2/models/a_model/infer", kSubjectA, kShaA, false, auth)).status, 200);
  EXPECT_EQ(
      Call(h_, CertReq("/v2/models/a_model/infer", "CN=tenant-c", std::string(64, 'c'), true, auth)).status,
      200);
  EXPECT_EQ(inner_.calls, 2);
}

TEST_F(AuthCertTest, AKeyAndACertificateOfDifferentTenantsAreRefused) {
  const std::string key_a = NewKey("a"), key_b = NewKey("b");
  auto with = [&](const std::string& key) {
    return Call(h_, CertReq("/v2/models/a_model/infer", kSubjectA, kShaA, true,
                            {{"authorization", "Bearer " + key}}));
  };
  http::Response mixed = with(key_b);
  EXPECT_EQ(mixed.status, 403);
  EXPECT_EQ(mixed.body, R"({"error":"the API key and the client certificate belong to different tenants"})");
  EXPECT_EQ(with(key_a).status, 200);
  // A key that does not authenticate is refused, whatever the certificate.
  EXPECT_EQ(with("ck_" + std::string(64, '0')).status, 401);
  EXPECT_EQ(inner_.calls, 1);
}

TEST_F(AuthCertTest, BindingsAreCheckedStrictly) {
  auto create = [&](const std::string& certs) {
    return Admin("POST", "/admin/tenants", R"({"id":"c","client_certificates":)" + certs + "}");
  };
  auto refused = [&](const std::string& certs, int status, const std::string& says) {
    http::Response r = create(certs);
    EXPECT_EQ(r.status, status) << certs << " " << r.body;
    EXPECT_NE(r.body.find(says), std::string::npos) << r.body;
  };
  refused(R"({"subject":"CN=x"})", 400, "client_certificates");
  refused(R"([{"sha256":"abc"}])", 400, "client_certificates[0].sha256: must be 64 hex digits");
  refused(R"([{"sha256":")" + std::string(63, 'a') + R"(g"}])", 400, "must be 64 hex digits");
  refused(R"([{"subject":"CN=x","sha256":")" + kShaA + R"("}])", 400, "exactly one of subject, sha256");
  refused(R"([{}])", 400, "exactly one of subject, sha256");
  refused(R"([{"cn":"x"}])", 400, "client_certificates[0].cn: unknown field");
  refused(R"([{"subject":""}])", 400, "client_certificates[0].subject");
  refused(R"([{"subject":"CN=x\ny"}])", 400, "control characters");
  refused(R"([{"subject":"CN=x"},{"subject":"CN=x"}])", 400, "client_certificates[1].subject: listed twice");
  refused(R"(["CN=x"])", 400, "client_certificates[0]");
  // A certificate belongs to one tenant at most.
  refused(R"([{"subject":")" + kSubjectA + R"("}])", 409, "already bound to another tenant");
  refused(R"([{"sha256":")" + kShaB + R"("}])", 409, "already bound to another tenant");
  EXPECT_EQ(Admin("GET", "/admin/tenants/c").status, 404) << "nothing of a refused tenant is kept";
  http::Response ok = create(R"([{"subject":"CN=c"},{"sha256":")" + std::string(64, 'c') + R"("}])");
  EXPECT_EQ(ok.status, 201) << ok.body;
  http::Response got = Admin("GET", "/admin/tenants/c");
  EXPECT_NE(got.body.find(R"("client_certificates":[{"subject":"CN=c"},{"sha256":")" + std::string(64, 'c') +
                          R"("}])"),
            std::string::npos)
      << got.body;
}

TEST(AuthAdminToken, Required) {
  auto chain = testing::MustChain(
      R"({"schema_version":1,"filters":[{"name":"auth","settings":{"database":":memory:","admin_token":"s3cret"}}]})");
  auto admin = chain->AdminHandler();
  auto req = [](const std::string& token) {
    return Req("GET", "/admin/tenants", "",
               {{"host", "localhost:8001"}, {"authorization", "Bearer " + token}});
  };
  http::Response none = Call(admin, Req("GET", "/admin/tenants", "", {{"host", "localhost:8001"}}));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(testing::Header(none, "www-authenticate"), "Bearer");
  EXPECT_EQ(Call(admin, req("s3cre")).status, 401);
  EXPECT_EQ(Call(admin, req("s3cret!")).status, 401);
  EXPECT_EQ(Call(admin, req("s3cret")).status, 200);
}

// A folder of its own for files the auth filter reads or writes, removed at the end.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("continuum-auth-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

StatusOr<std::unique_ptr<FilterChain>> AuthChain(const std::string& settings) {
  return FilterChain::FromJson(
      R"({"schema_version":1,"filters":[{"name":"auth","settings":)" + settings + "}]}", {});
}

TEST(AuthAdminToken, GeneratedBesideTheDatabaseWhenNotSet) {
  TempDir dir;
  const std::string db = dir / "keys.db", file = db + ".admin-token";
  auto chain = AuthChain(R"({"database":")" + db + R"("})");
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0) << "no token file at " << file;
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "readable by its owner only";
  std::string token = ReadAll(file);
  while (!token.empty() && token.back() == '\n') token.pop_back();
  EXPECT_EQ(token.size(), 64u) << "256 random bits in hex";
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ((*chain)->admin_token_file(), file);

  auto admin = (*chain)->AdminHandler();
  auto get = [&](std::vector<std::pair<std::string, std::string>> h) {
    h.emplace_back("host", "127.0.0.1:8001");
    return Call(admin, Req("GET", "/admin/tenants", "", std::move(h)));
  };
  http::Response none = get({});
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.body.find("admin token"), std::string::npos) << none.body;
  EXPECT_EQ(get({{"authorization", "Bearer " + std::string(64, '0')}}).status, 401);
  EXPECT_EQ(get({{"authorization", "Bearer " + token}}).status, 200);

  // A restart keeps the token the operator already has.
  chain->reset();
  auto again = AuthChain(R"({"database":")" + db + R"("})");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  std::string reread = ReadAll(file);
  while (!reread.empty() && reread.back() == '\n') reread.pop_back();
  EXPECT_EQ(reread, token);
  auto admin2 = (*again)->AdminHandler();
  EXPECT_EQ(Call(admin2, Req("GET", "/admin/tenants", "",
                             {{"host", "localhost"}, {"authorization", "Bearer " + token}}))
                .status,
            200);
}

TEST(AuthAdminToken, InMemoryDatabaseKeepsItBesideTheConfig) {
  TempDir dir;
  auto chain = FilterChain::FromJson(
      R"({"schema_version":1,"filters":[{"name":"auth","settings":{"database":":memory:"}}]})", {},
      FilterRegistry::BuiltIn(), dir / "");
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  EXPECT_EQ(std::filesystem::path((*chain)->admin_token_file()), std::filesystem::path(dir / "admin-token"));
  struct stat st {};
  ASSERT_EQ(::stat((dir / "admin-token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(AuthAdminToken, ReadFromAFileTheOwnerAloneCanRead) {
  TempDir dir;
  const std::string file = dir / "admin.token";
  std::ofstream(file) << "operator-chosen-token-42\n";
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  auto loose = AuthChain(R"({"database":":memory:","admin_token_file":")" + file + R"("})");
  ASSERT_FALSE(loose.ok());
  EXPECT_NE(loose.status().message().find("settings.admin_token_file"), std::string::npos)
      << loose.status().message();
  EXPECT_NE(loose.status().message().find("chmod 600"), std::string::npos) << loose.status().message();

  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  auto chain = AuthChain(R"({"database":":memory:","admin_token_file":")" + file + R"("})");
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  auto admin = (*chain)->AdminHandler();
  EXPECT_EQ(Call(admin, Req("GET", "/admin/tenants", "",
                            {{"host", "localhost"}, {"authorization", "Bearer operator-chosen-token-42"}}))
                .status,
            200);
  EXPECT_EQ(ReadAll(file), "operator-chosen-token-42\n") << "a given file is never rewritten";

  auto both =
      AuthChain(R"({"database":":memory:","admin_token":"x-token","admin_token_file":")" + file + R"("})");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("settings.admin_token_file"), std::string::npos);

  std::ofstream(dir / "empty.token") << "\n";
  ASSERT_EQ(::chmod((dir / "empty.token").c_str(), 0600), 0);
  auto empty = AuthChain(R"({"database":":memory:","admin_token_file":")" + (dir / "empty.token") + R"("})");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos) << empty.status().message();
}

class AdminGuardTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(""); }
  void Make(const std::string& extra) {
    chain_ = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"auth","settings":)"
                                R"({"database":":memory:","admin_token":")" +
                                std::string(kAdminToken) + "\"" + extra + "}}]}");
    ASSERT_TRUE(chain_);
    admin_ = chain_->AdminHandler([this](http::Request&& req, http::Responder respond) {
      ++others_;
      http::Response r;
      r.content_type = "text/plain";
      r.body = "metrics for " + req.path;
      respond(std::move(r));
    });
    ASSERT_TRUE(admin_);
  }
  // A well-formed admin request with one header replaced (or removed with an empty value).
  http::Response With(std::string name, const std::string& value, std::string method = "GET",
                      std::string path = "/admin/tenants", std::string body = "") {
    http::Request req = AdminReq(std::move(method), std::move(path), std::move(body));
    std::erase_if(req.headers, [&](const auto& h) { return h.first == name; });
    if (!value.empty()) req.headers.emplace_back(name, value);
    return Call(admin_, std::move(req));
  }

  std::unique_ptr<FilterChain> chain_;
  http::Handler admin_;
  int others_ = 0;
};

TEST_F(AdminGuardTest, LoopbackHostsOnlyByDefault) {
  for (const char* host :
       {"127.0.0.1", "127.0.0.1:8001", "127.5.6.7:1", "localhost", "LocalHost:8001", "[::1]", "[::1]:8001"}) {
    EXPECT_EQ(With("host", host).status, 200) << host;
  }
  for (const char* host :
       {"evil.example", "evil.example:8001", "127.0.0.1.evil.example", "localhost.evil.example",
        "10.0.0.1:8001", "[::2]:8001", "127.0.0.1:80x", "[::1"}) {
    http::Response r = With("host", host);
    EXPECT_EQ(r.status, 421) << host;
    EXPECT_NE(r.body.find("Host"), std::string::npos) << r.body;
  }
  http::Response missing = With("host", "");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("Host"), std::string::npos) << missing.body;
}

TEST_F(AdminGuardTest, ConfiguredHostsReplaceTheLoopbackDefault) {
  Make(R"(,"admin_allowed_hosts":["admin.internal","10.1.*"])");
  EXPECT_EQ(With("host", "admin.internal:8001").status, 200);
  EXPECT_EQ(With("host", "ADMIN.internal").status, 200);
  EXPECT_EQ(With("host", "10.1.2.3:8001").status, 200);
  EXPECT_EQ(With("host", "localhost:8001").status, 421);
  EXPECT_EQ(With("host", "evil.example").status, 421);
  http::Response r = Call(admin_, AdminReq("GET", "/admin/tenants", "", {{"host", "admin.internal"}}));
  EXPECT_EQ(r.status, 200) << "the first Host header counts";

  auto bad = AuthChain(R"({"database":":memory:","admin_token":"t0ken","admin_allowed_hosts":[]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("settings.admin_allowed_hosts"), std::string::npos);
}

TEST_F(AdminGuardTest, ForeignOriginsAreRefused) {
  for (const char* origin : {"http://evil.example", "https://evil.example:8001", "null",
                             "http://127.0.0.1.evil.example", "file://", "garbage"}) {
    http::Response r = With("origin", origin, "POST", "/admin/tenants", R"({"id":"x"})");
    EXPECT_EQ(r.status, 403) << origin;
    EXPECT_NE(r.body.find("Origin"), std::string::npos) << r.body;
  }
  EXPECT_EQ(With("origin", "http://127.0.0.1:8001", "POST", "/admin/tenants", R"({"id":"a"})").status, 201);
  EXPECT_EQ(With("origin", "http://localhost:3000", "POST", "/admin/tenants", R"({"id":"b"})").status, 201);
  http::Response list = With("host", "127.0.0.1");
  EXPECT_EQ(list.body.find("\"x\""), std::string::npos) << "nothing refused was created: " << list.body;
}

TEST_F(AdminGuardTest, BodiesMustBeJson) {
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x", "application/jsonx", ""}) {
    http::Response r = With("content-type", type, "POST", "/admin/tenants", R"({"id":"x"})");
    EXPECT_EQ(r.status, 415) << type;
    EXPECT_NE(r.body.find("Content-Type"), std::string::npos) << r.body;
  }
  EXPECT_EQ(With("content-type", "Application/JSON; charset=utf-8", "POST", "/admin/tenants", R"({"id":"a"})")
                .status,
            201);
  EXPECT_EQ(With("content-type", "", "POST", "/admin/keys/nothing/revoke").status, 404)
      << "a request without a body needs no content type";
}

TEST_F(AdminGuardTest, GuardsTheListenersOtherRoutesToo) {
  EXPECT_EQ(With("authorization", "").status, 401);
  EXPECT_EQ(With("authorization", "", "GET", "/metrics").status, 401);
  EXPECT_EQ(With("host", "evil.example", "GET", "/metrics").status, 421);
  EXPECT_EQ(others_, 0);
  http::Response ok = With("host", "localhost", "GET", "/metrics");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "metrics for /metrics");
  EXPECT_EQ(others_, 1);
}

TEST(KeyStore, PersistsHashesOnly) {
  auto dir = std::filesystem::temp_directory_path() / ("continuum-keys-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "keys.db").string();
  std::string secret;
  {
    auto s = KeyStore::Open(path, Clock::System());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Tenant t;
    t.id = "t";
    ASSERT_TRUE((*s)->CreateTenant(t).ok());
    auto k = (*s)->IssueKey("t", "ci", {}, {});
    ASSERT_TRUE(k.ok());
    secret = k->secret;
  }
  auto s = KeyStore::Open(path, Clock::System());
  ASSERT_TRUE(s.ok());
  auto id = (*s)->Authenticate(secret);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->tenant.id, "t");
  std::string raw;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(f.path(), std::ios::binary);
    raw += std::string(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(raw.find(secret.substr(3)), std::string::npos) << "the secret is not stored";
  std::filesystem::remove_all(dir);
}

TEST(KeyStore, CertificateBindingsPersist) {
  auto dir = std::filesystem::temp_directory_path() / ("continuum-certs-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "keys.db").string();
  {
    auto s = KeyStore::Open(path, Clock::System());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Tenant t;
    t.id = "t";
    t.client_certificates = {{CertificateBinding::Kind::kSubject, "CN=t"},
                             {CertificateBinding::Kind::kSha256, std::string(64, 'E')}};
    ASSERT_TRUE((*s)->CreateTenant(t).ok());
  }
  auto s = KeyStore::Open(path, Clock::System());
  ASSERT_TRUE(s.ok());
  auto by_subject = (*s)->TenantForCertificate(std::string(64, '0'), "CN=t");
  ASSERT_TRUE(by_subject.ok());
  EXPECT_EQ(by_subject->id, "t");
  auto by_hash = (*s)->TenantForCertificate(std::string(64, 'e'), "CN=other");
  ASSERT_TRUE(by_hash.ok());
  EXPECT_EQ(by_hash->client_certificates.size(), 2u);
  EXPECT_EQ((*s)->TenantForCertificate(std::string(64, '0'), "CN=other").status().code(),
            StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace continuum::filters
