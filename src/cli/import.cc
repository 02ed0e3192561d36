// `continuum import DIR`: turns a Hugging Face-style ONNX export folder (model.onnx,
// tokenizer.json or vocab.txt, config.json) into a repository model and a catalog entry.
#include "tasks/text/import.h"

#include <cstdio>

#include "cli/commands.h"
#include "cli/flags.h"

namespace continuum::cli {

int Import(const std::vector<std::string>& args) {
  std::string repo_dir, catalog_dir, name;
  tasks::text::ImportOptions options;
  bool help = false;
  Flags f;
  f.String("model-repository", &repo_dir, "repository to add the model to");
  f.String("catalog", &catalog_dir, "catalog to add the entry to");
  f.String("name", &name, "catalog name, e.g. @cf/baai/bge-small-en-v1.5 (default: @local/<folder>)");
  f.String("task", &options.task, "text-embeddings | text-classification (default: from config.json)");
  f.String("model", &options.model_name, "repository model name (default: the last part of the name)");
  f.String("description", &options.description, "catalog description");
  f.String("license", &options.license, "licence of the weights (SPDX id)");
  f.String("source", &options.source, "where the weights come from");
  f.Int("max-batch-size", &options.max_batch_size, "max_batch_size of the repository model");
  f.Bool("overwrite", &options.overwrite, "replace an existing model and entry of the same names");
  f.Bool("help", &help, "show this help");
  std::vector<std::string> flag_args, positional;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) == 0) {
      flag_args.push_back(args[i]);
      bool boolean =
          args[i] == "--overwrite" || args[i] == "--help" || args[i].find('=') != std::string::npos;
      if (!boolean && i + 1 < args.size()) flag_args.push_back(args[++i]);
    } else {
      positional.push_back(args[i]);
    }
  }
  Status st = f.Parse(flag_args);
  if (!st.ok() || help || positional.size() != 1 || repo_dir.empty() || catalog_dir.empty()) {
    if (!st.ok()) std::fprintf(stderr, "continuum import: %s\n\n", st.message().c_str());
    std::fprintf(stderr,
                 "usage: continuum import DIR --model-repository REPO --catalog CATALOG [flags]\n\n%s",
                 f.Usage().c_str());
    return help ? 0 : 2;
  }
  std::string entry;
  st = tasks::ImportHuggingFaceFolder(positional[0], repo_dir, catalog_dir, name, options, &entry);
  if (!st.ok()) {
    std::fprintf(stderr, "continuum import: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("imported %s\n", entry.c_str());
  return 0;
}

}  // namespace continuum::cli
