#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "filters/filters.h"
#include "filters/internal/test_util.h"

namespace continuum::filters {
namespace {

using namespace testing;  // the helpers of filters/internal/test_util.h

const char* kJsonBody =
    R"({"id":"a","inputs":[{"name":"X","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]},)"
    R"({"name":"Y","datatype":"INT32","shape":[1],"data":[7]}]})";

// The same tensors, Y first, X in the binary section.
http::Request BinaryRequest() {
  std::string header =
      R"({"id":"b","inputs":[{"name":"Y","datatype":"INT32","shape":[1],"data":[7]},)"
      R"({"name":"X","datatype":"FP32","shape":[1,4],"parameters":{"binary_data_size":16}}]})";
  float x[4] = {1, 2, 3, 4};
  std::string body = header + std::string(reinterpret_cast<const char*>(x), sizeof x);
  return Req("POST", "/v2/models/m/infer", body,
             {{"inference-header-content-length", std::to_string(header.size())}});
}

struct Rig {
  explicit Rig(const std::string& settings = "{}") {
    ChainOptions o;
    o.clock = &clock;
    chain = testing::MustChain(
        R"({"schema_version":1,"filters":[{"name":"cache","settings":)" + settings + "}]}", o);
    h = chain->Wrap(inner.handler());
  }
  http::Response Infer(std::string body = kJsonBody,
                       std::vector<std::pair<std::string, std::string>> headers = {},
                       std::string model = "m") {
    return Call(h, Req("POST", "/v2/models/" + model + "/infer", std::move(body), std::move(headers)));
  }
  ManualClock clock{std::chrono::system_clock::time_point(std::chrono::seconds(1000))};
  FakeInner inner;
  std::unique_ptr<FilterChain> chain;
  http::Handler h;
};

TEST(Cache, MissThenHitAndJsonOrBinaryShareTheEntry) {
  Rig rig;
  EXPECT_EQ(Header(rig.Infer(), "cache-status"), "MISS");
  http::Response hit = rig.Infer();
  EXPECT_EQ(Header(hit, "cache-status"), "HIT");
  EXPECT_EQ(Header(hit, "cf-aig-cache-status"), "HIT");
  EXPECT_EQ(Call(rig.h, BinaryRequest()).status, 200);
  EXPECT_EQ(Header(Call(rig.h, BinaryRequest()), "cache-status"), "HIT");
  EXPECT_EQ(rig.inner.calls, 1);
  // Other data, another entry.
  std::string other = kJsonBody;
  other.replace(other.find("[7]"), 3, "[8]");
  EXPECT_EQ(Header(rig.Infer(other), "cache-status"), "MISS");
  EXPECT_EQ(Header(rig.Infer(kJsonBody, {}, "m2"), "cache-status"), "MISS") << "the model is part of the key";
}

// Everything the engine would see differently is a different entry: the same bytes under another
// shape, datatype or name, other requested outputs or parameters, inputs split differently; the
// order of inputs and whitespace are not.
TEST(Cache, KeysTellApartWhatTheEngineWouldSeeDifferently) {
  Rig rig;
  auto body = [](const std::string& inputs, const std::string& rest = "") {
    return R"({"inputs":[)" + inputs + "]" + rest + "}";
  };
  const std::string x = R"({"name":"X","datatype":"INT32","shape":[1,4],"data":[1,2,3,4]})";
  const std::vector<std::string> distinct = {
      body(x),
      body(R"({"name":"X","datatype":"INT32","shape":[4,1],"data":[1,2,3,4]})"),
      body(R"({"name":"X","datatype":"INT32","shape":[2,2],"data":[1,2,3,4]})"),
      body(R"({"name":"X","datatype":"INT32","shape":[4],"data":[1,2,3,4]})"),
      body(R"({"name":"X","datatype":"UINT32","shape":[1,4],"data":[1,2,3,4]})"),
      body(R"({"name":"Y","datatype":"INT32","shape":[1,4],"data":[1,2,3,4]})"),
      body(R"({"name":"X","datatype":"INT32","shape":[1,2],"data":[1,2]},)"
           R"({"name":"Y","datatype":"INT32","shape":[1,2],"data":[3,4]})"),
      body(x, R"(,"outputs":[{"name":"Z"}])"),
      body(x, R"(,"outputs":[{"name":"Z","parameters":{"binary_data":true}}])"),
      body(x, R"(,"parameters":{"binary_data_output":true})"),
      body(x, R"(,"parameters":{"priority":1})"),
      body("")};
  for (const std::string& b : distinct) EXPECT_EQ(Header(rig.Infer(b), "cache-status"), "MISS") << b;
  for (const std::string& b : distinct) EXPECT_EQ(Header(rig.Infer(b), "cache-status"), "HIT") << b;
  EXPECT_EQ(rig.inner.calls, static_cast<int>(distinct.size()));
  // The same request written otherwise: inputs in another order, spaces, an id.
  EXPECT_EQ(
      Header(rig.Infer(R"( { "id" : "q", "inputs" : [ {"name":"Y","datatype":"INT32","shape":[1,2],)"
                       R"("data":[3,4]}, {"data":[1,2],"shape":[1,2],"datatype":"INT32","name":"X"} ] } )"),
             "cache-status"),
      "HIT");
}

TEST(Cache, TtlFromSettingsAndHeaders) {
  Rig rig(R"({"ttl_seconds":10})");
  rig.Infer();
  rig.clock.Advance(std::chrono::seconds(9));
  EXPECT_EQ(Header(rig.Infer(), "cache-status"), "HIT");
  rig.clock.Advance(std::chrono::seconds(2));
  EXPECT_EQ(Header(rig.Infer(), "cache-status"), "MISS");
  // Per request: a longer TTL.
  rig.Infer(kJsonBody, {{"cf-aig-cache-ttl", "100"}}, "long");
  rig.clock.Advance(std::chrono::seconds(50));
  EXPECT_EQ(Header(rig.Infer(kJsonBody, {}, "long"), "cache-status"), "HIT");
}

TEST(Cache, SkipCustomKeyAndBadHeaders) {
  Rig rig;
  rig.Infer();
  EXPECT_EQ(Header(rig.Infer(kJsonBody, {{"cf-aig-skip-cache", "true"}}), "cache-status"), "BYPASS");
  EXPECT_EQ(Header(rig.Infer(kJsonBody, {{"x-continuum-skip-cache", "1"}}), "cache-status"), "BYPASS");
  EXPECT_EQ(Header(rig.Infer("{}", {{"x-continuum-cache-key", "k1"}}), "cache-status"), "MISS");
  EXPECT_EQ(Header(rig.Infer("{\"other\":1}", {{"cf-aig-cache-key", "k1"}}), "cache-status"), "HIT");
  http::Response bad = rig.Infer(kJsonBody, {{"cf-aig-cache-ttl", "soon"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("cf-aig-cache-ttl"), std::string::npos);
  EXPECT_EQ(rig.Infer(kJsonBody, {{"cf-aig-skip-cache", "perhaps"}}).status, 400);
  EXPECT_EQ(Header(Call(rig.h, Req("GET", "/v2/models/m")), "cache-status"), "BYPASS");
}

TEST(Cache, OnlySuccessIsCached) {
  Rig rig;
  rig.inner.status = 503;
  EXPECT_EQ(rig.Infer().status, 503);
  rig.inner.status = 200;
  EXPECT_EQ(Header(rig.Infer(), "cache-status"), "MISS");
  EXPECT_EQ(rig.inner.calls, 2);
}

TEST(Cache, LruEvictionKeepsUnderTheByteBound) {
  // Each entry is about 165 bytes (body, headers, key): room for two.
  Rig rig(R"({"max_bytes":400})");
  auto body = [](int v) {
    std::string b = kJsonBody;
    b.replace(b.find("[7]"), 3, "[" + std::to_string(v) + "]");
    return b;
  };
  rig.Infer(body(1));
  rig.Infer(body(2));
  EXPECT_EQ(Header(rig.Infer(body(1)), "cache-status"), "HIT");  // 1 is now the most recent
  rig.Infer(body(3));                                            // evicts 2
  EXPECT_EQ(Header(rig.Infer(body(1)), "cache-status"), "HIT");
  EXPECT_EQ(Header(rig.Infer(body(2)), "cache-status"), "MISS");
}

// An inner handler that parks every request until released.
struct ParkedInner {
  std::mutex mu;
  std::vector<http::Responder> parked;
  std::vector<CancelToken> tokens;  // of the requests that reached the node
  std::atomic<int> calls{0};
  http::Handler handler() {
    return [this](http::Request&& req, http::Responder w) {
      ++calls;
      std::lock_guard l(mu);
      parked.push_back(std::move(w));
      tokens.push_back(req.cancel);
    };
  }
  void ReleaseAll() {
    std::vector<http::Responder> p;
    {
      std::lock_guard l(mu);
      p.swap(parked);
    }
    for (auto& w : p) {
      http::Response r;
      r.body = "answer";
      w(std::move(r));
    }
  }
};

TEST(Cache, ConcurrentIdenticalRequestsRunOnce) {
  auto chain = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"cache"}]})");
  ParkedInner inner;
  auto h = chain->Wrap(inner.handler());
  constexpr int kN = 16;
  std::vector<std::future<http::Response>> answers;
  std::vector<std::thread> threads;
  std::vector<std::promise<http::Response>> promises(kN);
  for (int i = 0; i < kN; ++i) answers.push_back(promises[i].get_future());
  for (int i = 0; i < kN; ++i) {
    threads.emplace_back([&, i] {
      h(Req("POST", "/v2/models/m/infer", kJsonBody),
        [&, i](http::Response r) { promises[i].set_value(std::move(r)); });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(inner.calls, 1);
  inner.ReleaseAll();
  int hits = 0, misses = 0;
  for (auto& f : answers) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    http::Response r = f.get();
    EXPECT_EQ(r.body, "answer");
    (Header(r, "cache-status") == "HIT" ? hits : misses)++;
  }
  EXPECT_EQ(misses, 1);
  EXPECT_EQ(hits, kN - 1);
}

TEST(Cache, ALeadersClientLeavingDoesNotCancelTheRunItsFollowersWaitFor) {
  auto chain = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"cache"}]})");
  ParkedInner inner;
  auto h = chain->Wrap(inner.handler());
  http::Request leader = Req("POST", "/v2/models/m/infer", kJsonBody);
  leader.cancel = CancelToken::Make();
  const CancelToken gone = leader.cancel;
  std::promise<http::Response> follower;
  h(std::move(leader), [](const http::Response&) {});
  h(Req("POST", "/v2/models/m/infer", kJsonBody),
    [&](http::Response r) { follower.set_value(std::move(r)); });
  gone.Cancel();
  ASSERT_EQ(inner.calls, 1);
  EXPECT_FALSE(inner.tokens.at(0).cancelled());
  inner.ReleaseAll();
  auto answer = follower.get_future();
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(answer.get().body, "answer");
}

TEST(Cache, FollowersWaitOnlyUpToTheBound) {
  auto chain = testing::MustChain(
      R"({"schema_version":1,"filters":[{"name":"cache","settings":{"coalesce_wait_ms":30}}]})");
  ParkedInner inner;
  auto h = chain->Wrap(inner.handler());
  std::promise<http::Response> leader, follower;
  h(Req("POST", "/v2/models/m/infer", kJsonBody), [&](http::Response r) { leader.set_value(std::move(r)); });
  h(Req("POST", "/v2/models/m/infer", kJsonBody),
    [&](http::Response r) { follower.set_value(std::move(r)); });
  // After the bound the follower runs on its own: a second call reaches the inner handler.
  for (int i = 0; i < 200 && inner.calls < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(inner.calls, 2);
  inner.ReleaseAll();
  EXPECT_EQ(Header(follower.get_future().get(), "cache-status"), "MISS");
  EXPECT_EQ(Header(leader.get_future().get(), "cache-status"), "MISS");
}

TEST(Cache, AnswersDifferByAcceptEncoding) {
  // The node compresses an answer when Accept-Encoding asks for it: a gzip answer must never be
  // replayed to a client that did not accept gzip, nor a plain one stand for it.
  Rig rig;
  EXPECT_EQ(Header(rig.Infer(kJsonBody, {{"accept-encoding", "gzip"}}), "cache-status"), "MISS");
  EXPECT_EQ(Header(rig.Infer(), "cache-status"), "MISS");
  EXPECT_EQ(Header(rig.Infer(kJsonBody, {{"accept-encoding", "deflate"}}), "cache-status"), "MISS");
  EXPECT_EQ(Header(rig.Infer(kJsonBody, {{"accept-encoding", "gzip"}}), "cache-status"), "HIT");
  EXPECT_EQ(Header(rig.Infer(), "cache-status"), "HIT");
  EXPECT_EQ(rig.inner.calls, 3);
}

TEST(Cache, TenantsNeverShareEntries) {
  auto chain = testing::MustChain(
      R"({"schema_version":1,"filters":[{"name":"auth","settings":{"database":":memory:","admin_token":")" +
      std::string(testing::kAdminToken) + R"("}},{"name":"cache"}]})");
  auto admin = chain->AdminHandler();
  FakeInner inner;
  auto h = chain->Wrap(inner.handler());
  auto key_of = [&](const std::string& tenant) {
    EXPECT_EQ(Call(admin, testing::AdminReq("POST", "/admin/tenants", "{\"id\":\"" + tenant + "\"}")).status,
              201);
    http::Response k = Call(admin, testing::AdminReq("POST", "/admin/tenants/" + tenant + "/keys", "{}"));
    size_t at = k.body.find("\"key\":\"") + 7;
    return k.body.substr(at, k.body.find('"', at) - at);
  };
  std::string a = key_of("a"), b = key_of("b");
  auto infer = [&](const std::string& key, const char* custom) {
    std::vector<std::pair<std::string, std::string>> hs = {{"authorization", "Bearer " + key}};
    if (custom) hs.emplace_back("cf-aig-cache-key", custom);
    return Header(Call(h, Req("POST", "/v2/models/m/infer", kJsonBody, hs)), "cache-status");
  };
  EXPECT_EQ(infer(a, nullptr), "MISS");
  EXPECT_EQ(infer(a, nullptr), "HIT");
  EXPECT_EQ(infer(b, nullptr), "MISS");
  EXPECT_EQ(infer(a, "shared"), "MISS");
  EXPECT_EQ(infer(b, "shared"), "MISS") << "a custom key is still scoped to the tenant";
}

TEST(Cache, KeysDecodeWithTheNodesCodecLimits) {
  ChainOptions o;
  o.codec_limits.max_tensor_elements = 2;  // X has 4
  auto chain = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"cache"}]})", o);
  FakeInner inner;
  auto h = chain->Wrap(inner.handler());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Header(Call(h, Req("POST", "/v2/models/m/infer", kJsonBody)), "cache-status"), "BYPASS")
        << "what the node refuses is not decoded more generously by the cache";
  }
  ChainOptions narrow;
  narrow.codec_limits.max_inputs = 1;  // the body has 2
  auto chain2 = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"cache"}]})", narrow);
  auto h2 = chain2->Wrap(inner.handler());
  EXPECT_EQ(Header(Call(h2, Req("POST", "/v2/models/m/infer", kJsonBody)), "cache-status"), "BYPASS");
  EXPECT_EQ(inner.calls, 3);
}

// A node whose model "m" is served by `version` (what a request of the latest gets).
// With `outputs_first`, the answer lists its outputs before the version and carries one of them
// in the binary extension (a JSON part, then the bytes).
struct VersionedNode {
  std::atomic<int> version{1};
  std::atomic<int> calls{0};
  bool outputs_first = false;
  http::Handler handler() {
    return [this](http::Request&& req, http::Responder w) {
      ++calls;
      const size_t at = req.path.find("/versions/");
      const std::string v =
          at == std::string::npos ? std::to_string(version.load()) : req.path.substr(at + 10, 1);
      http::Response r;
      if (outputs_first) {
        r.body =
            R"({"outputs":[{"name":"Z","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":4}},)"
            R"({"name":"W","datatype":"BYTES","shape":[1],"data":["\"model_version\":\"9\""]}],)"
            R"("model_name":"m","model_version":")" +
            v + R"("})";
        r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(r.body.size()));
        r.body += std::string("\0\0\x80?", 4);
      } else {
        r.body = R"({"model_name":"m","model_version":")" + v + R"(","outputs":[]})";
      }
      w(std::move(r));
    };
  }
};

std::string VersionOf(const http::Response& r) {
  const size_t at = r.body.find(R"("model_version":")");
  return at == std::string::npos ? "" : r.body.substr(at + 17, 1);
}

TEST(Cache, AnUpdatedModelIsNeverAnsweredFromTheOldVersionsEntry) {
  // serve: the node resolves which version answers the latest.
  VersionedNode node;
  ChainOptions o;
  o.resolve_version = [&node](std::string_view model) {
    return model == "m" ? std::to_string(node.version.load()) : std::string();
  };
  auto chain = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"cache"}]})", o);
  auto h = chain->Wrap(node.handler());
  auto infer = [&](const std::string& path = "/v2/models/m/infer") {
    return Call(h, Req("POST", path, kJsonBody));
  };
  EXPECT_EQ(Header(infer(), "cache-status"), "MISS");
  EXPECT_EQ(Header(infer(), "cache-status"), "HIT");
  EXPECT_EQ(Header(infer("/v2/models/m/versions/1/infer"), "cache-status"), "MISS");
  node.version = 2;  // the model is updated
  http::Response after = infer();
  EXPECT_EQ(Header(after, "cache-status"), "MISS");
  EXPECT_EQ(VersionOf(after), "2");
  http::Response again = infer();
  EXPECT_EQ(Header(again, "cache-status"), "HIT");
  EXPECT_EQ(VersionOf(again), "2");
  // A request that names version 1 still has its own entry.
  http::Response v1 = infer("/v2/models/m/versions/1/infer");
  EXPECT_EQ(Header(v1, "cache-status"), "HIT");
  EXPECT_EQ(VersionOf(v1), "1");
  EXPECT_EQ(node.calls, 3);
}

TEST(Cache, WithoutAResolverTheNewestAnswerRetiresOlderEntries) {
  // gateway: no resolver; the version of the model's most recent answer is the current one.
  VersionedNode node;
  auto chain = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"cache"}]})");
  auto h = chain->Wrap(node.handler());
  std::string other = kJsonBody;
  other.replace(other.find("[7]"), 3, "[8]");
  auto infer = [&](const std::string& body, std::vector<std::pair<std::string, std::string>> hs = {}) {
    return Call(h, Req("POST", "/v2/models/m/infer", body, std::move(hs)));
  };
  EXPECT_EQ(Header(infer(kJsonBody), "cache-status"), "MISS");
  EXPECT_EQ(Header(infer(kJsonBody), "cache-status"), "HIT");
  node.version = 2;
  // Any answer of the new version (a miss, an uncached request) retires the old entries.
  EXPECT_EQ(VersionOf(infer(kJsonBody, {{"cf-aig-skip-cache", "true"}})), "2");
  http::Response after = infer(kJsonBody);
  EXPECT_EQ(Header(after, "cache-status"), "MISS");
  EXPECT_EQ(VersionOf(after), "2");
  EXPECT_EQ(Header(infer(kJsonBody), "cache-status"), "HIT");
  node.version = 3;
  EXPECT_EQ(Header(infer(other), "cache-status"), "MISS");
  http::Response latest = infer(kJsonBody);
  EXPECT_EQ(Header(latest, "cache-status"), "MISS");
  EXPECT_EQ(VersionOf(latest), "3");
}

// The answer's version is read wherever the JSON part has it (after the outputs, before a
// binary section), and only from the top-level object.
TEST(Cache, TheAnsweredVersionIsReadAfterTheOutputsAndBeforeTheBinaryPart) {
  VersionedNode node;
  node.outputs_first = true;
  auto chain = testing::MustChain(R"({"schema_version":1,"filters":[{"name":"cache"}]})");
  auto h = chain->Wrap(node.handler());
  auto infer = [&] { return Call(h, Req("POST", "/v2/models/m/infer", kJsonBody)); };
  EXPECT_EQ(Header(infer(), "cache-status"), "MISS");
  EXPECT_EQ(Header(infer(), "cache-status"), "HIT");
  node.version = 2;
  EXPECT_EQ(Header(Call(h, Req("POST", "/v2/models/m/infer", kJsonBody, {{"cf-aig-skip-cache", "true"}})),
                   "cache-status"),
            "BYPASS");
  // The answer of version 2 retired the entry of version 1.
  EXPECT_EQ(Header(infer(), "cache-status"), "MISS");
  EXPECT_EQ(Header(infer(), "cache-status"), "HIT");
  EXPECT_EQ(node.calls, 3);
}

}  // namespace
}  // namespace continuum::filters
