#include "repository/model_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

namespace continuum {
namespace {

namespace fs = std::filesystem;

// Expects `json` to be rejected with kInvalidArgument and a message that names `field`.
void ExpectRejected(std::string_view json, std::string_view field, std::string_view model = "m") {
  auto c = ParseModelConfig(json, model);
  ASSERT_FALSE(c.ok()) << json;
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().ToString();
  EXPECT_NE(c.status().message().find(field), std::string::npos)
      << "message '" << c.status().message() << "' should name '" << field << "'";
}

// Each value at `path` ("limits.max_queue_size": {"limits": {"max_queue_size": <value>}}) is
// refused, the error naming the path.
void ExpectValuesRejected(const std::string& path, std::initializer_list<std::string> values) {
  for (const std::string& value : values) {
    std::string json = value, rest = path;
    std::vector<std::string> keys;
    for (size_t dot; (dot = rest.rfind('.')) != std::string::npos; rest.resize(dot))
      keys.push_back(rest.substr(dot + 1));
    keys.push_back(rest);
    for (const std::string& key : keys) json = "{\"" + key + "\": " + json + "}";
    ExpectRejected(json, path);
  }
}

void ExpectSameConfig(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.schema_version, b.schema_version);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.max_batch_size, b.max_batch_size);
  ASSERT_EQ(a.dynamic_batching.has_value(), b.dynamic_batching.has_value());
  if (a.dynamic_batching) {
    EXPECT_EQ(a.dynamic_batching->preferred_batch_size, b.dynamic_batching->preferred_batch_size);
    EXPECT_EQ(a.dynamic_batching->max_queue_delay_microseconds,
              b.dynamic_batching->max_queue_delay_microseconds);
    EXPECT_EQ(a.dynamic_batching->max_adaptive_delay_microseconds,
              b.dynamic_batching->max_adaptive_delay_microseconds);
  }
  EXPECT_EQ(a.instance_count, b.instance_count);
  EXPECT_EQ(a.version_policy.kind, b.version_policy.kind);
  EXPECT_EQ(a.version_policy.num_versions, b.version_policy.num_versions);
  EXPECT_EQ(a.version_policy.versions, b.version_policy.versions);
  EXPECT_EQ(a.execution_providers, b.execution_providers);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.limits.max_queue_size, b.limits.max_queue_size);
  EXPECT_EQ(a.limits.max_queue_bytes, b.limits.max_queue_bytes);
  EXPECT_EQ(a.limits.max_tensor_elements, b.limits.max_tensor_elements);
  EXPECT_EQ(a.limits.queue_timeout_microseconds, b.limits.queue_timeout_microseconds);
  EXPECT_EQ(a.warmup, b.warmup);
}

void ExpectRoundTrip(const ModelConfig& c) {
  std::string json = ModelConfigToJson(c);
  SCOPED_TRACE(json);
  auto back = ParseModelConfig(json, c.name);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << json;
  ExpectSameConfig(*back, c);
}

runtime::TensorSpec Spec(std::string name, Shape shape) {
  runtime::TensorSpec s;
  s.name = std::move(name);
  s.dtype = DataType::kFp32;
  s.shape = std::move(shape);
  s.dim_names.resize(s.shape.size());
  return s;
}

runtime::ModelSignature BatchableSig() {
  return {{Spec("INPUT0", {-1, 16}), Spec("INPUT1", {-1, 16})}, {Spec("OUTPUT0", {-1, 16})}};
}
runtime::ModelSignature FixedSig() { return {{Spec("x", {1, 3, 4, 4})}, {Spec("y", {1, 3, 4, 4})}}; }

TEST(ModelConfig, EmptyObjectGivesDefaults) {
  auto c = ParseModelConfig("{}", "m");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->schema_version, 1);
  EXPECT_EQ(c->name, "m");
  EXPECT_FALSE(c->max_batch_size.has_value());
  EXPECT_FALSE(c->dynamic_batching.has_value());
  EXPECT_EQ(c->instance_count, 1);
  EXPECT_EQ(c->version_policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(c->version_policy.num_versions, 1);
  EXPECT_TRUE(c->version_policy.versions.empty());
  EXPECT_EQ(c->execution_providers, std::vector<std::string>{"cpu"});
  EXPECT_TRUE(c->labels.empty());
  EXPECT_EQ(c->limits.max_queue_size, 256);
  EXPECT_EQ(c->limits.max_queue_bytes, 256 << 20);
  EXPECT_EQ(c->limits.max_tensor_elements, 1 << 26);
  EXPECT_EQ(c->limits.queue_timeout_microseconds, 0);
  EXPECT_TRUE(c->warmup);
}

TEST(ModelConfig, ParsesEveryField) {
  auto c = ParseModelConfig(R"({
    "schema_version": 1,
    "name": "resnet",
    "max_batch_size": 32,
    "dynamic_batching": {"preferred_batch_size": [4, 16], "max_queue_delay_microseconds": 2500},
    "instance_count": 3,
    "version_policy": {"latest": {"num_versions": 2}},
    "execution_providers": ["cuda", "cpu"],
    "labels": {"team": "vision", "tier": "gold"},
    "limits": {"max_queue_size": 17, "max_queue_bytes": 4096, "max_tensor_elements": 1000000,
               "queue_timeout_microseconds": 5000},
    "warmup": false
  })",
                            "resnet");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "resnet");
  EXPECT_EQ(c->max_batch_size, 32);
  ASSERT_TRUE(c->dynamic_batching.has_value());
  EXPECT_EQ(c->dynamic_batching->preferred_batch_size, (std::vector<int64_t>{4, 16}));
  EXPECT_EQ(c->dynamic_batching->max_queue_delay_microseconds, 2500);
  EXPECT_EQ(c->instance_count, 3);
  EXPECT_EQ(c->version_policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(c->version_policy.num_versions, 2);
  EXPECT_EQ(c->execution_providers, (std::vector<std::string>{"cuda", "cpu"}));
  EXPECT_EQ(c->labels, (std::map<std::string, std::string>{{"team", "vision"}, {"tier", "gold"}}));
  EXPECT_EQ(c->limits.max_queue_size, 17);
  EXPECT_EQ(c->limits.max_queue_bytes, 4096);
  EXPECT_EQ(c->limits.max_tensor_elements, 1000000);
  EXPECT_EQ(c->limits.queue_timeout_microseconds, 5000);
  EXPECT_FALSE(c->warmup);
}

TEST(ModelConfig, DynamicBatchingDefaults) {
  auto c = ParseModelConfig(R"({"max_batch_size": 4, "dynamic_batching": {}})", "m");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->dynamic_batching.has_value());
  EXPECT_TRUE(c->dynamic_batching->preferred_batch_size.empty());
  // No delay: the batcher adapts to the arrival rate, waiting at most 1 ms.
  EXPECT_FALSE(c->dynamic_batching->max_queue_delay_microseconds.has_value());
  EXPECT_EQ(c->dynamic_batching->max_adaptive_delay_microseconds, 1000);

  auto d = ParseModelConfig(
      R"({"max_batch_size": 4, "dynamic_batching": {"max_adaptive_delay_microseconds": 250}})", "m");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->dynamic_batching->max_adaptive_delay_microseconds, 250);
  ExpectRoundTrip(*d);
  // The adaptive config is written without a delay and reads back as adaptive.
  EXPECT_EQ(ModelConfigToJson(*d).find("max_queue_delay_microseconds"), std::string::npos);
}

TEST(ModelConfig, VersionPolicies) {
  auto all = ParseModelConfig(R"({"version_policy": {"all": {}}})", "m");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->version_policy.kind, VersionPolicy::Kind::kAll);

  auto specific = ParseModelConfig(R"({"version_policy": {"specific": {"versions": [1, 3]}}})", "m");
  ASSERT_TRUE(specific.ok()) << specific.status().ToString();
  EXPECT_EQ(specific->version_policy.kind, VersionPolicy::Kind::kSpecific);
  EXPECT_EQ(specific->version_policy.versions, (std::vector<int64_t>{1, 3}));

  auto latest = ParseModelConfig(R"({"version_policy": {"latest": {}}})", "m");
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->version_policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(latest->version_policy.num_versions, 1);

  ExpectRejected(R"({"version_policy": {}})", "version_policy");
  ExpectRejected(R"({"version_policy": {"all": {}, "latest": {}}})", "exactly one");
  ExpectRejected(R"({"version_policy": {"newest": {}}})", "version_policy.newest");
  ExpectRejected(R"({"version_policy": {"all": {"x": 1}}})", "version_policy.all.x");
  ExpectRejected(R"({"version_policy": {"latest": {"count": 1}}})", "version_policy.latest.count");
  ExpectRejected(R"({"version_policy": {"latest": {"num_versions": 0}}})",
                 "version_policy.latest.num_versions");
  ExpectRejected(R"({"version_policy": {"specific": {}}})", "version_policy.specific.versions");
  ExpectRejected(R"({"version_policy": {"specific": {"versions": []}}})", "version_policy.specific.versions");
  ExpectRejected(R"({"version_policy": {"specific": {"versions": [1, 0]}}})",
                 "version_policy.specific.versions[1]");
  ExpectRejected(R"({"version_policy": {"specific": {"versions": 3}}})", "version_policy.specific.versions");
  ExpectRejected(R"({"version_policy": {"all": true}})", "version_policy.all");
  ExpectRejected(R"({"version_policy": "latest"})", "version_policy");
}

TEST(ModelConfig, UnknownFieldsAreRejectedByName) {
  ExpectRejected(R"({"max_batch": 4})", "max_batch");
  ExpectRejected(R"({"max_batch": 4})", "unknown field");
  ExpectRejected(R"({"dynamic_batching": {"max_queue_delay_us": 4}})", "dynamic_batching.max_queue_delay_us");
  ExpectRejected(R"({"limits": {"max_queue": 4}})", "limits.max_queue");
}

TEST(ModelConfig, WrongTypesAreRejected) {
  ExpectRejected("[]", "(top level)");
  ExpectRejected("7", "(top level)");
  ExpectValuesRejected("schema_version", {R"("1")"});
  ExpectValuesRejected("name", {"5"});
  ExpectValuesRejected("max_batch_size", {R"("8")", "8.5", "true", "18446744073709551615"});
  ExpectValuesRejected("dynamic_batching", {"true"});
  ExpectValuesRejected("dynamic_batching.preferred_batch_size", {"4"});
  ExpectRejected(R"({"dynamic_batching": {"preferred_batch_size": [2, "4"]}})",
                 "dynamic_batching.preferred_batch_size[1]");
  ExpectValuesRejected("dynamic_batching.max_queue_delay_microseconds", {"null"});
  ExpectValuesRejected("instance_count", {"[1]"});
  ExpectValuesRejected("execution_providers", {R"("cpu")"});
  ExpectRejected(R"({"execution_providers": [1]})", "execution_providers[0]");
  ExpectValuesRejected("labels", {R"(["a"])"});
  ExpectValuesRejected("labels.team", {"1"});
  ExpectValuesRejected("limits", {"5"});
  ExpectValuesRejected("limits.max_queue_size", {R"("5")"});
  ExpectValuesRejected("warmup", {"1"});
}

TEST(ModelConfig, OutOfRangeValuesAreRejected) {
  ExpectValuesRejected("max_batch_size", {"-1", "1048577"});
  ExpectValuesRejected("instance_count", {"0", "65"});
  ExpectRejected(R"({"dynamic_batching": {"preferred_batch_size": [0]}})",
                 "dynamic_batching.preferred_batch_size[0]");
  ExpectValuesRejected("dynamic_batching.max_queue_delay_microseconds", {"-1", "10000001"});
  ExpectValuesRejected("dynamic_batching.max_adaptive_delay_microseconds", {"-1", R"("1")"});
  ExpectValuesRejected("limits.max_queue_size", {"0"});
  ExpectValuesRejected("limits.max_queue_bytes", {"0"});
  ExpectValuesRejected("limits.max_tensor_elements", {"0"});
  ExpectValuesRejected("limits.queue_timeout_microseconds", {"-5"});
  ExpectRejected(R"({"execution_providers": ["tpu"]})", "execution_providers[0]");
  ExpectValuesRejected("execution_providers", {"[]"});
  // The message says what the bounds are.
  ExpectRejected(R"({"instance_count": 0})", "between 1 and 64");

  // The bounds themselves are accepted.
  auto c = ParseModelConfig(R"({"max_batch_size": 0, "instance_count": 64,
                               "limits": {"queue_timeout_microseconds": 0, "max_queue_size": 1}})",
                            "m");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->max_batch_size, 0);
  EXPECT_EQ(c->instance_count, 64);
}

TEST(ModelConfig, SchemaVersionMustBeOne) {
  EXPECT_TRUE(ParseModelConfig(R"({"schema_version": 1})", "m").ok());
  ExpectRejected(R"({"schema_version": 2})", "schema_version");
  ExpectRejected(R"({"schema_version": 2})", "not supported");
  ExpectRejected(R"({"schema_version": 0})", "schema_version");
}

TEST(ModelConfig, NameMustMatchTheFolder) {
  EXPECT_TRUE(ParseModelConfig(R"({"name": "m"})", "m").ok());
  ExpectRejected(R"({"name": "other"})", "name");
  ExpectRejected(R"({"name": "other"})", "does not match");
}

TEST(ModelConfig, PreferredBatchSizeAboveMaxIsRejected) {
  ExpectRejected(R"({"max_batch_size": 8, "dynamic_batching": {"preferred_batch_size": [4, 16]}})",
                 "dynamic_batching.preferred_batch_size[1]");
  EXPECT_TRUE(
      ParseModelConfig(R"({"max_batch_size": 8, "dynamic_batching": {"preferred_batch_size": [4, 8]}})", "m")
          .ok());
}

TEST(ModelConfig, InvalidJson) {
  auto c = ParseModelConfig(R"({"max_batch_size": )", "m");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("invalid JSON"), std::string::npos) << c.status().message();
  EXPECT_FALSE(ParseModelConfig("", "m").ok());
  ExpectRejected("", "config.json: invalid JSON");
  ExpectRejected(R"({"labels": {"a": "b"}} 7)", "config.json: invalid JSON");
}

TEST(ModelConfig, NestingIsBounded) {
  // 32 levels are accepted (the labels' value is refused for its type, not for its depth); 33 are
  // not JSON this reader takes.
  auto nested = [](int levels) {
    return R"({"labels": {"a": )" + std::string(levels - 2, '[') + std::string(levels - 2, ']') + "}}";
  };
  ExpectRejected(nested(32), "config.json: labels.a: expected a string");
  ExpectRejected(nested(33), "config.json: invalid JSON");
}

TEST(ModelConfig, LoadModelConfigReadsTheFileOrDefaults) {
  fs::path dir = fs::temp_directory_path() / ("continuum_model_config_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto d = LoadModelConfig(dir.string(), "m");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->name, "m");
  EXPECT_FALSE(d->max_batch_size.has_value());

  std::ofstream(dir / "config.json") << R"({"max_batch_size": 3})";
  auto c = LoadModelConfig(dir.string(), "m");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->max_batch_size, 3);

  std::ofstream(dir / "config.json") << R"({"instance_count": "two"})";
  c = LoadModelConfig(dir.string(), "m");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("model 'm'"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("instance_count"), std::string::npos) << c.status().message();
  fs::remove_all(dir);
}

TEST(ModelConfig, AutoCompleteBatchableGraph) {
  ModelConfig c;
  c.name = "m";
  c.default_batch_size_when_auto = 12;
  ASSERT_TRUE(AutoComplete(BatchableSig(), &c).ok());
  EXPECT_EQ(c.max_batch_size, 12);
  ASSERT_TRUE(c.dynamic_batching.has_value());
  EXPECT_FALSE(c.dynamic_batching->max_queue_delay_microseconds.has_value());  // adaptive

  // An explicit dynamic_batching section is kept as written.
  ModelConfig d;
  d.dynamic_batching = DynamicBatchingConfig{{2}, 777};
  ASSERT_TRUE(AutoComplete(BatchableSig(), &d).ok());
  EXPECT_EQ(d.max_batch_size, 8);
  EXPECT_EQ(d.dynamic_batching->max_queue_delay_microseconds, 777);

  // An explicit max_batch_size without dynamic_batching runs requests one by one.
  ModelConfig e;
  e.max_batch_size = 4;
  ASSERT_TRUE(AutoComplete(BatchableSig(), &e).ok());
  EXPECT_EQ(e.max_batch_size, 4);
  EXPECT_FALSE(e.dynamic_batching.has_value());

  // max_batch_size 0 on a batchable graph turns batching off.
  ModelConfig z;
  z.max_batch_size = 0;
  ASSERT_TRUE(AutoComplete(BatchableSig(), &z).ok());
  EXPECT_EQ(z.max_batch_size, 0);
  EXPECT_FALSE(z.dynamic_batching.has_value());
}

TEST(ModelConfig, AutoCompleteNonBatchableGraph) {
  ModelConfig c;
  ASSERT_TRUE(AutoComplete(FixedSig(), &c).ok());
  EXPECT_EQ(c.max_batch_size, 0);
  EXPECT_FALSE(c.dynamic_batching.has_value());

  // One fixed output is enough to make a graph non-batchable.
  runtime::ModelSignature mixed = BatchableSig();
  mixed.outputs.push_back(Spec("OUTPUT1", {16}));
  ModelConfig m;
  ASSERT_TRUE(AutoComplete(mixed, &m).ok());
  EXPECT_EQ(m.max_batch_size, 0);

  // A scalar input cannot carry a batch dimension either.
  runtime::ModelSignature scalar{{Spec("s", {})}, {Spec("y", {-1})}};
  ModelConfig s;
  ASSERT_TRUE(AutoComplete(scalar, &s).ok());
  EXPECT_EQ(s.max_batch_size, 0);
}

TEST(ModelConfig, AutoCompleteRejectsBatchingAFixedShapeModel) {
  ModelConfig c;
  c.max_batch_size = 4;
  Status st = AutoComplete(FixedSig(), &c);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("max_batch_size"), std::string::npos) << st.message();
}

TEST(ModelConfig, AutoCompleteRejectsDynamicBatchingWithoutBatches) {
  ModelConfig c;
  c.max_batch_size = 0;
  c.dynamic_batching.emplace();
  Status st = AutoComplete(BatchableSig(), &c);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("dynamic_batching"), std::string::npos) << st.message();

  // The same on a graph that cannot batch and has no max_batch_size in its file.
  ModelConfig f;
  f.dynamic_batching.emplace();
  EXPECT_EQ(AutoComplete(FixedSig(), &f).code(), StatusCode::kInvalidArgument);
}

TEST(ModelConfig, AutoCompleteRejectsAQueueTimeoutShorterThanTheBatchingDelay) {
  ModelConfig c;
  c.dynamic_batching = DynamicBatchingConfig{{}, 5000};
  c.limits.queue_timeout_microseconds = 1000;
  Status st = AutoComplete(BatchableSig(), &c);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("queue_timeout_microseconds"), std::string::npos) << st.message();
  c.limits.queue_timeout_microseconds = 10000;
  EXPECT_TRUE(AutoComplete(BatchableSig(), &c).ok());
}

TEST(ModelConfig, AutoCompleteChecksPreferredSizesAgainstTheDerivedMax) {
  ModelConfig c;
  c.default_batch_size_when_auto = 8;
  c.dynamic_batching = DynamicBatchingConfig{{4, 16}, 100};
  Status st = AutoComplete(BatchableSig(), &c);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("preferred_batch_size"), std::string::npos) << st.message();
}

TEST(ModelConfig, JsonRoundTrip) {
  ModelConfig defaults;
  defaults.name = "plain";
  ExpectRoundTrip(defaults);

  ModelConfig full;
  full.name = "full.model-1";
  full.max_batch_size = 32;
  full.dynamic_batching = DynamicBatchingConfig{{4, 8, 32}, 2500};
  full.instance_count = 3;
  full.version_policy.kind = VersionPolicy::Kind::kSpecific;
  full.version_policy.versions = {1, 3, 7};
  full.execution_providers = {"cuda", "cpu"};
  full.labels = {{"team", "vision"}, {"quote\"and\\slash", "line\nbreak \xc3\xa9"}};
  full.limits = {17, 123456789, 5000};
  full.warmup = false;
  ExpectRoundTrip(full);

  ModelConfig all = full;
  all.version_policy = {};
  all.version_policy.kind = VersionPolicy::Kind::kAll;
  ExpectRoundTrip(all);

  ModelConfig latest = full;
  latest.version_policy = {};
  latest.version_policy.num_versions = 3;
  latest.max_batch_size = 0;
  latest.dynamic_batching.reset();
  ExpectRoundTrip(latest);

  // What GET .../config serves: a config completed from the graph.
  ModelConfig completed;
  completed.name = "auto";
  ASSERT_TRUE(AutoComplete(BatchableSig(), &completed).ok());
  ExpectRoundTrip(completed);
}

TEST(ModelConfig, JsonParsesFromFileText) {
  const char* text =
      R"({"schema_version":1,"max_batch_size":16,"dynamic_batching":{"preferred_batch_size":[8],
    "max_queue_delay_microseconds":300},"labels":{"a":"b"},"version_policy":{"latest":{"num_versions":2}}})";
  auto c = ParseModelConfig(text, "m");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectRoundTrip(*c);
}

}  // namespace
}  // namespace continuum
