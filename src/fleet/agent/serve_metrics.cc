// The three inference families of serve's /metrics, per model (serve_metrics.h).
#include "fleet/agent/serve_metrics.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace continuum::fleet {
namespace {

struct Sample {
  std::string_view name;
  std::vector<std::pair<std::string_view, std::string>> labels;
  double value = 0;
};

bool NameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool NameChar(char c) { return NameStart(c) || (c >= '0' && c <= '9'); }

void SkipBlanks(std::string_view s, size_t* i) {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t')) ++*i;
}

// A Prometheus float: a decimal or exponent number, +Inf, -Inf, NaN.
bool ParseFloat(std::string_view s, double* out) {
  if (s == "+Inf" || s == "Inf") return *out = std::numeric_limits<double>::infinity(), true;
  if (s == "-Inf") return *out = -std::numeric_limits<double>::infinity(), true;
  if (s == "NaN") return *out = std::numeric_limits<double>::quiet_NaN(), true;
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// `"value"` at s[*i] with the escapes \\, \" and \n.
Status ParseLabelValue(std::string_view s, size_t* i, std::string* out) {
  if (*i >= s.size() || s[*i] != '"') return InvalidArgument("a label value must be quoted");
  for (++*i; *i < s.size(); ++*i) {
    char c = s[*i];
    if (c == '"') {
      ++*i;
      return Status::Ok();
    }
    if (c == '\\') {
      if (++*i >= s.size()) break;
      c = s[*i];
      if (c == 'n') {
        c = '\n';
      } else if (c != '\\' && c != '"') {
        return InvalidArgument("unknown escape \\" + std::string(1, c) + " in a label value");
      }
    }
    out->push_back(c);
  }
  return InvalidArgument("a label value is not closed");
}

Status ParseLabels(std::string_view s, size_t* i, Sample* sample) {
  ++*i;  // '{'
  while (true) {
    SkipBlanks(s, i);
    if (*i < s.size() && s[*i] == '}') {
      ++*i;
      return Status::Ok();
    }
    const size_t start = *i;
    while (*i < s.size() && NameChar(s[*i])) ++*i;
    if (*i == start || !NameStart(s[start])) return InvalidArgument("a label name is missing");
    std::string_view name = s.substr(start, *i - start);
    if (*i >= s.size() || s[*i] != '=') return InvalidArgument("no '=' after label " + std::string(name));
    ++*i;
    std::string value;
    RETURN_IF_ERROR(ParseLabelValue(s, i, &value));
    sample->labels.emplace_back(name, std::move(value));
    SkipBlanks(s, i);
    if (*i < s.size() && s[*i] == ',') {
      ++*i;
    } else if (*i >= s.size() || s[*i] != '}') {
      return InvalidArgument("expected ',' or '}' after a label");
    }
  }
}

// `name{labels} value [timestamp]`, `name` already read into sample->name ending at *i.
Status ParseSample(std::string_view line, size_t i, Sample* sample) {
  if (i < line.size() && line[i] == '{') RETURN_IF_ERROR(ParseLabels(line, &i, sample));
  if (i >= line.size() || (line[i] != ' ' && line[i] != '\t')) return InvalidArgument("no value");
  SkipBlanks(line, &i);
  size_t end = i;
  while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
  if (!ParseFloat(line.substr(i, end - i), &sample->value))
    return InvalidArgument("the value is not a number");
  i = end;
  SkipBlanks(line, &i);
  if (i < line.size()) {  // a timestamp: integer milliseconds
    std::string_view ts = line.substr(i);
    if (!ts.empty() && ts[0] == '-') ts.remove_prefix(1);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), v);
    if (ts.empty() || ec != std::errc() || p != ts.data() + ts.size())
      return InvalidArgument("unexpected text after the value");
  }
  return Status::Ok();
}

const std::string* Label(const Sample& s, std::string_view name) {
  for (const auto& [k, v] : s.labels)
    if (k == name) return &v;
  return nullptr;
}

// A count: finite, >= 0, below 2^63 (rounded to an integer).
StatusOr<int64_t> Count(double v) {
  if (!std::isfinite(v) || v < 0 || v >= 9.2e18) return InvalidArgument("the value is not a count");
  return static_cast<int64_t>(std::llround(v));
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  return a > std::numeric_limits<int64_t>::max() - b ? std::numeric_limits<int64_t>::max() : a + b;
}

struct Accumulator {
  int64_t success = 0, failure = 0;
  std::map<double, int64_t> buckets;
};

Status Add(const Sample& s, const ScrapeLimits& limits, std::map<std::string, Accumulator>* models) {
  const std::string* model = Label(s, "model");
  if (model == nullptr) return InvalidArgument("no model label");
  ASSIGN_OR_RETURN(int64_t n, Count(s.value));
  auto it = models->find(*model);
  if (it == models->end()) {
    if (static_cast<int64_t>(models->size()) >= limits.max_models)
      return PayloadTooLarge("more than " + std::to_string(limits.max_models) + " models");
    it = models->emplace(*model, Accumulator{}).first;
  }
  Accumulator& acc = it->second;
  if (s.name == kSuccessFamily) {
    acc.success = SaturatingAdd(acc.success, n);
  } else if (s.name == kFailureFamily) {
    acc.failure = SaturatingAdd(acc.failure, n);
  } else {
    const std::string* le = Label(s, "le");
    double bound = 0;
    if (le == nullptr || !ParseFloat(*le, &bound) || std::isnan(bound))
      return InvalidArgument("a bucket without a numeric le label");
    auto b = acc.buckets.find(bound);
    if (b == acc.buckets.end()) {
      if (static_cast<int64_t>(acc.buckets.size()) >= limits.max_buckets)
        return PayloadTooLarge("more than " + std::to_string(limits.max_buckets) + " buckets for model " +
                               Quoted(*model));
      b = acc.buckets.emplace(bound, 0).first;
    }
    b->second = SaturatingAdd(b->second, n);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::map<std::string, ModelCounters>> ParseServeMetrics(std::string_view text,
                                                                 const ScrapeLimits& limits) {
  if (static_cast<int64_t>(text.size()) > limits.max_bytes)
    return PayloadTooLarge("metrics: more than " + std::to_string(limits.max_bytes) + " bytes");
  std::map<std::string, Accumulator> models;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (static_cast<int64_t>(line.size()) > limits.max_line_bytes)
      return PayloadTooLarge("metrics line " + std::to_string(line_no) + ": longer than " +
                             std::to_string(limits.max_line_bytes) + " bytes");
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t i = 0;
    while (i < line.size() && NameChar(line[i])) ++i;
    Sample s;
    s.name = line.substr(0, i);
    if (s.name != kSuccessFamily && s.name != kFailureFamily && s.name != kDurationBucketFamily) continue;
    Status st = ParseSample(line, i, &s);
    if (st.ok()) st = Add(s, limits, &models);
    if (!st.ok()) return Status(st.code(), "metrics line " + std::to_string(line_no) + ": " + st.message());
  }
  std::map<std::string, ModelCounters> out;
  for (auto& [name, acc] : models) {
    ModelCounters& c = out[name];
    c.success = acc.success;
    c.failure = acc.failure;
    c.duration_buckets.assign(acc.buckets.begin(), acc.buckets.end());
  }
  return out;
}

}  // namespace continuum::fleet
