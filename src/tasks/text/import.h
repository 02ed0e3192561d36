// Import of a Hugging Face-style ONNX export folder (what `optimum-cli export onnx` writes, or
// a Hub repository with an onnx/ folder) as a repository model plus a task catalog entry.
//
// The source folder holds:
//   model.onnx (or onnx/model.onnx; the external-data files it names, wherever in the model,
//              are copied with it)
//   tokenizer.json (preferred) or vocab.txt
//   config.json            architectures, id2label, max_position_embeddings, model_type
//   tokenizer_config.json  optional: model_max_length, do_lower_case
//   1_Pooling/config.json  optional (sentence-transformers): pooling_mode_cls_token -> "cls"
//
// It writes:
//   <models_dir>/<model>/config.json      {"max_batch_size": 32, "dynamic_batching": {}}
//                                         (0 and no batching when the graph's batch is fixed)
//   <models_dir>/<model>/1/model.onnx
//   <catalog_dir>/<slug>/catalog.json     task, models {"encoder": <model>}, settings (tokenizer,
//                                         inputs and input_dtype read from the ONNX graph,
//                                         output, max_length, max_batch_size, pooling/normalize
//                                         or labels)
//   <catalog_dir>/<slug>/tokenizer.json   (or vocab.txt)
// The task: text-classification when config.json's architectures end in
// "ForSequenceClassification", else text-embeddings (or options.task).
// Everything is checked before anything is written (the tokenizer loads, the graph's inputs are
// ones the task can fill); each folder is written under a hidden name and renamed into place.
// Every file is read through its real path, which must be a regular file inside the source folder
// (external data: inside the model's folder): absolute paths, "..", symlinks leaving the folder,
// FIFOs and devices are refused (kInvalidArgument naming the file).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace continuum::tasks::text {

struct ImportOptions {
  std::string task;        // "" (decide from config.json), "text-embeddings" or "text-classification"
  std::string model_name;  // repository model name; "": from the entry name's last component
  std::string description;
  std::string license;
  std::string source;           // "": the source folder's path
  int64_t max_batch_size = 32;  // the repository model's max_batch_size and texts per model request
  bool overwrite = false;       // replace an existing model folder / catalog entry
};

// The catalog folder name of an entry name: "@cf/continuum/tiny-bert" -> "cf--continuum--tiny-bert".
std::string CatalogSlug(std::string_view entry_name);

}  // namespace continuum::tasks::text

namespace continuum::tasks {

// `name`: the catalog entry name (e.g. "@cf/acme/my-bert"); "" gives "@local/<source folder>".
// On success *entry_name (if not null) is the entry's name. Errors: kNotFound (missing source
// files), kInvalidArgument (unusable folder, naming the file or the component), kAlreadyExists
// (the model or entry exists and options.overwrite is false).
Status ImportHuggingFaceFolder(const std::filesystem::path& src, const std::filesystem::path& models_dir,
                               const std::filesystem::path& catalog_dir, const std::string& name,
                               std::string* entry_name);
Status ImportHuggingFaceFolder(const std::filesystem::path& src, const std::filesystem::path& models_dir,
                               const std::filesystem::path& catalog_dir, const std::string& name,
                               const text::ImportOptions& options, std::string* entry_name);

}  // namespace continuum::tasks
