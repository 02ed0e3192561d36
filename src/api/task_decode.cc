// Decoding of a /ai/run body into a TaskRequest (task_api.h): raw bytes, or a JSON object with
// image/audio fields (byte arrays or base64), text fields and options. Every byte and count limit
// is checked here, before anything is allocated for what it limits.
#include <simdjson.h>

#include "api/task_api.h"
#include "common/base64.h"

namespace continuum {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// The byte limit of a binary field: "image" or "audio".
struct BinaryLimit {
  int64_t max_bytes;
  const char* flag;
};

BinaryLimit LimitFor(std::string_view field, const tasks::TaskLimits& limits) {
  if (field == "audio") return {limits.max_audio_bytes, "--max-audio-bytes"};
  return {limits.max_image_bytes, "--max-image-bytes"};
}

Status TooLarge(std::string_view where, uint64_t bytes, BinaryLimit limit) {
  return PayloadTooLarge(std::string(where) + ": " + std::to_string(bytes) +
                         " bytes, more than the limit of " + std::to_string(limit.max_bytes) + " (" +
                         limit.flag + ")");
}

// A raw body is an audio file when it is a WAV (RIFF....WAVE); anything else goes to the image
// decoders.
bool IsWav(std::string_view body) {
  return body.size() >= 12 && body.substr(0, 4) == "RIFF" && body.substr(8, 4) == "WAVE";
}

StatusOr<std::string> DecodeBinaryField(element v, std::string_view field, const tasks::TaskLimits& limits) {
  const BinaryLimit limit = LimitFor(field, limits);
  if (v.type() == element_type::STRING) {
    std::string_view s = v.get_string().value_unsafe();
    if (auto comma = s.find(','); s.substr(0, 5) == "data:" && comma != std::string_view::npos)
      s = s.substr(comma + 1);
    // What the text decodes to, counted before anything is allocated for it.
    size_t digits = s.size();
    for (int pad = 0; pad < 2 && digits > 0 && s[digits - 1] == '='; ++pad) --digits;
    const uint64_t decoded = static_cast<uint64_t>(digits) / 4 * 3 + (digits % 4 == 0 ? 0 : digits % 4 - 1);
    if (decoded > static_cast<uint64_t>(limit.max_bytes)) return TooLarge(field, decoded, limit);
    auto bytes = Base64Decode(s);
    if (!bytes) return InvalidArgument(std::string(field) + ": not valid base64");
    return std::move(*bytes);
  }
  if (v.type() != element_type::ARRAY) {
    return InvalidArgument(std::string(field) + ": expected an array of bytes (0-255) or a base64 string");
  }
  simdjson::dom::array a = v.get_array().value_unsafe();
  if (a.size() > static_cast<size_t>(limit.max_bytes)) return TooLarge(field, a.size(), limit);
  std::string out;
  out.reserve(a.size());
  size_t i = 0;
  for (element b : a) {
    int64_t x;
    if (b.get_int64().get(x) || x < 0 || x > 255) {
      return InvalidArgument(std::string(field) + "[" + std::to_string(i) + "]: expected an integer 0-255");
    }
    out.push_back(static_cast<char>(x));
    ++i;
  }
  return out;
}

}  // namespace

Status CheckTaskText(const std::string& where, std::string_view text, const tasks::TaskLimits& limits) {
  if (static_cast<int64_t>(text.size()) > limits.max_text_bytes) {
    return PayloadTooLarge(where + ": " + std::to_string(text.size()) + " bytes, more than the limit of " +
                           std::to_string(limits.max_text_bytes) + " (--max-text-bytes)");
  }
  return Status::Ok();
}

int64_t TaskRequestBytes(const tasks::TaskRequest& t) {
  size_t n = t.binary.size();
  for (const auto& s : t.texts) n += s.size();
  for (const auto& [k, v] : t.strings) n += k.size() + v.size();
  return static_cast<int64_t>(n);
}

StatusOr<tasks::TaskRequest> DecodeTaskRequest(http::Request&& req, const tasks::TaskLimits& limits) {
  tasks::TaskRequest t;
  const std::string* ctype = req.Header("content-type");
  size_t first = req.body.find_first_not_of(" \t\r\n");
  bool json =
      first != std::string::npos && req.body[first] == '{' &&
      (!ctype || ctype->find("json") != std::string::npos || ctype->find("text/plain") != std::string::npos ||
       ctype->find("x-www-form-urlencoded") != std::string::npos);
  if (!json) {
    if (req.body.empty())
      return InvalidArgument("request body: empty; send JSON, or an image or audio file as the body");
    const bool wav = IsWav(req.body);
    const BinaryLimit limit = LimitFor(wav ? "audio" : "image", limits);
    if (req.body.size() > static_cast<uint64_t>(limit.max_bytes)) {
      return TooLarge(wav ? "request body (audio)" : "request body (image)", req.body.size(), limit);
    }
    t.binary = std::move(req.body);  // an image or audio file sent as the body
    return t;
  }
  simdjson::dom::parser parser;
  if (parser.allocate(req.body.size() + 64, 16)) return Internal("out of memory");
  element root;
  if (auto err = parser.parse(req.body).get(root); err) {
    return InvalidArgument(std::string("request body: invalid JSON: ") + simdjson::error_message(err));
  }
  if (!root.is_object()) return InvalidArgument("request body: expected a JSON object");
  simdjson::dom::object fields = root.get_object().value_unsafe();
  for (auto [key, v] : fields) {
    std::string k(key);
    if (k == "image" || k == "audio") {
      ASSIGN_OR_RETURN(t.binary, DecodeBinaryField(v, k, limits));
    } else if (k == "text" || k == "input") {
      // --max-texts counts every text: a string as well as an array's items, and a key that the
      // object repeats.
      auto count = [&] {
        if (static_cast<int64_t>(t.texts.size()) < limits.max_texts) return Status::Ok();
        return InvalidArgument(k + ": more than " + std::to_string(limits.max_texts) + " texts");
      };
      if (v.type() == element_type::STRING) {
        RETURN_IF_ERROR(count());
        RETURN_IF_ERROR(CheckTaskText(k, v.get_string().value_unsafe(), limits));
        t.texts.emplace_back(v.get_string().value_unsafe());
      } else if (v.type() == element_type::ARRAY) {
        t.texts_is_array = true;
        size_t i = 0;
        simdjson::dom::array list = v.get_array().value_unsafe();
        for (element s : list) {
          std::string_view sv;
          if (s.get_string().get(sv)) {
            return InvalidArgument(k + "[" + std::to_string(i) + "]: expected a string");
          }
          RETURN_IF_ERROR(count());
          RETURN_IF_ERROR(CheckTaskText(k + "[" + std::to_string(i) + "]", sv, limits));
          t.texts.emplace_back(sv);
          ++i;
        }
      } else {
        return InvalidArgument(k + ": expected a string or an array of strings");
      }
    } else if (v.is_bool()) {
      t.flags[k] = v.get_bool().value_unsafe();
    } else if (v.is_number()) {
      t.numbers[k] = v.get_double().value_unsafe();
    } else if (v.is_string()) {
      t.strings[k] = std::string(v.get_string().value_unsafe());
    } else {
      return InvalidArgument(k + ": unsupported option (expected a string, number or boolean)");
    }
  }
  // The request is all in `t` now: the body must not wait in the queue beside it.
  std::string().swap(req.body);
  return t;
}

}  // namespace continuum
