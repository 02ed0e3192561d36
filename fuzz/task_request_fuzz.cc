// libFuzzer target for the decoding of a /ai/run body (api/task_api.h: DecodeTaskRequest): raw
// image or audio bytes, or a JSON object with "image"/"audio" (a byte array or base64, a data:
// URL included), "text"/"input" (a string or an array of strings) and options. The first byte of
// the input picks the Content-Type, the rest is the body; the limits are small so that they are
// reached. Invariants: an error is InvalidArgument or PayloadTooLarge with a message; a decoded
// request respects every limit (binary bytes, the number of texts, each text's bytes); a raw
// body is taken as it is; the decoded request never holds more bytes than the body had, and the
// body is released once decoded.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/task_api.h"
#include "fuzz_check.h"

namespace {

using namespace continuum;

using continuum::fuzz::Check;

constexpr const char* kContentTypes[] = {
    nullptr,     "application/json", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
    "image/png", "audio/wav",        "application/octet-stream",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  tasks::TaskLimits limits;
  limits.max_image_bytes = 4096;
  limits.max_audio_bytes = 2048;
  limits.max_texts = 4;
  limits.max_text_bytes = 256;

  http::Request req;
  req.method = "POST";
  req.path = "/ai/run/m";
  const char* ctype = kContentTypes[data[0] % std::size(kContentTypes)];
  if (ctype) req.headers.emplace_back("content-type", ctype);
  req.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string body = req.body;

  auto r = DecodeTaskRequest(std::move(req), limits);
  if (!r.ok()) {
    const StatusCode code = r.status().code();
    Check(code == StatusCode::kInvalidArgument || code == StatusCode::kPayloadTooLarge,
          "errors are InvalidArgument or PayloadTooLarge");
    Check(!r.status().message().empty(), "errors say what was wrong");
    return 0;
  }
  const tasks::TaskRequest& t = *r;
  Check(t.binary.size() <= static_cast<size_t>(std::max(limits.max_image_bytes, limits.max_audio_bytes)),
        "binary within the limits");
  Check(static_cast<int64_t>(t.texts.size()) <= limits.max_texts, "at most max_texts texts");
  for (const auto& text : t.texts)
    Check(static_cast<int64_t>(text.size()) <= limits.max_text_bytes, "each text within max_text_bytes");
  Check(TaskRequestBytes(t) <= static_cast<int64_t>(body.size()), "no more bytes than the body");
  if (!t.binary.empty() && t.texts.empty() && t.flags.empty() && t.numbers.empty() && t.strings.empty() &&
      t.binary.size() == body.size()) {
    Check(t.binary == body, "a raw body is taken as it is");
  }
  Check(req.body.empty() || req.body == body, "the body is moved or released, never altered");
  return 0;
}
