// libFuzzer target for the ONNX ModelProto walk (runtime::ListExternalData, what CheckModelFile
// runs on every model before ORT sees it): any bytes give a list or an error, never a crash, a
// hang or unbounded recursion. Every location is listed once.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "runtime/runtime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto external = continuum::runtime::ListExternalData(bytes);
  if (!external.ok()) return 0;
  std::set<std::string> seen;
  for (const auto& e : *external) {
    if (!seen.insert(e.location).second) {
      std::fprintf(stderr, "invariant violated: location '%s' listed twice\n", e.location.c_str());
      std::abort();
    }
    if (e.location.size() > size || e.tensor.size() > size) {
      std::fprintf(stderr, "invariant violated: a string longer than the input\n");
      std::abort();
    }
  }
  return 0;
}
