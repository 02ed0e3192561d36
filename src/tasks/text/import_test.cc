// ImportHuggingFaceFolder and the ONNX graph reader.
#include "tasks/text/import.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runtime/test_util.h"
#include "tasks/builtin.h"
#include "tasks/catalog.h"
#include "tasks/test_util.h"
#include "tasks/text/onnx_graph.h"

namespace continuum::tasks::text {
namespace {

namespace fs = std::filesystem;
const fs::path kTiny = CONTINUUM_TINY_BERT;
using runtime_test::Delimited;

fs::path Fresh(const std::string& name) { return test_util::FreshDir("import", name); }

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Protobuf by hand: a length-delimited field (runtime/test_util.h), and a varint field.
std::string Varint(int field, int value) {
  return std::string{static_cast<char>(field << 3), static_cast<char>(value)};
}

// ModelProto{graph{input{name, type{tensor_type{elem_type, shape{dim{dim_value|dim_param}...}}}}}}.
std::string OneInputModel(const std::string& name, int elem_type, int batch_dim,
                          const std::string& more_graph = "") {
  std::string dims = Delimited(1, batch_dim > 0 ? Varint(1, batch_dim) : Delimited(2, "batch")) +
                     Delimited(1, Delimited(2, "seq"));
  std::string type = Delimited(1, Varint(1, elem_type) + Delimited(2, dims));
  std::string input = Delimited(1, name) + Delimited(2, type);
  std::string output = Delimited(1, "last_hidden_state") + Delimited(2, Delimited(1, Varint(1, 1)));
  return Delimited(7, Delimited(11, input) + Delimited(12, output) + more_graph);
}

// TensorProto{name, external_data{"location": location}}.
std::string ExternalTensor(const std::string& location) {
  return Delimited(8, "w") + Delimited(13, Delimited(1, "location") + Delimited(2, location));
}
// An importable model whose initializer is stored as external data at `location`.
std::string ModelWithExternalData(const std::string& location) {
  return OneInputModel("input_ids", 7, 0, Delimited(5, ExternalTensor(location)));
}
// The same with the tensor in a Constant node of a model-local function (ModelProto.functions = 25).
std::string ModelWithExternalDataInAFunction(const std::string& location) {
  std::string constant =
      Delimited(4, "Constant") + Delimited(5, Delimited(1, "value") + Delimited(5, ExternalTensor(location)));
  return OneInputModel("input_ids", 7, 0) + Delimited(25, Delimited(1, "f") + Delimited(7, constant));
}

TEST(TextOnnxGraph, ReadsTheTinyModel) {
  auto info = ReadOnnxGraphInfoFile(kTiny / "tiny-bert-sentiment" / "model.onnx");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->inputs.size(), 3u);  // initializers are not inputs
  EXPECT_EQ(info->inputs[0].name, "input_ids");
  EXPECT_EQ(info->inputs[0].elem_type, 7);
  EXPECT_EQ(info->inputs[0].dims, (std::vector<int64_t>{-1, -1}));
  EXPECT_EQ(info->inputs[2].name, "token_type_ids");
  ASSERT_EQ(info->outputs.size(), 1u);
  EXPECT_EQ(info->outputs[0].name, "logits");
  EXPECT_FALSE(ReadOnnxGraphInfo("not a model").ok());
  auto fixed = ReadOnnxGraphInfo(OneInputModel("input_ids", 6, 1));
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  EXPECT_EQ(fixed->inputs[0].elem_type, 6);
  EXPECT_EQ(fixed->inputs[0].dims, (std::vector<int64_t>{1, -1}));
}

TEST(TextImport, EmbeddingsFolder) {
  fs::path out = Fresh("emb");
  std::string entry;
  auto st = ImportHuggingFaceFolder(kTiny / "tiny-bert-embeddings", out / "models", out / "catalog",
                                    "@cf/continuum/tiny-bert-embeddings", &entry);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(entry, "@cf/continuum/tiny-bert-embeddings");
  EXPECT_TRUE(fs::is_regular_file(out / "models" / "tiny-bert-embeddings" / "1" / "model.onnx"));
  EXPECT_EQ(Read(out / "models" / "tiny-bert-embeddings" / "config.json"),
            R"({"schema_version":1,"name":"tiny-bert-embeddings","max_batch_size":32,"dynamic_batching":{}})"
            "\n");
  fs::path dir = out / "catalog" / "cf--continuum--tiny-bert-embeddings";
  EXPECT_TRUE(fs::is_regular_file(dir / "tokenizer.json"));
  auto e = ParseCatalogEntry(Read(dir / "catalog.json"), dir);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->task, "text-embeddings");
  EXPECT_EQ(e->models.at("encoder"), "tiny-bert-embeddings");
  EXPECT_EQ(e->settings_json,
            R"({"tokenizer":"tokenizer.json","max_length":64,"max_batch_size":32,)"
            R"("inputs":["input_ids","attention_mask","token_type_ids"],"input_dtype":"INT64",)"
            R"("output":"last_hidden_state","pooling":"mean","normalize":true})");
  // Hidden staging folders are gone.
  for (const auto& d : fs::directory_iterator(out / "catalog"))
    EXPECT_NE(d.path().filename().string()[0], '.');
  // The entry builds.
  TaskRegistry reg;
  RegisterTextTasks(reg);
  auto catalog = Catalog::Load(out / "catalog", reg, {});
  ASSERT_TRUE(catalog.ok());
  ASSERT_EQ((*catalog)->items().size(), 1u);
  EXPECT_TRUE((*catalog)->items()[0].task) << (*catalog)->items()[0].error;
  fs::remove_all(out);
}

TEST(TextImport, ClassifierFolderAndDefaults) {
  fs::path out = Fresh("cls");
  std::string entry;
  ASSERT_TRUE(ImportHuggingFaceFolder(kTiny / "tiny-bert-sentiment", out / "m", out / "c", "", &entry).ok());
  EXPECT_EQ(entry, "@local/tiny-bert-sentiment");
  fs::path dir = out / "c" / "local--tiny-bert-sentiment";
  auto e = ParseCatalogEntry(Read(dir / "catalog.json"), dir);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->task, "text-classification");
  EXPECT_NE(
      e->settings_json.find(R"("output":"logits","labels":["NEGATIVE","POSITIVE"],"function":"softmax")"),
      std::string::npos)
      << e->settings_json;
  // Again: exists. With overwrite: replaced.
  auto again = ImportHuggingFaceFolder(kTiny / "tiny-bert-sentiment", out / "m", out / "c", "", &entry);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  ImportOptions o;
  o.overwrite = true;
  o.model_name = "sst";
  o.license = "MIT";
  ASSERT_TRUE(
      ImportHuggingFaceFolder(kTiny / "tiny-bert-sentiment", out / "m", out / "c", "", o, &entry).ok());
  e = ParseCatalogEntry(Read(dir / "catalog.json"), dir);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->models.at("encoder"), "sst");
  EXPECT_EQ(e->license, "MIT");
  fs::remove_all(out);
}

TEST(TextImport, VocabTxtOnlyAndTaskOverride) {
  fs::path src = Fresh("vocab_src"), out = Fresh("vocab_out");
  for (const char* f : {"model.onnx", "vocab.txt", "config.json"}) {
    fs::copy_file(kTiny / "tiny-bert-embeddings" / f, src / f);
  }
  std::ofstream(src / "tokenizer_config.json") << R"({"do_lower_case": false, "model_max_length": 32})";
  ImportOptions o;
  o.task = "text-classification";
  std::string entry;
  ASSERT_TRUE(ImportHuggingFaceFolder(src, out / "m", out / "c", "@x/y", o, &entry).ok());
  auto e = ParseCatalogEntry(Read(out / "c" / "x--y" / "catalog.json"), out / "c" / "x--y");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->task, "text-classification");
  EXPECT_NE(e->settings_json.find(R"("tokenizer":"vocab.txt","lowercase":false,"max_length":32)"),
            std::string::npos)
      << e->settings_json;
  EXPECT_TRUE(fs::is_regular_file(out / "c" / "x--y" / "vocab.txt"));
  o.task = "summarization";
  EXPECT_EQ(ImportHuggingFaceFolder(src, out / "m", out / "c", "@x/z", o, &entry).code(),
            StatusCode::kInvalidArgument);
  fs::remove_all(src);
  fs::remove_all(out);
}

TEST(TextImport, RefusesWhatTheTaskCannotServe) {
  fs::path src = Fresh("bad_src"), out = Fresh("bad_out");
  std::string entry;
  EXPECT_EQ(ImportHuggingFaceFolder(src, out / "m", out / "c", "@x/a", &entry).code(), StatusCode::kNotFound);
  fs::copy_file(kTiny / "tiny-bert-embeddings" / "vocab.txt", src / "vocab.txt");
  std::ofstream(src / "model.onnx", std::ios::binary) << OneInputModel("pixel_values", 1, 0);
  auto st = ImportHuggingFaceFolder(src, out / "m", out / "c", "@x/a", &entry);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("pixel_values"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(out / "m" / "a"));  // nothing written
  // A graph with a fixed batch of 1 imports without batching.
  std::ofstream(src / "model.onnx", std::ios::binary | std::ios::trunc) << OneInputModel("input_ids", 7, 1);
  ASSERT_TRUE(ImportHuggingFaceFolder(src, out / "m", out / "c", "@x/a", &entry).ok());
  EXPECT_NE(Read(out / "m" / "a" / "config.json").find(R"("max_batch_size":0})"), std::string::npos);
  // A tokenizer that cannot load is reported before anything is written.
  std::ofstream(src / "tokenizer.json") << R"({"model":{"type":"Unigram","vocab":[]}})";
  st = ImportHuggingFaceFolder(src, out / "m", out / "c", "@x/b", &entry);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("Unigram"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(out / "m" / "b"));
  fs::remove_all(src);
  fs::remove_all(out);
}

// A source folder with vocab.txt and a model; `outside` beside it holds a file that is not the model's.
struct EscapeFixture {
  fs::path base = Fresh("escape");
  fs::path src = base / "export", outside = base / "outside", out = base / "out";
  EscapeFixture() {
    fs::create_directories(src);
    fs::create_directories(outside);
    fs::copy_file(kTiny / "tiny-bert-embeddings" / "vocab.txt", src / "vocab.txt");
    std::ofstream(outside / "passwd") << "root:x:0:0:root:/root:/bin/bash\n";
  }
  ~EscapeFixture() { fs::remove_all(base); }
  void Model(const std::string& bytes) {
    std::ofstream(src / "model.onnx", std::ios::binary | std::ios::trunc) << bytes;
  }
  Status Import(const std::string& name) {
    std::string entry;
    return ImportHuggingFaceFolder(src, out / "m", out / "c", "@x/" + name, &entry);
  }
};

TEST(TextImport, ExternalDataThroughASymlinkOutOfTheFolderIsRefused) {
  EscapeFixture f;
  fs::create_directory_symlink(f.outside, f.src / "w");
  for (bool in_function : {false, true}) {
    f.Model(in_function ? ModelWithExternalDataInAFunction("w/passwd") : ModelWithExternalData("w/passwd"));
    Status st = f.Import("a");
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << in_function << ": " << st.ToString();
    EXPECT_NE(st.message().find("w/passwd"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("inside the model's folder"), std::string::npos) << st.message();
    EXPECT_FALSE(fs::exists(f.out / "m" / "a"));  // nothing written
  }
}

// onnx/ leads outside and its model.onnx leads back in: the model is inside, its folder is not.
TEST(TextImport, ExternalDataBesideAModelReachedThroughAnOutsideFolderIsRefused) {
  EscapeFixture f;
  f.Model(ModelWithExternalData("w.bin"));
  fs::rename(f.src / "model.onnx", f.src / "real.onnx");
  std::ofstream(f.outside / "w.bin") << "not the model's";
  fs::create_symlink(f.src / "real.onnx", f.outside / "model.onnx");
  fs::create_directory_symlink(f.outside, f.src / "onnx");
  Status st = f.Import("a");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("w.bin"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(f.out / "m" / "a"));
}

TEST(TextImport, ExternalDataEscapesAndOddFilesAreRefused) {
  EscapeFixture f;
  ASSERT_EQ(::mkfifo((f.src / "fifo.bin").c_str(), 0600), 0);
  fs::create_symlink(f.outside / "passwd", f.src / "link.bin");
  for (const char* location : {"../outside/passwd", "/etc/passwd", "link.bin", "fifo.bin", "missing.bin"}) {
    for (bool in_function : {false, true}) {
      f.Model(in_function ? ModelWithExternalDataInAFunction(location) : ModelWithExternalData(location));
      Status st = f.Import("a");
      EXPECT_FALSE(st.ok()) << location;
      EXPECT_NE(st.code(), StatusCode::kInternal) << location << ": " << st.ToString();
      EXPECT_NE(st.message().find(location), std::string::npos) << st.message();
      EXPECT_FALSE(fs::exists(f.out / "m" / "a")) << location;
    }
  }
}

TEST(TextImport, ExternalDataInsideIsCopiedWhereverItIsNamed) {
  EscapeFixture f;
  fs::create_directories(f.src / "data");
  std::ofstream(f.src / "data" / "w.bin") << "weights";
  f.Model(ModelWithExternalDataInAFunction("data/w.bin"));
  Status st = f.Import("a");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Read(f.out / "m" / "a" / "1" / "data" / "w.bin"), "weights");
}

TEST(TextImport, SourceFilesMustBeInsideTheFolder) {
  EscapeFixture f;
  f.Model(OneInputModel("input_ids", 7, 0));
  // The vocabulary is a symlink to a file outside: it would be copied into the catalog.
  fs::remove(f.src / "vocab.txt");
  fs::create_symlink(f.outside / "passwd", f.src / "vocab.txt");
  Status st = f.Import("a");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("vocab.txt"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(f.out / "c" / "x--a"));
  fs::remove(f.src / "vocab.txt");
  fs::copy_file(kTiny / "tiny-bert-embeddings" / "vocab.txt", f.src / "vocab.txt");
  // config.json through a symlink (its labels would land in the catalog).
  std::ofstream(f.outside / "config.json") << R"({"id2label": {"0": "SECRET"}})";
  fs::create_symlink(f.outside / "config.json", f.src / "config.json");
  st = f.Import("b");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("config.json"), std::string::npos) << st.message();
  fs::remove(f.src / "config.json");
  // onnx/ is a symlink to a folder outside.
  fs::create_directories(f.outside / "onnx");
  fs::rename(f.src / "model.onnx", f.outside / "onnx" / "model.onnx");
  fs::create_directory_symlink(f.outside / "onnx", f.src / "onnx");
  st = f.Import("c");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("onnx/model.onnx"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(f.out / "m" / "c"));
  // A symlink that stays inside is fine.
  fs::remove(f.src / "onnx");
  fs::create_directories(f.src / "real");
  fs::rename(f.outside / "onnx" / "model.onnx", f.src / "real" / "model.onnx");
  fs::create_directory_symlink("real", f.src / "onnx");
  st = f.Import("d");
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST(TextImport, CatalogSlug) {
  EXPECT_EQ(CatalogSlug("@cf/baai/bge-small-en-v1.5"), "cf--baai--bge-small-en-v1.5");
  EXPECT_EQ(CatalogSlug("my model"), "my-model");
}

}  // namespace
}  // namespace continuum::tasks::text
