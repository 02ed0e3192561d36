#include "repository/repository.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/test_util.h"
#include "scheduler/test_util.h"
#include "telemetry/metrics.h"

namespace continuum {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
const fs::path kModels = CONTINUUM_TEST_MODELS;
const fs::path kBadModels = kModels.parent_path() / "test_models_bad";
using runtime_test::Floats;
using runtime_test::FloatTensor;
using runtime_test::TestEngine;
using Results = scheduler_test::Results;  // answers of asynchronous requests, by index

InferRequest AddSubRequest(float a, float b) {
  InferRequest r;
  r.inputs.push_back(FloatTensor("INPUT0", {1, 16}, std::vector<float>(16, a)));
  r.inputs.push_back(FloatTensor("INPUT1", {1, 16}, std::vector<float>(16, b)));
  return r;
}

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestEngine();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            ("continuum_repo_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    repo_.reset();  // drains every model before its files go
    fs::remove_all(root_);
  }

  // <root>/<name>/<v>/model.onnx as a symlink to a generated test model.
  void AddVersion(const std::string& name, int64_t version, const std::string& source) {
    fs::path dir = root_ / name / std::to_string(version);
    fs::create_directories(dir);
    fs::create_symlink(kModels / source / "1" / "model.onnx", dir / "model.onnx");
  }
  void AddModel(const std::string& name, const std::string& source, std::vector<int64_t> versions = {1}) {
    for (int64_t v : versions) AddVersion(name, v, source);
  }
  void AddModel(const std::string& name) { AddModel(name, name); }

  // Writes config.json and moves its mtime forward, so a rewrite is always seen as a change
  // whatever the file system's timestamp granularity.
  void WriteConfig(const std::string& name, const std::string& json) {
    fs::path p = root_ / name / "config.json";
    std::error_code ec;
    auto before = fs::last_write_time(p, ec);
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::trunc) << json;
    if (!ec) fs::last_write_time(p, before + 2s);
  }

  ModelRepository& Start(ModelControlMode mode, std::vector<std::string> startup = {},
                         int64_t default_max_batch = 8) {
    RepositoryOptions o;
    o.root = root_;
    o.mode = mode;
    o.poll_interval = std::chrono::hours(1);  // tests call Poll() themselves
    o.startup_models = std::move(startup);
    o.default_max_batch_size = default_max_batch;
    repo_ = std::make_unique<ModelRepository>(o, &TestEngine(), families_);
    Status st = repo_->Start();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return *repo_;
  }

  std::set<int64_t> ReadyVersionSet(const std::string& name) {
    std::set<int64_t> out;
    for (const auto& mv : repo_->ReadyVersions(name)) out.insert(mv->version());
    return out;
  }

  // The index entries of one model.
  std::vector<ModelRepository::IndexEntry> Entries(const std::string& name, bool ready_only = false) {
    std::vector<ModelRepository::IndexEntry> out;
    for (auto& e : repo_->Index(ready_only)) {
      if (e.name == name) out.push_back(e);
    }
    return out;
  }

  fs::path root_;
  InferenceMetricFamilies* families_ = nullptr;  // set before Start to record metrics
  std::unique_ptr<ModelRepository> repo_;
};

TEST(ModelControlMode, Parses) {
  EXPECT_EQ(*ParseModelControlMode("none"), ModelControlMode::kNone);
  EXPECT_EQ(*ParseModelControlMode("poll"), ModelControlMode::kPoll);
  EXPECT_EQ(*ParseModelControlMode("explicit"), ModelControlMode::kExplicit);
  auto bad = ParseModelControlMode("Explicit");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'Explicit'"), std::string::npos);
}

TEST_F(RepositoryTest, MissingRootIsNotFound) {
  RepositoryOptions o;
  o.root = root_ / "nope";
  ModelRepository repo(o, &TestEngine(), nullptr);
  EXPECT_EQ(repo.Start().code(), StatusCode::kNotFound);
  EXPECT_FALSE(repo.Ready());
}

TEST_F(RepositoryTest, NoneModeLoadsEveryModel) {
  AddModel("add_sub");
  AddModel("identity_float");
  AddModel("fixed_shape");
  ModelRepository& repo = Start(ModelControlMode::kNone);
  EXPECT_TRUE(repo.Ready());
  auto index = repo.Index(false);
  ASSERT_EQ(index.size(), 3u);
  const char* names[] = {"add_sub", "fixed_shape", "identity_float"};  // sorted
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(index[i].name, names[i]);
    EXPECT_EQ(index[i].version, "1");
    EXPECT_EQ(index[i].state, "READY");
    EXPECT_EQ(index[i].reason, "");
  }
  EXPECT_EQ(repo.Index(true).size(), 3u);
  EXPECT_EQ(repo.AllReady().size(), 3u);

  auto fixed = repo.Get("fixed_shape");
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  EXPECT_EQ((*fixed)->config().max_batch_size, 0);
  EXPECT_FALSE((*fixed)->config().dynamic_batching.has_value());
  auto add = repo.Get("add_sub");
  ASSERT_TRUE(add.ok());
  EXPECT_EQ((*add)->name(), "add_sub");
  EXPECT_EQ((*add)->version(), 1);
  EXPECT_EQ((*add)->config().max_batch_size, 8);
  EXPECT_TRUE((*add)->config().dynamic_batching.has_value());
  EXPECT_EQ((*add)->execution_provider(), "cpu");
  EXPECT_EQ((*add)->signature().inputs.size(), 2u);

  auto unknown = repo.Get("nope");
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("unknown model 'nope'"), std::string::npos);
  EXPECT_EQ(repo.Get("nope", 1).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(repo.ReadyVersions("nope").empty());

  EXPECT_EQ(repo.Load("add_sub").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(repo.Unload("add_sub").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(repo.Get("add_sub").ok());
}

TEST_F(RepositoryTest, InferThroughAModelVersion) {
  AddModel("add_sub");
  ModelRepository& repo = Start(ModelControlMode::kNone);
  auto mv = repo.Get("add_sub");
  ASSERT_TRUE(mv.ok());
  Results w;
  InferRequest r = AddSubRequest(3, 1);
  r.id = "x";
  ASSERT_TRUE((*mv)->Infer(std::move(r), w.Callback(0)).ok());
  ASSERT_TRUE(w.WaitFor(1));
  const auto& resp = w.at(0);
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->id, "x");
  EXPECT_EQ(resp->model_name, "add_sub");
  EXPECT_EQ(resp->model_version, 1);
  EXPECT_EQ(Floats(resp->outputs.at(0)), std::vector<float>(16, 4.0f));
  EXPECT_EQ(Floats(resp->outputs.at(1)), std::vector<float>(16, 2.0f));

  // A bad request fails at once, names the model, and never calls back.
  InferRequest bad = AddSubRequest(1, 1);
  bad.inputs.pop_back();
  Status st = (*mv)->Infer(std::move(bad), w.Callback(1));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("model 'add_sub' version 1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("missing input 'INPUT1'"), std::string::npos) << st.message();
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ((*mv)->queued(), 0u);
}

TEST_F(RepositoryTest, ConfigAndDefaultsApply) {
  AddModel("add_sub");
  AddModel("identity_float");
  WriteConfig("identity_float", R"({"max_batch_size": 2, "limits": {"max_tensor_elements": 100000000000}})");
  ModelRepository& repo = Start(ModelControlMode::kNone, {}, /*default_max_batch=*/3);
  auto add = repo.Get("add_sub");
  ASSERT_TRUE(add.ok());
  EXPECT_EQ((*add)->config().max_batch_size, 3);  // --default-max-batch-size
  auto id = repo.Get("identity_float");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ((*id)->config().max_batch_size, 2);
  EXPECT_FALSE((*id)->config().dynamic_batching.has_value());
  EXPECT_EQ((*id)->config().limits.max_tensor_elements, 1 << 26);  // capped by the server limit

  // max_batch_size is enforced on requests.
  InferRequest r;
  r.inputs.push_back(FloatTensor("INPUT0", {3, 4}, std::vector<float>(12, 1)));
  Results w;
  EXPECT_EQ((*id)->Infer(std::move(r), w.Callback(0)).code(), StatusCode::kInvalidArgument);
}

TEST_F(RepositoryTest, IgnoresFoldersThatAreNotModelsOrVersions) {
  AddModel("add_sub");
  AddVersion("add_sub", 7, "add_sub");
  fs::create_directories(root_ / "add_sub" / "01");  // leading zero
  fs::create_symlink(kModels / "add_sub/1/model.onnx", root_ / "add_sub/01/model.onnx");
  fs::create_directories(root_ / "add_sub" / "abc");
  fs::create_directories(root_ / "add_sub" / "9");  // no model.onnx
  AddModel(".hidden", "add_sub");
  AddModel("bad name", "add_sub");
  std::ofstream(root_ / "README.md") << "not a model";
  ModelRepository& repo = Start(ModelControlMode::kNone);
  auto index = repo.Index(false);
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index[0].name, "add_sub");
  EXPECT_EQ(index[0].version, "7");
  EXPECT_TRUE(repo.Ready());
}

TEST_F(RepositoryTest, ExplicitModeLoadsStartupModelsOnly) {
  AddModel("add_sub");
  AddModel("identity_float");
  ModelRepository& repo = Start(ModelControlMode::kExplicit, {"add_sub"});
  EXPECT_TRUE(repo.Ready());
  EXPECT_TRUE(repo.Get("add_sub").ok());
  auto missing = repo.Get("identity_float");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("identity_float"), std::string::npos);

  auto idx = Entries("identity_float");
  ASSERT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx[0].state, "UNAVAILABLE");
  EXPECT_EQ(idx[0].reason, "unloaded");
  EXPECT_TRUE(Entries("identity_float", /*ready_only=*/true).empty());

  ASSERT_TRUE(repo.Load("identity_float").ok());
  EXPECT_TRUE(repo.Get("identity_float").ok());
  EXPECT_EQ(Entries("identity_float")[0].state, "READY");

  // Loading again keeps the unchanged version serving.
  auto before = repo.Get("identity_float");
  ASSERT_TRUE(repo.Load("identity_float").ok());
  EXPECT_EQ(repo.Get("identity_float")->get(), before->get());

  ASSERT_TRUE(repo.Unload("add_sub").ok());
  EXPECT_EQ(repo.Get("add_sub").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Entries("add_sub")[0].reason, "unloaded");
  EXPECT_EQ(repo.Unload("add_sub").code(), StatusCode::kNotFound);
  EXPECT_TRUE(repo.Ready());  // an unloaded model is no longer expected

  EXPECT_EQ(repo.Load("no_such_model").code(), StatusCode::kNotFound);
  EXPECT_EQ(repo.Load("../escape").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(repo.Load("").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(repo.Unload("never_loaded").code(), StatusCode::kNotFound);
}

TEST_F(RepositoryTest, ExplicitModeStarLoadsEverything) {
  AddModel("add_sub");
  AddModel("identity_float");
  ModelRepository& repo = Start(ModelControlMode::kExplicit, {"*"});
  EXPECT_TRUE(repo.Get("add_sub").ok());
  EXPECT_TRUE(repo.Get("identity_float").ok());
  EXPECT_TRUE(repo.Ready());
}

TEST_F(RepositoryTest, ExplicitModeNothingAtStartIsReady) {
  AddModel("add_sub");
  ModelRepository& repo = Start(ModelControlMode::kExplicit);
  EXPECT_TRUE(repo.Ready());
  EXPECT_TRUE(repo.AllReady().empty());
}

TEST_F(RepositoryTest, ExplicitModeMissingStartupModelIsNotReady) {
  AddModel("add_sub");
  ModelRepository& repo = Start(ModelControlMode::kExplicit, {"add_sub", "ghost"});
  EXPECT_TRUE(repo.Get("add_sub").ok());
  EXPECT_FALSE(repo.Ready());
}

TEST_F(RepositoryTest, VersionPoliciesSelectTheVersionsServed) {
  // Versions 1, 2 and 3 on disk; each policy, and the versions it serves.
  struct Case {
    std::string config;  // empty: no config.json
    std::set<int64_t> ready;
  };
  const std::vector<Case> cases = {
      {"", {3}},  // the latest one by default
      {R"({"version_policy": {"latest": {"num_versions": 2}}})", {2, 3}},
      {R"({"version_policy": {"all": {}}})", {1, 2, 3}},
      {R"({"version_policy": {"specific": {"versions": [1, 3, 9]}}})", {1, 3}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    AddModel("policy" + std::to_string(i), "add_sub", {1, 2, 3});
    if (!cases[i].config.empty()) WriteConfig("policy" + std::to_string(i), cases[i].config);
  }
  ModelRepository& repo = Start(ModelControlMode::kNone);
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string name = "policy" + std::to_string(i);
    const std::set<int64_t>& ready = cases[i].ready;
    SCOPED_TRACE(name + " " + cases[i].config);
    EXPECT_EQ(ReadyVersionSet(name), ready);
    EXPECT_EQ(Entries(name, true).size(), ready.size());
    auto latest = repo.Get(name, -1);
    ASSERT_TRUE(latest.ok()) << latest.status().ToString();
    EXPECT_EQ((*latest)->version(), *ready.rbegin());
    EXPECT_EQ((*repo.Get(name))->version(), *ready.rbegin());
    for (int64_t v = 0; v <= 4; ++v) {
      auto mv = repo.Get(name, v);
      if (ready.count(v)) {
        ASSERT_TRUE(mv.ok()) << mv.status().ToString();
        EXPECT_EQ((*mv)->version(), v);
      } else {
        EXPECT_EQ(mv.status().code(), StatusCode::kNotFound) << "version " << v;
        EXPECT_NE(mv.status().message().find("version " + std::to_string(v)), std::string::npos)
            << mv.status().message();
      }
    }
  }
}

TEST_F(RepositoryTest, VersionPolicySelectingNothingIsUnavailable) {
  AddModel("add_sub", "add_sub", {1, 2});
  WriteConfig("add_sub", R"({"version_policy": {"specific": {"versions": [5]}}})");
  ModelRepository& repo = Start(ModelControlMode::kNone);
  EXPECT_FALSE(repo.Ready());
  auto e = Entries("add_sub");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].state, "UNAVAILABLE");
  EXPECT_NE(e[0].reason.find("version policy"), std::string::npos) << e[0].reason;
  EXPECT_EQ(repo.Get("add_sub").status().code(), StatusCode::kNotFound);
}

TEST_F(RepositoryTest, GarbageModelIsUnavailableAndOthersLoad) {
  AddModel("add_sub");
  fs::create_directories(root_ / "broken" / "1");
  std::ofstream(root_ / "broken/1/model.onnx") << "this is not a protobuf \xff\xff\xff\xff";
  AddVersion("escape", 1, "add_sub");
  fs::remove(root_ / "escape/1/model.onnx");
  fs::copy_file(kBadModels / "external_escape/1/model.onnx", root_ / "escape/1/model.onnx");

  ModelRepository& repo = Start(ModelControlMode::kNone);
  EXPECT_TRUE(repo.Get("add_sub").ok());
  EXPECT_FALSE(repo.Ready()) << "a model that failed to load keeps the server unready";

  auto e = Entries("broken");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].version, "1");
  EXPECT_EQ(e[0].state, "UNAVAILABLE");
  EXPECT_NE(e[0].reason.find("not an ONNX model"), std::string::npos) << e[0].reason;
  auto get = repo.Get("broken");
  EXPECT_EQ(get.status().code(), StatusCode::kNotFound);
  EXPECT_NE(get.status().message().find("not an ONNX model"), std::string::npos) << get.status().message();

  auto esc = Entries("escape");
  ASSERT_EQ(esc.size(), 1u);
  EXPECT_NE(esc[0].reason.find("outside the model's folder"), std::string::npos) << esc[0].reason;

  EXPECT_TRUE(Entries("broken", /*ready_only=*/true).empty());
  EXPECT_EQ(repo.Index(true).size(), 1u);
}

TEST_F(RepositoryTest, BadConfigIsUnavailableNamingTheField) {
  AddModel("add_sub");
  AddModel("identity_float");
  WriteConfig("identity_float", R"({"instance_count": "two"})");
  AddModel("fixed_shape");
  WriteConfig("fixed_shape", R"({"max_batch_size": 4})");
  AddModel("typo", "add_sub");
  WriteConfig("typo", R"({"max_batch_sise": 4})");

  ModelRepository& repo = Start(ModelControlMode::kNone);
  EXPECT_TRUE(repo.Get("add_sub").ok());
  EXPECT_FALSE(repo.Ready());

  auto e = Entries("identity_float");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].state, "UNAVAILABLE");
  EXPECT_NE(e[0].reason.find("instance_count"), std::string::npos) << e[0].reason;

  auto f = Entries("fixed_shape");  // the config contradicts the graph: found at load
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].state, "UNAVAILABLE");
  EXPECT_NE(f[0].reason.find("max_batch_size"), std::string::npos) << f[0].reason;

  auto t = Entries("typo");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_NE(t[0].reason.find("max_batch_sise"), std::string::npos) << t[0].reason;
}

TEST_F(RepositoryTest, PollFollowsVersionsOnDisk) {
  AddModel("add_sub");
  WriteConfig("add_sub", R"({"version_policy": {"all": {}}})");
  ModelRepository& repo = Start(ModelControlMode::kPoll);
  EXPECT_EQ(ReadyVersionSet("add_sub"), (std::set<int64_t>{1}));
  auto v1 = repo.Get("add_sub", 1);
  ASSERT_TRUE(v1.ok());

  ASSERT_TRUE(repo.Poll().ok());  // nothing changed: nothing reloads
  EXPECT_EQ(repo.Get("add_sub", 1)->get(), v1->get());

  AddVersion("add_sub", 2, "add_sub");
  ASSERT_TRUE(repo.Poll().ok());
  EXPECT_EQ(ReadyVersionSet("add_sub"), (std::set<int64_t>{1, 2}));
  EXPECT_EQ(repo.Get("add_sub", 1)->get(), v1->get()) << "an unchanged version was reloaded";
  EXPECT_EQ((*repo.Get("add_sub"))->version(), 2);

  fs::remove_all(root_ / "add_sub" / "1");
  ASSERT_TRUE(repo.Poll().ok());
  EXPECT_EQ(ReadyVersionSet("add_sub"), (std::set<int64_t>{2}));
  EXPECT_FALSE(repo.Get("add_sub", 1).ok());
  // The retired version drained and refuses new work; holders of the pointer get an answer.
  Results w;
  EXPECT_EQ((*v1)->Infer(AddSubRequest(1, 1), w.Callback(0)).code(), StatusCode::kUnavailable);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_TRUE(repo.Ready());
}

TEST_F(RepositoryTest, PollUnloadsAModelWhoseVersionsAreAllRemoved) {
  AddModel("add_sub");
  ModelRepository& repo = Start(ModelControlMode::kPoll);
  ASSERT_TRUE(repo.Get("add_sub").ok());
  fs::remove_all(root_ / "add_sub" / "1");
  ASSERT_TRUE(repo.Poll().ok());
  EXPECT_EQ(repo.Get("add_sub").status().code(), StatusCode::kNotFound);
  bool reported = false;
  for (const auto& e : repo.Index(false)) {
    if (e.name == "add_sub" && e.state == "UNAVAILABLE" &&
        e.reason.find("no version folder") != std::string::npos) {
      reported = true;
    }
  }
  EXPECT_TRUE(reported);
  EXPECT_FALSE(repo.Ready());
}

TEST_F(RepositoryTest, PollReloadsAChangedModelFile) {
  AddModel("add_sub", "add_sub", {1, 2});
  WriteConfig("add_sub", R"({"version_policy": {"all": {}}})");
  ModelRepository& repo = Start(ModelControlMode::kPoll);
  auto v1 = repo.Get("add_sub", 1);
  auto v2 = repo.Get("add_sub", 2);
  ASSERT_TRUE(v1.ok() && v2.ok());

  fs::path m = root_ / "add_sub/2/model.onnx";
  fs::remove(m);
  fs::copy_file(kModels / "add_sub/1/model.onnx", m);
  fs::last_write_time(m, fs::file_time_type::clock::now() + 5s);
  ASSERT_TRUE(repo.Poll().ok());
  EXPECT_EQ(repo.Get("add_sub", 1)->get(), v1->get());
  auto v2b = repo.Get("add_sub", 2);
  ASSERT_TRUE(v2b.ok());
  EXPECT_NE(v2b->get(), v2->get());
}

TEST_F(RepositoryTest, PollFollowsModelsOnDisk) {
  AddModel("add_sub");
  ModelRepository& repo = Start(ModelControlMode::kPoll);
  EXPECT_TRUE(repo.Ready());
  EXPECT_FALSE(repo.Get("identity_float").ok());
  EXPECT_EQ(repo.Load("identity_float").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(repo.Unload("add_sub").code(), StatusCode::kFailedPrecondition);

  AddModel("identity_float");
  ASSERT_TRUE(repo.Poll().ok());
  EXPECT_TRUE(repo.Get("identity_float").ok());
  EXPECT_EQ(repo.Index(false).size(), 2u);

  fs::remove_all(root_ / "add_sub");
  ASSERT_TRUE(repo.Poll().ok());
  EXPECT_EQ(repo.Get("add_sub").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Entries("add_sub").empty());
  EXPECT_TRUE(repo.Ready());

  // A broken model that appears makes the repository unready until it is fixed or removed.
  fs::create_directories(root_ / "broken/1");
  std::ofstream(root_ / "broken/1/model.onnx") << "garbage";
  ASSERT_TRUE(repo.Poll().ok());
  EXPECT_FALSE(repo.Ready());
  fs::remove_all(root_ / "broken");
  ASSERT_TRUE(repo.Poll().ok());
  EXPECT_TRUE(repo.Ready());
}

TEST_F(RepositoryTest, PollAppliesAChangedConfig) {
  AddModel("add_sub");
  WriteConfig("add_sub", R"({"max_batch_size": 2})");
  ModelRepository& repo = Start(ModelControlMode::kPoll);
  auto before = repo.Get("add_sub");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ((*before)->config().max_batch_size, 2);

  WriteConfig("add_sub", R"({"max_batch_size": 5})");  // same size: only the mtime tells
  ASSERT_TRUE(repo.Poll().ok());
  auto after = repo.Get("add_sub");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->config().max_batch_size, 5);
  EXPECT_NE(after->get(), before->get());

  // A broken edit keeps the version that serves now, and says why in the index.
  WriteConfig("add_sub", R"({"max_batch_size": "many"})");
  ASSERT_TRUE(repo.Poll().ok());
  auto still = repo.Get("add_sub");
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->get(), after->get());
  bool reason_found = false;
  for (const auto& e : Entries("add_sub")) {
    if (e.state == "UNAVAILABLE") reason_found = e.reason.find("max_batch_size") != std::string::npos;
  }
  EXPECT_TRUE(reason_found);

  // Fixing it reloads.
  WriteConfig("add_sub", R"({"max_batch_size": 3})");
  ASSERT_TRUE(repo.Poll().ok());
  EXPECT_EQ((*repo.Get("add_sub"))->config().max_batch_size, 3);
  for (const auto& e : Entries("add_sub")) EXPECT_EQ(e.state, "READY");
}

TEST_F(RepositoryTest, MetricsSurviveAReloadAndLeaveWithTheModel) {
  telemetry::Registry registry;
  InferenceMetricFamilies families(registry);
  families_ = &families;
  AddModel("add_sub");
  WriteConfig("add_sub", R"({"max_batch_size": 2})");
  ModelRepository& repo = Start(ModelControlMode::kPoll);
  const std::string success = R"(continuum_inference_request_success_total{model="add_sub",version="1"})";
  auto infer_once = [&] {
    Results w;
    auto mv = repo.Get("add_sub");
    ASSERT_TRUE(mv.ok());
    ASSERT_TRUE((*mv)->Infer(AddSubRequest(1, 2), w.Callback(0)).ok());
    ASSERT_TRUE(w.WaitFor(1));
    ASSERT_TRUE(w.at(0).ok());
  };
  infer_once();
  EXPECT_NE(registry.Render().find(success + " 1"), std::string::npos) << registry.Render();

  // The reloaded version is built before the old one goes; the series must stay exposed.
  WriteConfig("add_sub", R"({"max_batch_size": 4})");
  ASSERT_TRUE(repo.Poll().ok());
  ASSERT_EQ((*repo.Get("add_sub"))->config().max_batch_size, 4);
  infer_once();
  std::string text = registry.Render();
  EXPECT_NE(text.find(success), std::string::npos) << text;
  EXPECT_NE(text.find(R"(continuum_model_load_duration_seconds{model="add_sub",version="1"})"),
            std::string::npos)
      << text;

  fs::remove_all(root_ / "add_sub");
  ASSERT_TRUE(repo.Poll().ok());
  EXPECT_EQ(registry.Render().find(R"(model="add_sub")"), std::string::npos) << registry.Render();
  repo_.reset();  // before the families go
}

TEST_F(RepositoryTest, PollThreadPicksUpChanges) {
  AddModel("add_sub");
  RepositoryOptions o;
  o.root = root_;
  o.mode = ModelControlMode::kPoll;
  o.poll_interval = 20ms;
  repo_ = std::make_unique<ModelRepository>(o, &TestEngine(), nullptr);
  ASSERT_TRUE(repo_->Start().ok());
  AddModel("identity_float");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!repo_->Get("identity_float").ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(repo_->Get("identity_float").ok());
  repo_->Shutdown();  // stops the thread promptly
  EXPECT_TRUE(repo_->AllReady().empty());
}

TEST_F(RepositoryTest, UnloadWaitsForInFlightRequests) {
  AddModel("slow");
  // One by one (no batching) and no warm-up, so several requests are queued when Unload comes.
  WriteConfig("slow", R"({"max_batch_size": 0, "warmup": false})");
  ModelRepository& repo = Start(ModelControlMode::kExplicit, {"slow"});
  auto mv = repo.Get("slow");
  ASSERT_TRUE(mv.ok()) << mv.status().ToString();
  Results w;
  const int n = 3;
  for (int i = 0; i < n; ++i) {
    InferRequest r;
    r.inputs.push_back(FloatTensor("x", {1, 1}, {static_cast<float>(i)}));
    ASSERT_TRUE((*mv)->Infer(std::move(r), w.Callback(i)).ok());
  }
  ASSERT_TRUE(repo.Unload("slow").ok());
  ASSERT_EQ(w.size(), static_cast<size_t>(n)) << "Unload returned before the queued requests were answered";
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(w.at(i).ok()) << w.at(i).status().ToString();
    EXPECT_EQ(Floats(w.at(i)->outputs.at(0)), std::vector<float>{static_cast<float>(i)});
  }
  EXPECT_EQ((*mv)->queued(), 0u);
  InferRequest late;
  late.inputs.push_back(FloatTensor("x", {1, 1}, {1}));
  EXPECT_EQ((*mv)->Infer(std::move(late), w.Callback(99)).code(), StatusCode::kUnavailable);
}

TEST_F(RepositoryTest, ShutdownUnloadsEverything) {
  AddModel("add_sub");
  ModelRepository& repo = Start(ModelControlMode::kNone);
  auto mv = repo.Get("add_sub");
  ASSERT_TRUE(mv.ok());
  repo.Shutdown();
  EXPECT_TRUE(repo.AllReady().empty());
  EXPECT_FALSE(repo.Get("add_sub").ok());
  Results w;
  EXPECT_EQ((*mv)->Infer(AddSubRequest(1, 1), w.Callback(0)).code(), StatusCode::kUnavailable);
  repo.Shutdown();  // twice is harmless
}

TEST_F(RepositoryTest, ReadyIsFalseBeforeStart) {
  AddModel("add_sub");
  RepositoryOptions o;
  o.root = root_;
  ModelRepository repo(o, &TestEngine(), nullptr);
  EXPECT_FALSE(repo.Ready());
  ASSERT_TRUE(repo.Start().ok());
  EXPECT_TRUE(repo.Ready());
}

}  // namespace
}  // namespace continuum
