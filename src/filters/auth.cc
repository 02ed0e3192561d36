// `auth`: tenants and API keys (Authorization: Bearer <key>), scopes, tenant isolation, and the
// admin API that manages them (served only on the admin listener).
#include <filesystem>
#include <variant>

#include "api/path.h"
#include "common/json_writer.h"
#include "filters/internal/admin_access.h"
#include "filters/internal/builtin.h"
#include "filters/internal/key_store.h"
#include "filters/internal/util.h"

namespace continuum::filters {

namespace {

// Routes a tenant key may reach at all; anything else is answered as if it did not exist, so a
// tenant cannot list the models of others (GET /v2/models/stats, /v2/repository/index).
const std::vector<std::string> kDefaultTenantRoutes = {
    "/v2/models/*", "/ai/run/*", "/accounts/*/ai/run/*", "/ai/models/*", "/v1/embeddings", "/usage",
};

}  // namespace

const std::vector<std::string>& DefaultPublicRoutes() {
  static const std::vector<std::string> routes = {"/v2/health/live", "/v2/health/ready"};
  return routes;
}

namespace {

void WriteList(JsonWriter& w, std::string_view key, const std::vector<std::string>& v) {
  w.Key(key).BeginArray();
  for (const auto& s : v) w.String(s);
  w.EndArray();
}

void WriteTenant(JsonWriter& w, const Tenant& t) {
  w.BeginObject().Key("id").String(t.id);
  WriteList(w, "models", t.models);
  w.Key("daily_free_units");
  t.daily_free_units < 0 ? w.Null() : w.Double(t.daily_free_units);
  w.Key("budget_units");
  t.budget_units < 0 ? w.Null() : w.Double(t.budget_units);
  w.Key("client_certificates").BeginArray();
  for (const auto& b : t.client_certificates) {
    w.BeginObject().Key(b.kind == CertificateBinding::Kind::kSubject ? "subject" : "sha256").String(b.value);
    w.EndObject();
  }
  w.EndArray();
  w.Key("created").Int(t.created).EndObject();
}

// `client_certificates`: [{"subject": "CN=...,O=..."} or {"sha256": "<64 hex>"}, ...], each
// entry naming exactly one of the two.
StatusOr<std::vector<CertificateBinding>> ReadBindings(const config::Reader& rd, simdjson::dom::element e) {
  ASSIGN_OR_RETURN(config::Array a, rd.Array(e, "client_certificates"));
  std::vector<CertificateBinding> out;
  size_t i = 0;
  for (simdjson::dom::element item : a) {
    const std::string where = "client_certificates[" + std::to_string(i++) + "]";
    ASSIGN_OR_RETURN(config::Object o, rd.Object(item, where));
    RETURN_IF_ERROR(rd.CheckKeys(o, where, {"subject", "sha256"}));
    if (o.size() != 1) return rd.Err(where, "must hold exactly one of subject, sha256");
    auto [key, value] = *o.begin();
    CertificateBinding b;
    b.kind = key == "subject" ? CertificateBinding::Kind::kSubject : CertificateBinding::Kind::kSha256;
    ASSIGN_OR_RETURN(b.value, rd.String(value, where + "." + std::string(key), true));
    out.push_back(std::move(b));
  }
  return out;
}

void WriteKey(JsonWriter& w, const ApiKey& k, const std::string* secret) {
  w.BeginObject().Key("id").String(k.id).Key("tenant").String(k.tenant).Key("name").String(k.name);
  WriteList(w, "models", k.models);
  WriteList(w, "routes", k.routes);
  w.Key("revoked").Bool(k.revoked).Key("created").Int(k.created);
  if (secret) w.Key("key").String(*secret);
  w.EndObject();
}

http::Response JsonOk(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

class AuthFilter final : public Filter {
 public:
  AuthFilter(std::unique_ptr<KeyStore> store, AdminAccess admin_access,
             std::vector<std::string> public_routes, std::vector<std::string> tenant_routes)
      : store_(std::move(store)),
        admin_access_(std::move(admin_access)),
        public_routes_(std::move(public_routes)),
        tenant_routes_(std::move(tenant_routes)) {}

  void Handle(std::shared_ptr<RequestContext> ctx, http::Request&& req, http::Responder respond,
              const Next& next) override {
    ctx->public_route = AnyGlobMatches(public_routes_, req.path);
    if (ctx->public_route) return next(std::move(ctx), std::move(req), std::move(respond));
    std::variant<KeyStore::Identity, http::Response> who = Identify(req);
    if (auto* refused = std::get_if<http::Response>(&who)) return respond(std::move(*refused));
    const auto& id = std::get<KeyStore::Identity>(who);
    const Tenant& tenant = id.tenant;
    const ApiKey& key = id.key;
    // Isolation first: what the tenant may not see answers exactly like what does not exist.
    // Under /v2/models a path that names no model (the all-models statistics) lists every tenant's,
    // and so does a catalog search (/ai/models/search, matched by the tenant route /ai/models/*).
    const bool lists_all =
        ctx->model.empty() && (req.path.starts_with("/v2/models") || ctx->route == "task_model_search");
    if (lists_all || !AnyGlobMatches(tenant_routes_, req.path)) {
      return respond(ErrorFor(NotFound("no route for " + req.method + " " + req.path)));
    }
    if (!ctx->model.empty() && !tenant.models.empty() && !AnyGlobMatches(tenant.models, ctx->model)) {
      return respond(ErrorFor(NotFound("unknown model '" + ctx->model + "'")));
    }
    // Then the key's own scope, narrower than the tenant's: the model exists for the tenant.
    if (!ctx->model.empty() && !key.models.empty() && !AnyGlobMatches(key.models, ctx->model)) {
      return respond(JsonError(403, "API key " + key.id + " may not use model '" + ctx->model + "'"));
    }
    if (!key.routes.empty() && !AnyGlobMatches(key.routes, req.path)) {
      return respond(JsonError(403, "API key " + key.id + " may not use " + req.path));
    }
    ctx->tenant = tenant.id;
    ctx->key_id = key.id;
    ctx->daily_free_units = tenant.daily_free_units;
    ctx->budget_units = tenant.budget_units;
    // The key stops here: nodes behind the gateway never see tenant secrets.
    RemoveHeader(req, "authorization");
    next(std::move(ctx), std::move(req), std::move(respond));
  }

  // Who sends the request: the tenant of the API key, or, without a key, the tenant a verified
  // client certificate is bound to (a key of its own then, named after the certificate, with no
  // scope beyond the tenant's). A key that does not authenticate is refused even when the
  // certificate would, and a key and a certificate of different tenants are refused (403).
  std::variant<KeyStore::Identity, http::Response> Identify(const http::Request& req) const {
    StatusOr<Tenant> by_cert = NotFound("no client certificate");
    if (req.tls && req.tls->client_verified)
      by_cert = store_->TenantForCertificate(req.tls->client_sha256, req.tls->client_subject);
    std::string_view token = BearerToken(req);
    if (token.empty()) {
      if (by_cert.ok()) {
        ApiKey key;
        key.id = "cert_" + req.tls->client_sha256.substr(0, 16);
        key.tenant = by_cert->id;
        key.name = req.tls->client_subject;
        return KeyStore::Identity{std::move(key), *std::move(by_cert)};
      }
      // Over TLS the message says what a certificate could have done.
      std::string why = "missing API key: send 'Authorization: Bearer <key>'";
      if (req.tls && req.tls->client_verified) {
        why += "; the client certificate '" + req.tls->client_subject + "' is bound to no tenant";
      } else if (req.tls) {
        why += " or a client certificate bound to a tenant";
      }
      http::Response r = JsonError(401, why);
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
    auto id = store_->Authenticate(std::string(token));
    if (!id.ok()) {
      http::Response r = JsonError(401, id.status().message());
      r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      return r;
    }
    if (by_cert.ok() && by_cert->id != id->tenant.id) {
      return JsonError(403, "the API key and the client certificate belong to different tenants");
    }
    return *std::move(id);
  }

  // Every request on the admin listener passes the admin checks first (token, Host, Origin,
  // content type); /admin/... are ours, the rest goes to `others` (the listener's /metrics).
  http::Handler AdminHandler(http::Handler others) override {
    return [this, others = std::move(others)](http::Request&& req, http::Responder respond) {
      if (auto refused = admin_access_.Check(req)) return respond(*std::move(refused));
      std::vector<std::string_view> p = SplitPath(req.path);
      if ((p.empty() || p[0] != "admin") && others) return others(std::move(req), std::move(respond));
      respond(Admin(req, p));
    };
  }

  std::string AdminTokenFile() const override { return admin_access_.token_file(); }

 private:
  // Runs on the admin listener's own I/O thread; SQLite writes block only that listener.
  http::Response Admin(const http::Request& req, const std::vector<std::string_view>& p) {
    auto not_found = [&] { return ErrorFor(NotFound("no admin route for " + req.method + " " + req.path)); };
    if (p.size() < 2 || p[0] != "admin") return not_found();
    if (p.size() == 2 && p[1] == "tenants") {
      if (req.method == "GET") {
        std::string body;
        JsonWriter w(&body);
        w.BeginObject().Key("tenants").BeginArray();
        for (const auto& t : store_->ListTenants()) WriteTenant(w, t);
        w.EndArray().EndObject();
        return JsonOk(200, std::move(body));
      }
      if (req.method == "POST") return CreateTenant(req.body);
    }
    if (p.size() == 3 && p[1] == "tenants" && req.method == "GET") {
      auto t = store_->GetTenant(std::string(p[2]));
      if (!t.ok()) return ErrorFor(t.status());
      std::string body;
      JsonWriter w(&body);
      WriteTenant(w, *t);
      return JsonOk(200, std::move(body));
    }
    if (p.size() == 4 && p[1] == "tenants" && p[3] == "keys") {
      if (req.method == "GET") {
        auto keys = store_->ListKeys(std::string(p[2]));
        if (!keys.ok()) return ErrorFor(keys.status());
        std::string body;
        JsonWriter w(&body);
        w.BeginObject().Key("keys").BeginArray();
        for (const auto& k : *keys) WriteKey(w, k, nullptr);
        w.EndArray().EndObject();
        return JsonOk(200, std::move(body));
      }
      if (req.method == "POST") return IssueKey(std::string(p[2]), req.body);
    }
    if (p.size() == 4 && p[1] == "keys" && p[3] == "revoke" && req.method == "POST") {
      if (Status st = store_->RevokeKey(std::string(p[2])); !st.ok()) return ErrorFor(st);
      return JsonOk(200, R"({"revoked":true})");
    }
    if (p.size() == 3 && p[1] == "keys" && req.method == "DELETE") {
      if (Status st = store_->RevokeKey(std::string(p[2])); !st.ok()) return ErrorFor(st);
      return JsonOk(200, R"({"revoked":true})");
    }
    return not_found();
  }

  http::Response CreateTenant(const std::string& json) {
    config::Reader rd("");
    auto parsed = rd.ParseObject(json.empty() ? "{}" : json,
                                 {"id", "models", "daily_free_units", "budget_units", "client_certificates"});
    if (!parsed.ok()) return ErrorFor(parsed.status());
    config::Object o = *parsed;
    Tenant t;
    simdjson::dom::element e;
    if (o["id"].get(e)) return ErrorFor(rd.Err("id", "missing"));
    auto id = rd.String(e, "id", true);
    if (!id.ok()) return ErrorFor(id.status());
    t.id = *id;
    if (!o["models"].get(e)) {
      auto m = rd.StringList(e, "models");
      if (!m.ok()) return ErrorFor(m.status());
      t.models = *m;
    }
    for (auto [field, out] :
         {std::pair{"daily_free_units", &t.daily_free_units}, {"budget_units", &t.budget_units}}) {
      if (!o[field].get(e)) {
        auto v = rd.Double(e, field, 0, 1e15);
        if (!v.ok()) return ErrorFor(v.status());
        *out = *v;
      }
    }
    if (!o["client_certificates"].get(e)) {
      auto b = ReadBindings(rd, e);
      if (!b.ok()) return ErrorFor(b.status());
      t.client_certificates = *std::move(b);
    }
    auto created = store_->CreateTenant(std::move(t));
    if (!created.ok()) return ErrorFor(created.status());
    std::string body;
    JsonWriter w(&body);
    WriteTenant(w, *created);
    return JsonOk(201, std::move(body));
  }

  http::Response IssueKey(const std::string& tenant, const std::string& json) {
    config::Reader rd("");
    auto parsed = rd.ParseObject(json.empty() ? "{}" : json, {"name", "models", "routes"});
    if (!parsed.ok()) return ErrorFor(parsed.status());
    config::Object o = *parsed;
    std::string name;
    std::vector<std::string> models, routes;
    simdjson::dom::element e;
    if (!o["name"].get(e)) {
      auto n = rd.String(e, "name", false);
      if (!n.ok()) return ErrorFor(n.status());
      name = *n;
    }
    for (auto [field, out] : {std::pair{"models", &models}, {"routes", &routes}}) {
      if (!o[field].get(e)) {
        auto v = rd.StringList(e, field);
        if (!v.ok()) return ErrorFor(v.status());
        *out = *v;
      }
    }
    auto issued = store_->IssueKey(tenant, std::move(name), std::move(models), std::move(routes));
    if (!issued.ok()) return ErrorFor(issued.status());
    std::string body;
    JsonWriter w(&body);
    WriteKey(w, issued->key, &issued->secret);
    return JsonOk(201, std::move(body));
  }

  std::unique_ptr<KeyStore> store_;
  AdminAccess admin_access_;
  std::vector<std::string> public_routes_, tenant_routes_;
};

}  // namespace

StatusOr<std::unique_ptr<Filter>> MakeAuthFilter(std::string_view settings, FilterEnv& env) {
  config::Reader rd("settings.");
  ASSIGN_OR_RETURN(config::Object o,
                   rd.ParseObject(settings, {"database", "admin_token", "admin_token_file",
                                             "admin_allowed_hosts", "public_routes", "tenant_routes"}));
  simdjson::dom::element e;
  if (o["database"].get(e)) return rd.Err("database", "missing (a SQLite file, or \":memory:\")");
  auto db_or = rd.String(e, "database", true);
  if (!db_or.ok()) return db_or.status();
  std::string db = *db_or;
  if (db != ":memory:" && std::filesystem::path(db).is_relative()) {
    db = (std::filesystem::path(env.config_dir) / db).string();
  }
  std::vector<std::string> public_routes = DefaultPublicRoutes(), tenant_routes = kDefaultTenantRoutes;
  if (!o["public_routes"].get(e)) {
    ASSIGN_OR_RETURN(public_routes, rd.StringList(e, "public_routes"));
  }
  if (!o["tenant_routes"].get(e)) {
    ASSIGN_OR_RETURN(tenant_routes, rd.StringList(e, "tenant_routes"));
  }
  ASSIGN_OR_RETURN(auto store, KeyStore::Open(db, env.clock));
  // After the database opened: a token file is generated only for a filter that can run.
  ASSIGN_OR_RETURN(AdminAccess admin_access, AdminAccess::FromSettings(rd, o, db, env.config_dir));
  return std::unique_ptr<Filter>(new AuthFilter(std::move(store), std::move(admin_access),
                                                std::move(public_routes), std::move(tenant_routes)));
}

}  // namespace continuum::filters
