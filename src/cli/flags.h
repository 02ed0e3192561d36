// A small command-line flag parser: `--name value`, `--name=value`, boolean `--name`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace continuum::cli {

class Flags {
 public:
  void String(const std::string& name, std::string* target, std::string help);
  void Int(const std::string& name, int64_t* target, std::string help);
  void Bool(const std::string& name, bool* target, std::string help);
  void Double(const std::string& name, double* target, std::string help);  // finite numbers only
  // A flag that may repeat; every value is appended.
  void List(const std::string& name, std::vector<std::string>* target, std::string help);

  // Parses args (without the program and subcommand names). Unknown flags and stray
  // positional arguments are errors.
  Status Parse(const std::vector<std::string>& args);
  std::string Usage() const;

 private:
  struct Flag {
    std::string help;
    bool takes_value = true;
    std::function<Status(const std::string&)> set;
    std::string default_text;
  };
  std::map<std::string, Flag> flags_;
};

}  // namespace continuum::cli
