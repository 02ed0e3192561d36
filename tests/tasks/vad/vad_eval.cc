// Runs a voice-activity-detection catalog entry in-process over WAV files, the way the server
// would (catalog + model repository + RepositoryRunner, so through the model's scheduler).
//   vad_eval --models DIR --catalog DIR [--name NAME] [--threads N] [--opt KEY=NUMBER]... [--flag KEY]...
//   FILE...
// Prints, per file: FILE <tab> result JSON <tab> wall milliseconds; or FILE <tab> ERROR <tab> message.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "repository/repository.h"
#include "runtime/runtime.h"
#include "tasks/catalog.h"
#include "tasks/runner.h"

using namespace continuum;

int main(int argc, char** argv) {
  std::string models, catalog_dir, name = "@cf/snakers4/silero-vad";
  int threads = 1;
  tasks::TaskRequest options;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "vad_eval: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--models")
      models = next();
    else if (a == "--catalog")
      catalog_dir = next();
    else if (a == "--name")
      name = next();
    else if (a == "--threads")
      threads = std::atoi(next().c_str());
    else if (a == "--flag")
      options.flags[next()] = true;
    else if (a == "--opt") {
      std::string kv = next();
      auto eq = kv.find('=');
      if (eq == std::string::npos) {
        std::cerr << "vad_eval: --opt wants KEY=NUMBER\n";
        return 2;
      }
      options.numbers[kv.substr(0, eq)] = std::atof(kv.c_str() + eq + 1);
    } else
      files.push_back(a);
  }
  if (models.empty() || catalog_dir.empty() || files.empty()) {
    std::cerr << "usage: vad_eval --models DIR --catalog DIR [--name NAME] [--threads N] [--opt K=V]... "
                 "[--flag K]... FILE...\n";
    return 2;
  }
  auto catalog = tasks::Catalog::Load(catalog_dir, tasks::TaskRegistry::BuiltIn(), tasks::TaskLimits{});
  if (!catalog.ok()) {
    std::cerr << "vad_eval: " << catalog.status().ToString() << "\n";
    return 1;
  }
  const auto* item = (*catalog)->Find(name);
  if (!item || !item->task) {
    std::cerr << "vad_eval: catalog entry '" << name << "' "
              << (item ? "failed: " + item->error : "not found") << "\n";
    return 1;
  }
  auto engine = runtime::Engine::Create({.intra_op_threads = threads});
  if (!engine.ok()) {
    std::cerr << "vad_eval: " << engine.status().ToString() << "\n";
    return 1;
  }
  RepositoryOptions ro;
  ro.root = models;
  ro.mode = ModelControlMode::kExplicit;
  for (const auto& [role, model] : item->entry.models) ro.startup_models.push_back(model);
  ModelRepository repo(ro, engine->get(), nullptr);
  if (auto st = repo.Start(); !st.ok() || !repo.Ready()) {
    std::cerr << "vad_eval: repository not ready: " << st.ToString() << "\n";
    return 1;
  }
  tasks::RepositoryRunner runner(&repo);
  int failures = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    tasks::TaskRequest req = options;
    req.binary.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    const auto t0 = std::chrono::steady_clock::now();
    auto r = item->task->Run(req, runner);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (r.ok()) {
      std::cout << f << "\t" << r->result_json << "\t" << ms << "\n";
    } else {
      std::cout << f << "\tERROR\t" << r.status().ToString() << "\n";
      ++failures;
    }
  }
  repo.Shutdown();
  return failures ? 1 : 0;
}
