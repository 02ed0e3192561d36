#include "cli/flags.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace continuum::cli {

void Flags::String(const std::string& name, std::string* target, std::string help) {
  flags_[name] = {std::move(help), true,
                  [target](const std::string& v) {
                    *target = v;
                    return Status::Ok();
                  },
                  *target};
}

void Flags::Int(const std::string& name, int64_t* target, std::string help) {
  flags_[name] = {std::move(help), true,
                  [target, name](const std::string& v) {
                    int64_t x = 0;
                    auto r = std::from_chars(v.data(), v.data() + v.size(), x);
                    if (r.ec != std::errc() || r.ptr != v.data() + v.size()) {
                      return InvalidArgument("--" + name + ": '" + v + "' is not an integer");
                    }
                    *target = x;
                    return Status::Ok();
                  },
                  std::to_string(*target)};
}

void Flags::Double(const std::string& name, double* target, std::string help) {
  char shown[32];
  std::snprintf(shown, sizeof shown, "%g", *target);
  flags_[name] = {std::move(help), true,
                  [target, name](const std::string& v) {
                    double x = 0;
                    auto r = std::from_chars(v.data(), v.data() + v.size(), x);
                    if (r.ec != std::errc() || r.ptr != v.data() + v.size() || !std::isfinite(x)) {
                      return InvalidArgument("--" + name + ": '" + v + "' is not a number");
                    }
                    *target = x;
                    return Status::Ok();
                  },
                  shown};
}

void Flags::Bool(const std::string& name, bool* target, std::string help) {
  flags_[name] = {std::move(help), false,
                  [target, name](const std::string& v) {
                    if (v == "" || v == "true" || v == "1") {
                      *target = true;
                    } else if (v == "false" || v == "0") {
                      *target = false;
                    } else {
                      return InvalidArgument("--" + name + ": '" + v + "' is not true or false");
                    }
                    return Status::Ok();
                  },
                  *target ? "true" : "false"};
}

void Flags::List(const std::string& name, std::vector<std::string>* target, std::string help) {
  flags_[name] = {std::move(help), true,
                  [target](const std::string& v) {
                    target->push_back(v);
                    return Status::Ok();
                  },
                  ""};
}

Status Flags::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) return InvalidArgument("unexpected argument '" + a + "'");
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) return InvalidArgument("unknown flag --" + name);
    if (it->second.takes_value && !has_value) {
      if (i + 1 >= args.size()) return InvalidArgument("--" + name + " needs a value");
      value = args[++i];
    }
    RETURN_IF_ERROR(it->second.set(value));
  }
  return Status::Ok();
}

std::string Flags::Usage() const {
  std::string s;
  for (const auto& [name, f] : flags_) {
    s += "  --" + name + (f.takes_value ? " VALUE" : "") + "\n      " + f.help;
    if (!f.default_text.empty()) s += " (default: " + f.default_text + ")";
    s += "\n";
  }
  return s;
}

std::optional<int> Flags::ParseOrExplain(const std::string& command, const std::string& usage,
                                         const std::vector<std::string>& args) {
  bool help = false;
  Bool("help", &help, "show this help");
  Status st = Parse(args);
  if (st.ok() && !help) return std::nullopt;
  Explain(command, usage, st);
  return st.ok() ? 0 : 2;
}

void Flags::Explain(const std::string& command, const std::string& usage, const Status& error) const {
  if (!error.ok()) std::fprintf(stderr, "continuum %s: %s\n\n", command.c_str(), error.message().c_str());
  std::fprintf(stderr, "%s\n\n%s", usage.c_str(), Usage().c_str());
}

void Flags::Split(const std::vector<std::string>& args, const std::map<std::string, std::string>& short_names,
                  std::vector<std::string>* flags, std::vector<std::string>* positional) const {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto short_name = short_names.find(a);
    if (short_name == short_names.end() && a.rfind("--", 0) != 0) {
      positional->push_back(a);
      continue;
    }
    const std::string& name = short_name != short_names.end() ? short_name->second : a;
    flags->push_back(name);
    auto flag = flags_.find(name.substr(2));
    bool boolean = name == "--help" || (flag != flags_.end() && !flag->second.takes_value);
    if (!boolean && a.find('=') == std::string::npos && i + 1 < args.size()) flags->push_back(args[++i]);
  }
}

int PrintError(const std::string& command, const Status& st, int exit_code) {
  std::fprintf(stderr, "continuum %s: %s\n", command.c_str(), st.message().c_str());
  return exit_code;
}

}  // namespace continuum::cli
