#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "filters/filters.h"
#include "filters/internal/key_store.h"
#include "filters/internal/test_util.h"

namespace continuum::filters {
namespace {

using testing::Call;
using testing::FakeInner;
using testing::Req;

std::string Field(const std::string& json, const char* key) {
  simdjson::dom::parser p;
  std::string_view v;
  if (p.parse(json)[key].get_string().get(v)) return "";
  return std::string(v);
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chain_ = testing::MustChain(
        R"({"schema_version":1,"filters":[{"name":"auth","settings":{"database":":memory:"}}]})");
    ASSERT_TRUE(chain_);
    admin_ = chain_->AdminHandler();
    ASSERT_TRUE(admin_);
    h_ = chain_->Wrap(inner_.handler());
  }
  http::Response Admin(std::string method, std::string path, std::string body = "") {
    return Call(admin_, Req(std::move(method), std::move(path), std::move(body)));
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

TEST_F(AuthTest, AdminRefusesTenantKeysAndIsNotOnThePublicChain) {
  ASSERT_EQ(Admin("POST", "/admin/tenants", R"({"id":"acme"})").status, 201);
  std::string key = NewKey("acme");
  http::Response r = Call(admin_, Req("GET", "/admin/tenants", "", {{"authorization", "Bearer " + key}}));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Get("/admin/tenants", key).status, 404);
  EXPECT_EQ(Admin("POST", "/admin/tenants", R"({"id":"x","colour":1})").status, 400);
  EXPECT_EQ(Admin("POST", "/admin/tenants/nobody/keys", "{}").status, 404);
}

TEST(AuthAdminToken, Required) {
  auto chain = testing::MustChain(
      R"({"schema_version":1,"filters":[{"name":"auth","settings":{"database":":memory:","admin_token":"s3cret"}}]})");
  auto admin = chain->AdminHandler();
  EXPECT_EQ(Call(admin, Req("GET", "/admin/tenants")).status, 401);
  EXPECT_EQ(Call(admin, Req("GET", "/admin/tenants", "", {{"authorization", "Bearer s3cret"}})).status, 200);
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

}  // namespace
}  // namespace continuum::filters
