// Shared by the packages tests: a model folder made from the generated test models.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace continuum::packages::testing {

inline void WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// `dir` as a repository model folder: config.json, README.md and versions 1 and 2 of add_sub.
inline void MakeModelFolder(const std::filesystem::path& dir) {
  std::filesystem::path model = std::filesystem::path(CONTINUUM_TEST_MODELS) / "add_sub" / "1" / "model.onnx";
  std::filesystem::create_directories(dir / "1");
  std::filesystem::create_directories(dir / "2");
  std::filesystem::copy_file(model, dir / "1" / "model.onnx");
  std::filesystem::copy_file(model, dir / "2" / "model.onnx");
  WriteFile(dir / "config.json", R"({"schema_version": 1, "max_batch_size": 0})");
  WriteFile(dir / "README.md", "add_sub: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1\n");
}

}  // namespace continuum::packages::testing
