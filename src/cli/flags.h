// A small command-line flag parser: `--name value`, `--name=value`, boolean `--name`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
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

  // Parse with --help added, for `continuum COMMAND`: on a flag that does not parse, or on
  // --help, prints the error (if any), `usage` and Usage() on stderr (Explain) and returns the
  // exit code: 2, or 0 for --help.
  std::optional<int> ParseOrExplain(const std::string& command, const std::string& usage,
                                    const std::vector<std::string>& args);
  // Splits a command's arguments into flag arguments (each with its value; a short name such as
  // "-t" spelled as its long name, e.g. {"-t", "--tag"}) and positional arguments, for commands
  // that take both. A flag registered here as Bool, --help and a flag written "--name=value" take
  // no next argument; any other flag takes the next argument as its value.
  void Split(const std::vector<std::string>& args, const std::map<std::string, std::string>& short_names,
             std::vector<std::string>* flags, std::vector<std::string>* positional) const;
  // Prints "continuum COMMAND: ERROR" (when `error` is not ok), `usage` and Usage() on stderr.
  void Explain(const std::string& command, const std::string& usage, const Status& error) const;

 private:
  struct Flag {
    std::string help;
    bool takes_value = true;
    std::function<Status(const std::string&)> set;
    std::string default_text;
  };
  std::map<std::string, Flag> flags_;
};

// Prints "continuum COMMAND: MESSAGE" on stderr; returns `exit_code` (2: a usage error, 1: a
// failure to start or to run).
int PrintError(const std::string& command, const Status& st, int exit_code = 2);

}  // namespace continuum::cli
