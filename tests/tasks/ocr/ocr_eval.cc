// Runs image files through the "ocr" task in process (repository + catalog + RepositoryRunner,
// as `continuum serve` wires them) and prints one JSON object per file:
//   {"file":"a.png","ms":41.2,"result":{"lines":[...],"text":"..."}}   or   {"file":..,"error":".."}
// accuracy_test.py scores the output.
//
// Usage: ocr_eval --models DIR --catalog DIR [--entry @cf/paddle/pp-ocrv4] [--threads N] FILE...
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/json_writer.h"
#include "tasks/ocr/ocr_harness.h"

int main(int argc, char** argv) {
  using namespace continuum;
  std::string models, catalog, entry = "@cf/paddle/pp-ocrv4";
  int threads = 0;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ocr_eval: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--models")) {
      models = value();
    } else if (!std::strcmp(argv[i], "--catalog")) {
      catalog = value();
    } else if (!std::strcmp(argv[i], "--entry")) {
      entry = value();
    } else if (!std::strcmp(argv[i], "--threads")) {
      threads = std::atoi(value().c_str());
    } else {
      files.emplace_back(argv[i]);
    }
  }
  if (models.empty() || catalog.empty()) {
    std::fprintf(stderr, "usage: ocr_eval --models DIR --catalog DIR [--entry NAME] [--threads N] FILE...\n");
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto harness = tasks::ocr::OcrHarness::Open(models, catalog, entry, threads);
  if (!harness.ok()) {
    std::fprintf(stderr, "ocr_eval: %s\n", harness.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "ocr_eval: loaded in %.0f ms\n",
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto start = std::chrono::steady_clock::now();
    auto r = (*harness)->Run(bytes);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::string line;
    JsonWriter w(&line);
    w.BeginObject().Key("file").String(f).Key("ms").Double(ms);
    if (r.ok()) {
      w.Key("result").Raw(r->result_json);
    } else {
      w.Key("error").String(r.status().ToString());
    }
    w.EndObject();
    std::printf("%s\n", line.c_str());
  }
  return 0;
}
