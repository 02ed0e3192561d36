#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include "common/base64.h"
#include "common/test_temp_dir.h"
#include "http/server.h"
#include "registry/internal.h"
#include "registry/session.h"

namespace continuum::registry {
namespace {

TEST(WwwAuthenticate, ParsesBearerAndBasic) {
  auto c = ParseWwwAuthenticate(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push repository:c:pull")");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].scheme, "bearer");
  EXPECT_EQ((*c)[0].params.at("realm"), "https://auth.example.com/token");
  EXPECT_EQ((*c)[0].params.at("service"), "registry.example.com");
  EXPECT_EQ((*c)[0].params.at("scope"), "repository:a/b:pull,push repository:c:pull");
  c = ParseWwwAuthenticate(
      R"(Basic realm="Registry \"Realm\"", Bearer realm=https://x/t, error=invalid_token)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].scheme, "basic");
  EXPECT_EQ((*c)[0].params.at("realm"), "Registry \"Realm\"");
  EXPECT_EQ((*c)[1].params.at("realm"), "https://x/t");
  EXPECT_EQ((*c)[1].params.at("error"), "invalid_token");
  EXPECT_EQ(ParseWwwAuthenticate("Basic")->at(0).scheme, "basic");
  EXPECT_FALSE(ParseWwwAuthenticate("").ok());
  EXPECT_FALSE(ParseWwwAuthenticate(R"(Bearer realm="unterminated)").ok());
  EXPECT_FALSE(ParseWwwAuthenticate("realm=x").ok());
}

TEST(DockerConfig, ReadsAuthAndIdentityToken) {
  testing::TempDir dir("registry-test-");
  auto file = dir.path() / "config.json";
  std::ofstream(file) << R"({"auths": {"https://reg.example.com:5000/v1/": {"auth": ")" +
                             Base64Encode("alice:pa:ss") + R"("},
    "other.example.com": {"identitytoken": "refresh-me"}}})";
  auto c = ReadDockerConfig(file, "reg.example.com:5000");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->username, "alice");
  EXPECT_EQ(c->password, "pa:ss");
  c = ReadDockerConfig(file, "other.example.com");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->identity_token, "refresh-me");
  EXPECT_TRUE(c->username.empty());
  EXPECT_TRUE(ReadDockerConfig(file, "nowhere.example.com")->empty());
  EXPECT_TRUE(ReadDockerConfig(dir.path() / "missing.json", "reg.example.com:5000")->empty());
  std::ofstream(file, std::ios::trunc) << R"({"auths": {"h": {"auth": "bm8gY29sb24="}}})";  // "no colon"
  auto bad = ReadDockerConfig(file, "h");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("user:password"), std::string::npos);
  std::ofstream(file, std::ios::trunc) << "{not json";
  EXPECT_EQ(ReadDockerConfig(file, "h").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadDockerConfig(file, "h", 3).status().code(), StatusCode::kPayloadTooLarge);
}

TEST(DockerConfig, DefaultPathFollowsDockerConfigVariable) {
  ::setenv("DOCKER_CONFIG", "/tmp/dc", 1);
  EXPECT_EQ(DefaultDockerConfig(), std::filesystem::path("/tmp/dc/config.json"));
  ::unsetenv("DOCKER_CONFIG");
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(DefaultDockerConfig(), std::filesystem::path("/home/u/.docker/config.json"));
}

TEST(Loopback, OnlyLoopbackHosts) {
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("LOCALHOST"));
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.8.9.10"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("::2"));
  EXPECT_FALSE(IsLoopbackHost("localhost.example.com"));
  EXPECT_FALSE(IsLoopbackHost("127.0.0.1.nip.io"));
}

// The writeback starts each time `every` bytes have been written since the last time: a bad fd
// shows exactly when sync_file_range is called.
TEST(WritebackTest, StartsEveryThatManyBytes) {
  int64_t unsynced = 0;
  EXPECT_TRUE(StartWriteback(-1, 600, 1000, &unsynced).ok());
  EXPECT_EQ(unsynced, 600);
  Status st = StartWriteback(-1, 400, 1000, &unsynced);  // 1000 reached: called
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("cannot start writing back"), std::string::npos) << st.ToString();
  EXPECT_EQ(unsynced, 0);
  EXPECT_TRUE(StartWriteback(-1, 5000, 0, &unsynced).ok());  // 0: never
  continuum::testing::TempDir tmp("registry-writeback-");
  std::ofstream(tmp.path() / "f") << std::string(3000, 'x');
  int fd = ::open((tmp.path() / "f").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  unsynced = 0;
  EXPECT_TRUE(StartWriteback(fd, 3000, 1000, &unsynced).ok());
  EXPECT_EQ(unsynced, 0);
  ::close(fd);
}

TEST(ContentRangeTest, Parses) {
  auto r = ParseContentRange("bytes 100-199/1000");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, 100);
  EXPECT_EQ(r->last, 199);
  EXPECT_EQ(r->total, 1000);
  EXPECT_EQ(ParseContentRange("bytes 0-9/*")->total, -1);
  EXPECT_FALSE(ParseContentRange("100-199/1000").ok());
  EXPECT_FALSE(ParseContentRange("bytes 200-100/1000").ok());
  EXPECT_FALSE(ParseContentRange("bytes 0-1000/1000").ok());
  EXPECT_FALSE(ParseContentRange("bytes x-1/2").ok());
}

TEST(Resume, DecidesFromTheAnswer) {
  std::string range = "bytes 400-999/1000";
  EXPECT_EQ(*ResumeDecision(206, &range, 400, 1000), ResumeAction::kAppend);
  EXPECT_EQ(*ResumeDecision(200, nullptr, 400, 1000), ResumeAction::kStartOver);
  EXPECT_FALSE(ResumeDecision(206, &range, 300, 1000).ok());  // another start
  EXPECT_FALSE(ResumeDecision(206, &range, 400, 2000).ok());  // another blob size
  std::string short_range = "bytes 400-899/1000";
  EXPECT_FALSE(ResumeDecision(206, &short_range, 400, 1000).ok());  // does not run to the end
  EXPECT_FALSE(ResumeDecision(206, nullptr, 400, 1000).ok());
  EXPECT_EQ(ResumeDecision(503, nullptr, 400, 1000).status().code(), StatusCode::kUnavailable);
}

TEST(Manifest, ParsesManifestAndIndex) {
  const std::string d1 = "sha256:" + std::string(64, 'a'), d2 = "sha256:" + std::string(64, 'b');
  auto m = ParseManifest(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
    "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":")" +
                         d1 + R"(","size":2},
    "layers":[{"mediaType":"x","digest":")" +
                         d2 + R"(","size":5}]})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(m->is_index);
  ASSERT_EQ(m->blobs.size(), 2u);
  EXPECT_EQ(m->blobs[0].digest, d1);
  EXPECT_EQ(m->blobs[1].size, 5);
  auto i = ParseManifest(R"({"manifests":[{"digest":")" + d1 + R"(","size":9}]})");
  ASSERT_TRUE(i.ok());
  EXPECT_TRUE(i->is_index);
  EXPECT_EQ(i->children.size(), 1u);
  auto bad = ParseManifest(R"({"config":{"digest":"sha256:AB","size":2},"layers":[]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("config.digest"), std::string::npos);
  bad = ParseManifest(R"({"config":{"digest":")" + d1 + R"(","size":-1},"layers":[]})");
  EXPECT_NE(bad.status().message().find("config.size"), std::string::npos);
  EXPECT_FALSE(ParseManifest("[]").ok());
  EXPECT_FALSE(ParseManifest("{}").ok());
}

TEST(LocationsTest, RemembersAndMergesOnSave) {
  testing::TempDir dir("registry-test-");
  auto file = dir.path() / "state" / "blobs.tsv";
  {
    Locations a(file, 3);
    a.Add("r:5000", "models/a", "sha256:1");
    EXPECT_EQ(a.Find("r:5000", "sha256:1", "models/b").value_or(""), "models/a");
    EXPECT_FALSE(a.Find("r:5000", "sha256:1", "models/a").has_value());  // not the repository itself
    EXPECT_FALSE(a.Find("other:5000", "sha256:1", "models/b").has_value());
    ASSERT_TRUE(a.Save().ok());
  }
  Locations b(file, 3), c(file, 3);
  EXPECT_EQ(b.Find("r:5000", "sha256:1", "x").value_or(""), "models/a");
  b.Add("r:5000", "models/b", "sha256:2");
  c.Add("r:5000", "models/c", "sha256:3");
  ASSERT_TRUE(b.Save().ok());
  ASSERT_TRUE(c.Save().ok());  // merges with what b wrote
  Locations d(file, 3);
  EXPECT_TRUE(d.Find("r:5000", "sha256:2", "x").has_value());
  EXPECT_TRUE(d.Find("r:5000", "sha256:3", "x").has_value());
  d.Add("r:5000", "models/d", "sha256:4");
  ASSERT_TRUE(d.Save().ok());
  Locations e(file, 3);  // the oldest entry went past max_entries
  EXPECT_FALSE(e.Find("r:5000", "sha256:1", "x").has_value());
  EXPECT_TRUE(e.Find("r:5000", "sha256:4", "x").has_value());
}

TEST(Names, SplitsRepositoryAndEncodes) {
  auto r = SplitRepository("localhost:5000/models/add_sub");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->host, "localhost:5000");
  EXPECT_EQ(r->name, "models/add_sub");
  EXPECT_EQ(SplitRepository("registry.example.com/m")->host, "registry.example.com");
  EXPECT_FALSE(SplitRepository("models/add_sub").ok());  // no registry host
  EXPECT_FALSE(SplitRepository("localhost:5000").ok());
  EXPECT_EQ(UrlEncode("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
  auto u = SplitAbsoluteUrl("https://h:1/v2/x/blobs/uploads/u?_state=s");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->base, "https://h:1");
  EXPECT_EQ(u->target, "/v2/x/blobs/uploads/u?_state=s");
}

TEST(Names, PullReferenceByTagOrDigest) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  auto r = ParsePullReference("localhost:5000/models/add_sub:2", "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->repository, "localhost:5000/models/add_sub");
  EXPECT_EQ(r->fetch, "2");
  EXPECT_EQ(r->tag, "2");
  EXPECT_EQ(ParsePullReference("localhost:5000/models/add_sub:2", "other")->tag, "other");
  r = ParsePullReference("localhost:5000/models/add_sub@" + digest, "pinned");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->repository, "localhost:5000/models/add_sub");
  EXPECT_EQ(r->fetch, digest);
  EXPECT_EQ(r->tag, "pinned");
  EXPECT_FALSE(ParsePullReference("localhost:5000/models/add_sub@" + digest, "").ok());  // no tag to write
  EXPECT_FALSE(ParsePullReference("localhost:5000/models/add_sub@sha256:abc", "t").ok());
  EXPECT_FALSE(ParsePullReference("localhost:5000/models/add_sub@" + digest, "-bad").ok());
  EXPECT_FALSE(ParsePullReference("@" + digest, "t").ok());
}

// A registry stand-in on loopback that answers with what the test scripts.
struct Stub {
  explicit Stub(http::Handler h) {
    http::ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    server = std::move(http::Server::Start(o, std::move(h))).value();
    host = "127.0.0.1:" + std::to_string(server->port());
  }
  ~Stub() { server->Stop(); }
  std::unique_ptr<http::Server> server;
  std::string host;
};

Options LoopbackOptions(const std::filesystem::path& docker_config) {
  Options o;
  o.insecure = true;
  o.docker_config = docker_config.string();
  o.retries = 2;
  o.retry_backoff_ms = 1;
  o.timeout_ms = 10000;
  return o;
}

TEST(SessionTest, InsecureRefusedForANonLoopbackHost) {
  Options o;
  o.insecure = true;
  auto s = Session::Open(o, {"registry.example.com:5000", "m"}, "pull");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("registry.example.com:5000"), std::string::npos)
      << s.status().ToString();
  EXPECT_NE(s.status().message().find("loopback"), std::string::npos);
  EXPECT_TRUE(Session::Open(o, {"127.0.0.1:5000", "m"}, "pull").ok());
  EXPECT_TRUE(Session::Open(o, {"[::1]:5000", "m"}, "pull").ok());
}

TEST(SessionTest, RetriesServerErrorsThenGivesUp) {
  std::atomic<int> calls{0};
  Stub stub([&](http::Request&&, http::Responder w) {
    http::Response r;
    r.status = ++calls < 3 ? 500 : 200;
    r.body = "x";
    w(std::move(r));
  });
  testing::TempDir dir("registry-test-");
  auto s = Session::Open(LoopbackOptions(dir.path() / "none.json"), {stub.host, "m"}, "pull");
  ASSERT_TRUE(s.ok());
  http::ClientRequest req;
  req.method = "GET";
  req.target = "/v2/";
  auto r = (*s)->Do(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(calls.load(), 3);
  calls = -100;  // 500 from now on
  r = (*s)->Do(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("HTTP 500 (after 2 retries)"), std::string::npos)
      << r.status().ToString();
}

TEST(SessionTest, AnswersBasicChallengeFromDockerConfig) {
  const std::string want = "Basic " + Base64Encode("alice:secret");
  Stub stub([&](http::Request&& req, http::Responder w) {
    http::Response r;
    const std::string* auth = req.Header("authorization");
    r.status = auth != nullptr && *auth == want ? 200 : 401;
    if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", R"(Basic realm="Registry Realm")");
    w(std::move(r));
  });
  testing::TempDir dir("registry-test-");
  http::ClientRequest req;
  req.method = "GET";
  req.target = "/v2/";
  auto none = Session::Open(LoopbackOptions(dir.path() / "none.json"), {stub.host, "m"}, "pull");
  auto r = (*none)->Do(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("has none for " + stub.host), std::string::npos)
      << r.status().ToString();
  auto file = dir.path() / "config.json";
  std::ofstream(file) << R"({"auths":{")" + stub.host + R"(":{"auth":")" + Base64Encode("alice:secret") +
                             R"("}}})";
  auto s = Session::Open(LoopbackOptions(file), {stub.host, "m"}, "pull");
  r = (*s)->Do(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  std::ofstream(file, std::ios::trunc)
      << R"({"auths":{")" + stub.host + R"(":{"auth":")" + Base64Encode("alice:wrong") + R"("}}})";
  auto wrong = Session::Open(LoopbackOptions(file), {stub.host, "m"}, "pull");
  r = (*wrong)->Do(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("refused the credentials"), std::string::npos) << r.status().ToString();
}

TEST(SessionTest, FetchesAndCachesABearerTokenPerScope) {
  std::atomic<int> token_calls{0};
  std::string realm;
  Stub stub([&](http::Request&& req, http::Responder w) {
    http::Response r;
    if (req.target.rfind("/token?", 0) == 0) {
      ++token_calls;
      EXPECT_NE(req.target.find("scope=repository%3Am%3Apull"), std::string::npos) << req.target;
      EXPECT_NE(req.target.find("service=reg"), std::string::npos) << req.target;
      r.status = 200;
      r.body = R"({"access_token":"tok-1","expires_in":300})";
    } else {
      const std::string* auth = req.Header("authorization");
      r.status = auth != nullptr && *auth == "Bearer tok-1" ? 200 : 401;
      if (r.status == 401)
        r.headers.emplace_back("WWW-Authenticate",
                               "Bearer realm=\"" + realm + "\",service=\"reg\",scope=\"repository:m:pull\"");
    }
    w(std::move(r));
  });
  realm = "http://" + stub.host + "/token";
  testing::TempDir dir("registry-test-");
  auto s = Session::Open(LoopbackOptions(dir.path() / "none.json"), {stub.host, "m"}, "pull");
  http::ClientRequest req;
  req.method = "GET";
  req.target = "/v2/m/manifests/1";
  for (int i = 0; i < 3; ++i) {
    auto r = (*s)->Do(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(token_calls.load(), 1);  // cached for the scope
}

TEST(SessionTest, IdentityTokenIsSentAsARefreshToken) {
  std::string realm, form;
  Stub stub([&](http::Request&& req, http::Responder w) {
    http::Response r;
    if (req.target == "/oauth") {
      form = req.body;
      r.status = req.method == "POST" ? 200 : 405;
      r.body = R"({"access_token":"tok-2"})";
    } else {
      const std::string* auth = req.Header("authorization");
      r.status = auth != nullptr && *auth == "Bearer tok-2" ? 200 : 401;
      if (r.status == 401)
        r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"" + realm + "\",service=\"reg\"");
    }
    w(std::move(r));
  });
  realm = "http://" + stub.host + "/oauth";
  testing::TempDir dir("registry-test-");
  auto file = dir.path() / "config.json";
  std::ofstream(file) << R"({"auths":{")" + stub.host + R"(":{"identitytoken":"refresh me"}}})";
  auto s = Session::Open(LoopbackOptions(file), {stub.host, "m"}, "pull");
  http::ClientRequest req;
  req.method = "GET";
  req.target = "/v2/m/manifests/1";
  auto r = (*s)->Do(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(form.find("grant_type=refresh_token"), std::string::npos) << form;
  EXPECT_NE(form.find("refresh_token=refresh%20me"), std::string::npos) << form;
  EXPECT_NE(form.find("scope=repository%3Am%3Apull"), std::string::npos) << form;
}

TEST(SessionTest, TokenServiceOnPlainHttpElsewhereIsRefused) {
  Stub stub([&](http::Request&&, http::Responder w) {
    http::Response r;
    r.status = 401;
    r.headers.emplace_back("WWW-Authenticate",
                           R"(Bearer realm="http://auth.example.com/token",service="reg")");
    w(std::move(r));
  });
  testing::TempDir dir("registry-test-");
  auto s = Session::Open(LoopbackOptions(dir.path() / "none.json"), {stub.host, "m"}, "pull");
  http::ClientRequest req;
  req.method = "GET";
  req.target = "/v2/";
  auto r = (*s)->Do(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("token service auth.example.com"), std::string::npos)
      << r.status().ToString();
}

}  // namespace
}  // namespace continuum::registry
