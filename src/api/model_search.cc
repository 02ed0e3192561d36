#include "api/model_search.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <vector>

#include "common/json_writer.h"

namespace continuum {

namespace {

struct KindInfo {
  std::string_view kind, name, description;
};

// The kinds the task layer registers, with Workers AI's names where it has one.
constexpr KindInfo kKinds[] = {
    {"text-embeddings", "Text Embeddings",
     "Turns a text into a vector of numbers that places texts of similar meaning near each other."},
    {"text-classification", "Text Classification",
     "Sorts a text into one of a set of labels, with a score for each."},
    {"image-classification", "Image Classification",
     "Sorts an image into one of a set of labels, with a score for each."},
    {"ocr", "Optical Character Recognition", "Finds the lines of text in an image and reads them."},
    {"voice-activity-detection", "Voice Activity Detection",
     "Finds the stretches of an audio recording that hold speech."},
};

const KindInfo* FindKind(std::string_view kind) {
  for (const KindInfo& k : kKinds)
    if (k.kind == kind) return &k;
  return nullptr;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ContainsNoCase(std::string_view haystack, std::string_view lower_needle) {
  return Lower(haystack).find(lower_needle) != std::string::npos;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A form-encoded query component: '+' is a space, %XX a byte.
std::optional<std::string> DecodeComponent(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = HexDigit(in[i + 1]), lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

Status BadParam(std::string_view name, std::string_view what) {
  return InvalidArgument("query parameter '" + std::string(name) + "': " + std::string(what));
}

StatusOr<int64_t> PositiveInt(std::string_view name, const std::string& v) {
  constexpr int64_t kMax = 2147483647;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > kMax) {
    return BadParam(name, "must be an integer from 1 to " + std::to_string(kMax) + ", got '" + v + "'");
  }
  return n;
}

// "@cf/acme/model" -> "acme"; "" when the name has no such segment.
std::string_view Author(std::string_view name) {
  const size_t a = name.find('/');
  if (a == std::string_view::npos) return {};
  const size_t b = name.find('/', a + 1);
  if (b == std::string_view::npos) return {};
  return name.substr(a + 1, b - a - 1);
}

void WriteProperty(JsonWriter& w, std::string_view id, std::string_view value) {
  w.BeginObject().Key("property_id").String(id).Key("value").String(value).EndObject();
}

}  // namespace

std::string TaskDisplayName(std::string_view kind) {
  if (const KindInfo* k = FindKind(kind)) return std::string(k->name);
  std::string name;
  bool start = true;
  for (char c : kind) {
    if (c == '-' || c == '_') {
      name += ' ';
      start = true;
    } else {
      name += start ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
      start = false;
    }
  }
  return name;
}

StatusOr<ModelSearchPage> SearchModels(const tasks::Catalog& catalog, std::string_view query) {
  std::optional<std::string> task, search, author;
  int64_t page = 1, per_page = kDefaultModelSearchPerPage;
  size_t i = 0;
  while (i < query.size()) {
    size_t j = query.find('&', i);
    if (j == std::string_view::npos) j = query.size();
    const std::string_view kv = query.substr(i, j - i);
    i = j + 1;
    if (kv.empty()) continue;
    const size_t eq = kv.find('=');
    auto key = DecodeComponent(kv.substr(0, eq));
    if (!key)
      return InvalidArgument("query: malformed percent-escape in '" + std::string(kv.substr(0, eq)) + "'");
    auto value = DecodeComponent(eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1));
    if (!value) return BadParam(*key, "malformed percent-escape");
    if (*key == "task") {
      task = Lower(*value);
    } else if (*key == "search") {
      search = Lower(*value);
    } else if (*key == "author") {
      author = Lower(*value);
    } else if (*key == "page") {
      ASSIGN_OR_RETURN(page, PositiveInt(*key, *value));
    } else if (*key == "per_page") {
      ASSIGN_OR_RETURN(per_page, PositiveInt(*key, *value));
    } else if (*key == "hide_experimental") {
      if (*value != "true" && *value != "false")
        return BadParam(*key, "must be true or false, got '" + *value + "'");
    } else {
      return BadParam(*key, "unknown (task, search, author, hide_experimental, page, per_page)");
    }
  }

  std::vector<const tasks::Catalog::Item*> found;
  for (const auto& item : catalog.items()) {
    const auto& e = item.entry;
    if (task && Lower(e.task) != *task && Lower(TaskDisplayName(e.task)) != *task) continue;
    if (search && !ContainsNoCase(e.name, *search) && !ContainsNoCase(e.description, *search)) continue;
    if (author && Lower(Author(e.name)) != *author) continue;
    found.push_back(&item);
  }
  std::sort(found.begin(), found.end(), [](auto* a, auto* b) { return a->entry.name < b->entry.name; });

  const size_t total = found.size();
  // page and per_page are at most 2^31 - 1: the product fits.
  const uint64_t first = static_cast<uint64_t>(page - 1) * static_cast<uint64_t>(per_page);
  const size_t begin = static_cast<size_t>(std::min<uint64_t>(first, total));
  const size_t end = static_cast<size_t>(std::min<uint64_t>(begin + static_cast<uint64_t>(per_page), total));

  ModelSearchPage out;
  JsonWriter w(&out.result_json);
  w.BeginArray();
  for (size_t k = begin; k < end; ++k) {
    const tasks::Catalog::Item& item = *found[k];
    const auto& e = item.entry;
    const KindInfo* kind = FindKind(e.task);
    w.BeginObject()
        .Key("id")
        .String(e.name)
        .Key("name")
        .String(e.name)
        .Key("description")
        .String(e.description);
    w.Key("task").BeginObject().Key("id").String(e.task).Key("name").String(TaskDisplayName(e.task));
    w.Key("description").String(kind ? kind->description : std::string_view(e.task)).EndObject();
    w.Key("properties").BeginArray();
    if (!e.license.empty()) WriteProperty(w, "license", e.license);
    if (!e.source.empty()) WriteProperty(w, "source", e.source);
    WriteProperty(w, "available", item.task ? "true" : "false");
    if (!item.error.empty()) WriteProperty(w, "error", item.error);
    w.EndArray().EndObject();
  }
  w.EndArray();
  JsonWriter(&out.result_info_json)
      .BeginObject()
      .Key("page")
      .Int(page)
      .Key("per_page")
      .Int(per_page)
      .Key("count")
      .Int(static_cast<int64_t>(end - begin))
      .Key("total_count")
      .Int(static_cast<int64_t>(total))
      .EndObject();
  return out;
}

}  // namespace continuum
