#include "tasks/text/import.h"

#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <map>
#include <optional>
#include <vector>

#include "common/json_writer.h"
#include "common/paths.h"
#include "runtime/runtime.h"
#include "tasks/text/onnx_graph.h"
#include "tasks/text/tokenizer.h"

namespace continuum::tasks {
namespace {

namespace fs = std::filesystem;
using simdjson::dom::element;
using simdjson::dom::object;

constexpr int32_t kOnnxInt32 = 6, kOnnxInt64 = 7;

StatusOr<std::string> ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return NotFound("cannot read " + p.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Status WriteFile(const fs::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return Internal("cannot write " + p.string());
  return Status::Ok();
}

// What the import learns from config.json and friends.
struct HfConfig {
  std::vector<std::string> architectures;
  std::map<int64_t, std::string> id2label;
  std::optional<int64_t> max_position_embeddings;
  std::optional<int64_t> model_max_length;  // tokenizer_config.json
  std::optional<bool> do_lower_case;        // tokenizer_config.json
  std::string model_type;
  std::string problem_type;
  int64_t pad_token_id = 0;
  bool cls_pooling = false;  // 1_Pooling/config.json
};

// The real path of a file of the source folder: whatever symlinks lead to it, it must be a
// regular file inside `src` (see ResolveInside). kNotFound when it does not exist.
StatusOr<fs::path> SourceFile(const fs::path& src, std::string_view rel) {
  auto real = ResolveInside(src, rel);
  if (real.ok() || real.status().code() == StatusCode::kNotFound) return real;
  return real.status().WithContext(std::string(rel) + ": must be a regular file inside " + src.string());
}

struct SourcePath {
  std::string name;  // as the folder names it ("onnx/model.onnx")
  fs::path real;     // where it really is
};

// The first of `names` the source folder has; kNotFound when none.
StatusOr<SourcePath> FirstSourceFile(const fs::path& src, std::initializer_list<std::string_view> names) {
  for (auto name : names) {
    auto real = SourceFile(src, name);
    if (real.ok()) return SourcePath{std::string(name), *std::move(real)};
    if (real.status().code() != StatusCode::kNotFound) return real.status();
  }
  return NotFound("");
}

// Reads an optional JSON file of the source folder into *o; false when absent. `parser` must
// outlive *o.
StatusOr<bool> ParseOptional(const fs::path& src, std::string_view rel, simdjson::dom::parser* parser,
                             object* o) {
  auto p = SourceFile(src, rel);
  if (p.status().code() == StatusCode::kNotFound) return false;
  if (!p.ok()) return p.status();
  ASSIGN_OR_RETURN(std::string text, ReadFile(*p));
  if (parser->parse(text).get_object().get(*o))
    return InvalidArgument(std::string(rel) + ": not a JSON object");
  return true;
}

StatusOr<HfConfig> ReadHfConfig(const fs::path& src) {
  HfConfig c;
  simdjson::dom::parser parser;
  object o;
  ASSIGN_OR_RETURN(bool has, ParseOptional(src, "config.json", &parser, &o));
  if (has) {
    simdjson::dom::array a;
    if (!o["architectures"].get_array().get(a)) {
      for (auto x : a) {
        std::string_view s;
        if (!x.get_string().get(s)) c.architectures.emplace_back(s);
      }
    }
    object labels;
    if (!o["id2label"].get_object().get(labels)) {
      for (auto [k, v] : labels) {
        std::string_view s;
        int64_t id;
        auto [p, ec] = std::from_chars(k.data(), k.data() + k.size(), id);
        if (ec != std::errc() || p != k.data() + k.size() || id < 0 || id > 100000 || v.get_string().get(s)) {
          return InvalidArgument("config.json: id2label: expected {\"0\": \"LABEL\", ...}");
        }
        c.id2label[id] = std::string(s);
      }
    }
    int64_t n;
    if (!o["max_position_embeddings"].get_int64().get(n) && n > 0) c.max_position_embeddings = n;
    if (!o["pad_token_id"].get_int64().get(n)) c.pad_token_id = n;
    std::string_view s;
    if (!o["model_type"].get_string().get(s)) c.model_type = std::string(s);
    if (!o["problem_type"].get_string().get(s)) c.problem_type = std::string(s);
  }
  simdjson::dom::parser tparser;
  ASSIGN_OR_RETURN(has, ParseOptional(src, "tokenizer_config.json", &tparser, &o));
  if (has) {
    int64_t n;
    double d;
    if (!o["model_max_length"].get_int64().get(n) && n > 0 && n < 1'000'000) {
      c.model_max_length = n;
    } else if (!o["model_max_length"].get_double().get(d) && d > 0 && d < 1e6) {
      c.model_max_length = static_cast<int64_t>(d);
    }
    bool b;
    if (!o["do_lower_case"].get_bool().get(b)) c.do_lower_case = b;
  }
  simdjson::dom::parser pparser;
  ASSIGN_OR_RETURN(has, ParseOptional(src, "1_Pooling/config.json", &pparser, &o));
  if (has) {
    bool b;
    if (!o["pooling_mode_cls_token"].get_bool().get(b)) c.cls_pooling = b;
  }
  return c;
}

std::string Sanitize(std::string_view s, bool lower, char replacement) {
  std::string out;
  for (char ch : s) {
    auto u = static_cast<unsigned char>(ch);
    bool ok = std::isalnum(u) || ch == '-' || ch == '_' || ch == '.';
    out.push_back(ok ? (lower ? static_cast<char>(std::tolower(u)) : ch) : replacement);
  }
  while (!out.empty() && out.front() == '.') out.erase(out.begin());
  return out;
}

// Copies into a hidden staging folder beside `dest`, then renames it into place.
class Staged {
 public:
  explicit Staged(fs::path dest) : dest_(std::move(dest)) {
    tmp_ = dest_.parent_path() / ("." + dest_.filename().string() + ".import-" + std::to_string(::getpid()));
  }
  ~Staged() {
    std::error_code ec;
    if (!committed_) fs::remove_all(tmp_, ec);
  }
  Status Begin() {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
    if (!fs::create_directories(tmp_, ec) || ec) return Internal("cannot create " + tmp_.string());
    return Status::Ok();
  }
  const fs::path& dir() const { return tmp_; }
  Status Commit(bool overwrite) {
    std::error_code ec;
    if (fs::exists(dest_, ec)) {
      if (!overwrite) return AlreadyExists(dest_.string() + " already exists");
      fs::remove_all(dest_, ec);
      if (ec) return Internal("cannot replace " + dest_.string() + ": " + ec.message());
    }
    fs::rename(tmp_, dest_, ec);
    if (ec) return Internal("cannot move " + tmp_.string() + " to " + dest_.string() + ": " + ec.message());
    committed_ = true;
    return Status::Ok();
  }

 private:
  fs::path dest_, tmp_;
  bool committed_ = false;
};

Status Copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return Internal("cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
  return Status::Ok();
}

// The names an import gives: the source folder's, the catalog entry's, the entry folder's and
// the repository model's.
struct ImportNames {
  std::string folder, entry, slug, model;
};

StatusOr<ImportNames> ChooseNames(const fs::path& src, const std::string& name,
                                  const text::ImportOptions& options) {
  std::error_code ec;
  ImportNames n;
  n.folder = fs::absolute(src, ec).lexically_normal().filename().string();
  if (n.folder.empty()) n.folder = fs::absolute(src, ec).lexically_normal().parent_path().filename().string();
  n.entry = name.empty() ? "@local/" + Sanitize(n.folder, true, '-') : name;
  if (n.entry.size() > 200) return InvalidArgument("import: the entry name must be at most 200 characters");
  n.slug = text::CatalogSlug(n.entry);
  n.model = options.model_name;
  if (n.model.empty()) n.model = Sanitize(n.entry.substr(n.entry.rfind('/') + 1), false, '_');
  if (n.model.empty() || n.model.size() > 128 || n.model != Sanitize(n.model, false, '_')) {
    return InvalidArgument("import: invalid repository model name '" + n.model + "'");
  }
  if (n.slug.empty()) return InvalidArgument("import: invalid entry name '" + n.entry + "'");
  return n;
}

using ExternalFiles = std::vector<std::pair<fs::path, fs::path>>;  // real source, relative destination

// The external-data files, wherever the model names them (functions and subgraphs included):
// each must be a regular file inside the model's folder, like at load (runtime::CheckModelFile),
// relative to the folder that names the model (as ORT reads it), and inside the source folder.
StatusOr<ExternalFiles> ExternalDataFiles(const fs::path& src, const SourcePath& model_file,
                                          std::string_view model_bytes) {
  auto external = runtime::ListExternalData(model_bytes);
  if (!external.ok()) return external.status().WithContext("import: " + model_file.name);
  const fs::path model_dir = src / fs::path(model_file.name).parent_path();
  ExternalFiles files;
  for (const auto& [tensor, location] : *external) {
    auto real = ResolveInside(model_dir, location);
    if (real.ok() && !PathInside(src, *real)) {
      real =
          InvalidArgument("'" + location + "' resolves to " + real->string() + ", outside " + src.string());
    }
    if (!real.ok()) {
      return real.status().WithContext("import: external data of tensor '" + tensor +
                                       "' must be a regular file inside the model's folder");
    }
    files.emplace_back(*real, fs::path(location).lexically_normal());
  }
  return files;
}

StatusOr<std::string> ChooseTask(const text::ImportOptions& options, const HfConfig& hf) {
  std::string task = options.task;
  if (task.empty()) {
    bool classifier = std::any_of(hf.architectures.begin(), hf.architectures.end(), [](const std::string& a) {
      return a.ends_with("ForSequenceClassification");
    });
    task = classifier ? "text-classification" : "text-embeddings";
  }
  if (task != "text-embeddings" && task != "text-classification") {
    return InvalidArgument("import: task '" + task + "': expected text-embeddings or text-classification");
  }
  return task;
}

// How the task feeds the graph and which output it reads.
struct GraphBinding {
  std::vector<std::string> inputs;
  int32_t input_type = 0;
  bool fixed_batch = false;
  std::string output;
};

StatusOr<GraphBinding> BindGraph(const text::OnnxGraphInfo& graph, const std::string& task) {
  GraphBinding b;
  for (const auto& in : graph.inputs) {
    if (in.name != "input_ids" && in.name != "attention_mask" && in.name != "token_type_ids" &&
        in.name != "position_ids") {
      return InvalidArgument("import: the graph input '" + in.name +
                             "' is not one a text task can fill (input_ids, attention_mask, token_type_ids, "
                             "position_ids)");
    }
    if (in.elem_type != kOnnxInt64 && in.elem_type != kOnnxInt32) {
      return InvalidArgument("import: the graph input '" + in.name + "' must be int64 or int32");
    }
    if (b.input_type != 0 && in.elem_type != b.input_type) {
      return InvalidArgument("import: the graph inputs mix int32 and int64");
    }
    if (in.has_shape && in.dims.size() != 2) {
      return InvalidArgument("import: the graph input '" + in.name + "' must be [batch, tokens]");
    }
    if (!in.dims.empty() && in.dims[0] >= 0) b.fixed_batch = true;
    b.input_type = in.elem_type;
    b.inputs.push_back(in.name);
  }
  if (std::find(b.inputs.begin(), b.inputs.end(), "input_ids") == b.inputs.end()) {
    return InvalidArgument("import: the graph has no input_ids input");
  }
  if (graph.outputs.empty()) return InvalidArgument("import: the graph has no outputs");
  b.output = graph.outputs[0].name;
  const auto preferred =
      task == "text-embeddings"
          ? std::vector<std::string>{"sentence_embedding", "last_hidden_state", "token_embeddings"}
          : std::vector<std::string>{"logits"};
  for (auto it = preferred.rbegin(); it != preferred.rend(); ++it) {
    for (const auto& o : graph.outputs) {
      if (o.name == *it) b.output = o.name;
    }
  }
  return b;
}

// Tokens per text: the tokenizer's own limit, else the model's positions.
int64_t MaxLength(const HfConfig& hf, const text::Tokenizer& tokenizer) {
  int64_t max_length = 512;
  if (hf.model_max_length) {
    max_length = *hf.model_max_length;
  } else if (hf.max_position_embeddings) {
    bool roberta_like =
        hf.model_type == "roberta" || hf.model_type == "xlm-roberta" || hf.model_type == "camembert";
    max_length = *hf.max_position_embeddings - (roberta_like ? hf.pad_token_id + 1 : 0);
  }
  if (auto t = tokenizer.truncation_max_length()) max_length = std::min<int64_t>(max_length, *t);
  return std::clamp<int64_t>(max_length, 2, 1 << 20);
}

// Everything an import writes, read and checked before anything is written.
struct ImportPlan {
  ImportNames names;
  std::string task;
  HfConfig hf;
  std::string tokenizer_name, tokenizer_text;
  bool lowercase = false;  // vocab.txt
  std::string model_bytes;
  ExternalFiles external_files;
  GraphBinding graph;
  int64_t max_length = 0, batch = 0;
};

// The catalog entry's "settings".
std::string EntrySettingsJson(const ImportPlan& p) {
  std::string settings;
  JsonWriter s(&settings);
  s.BeginObject().Key("tokenizer").String(p.tokenizer_name);
  if (p.tokenizer_name == "vocab.txt") s.Key("lowercase").Bool(p.lowercase);
  s.Key("max_length").Int(p.max_length).Key("max_batch_size").Int(p.batch);
  s.Key("inputs").BeginArray();
  for (const auto& i : p.graph.inputs) s.String(i);
  s.EndArray().Key("input_dtype").String(p.graph.input_type == kOnnxInt32 ? "INT32" : "INT64");
  s.Key("output").String(p.graph.output);
  if (p.task == "text-embeddings") {
    s.Key("pooling").String(p.hf.cls_pooling ? "cls" : "mean").Key("normalize").Bool(true);
  } else {
    if (!p.hf.id2label.empty()) {
      s.Key("labels").BeginArray();
      for (int64_t i = 0; i <= p.hf.id2label.rbegin()->first; ++i) {
        auto it = p.hf.id2label.find(i);
        s.String(it != p.hf.id2label.end() ? it->second : "LABEL_" + std::to_string(i));
      }
      s.EndArray();
    }
    s.Key("function").String(p.hf.problem_type == "multi_label_classification" ? "sigmoid" : "softmax");
  }
  s.EndObject();
  return settings;
}

std::string CatalogJson(const ImportPlan& p, const fs::path& src, const text::ImportOptions& options) {
  std::error_code ec;
  std::string description = options.description;
  if (description.empty()) {
    description = std::string(p.task == "text-embeddings" ? "Text embeddings" : "Text classification") +
                  " from " + p.names.folder + " (imported Hugging Face ONNX export)";
  }
  std::string catalog;
  JsonWriter c(&catalog);
  c.BeginObject().Key("schema_version").Int(1).Key("name").String(p.names.entry).Key("task").String(p.task);
  c.Key("description").String(description);
  if (!options.license.empty()) c.Key("license").String(options.license);
  c.Key("source").String(options.source.empty() ? fs::absolute(src, ec).lexically_normal().string()
                                                : options.source);
  c.Key("models").BeginObject().Key("encoder").String(p.names.model).EndObject();
  c.Key("settings").Raw(EntrySettingsJson(p)).EndObject();
  catalog.push_back('\n');
  return catalog;
}

std::string ModelConfigJson(const ImportPlan& p) {
  std::string config;
  JsonWriter m(&config);
  m.BeginObject().Key("schema_version").Int(1).Key("name").String(p.names.model);
  m.Key("max_batch_size").Int(p.graph.fixed_batch ? 0 : p.batch);
  if (!p.graph.fixed_batch)
    m.Key("dynamic_batching").BeginObject().EndObject();  // the server's default delay
  m.EndObject();
  config.push_back('\n');
  return config;
}

// Writes the repository model and the catalog entry, each staged and renamed into place.
// Existing destinations fail before anything is written.
Status WriteImport(const ImportPlan& p, const fs::path& src, const fs::path& models_dir,
                   const fs::path& catalog_dir, const text::ImportOptions& options) {
  std::error_code ec;
  const fs::path model_dest = models_dir / p.names.model, entry_dest = catalog_dir / p.names.slug;
  if (!options.overwrite) {
    if (fs::exists(model_dest, ec))
      return AlreadyExists("import: repository model " + model_dest.string() + " already exists");
    if (fs::exists(entry_dest, ec))
      return AlreadyExists("import: catalog entry " + entry_dest.string() + " already exists");
  }
  fs::create_directories(models_dir, ec);
  fs::create_directories(catalog_dir, ec);

  Staged model_stage(model_dest);
  RETURN_IF_ERROR(model_stage.Begin());
  RETURN_IF_ERROR(WriteFile(model_stage.dir() / "config.json", ModelConfigJson(p)));
  fs::create_directories(model_stage.dir() / "1", ec);
  RETURN_IF_ERROR(WriteFile(model_stage.dir() / "1" / "model.onnx", p.model_bytes));
  for (const auto& [from, rel] : p.external_files) RETURN_IF_ERROR(Copy(from, model_stage.dir() / "1" / rel));

  Staged entry_stage(entry_dest);
  RETURN_IF_ERROR(entry_stage.Begin());
  RETURN_IF_ERROR(WriteFile(entry_stage.dir() / p.tokenizer_name, p.tokenizer_text));
  RETURN_IF_ERROR(WriteFile(entry_stage.dir() / "catalog.json.tmp", CatalogJson(p, src, options)));

  RETURN_IF_ERROR(model_stage.Commit(options.overwrite));
  RETURN_IF_ERROR(entry_stage.Commit(options.overwrite));
  fs::rename(entry_dest / "catalog.json.tmp", entry_dest / "catalog.json", ec);
  if (ec) return Internal("cannot write " + (entry_dest / "catalog.json").string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

Status ImportHuggingFaceFolder(const fs::path& src, const fs::path& models_dir, const fs::path& catalog_dir,
                               const std::string& name, std::string* entry_name) {
  return ImportHuggingFaceFolder(src, models_dir, catalog_dir, name, text::ImportOptions{}, entry_name);
}

Status ImportHuggingFaceFolder(const fs::path& src, const fs::path& models_dir, const fs::path& catalog_dir,
                               const std::string& name, const text::ImportOptions& options,
                               std::string* entry_name) {
  std::error_code ec;
  if (!fs::is_directory(src, ec)) return NotFound("import: " + src.string() + " is not a folder");
  // Every file is read through its real path, which must stay inside the source folder.
  auto model_file = FirstSourceFile(src, {"model.onnx", "onnx/model.onnx"});
  if (model_file.status().code() == StatusCode::kNotFound)
    return NotFound("import: no model.onnx (or onnx/model.onnx) in " + src.string());
  if (!model_file.ok()) return model_file.status().WithContext("import");
  auto tokenizer_file = FirstSourceFile(src, {"tokenizer.json", "vocab.txt"});
  if (tokenizer_file.status().code() == StatusCode::kNotFound)
    return NotFound("import: no tokenizer.json or vocab.txt in " + src.string());
  if (!tokenizer_file.ok()) return tokenizer_file.status().WithContext("import");
  if (options.max_batch_size < 1 || options.max_batch_size > 4096) {
    return InvalidArgument("import: max_batch_size must be 1..4096");
  }

  // Read and check everything before writing anything.
  ImportPlan p;
  ASSIGN_OR_RETURN(p.names, ChooseNames(src, name, options));
  auto hf_config = ReadHfConfig(src);
  if (!hf_config.ok()) return hf_config.status().WithContext("import");
  p.hf = std::move(hf_config).value();
  text::VocabTxtOptions vocab_options;
  if (p.hf.do_lower_case) vocab_options.lowercase = *p.hf.do_lower_case;
  p.lowercase = vocab_options.lowercase;
  p.tokenizer_name = tokenizer_file->name;
  auto tokenizer_text = ReadFile(tokenizer_file->real);
  if (!tokenizer_text.ok()) return tokenizer_text.status().WithContext("import");
  p.tokenizer_text = std::move(tokenizer_text).value();
  auto tokenizer = p.tokenizer_name == "vocab.txt"
                       ? text::Tokenizer::FromVocabTxt(p.tokenizer_text, vocab_options)
                       : text::Tokenizer::FromHuggingFaceJson(p.tokenizer_text);
  if (!tokenizer.ok()) return tokenizer.status().WithContext("import: " + p.tokenizer_name);
  auto model_bytes = ReadFile(model_file->real);
  if (!model_bytes.ok()) return model_bytes.status().WithContext("import");
  p.model_bytes = std::move(model_bytes).value();
  auto graph = text::ReadOnnxGraphInfo(p.model_bytes);
  if (!graph.ok()) return graph.status().WithContext("import: " + model_file->name);
  ASSIGN_OR_RETURN(p.external_files, ExternalDataFiles(src, *model_file, p.model_bytes));
  ASSIGN_OR_RETURN(p.task, ChooseTask(options, p.hf));
  ASSIGN_OR_RETURN(p.graph, BindGraph(*graph, p.task));
  p.max_length = MaxLength(p.hf, **tokenizer);
  p.batch = p.graph.fixed_batch ? 1 : options.max_batch_size;

  RETURN_IF_ERROR(WriteImport(p, src, models_dir, catalog_dir, options));
  if (entry_name) *entry_name = p.names.entry;
  return Status::Ok();
}

}  // namespace continuum::tasks

namespace continuum::tasks::text {

std::string CatalogSlug(std::string_view entry_name) {
  std::string_view n = entry_name;
  if (n.starts_with('@')) n.remove_prefix(1);
  std::string out;
  for (char ch : n) {
    if (ch == '/') {
      out += "--";
    } else {
      auto u = static_cast<unsigned char>(ch);
      out.push_back(std::isalnum(u) || ch == '-' || ch == '_' || ch == '.' ? ch : '-');
    }
  }
  while (!out.empty() && out.front() == '.') out.erase(out.begin());
  return out;
}

}  // namespace continuum::tasks::text
