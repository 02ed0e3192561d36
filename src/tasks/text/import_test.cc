// ImportHuggingFaceFolder and the ONNX graph reader.
#include "tasks/text/import.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tasks/builtin.h"
#include "tasks/catalog.h"
#include "tasks/text/onnx_graph.h"

namespace continuum::tasks::text {
namespace {

namespace fs = std::filesystem;
const fs::path kTiny = CONTINUUM_TINY_BERT;

fs::path Fresh(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("continuum_import_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Protobuf by hand: a length-delimited field, and a varint field.
std::string Bytes(int field, const std::string& payload) {
  std::string out(1, static_cast<char>(field << 3 | 2));
  size_t n = payload.size();
  do {
    out.push_back(static_cast<char>((n & 0x7f) | (n > 0x7f ? 0x80 : 0)));
    n >>= 7;
  } while (n);
  return out + payload;
}
std::string Varint(int field, int value) {
  return std::string{static_cast<char>(field << 3), static_cast<char>(value)};
}

// ModelProto{graph{input{name, type{tensor_type{elem_type, shape{dim{dim_value|dim_param}...}}}}}}.
std::string OneInputModel(const std::string& name, int elem_type, int batch_dim) {
  std::string dims =
      Bytes(1, batch_dim > 0 ? Varint(1, batch_dim) : Bytes(2, "batch")) + Bytes(1, Bytes(2, "seq"));
  std::string type = Bytes(1, Varint(1, elem_type) + Bytes(2, dims));
  std::string input = Bytes(1, name) + Bytes(2, type);
  std::string output = Bytes(1, "last_hidden_state") + Bytes(2, Bytes(1, Varint(1, 1)));
  return Bytes(7, Bytes(11, input) + Bytes(12, output));
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
  EXPECT_TRUE(info->external_data.empty());
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

TEST(TextImport, CatalogSlug) {
  EXPECT_EQ(CatalogSlug("@cf/baai/bge-small-en-v1.5"), "cf--baai--bge-small-en-v1.5");
  EXPECT_EQ(CatalogSlug("my model"), "my-model");
}

}  // namespace
}  // namespace continuum::tasks::text
