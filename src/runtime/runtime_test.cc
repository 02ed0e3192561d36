#include "runtime/runtime.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "runtime/test_util.h"

namespace continuum::runtime {
namespace {

namespace fs = std::filesystem;
const fs::path kModels = CONTINUUM_TEST_MODELS;
using runtime_test::Delimited;
using runtime_test::Floats;
using runtime_test::FloatTensor;
using runtime_test::TestEngine;

// A ModelProto whose graph has one initializer stored as external data at `location`
// (ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.name = 8,
// TensorProto.external_data = 13, entry key = 1, value = 2).
// TensorProto{name, external_data{key: "location", value: location}}.
std::string ExternalTensor(const std::string& name, const std::string& location) {
  std::string entry = Delimited(1, "location") + Delimited(2, location);
  return Delimited(8, name) + Delimited(13, entry);
}

std::string ModelWithExternalData(const std::string& location) {
  return Delimited(7, Delimited(5, ExternalTensor("w", location)));
}

TEST(Runtime, DerivesSignatureAndRuns) {
  auto s = TestEngine().Load(kModels / "add_sub/1/model.onnx", {});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const auto& sig = (*s)->signature();
  ASSERT_EQ(sig.inputs.size(), 2u);
  EXPECT_EQ(sig.inputs[0].name, "INPUT0");
  EXPECT_EQ(sig.inputs[0].dtype, DataType::kFp32);
  EXPECT_EQ(sig.inputs[0].shape, (Shape{-1, 16}));
  EXPECT_EQ(sig.inputs[0].dim_names[0], "batch");
  EXPECT_EQ((*s)->execution_provider(), "cpu");

  std::vector<float> a(32), b(32);
  for (int i = 0; i < 32; ++i) {
    a[i] = static_cast<float>(i);
    b[i] = 1.5f;
  }
  Tensor ta = FloatTensor("INPUT0", {2, 16}, a), tb = FloatTensor("INPUT1", {2, 16}, b);
  const Tensor* ins[] = {&tb, &ta};  // any order
  std::string want[] = {"OUTPUT1"};
  auto out = (*s)->Run(ins, want);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].name, "OUTPUT1");
  EXPECT_EQ((*out)[0].shape, (Shape{2, 16}));
  auto v = Floats((*out)[0]);
  EXPECT_FLOAT_EQ(v[5], 3.5f);
}

TEST(Runtime, EveryCpuArenaModeRuns) {
  for (CpuArena mode : {CpuArena::kShrink, CpuArena::kKeep, CpuArena::kOff, CpuArena::kShrink}) {
    auto engine = Engine::Create({.intra_op_threads = 1, .cpu_arena = mode});
    ASSERT_TRUE(engine.ok()) << CpuArenaName(mode) << ": " << engine.status().ToString();
    EXPECT_EQ((*engine)->cpu_arena(), mode);
    auto s = (*engine)->Load(kModels / "add_sub/1/model.onnx", {});
    ASSERT_TRUE(s.ok()) << CpuArenaName(mode) << ": " << s.status().ToString();
    for (int64_t rows : {1, 4096, 1}) {  // a large run between small ones: the arena grows and shrinks
      std::vector<float> a(static_cast<size_t>(rows * 16), 2.f), b(a.size(), 0.5f);
      Tensor ta = FloatTensor("INPUT0", {rows, 16}, a), tb = FloatTensor("INPUT1", {rows, 16}, b);
      const Tensor* ins[] = {&ta, &tb};
      auto out = (*s)->Run(ins, {});
      ASSERT_TRUE(out.ok()) << CpuArenaName(mode) << ": " << out.status().ToString();
      ASSERT_EQ(out->size(), 2u);
      auto sum = Floats((*out)[0]);
      ASSERT_EQ(sum.size(), a.size());
      EXPECT_FLOAT_EQ(sum.back(), 2.5f);
    }
  }
  EXPECT_EQ(*ParseCpuArena("shrink"), CpuArena::kShrink);
  EXPECT_EQ(*ParseCpuArena("keep"), CpuArena::kKeep);
  EXPECT_EQ(*ParseCpuArena("off"), CpuArena::kOff);
  auto bad = ParseCpuArena("grow");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "unknown CPU arena mode 'grow' (known: shrink, keep, off)");
}

TEST(Runtime, StringTensorsRoundTrip) {
  auto s = TestEngine().Load(kModels / "identity_string/1/model.onnx", {});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Tensor t{"INPUT0", DataType::kBytes, {1, 4}, ""};
  const std::string_view elements[] = {"a", "", std::string_view("nul\0in", 6), "\xff\xfe"};
  for (std::string_view e : elements) AppendBytesElement(t.data, e);
  const Tensor* ins[] = {&t};
  auto out = (*s)->Run(ins, {});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].dtype, DataType::kBytes);
  auto parts = SplitBytesElements((*out)[0].data, 4);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ((*parts)[0], "a");
  EXPECT_EQ((*parts)[1], "");
  EXPECT_EQ((*parts)[2], std::string_view("nul\0in", 6));  // an embedded NUL survives
  EXPECT_EQ((*parts)[3], "\xff\xfe");
}

TEST(Runtime, WrongShapeIsAnErrorNotACrash) {
  auto s = TestEngine().Load(kModels / "add_sub/1/model.onnx", {});
  ASSERT_TRUE(s.ok());
  Tensor ta = FloatTensor("INPUT0", {1, 3}, {1, 2, 3}), tb = FloatTensor("INPUT1", {1, 3}, {1, 2, 3});
  const Tensor* ins[] = {&ta, &tb};
  auto out = (*s)->Run(ins, {});
  EXPECT_FALSE(out.ok());
}

TEST(Runtime, RejectsGarbageAndEscapingExternalData) {
  fs::path dir = fs::temp_directory_path() / ("continuum_runtime_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "garbage.onnx") << "this is not a protobuf \xff\xff\xff\xff";
  auto s = TestEngine().Load(dir / "garbage.onnx", {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("not an ONNX model"), std::string::npos) << s.status().message();

  s = TestEngine().Load(dir / "missing.onnx", {});
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);

  Status st = CheckModelFile(kModels / "../test_models_bad/external_escape/1/model.onnx");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("outside the model's folder"), std::string::npos) << st.message();
  EXPECT_TRUE(CheckModelFile(kModels / "mlp/1/model.onnx").ok());
  fs::remove_all(dir);
}

TEST(Runtime, UnknownProviderIsRejectedAndCudaFallsBack) {
  SessionOptions o;
  o.execution_providers = {"tpu"};
  EXPECT_EQ(TestEngine().Load(kModels / "add_sub/1/model.onnx", o).status().code(),
            StatusCode::kInvalidArgument);
  o.execution_providers = {"cuda", "cpu"};
  auto s = TestEngine().Load(kModels / "add_sub/1/model.onnx", o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  if ((*s)->execution_provider() == "cpu") {
    EXPECT_FALSE((*s)->fallback_reason().empty());
  }
}

}  // namespace
}  // namespace continuum::runtime

namespace continuum::runtime {
namespace {

TEST(CheckModelFile, ExternalDataMustStayInsideTheModelFolder) {
  fs::path dir = fs::temp_directory_path() / ("continuum_check_model_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "w.bin") << std::string(16, '\0');
  auto write = [&](const std::string& location) {
    std::ofstream(dir / "m.onnx", std::ios::binary | std::ios::trunc) << ModelWithExternalData(location);
    return CheckModelFile(dir / "m.onnx");
  };
  EXPECT_TRUE(write("w.bin").ok()) << write("w.bin").ToString();
  EXPECT_TRUE(write("sub/w.bin").ok());
  EXPECT_TRUE(write("./w.bin").ok());
  for (const char* bad : {"../w.bin", "/etc/passwd", "sub/../../w.bin", ""}) {
    Status st = write(bad);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << "'" << bad << "': " << st.ToString();
    EXPECT_NE(st.message().find("tensor 'w'"), std::string::npos) << st.message();
  }
  fs::create_symlink("/etc/passwd", dir / "link.bin");
  EXPECT_EQ(write("link.bin").code(), StatusCode::kInvalidArgument);

  // A bare file name, relative to the working directory.
  ASSERT_TRUE(write("w.bin").ok());
  fs::path cwd = fs::current_path();
  fs::current_path(dir);
  Status relative = CheckModelFile("m.onnx");
  fs::current_path(cwd);
  EXPECT_TRUE(relative.ok()) << relative.ToString();
  fs::remove_all(dir);
}

// NodeProto{op_type (4), attribute (5)}; AttributeProto{name (1), t (5), g (6), graphs (11),
// sparse_tensor (22)}; FunctionProto{name (1), node (7), attribute_proto (11)};
// ModelProto{training_info (20), functions (25)}; TrainingInfoProto{initialization (1)}.
std::string Node(const std::string& op, const std::string& attributes) {
  return Delimited(4, op) + attributes;
}
std::string ConstantNode(const std::string& tensor) {
  return Node("Constant", Delimited(5, Delimited(1, "value") + Delimited(5, tensor)));
}
std::string OneNodeGraph() { return Delimited(7, Delimited(1, Node("f", ""))); }

// Every place a TensorProto with external data can sit in a model ORT loads.
std::vector<std::pair<std::string, std::string>> HiddenExternalData(const std::string& location) {
  const std::string t = ExternalTensor("w", location);
  const std::string constant_graph = Delimited(1, ConstantNode(t));
  return {
      {"initializer", ModelWithExternalData(location)},
      {"Constant in the graph", Delimited(7, Delimited(1, ConstantNode(t)))},
      {"If branch (AttributeProto.g)",
       Delimited(7, Delimited(1, Node("If", Delimited(5, Delimited(1, "then_branch") +
                                                             Delimited(6, constant_graph)))))},
      {"AttributeProto.graphs",
       Delimited(
           7, Delimited(1, Node("X", Delimited(5, Delimited(1, "bodies") + Delimited(11, constant_graph)))))},
      {"sparse initializer", Delimited(7, Delimited(15, Delimited(1, t)))},
      {"sparse tensor attribute",
       Delimited(7, Delimited(1, Node("Constant", Delimited(5, Delimited(1, "sparse_value") +
                                                                   Delimited(22, Delimited(2, t))))))},
      {"function body", OneNodeGraph() + Delimited(25, Delimited(1, "f") + Delimited(7, ConstantNode(t)))},
      {"function body subgraph",
       OneNodeGraph() +
           Delimited(25, Delimited(1, "f") +
                             Delimited(7, Node("Loop", Delimited(5, Delimited(1, "body") +
                                                                        Delimited(6, constant_graph)))))},
      {"function attribute default",
       OneNodeGraph() +
           Delimited(25, Delimited(1, "f") + Delimited(11, Delimited(1, "value") + Delimited(5, t)))},
      {"training initialization", OneNodeGraph() + Delimited(20, Delimited(1, Delimited(5, t)))},
  };
}

TEST(CheckModelFile, ExternalDataIsCheckedWhereverATensorCanHide) {
  fs::path dir = fs::temp_directory_path() / ("continuum_check_hidden_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "model");
  std::ofstream(dir / "secret") << "not the model's";
  std::ofstream(dir / "model" / "w.bin") << std::string(16, '\0');
  fs::create_directory_symlink(dir, dir / "model" / "up");
  for (const char* location : {"../secret", "up/secret", "/etc/passwd"}) {
    for (const auto& [where, bytes] : HiddenExternalData(location)) {
      std::ofstream(dir / "model" / "m.onnx", std::ios::binary | std::ios::trunc) << bytes;
      Status st = CheckModelFile(dir / "model" / "m.onnx");
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument)
          << where << " '" << location << "': " << st.ToString();
      EXPECT_NE(st.message().find("tensor 'w'"), std::string::npos) << where << ": " << st.message();
      EXPECT_NE(st.message().find("outside the model's folder"), std::string::npos)
          << where << ": " << st.message();
    }
  }
  for (const auto& [where, bytes] : HiddenExternalData("w.bin")) {
    std::ofstream(dir / "model" / "m.onnx", std::ios::binary | std::ios::trunc) << bytes;
    Status st = CheckModelFile(dir / "model" / "m.onnx");
    EXPECT_TRUE(st.ok()) << where << ": " << st.ToString();
  }
  // And the engine refuses to load such a model at all.
  std::ofstream(dir / "model" / "m.onnx", std::ios::binary | std::ios::trunc)
      << HiddenExternalData("up/secret")[6].second;
  auto s = TestEngine().Load(dir / "model" / "m.onnx", {});
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << s.status().ToString();
  fs::remove_all(dir);
}

TEST(CheckModelFile, ExternalDataMustBeARegularFileOrMissing) {
  fs::path dir = fs::temp_directory_path() / ("continuum_check_kind_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "sub");
  auto check = [&](const std::string& location) {
    std::ofstream(dir / "m.onnx", std::ios::binary | std::ios::trunc) << ModelWithExternalData(location);
    return CheckModelFile(dir / "m.onnx");
  };
  ASSERT_EQ(::mkfifo((dir / "fifo.bin").c_str(), 0600), 0);
  Status st = check("fifo.bin");  // ORT would block opening it
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("not a regular file"), std::string::npos) << st.message();
  EXPECT_EQ(check("sub").code(), StatusCode::kInvalidArgument);
  fs::create_symlink("/dev/zero", dir / "zero.bin");
  EXPECT_EQ(check("zero.bin").code(), StatusCode::kInvalidArgument);
  fs::create_symlink(dir.parent_path() / "continuum-no-such-file", dir / "dangling.bin");
  EXPECT_EQ(check("dangling.bin").code(), StatusCode::kInvalidArgument);
  // ORT reads "*/_ORT_MEM_ADDR_/*" as "the offset is a pointer into this process".
  fs::create_directories(dir / "*" / "_ORT_MEM_ADDR_");
  std::ofstream(dir / "*" / "_ORT_MEM_ADDR_" / "*") << "x";
  st = check("*/_ORT_MEM_ADDR_/*");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("in-memory"), std::string::npos) << st.message();
  // A file that is missing is ORT's to report.
  EXPECT_TRUE(check("sub/later.bin").ok());
  fs::remove_all(dir);
}

TEST(CheckModelFile, RejectsBrokenFraming) {
  fs::path dir = fs::temp_directory_path() / ("continuum_check_framing_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string good = ModelWithExternalData("w.bin");
  std::ofstream(dir / "cut.onnx", std::ios::binary) << good.substr(0, good.size() - 3);
  EXPECT_EQ(CheckModelFile(dir / "cut.onnx").code(), StatusCode::kInvalidArgument);
  std::ofstream(dir / "nograph.onnx", std::ios::binary) << Delimited(2, "producer");
  Status st = CheckModelFile(dir / "nograph.onnx");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("no graph"), std::string::npos) << st.message();
  std::ofstream(dir / "empty.onnx", std::ios::binary) << "";
  EXPECT_EQ(CheckModelFile(dir / "empty.onnx").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckModelFile(dir).code(), StatusCode::kNotFound);  // a folder is not a model file
  fs::remove_all(dir);
}

}  // namespace
}  // namespace continuum::runtime

namespace continuum::runtime {
namespace {

// Runs only where an NVIDIA GPU and the CUDA provider (tools/setup.sh --gpu) are present; CI has
// neither and skips. Checks that CUDA really runs the model and agrees with the CPU.
TEST(RuntimeGpu, CudaMatchesCpu) {
  std::error_code ec;
  if (!std::filesystem::exists("/dev/nvidiactl", ec)) GTEST_SKIP() << "no NVIDIA GPU";
  SessionOptions gpu;
  gpu.execution_providers = {"cuda"};
  auto g = TestEngine().Load(kModels / "mlp/1/model.onnx", gpu);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  if ((*g)->execution_provider() != "cuda")
    GTEST_SKIP() << "CUDA provider unavailable: " << (*g)->fallback_reason();
  auto c = TestEngine().Load(kModels / "mlp/1/model.onnx", {});
  ASSERT_TRUE(c.ok());
  std::vector<float> x(4 * 512);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) / 17.0f - 0.5f;
  Tensor t = FloatTensor("x", {4, 512}, x);
  const Tensor* ins[] = {&t};
  auto og = (*g)->Run(ins, {});
  auto oc = (*c)->Run(ins, {});
  ASSERT_TRUE(og.ok() && oc.ok());
  auto vg = Floats((*og)[0]), vc = Floats((*oc)[0]);
  ASSERT_EQ(vg.size(), vc.size());
  for (size_t i = 0; i < vg.size(); ++i) EXPECT_NEAR(vg[i], vc[i], 1e-3f * (1 + std::abs(vc[i])));
}

}  // namespace
}  // namespace continuum::runtime
