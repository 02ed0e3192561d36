// The hardware a node offers to a package's variants: detected (cpuid / getauxval, ONNX Runtime's
// providers, sysinfo and the cgroup's memory limit) or declared (ParseHardware).
#include <sys/sysinfo.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <system_error>

#include "packages/variants.h"
#include "runtime/runtime.h"

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace continuum::packages {
namespace {

#if defined(__x86_64__)
struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Regs CpuId(unsigned leaf, unsigned sub) {
  Regs r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) return {};
  return r;
}

uint64_t Xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}

// Features the CPU has and the OS saves the registers of (XCR0): AVX needs the YMM state,
// AVX-512 the opmask and ZMM states, AMX the tile states.
void DetectCpu(Hardware* hw) {
  hw->cpu_architecture = "x86_64";
  auto& f = hw->cpu_features;
  Regs l1 = CpuId(1, 0);
  if (l1.c & (1u << 20)) f.insert("sse4_2");
  bool osxsave = (l1.c & (1u << 27)) != 0;
  uint64_t xcr0 = osxsave ? Xcr0() : 0;
  bool ymm = (xcr0 & 0x6) == 0x6;
  bool zmm = (xcr0 & 0xe6) == 0xe6;
  bool tiles = (xcr0 & 0x60000) == 0x60000;
  if (ymm && (l1.c & (1u << 28))) f.insert("avx");
  if (ymm && (l1.c & (1u << 12))) f.insert("fma");
  if (ymm && (l1.c & (1u << 29))) f.insert("f16c");
  Regs l7 = CpuId(0, 0).a >= 7 ? CpuId(7, 0) : Regs{};
  Regs l7s1 = CpuId(0, 0).a >= 7 ? CpuId(7, 1) : Regs{};
  if (ymm && (l7.b & (1u << 5))) f.insert("avx2");
  if (ymm && (l7s1.a & (1u << 4))) f.insert("avx_vnni");
  if (zmm && (l7.b & (1u << 16))) f.insert("avx512f");
  if (zmm && (l7.b & (1u << 30))) f.insert("avx512bw");
  if (zmm && (l7.b & (1u << 31))) f.insert("avx512vl");
  if (zmm && (l7.c & (1u << 11))) f.insert("avx512_vnni");
  if (zmm && (l7s1.a & (1u << 5))) f.insert("avx512_bf16");
  if (zmm && (l7.d & (1u << 23))) f.insert("avx512_fp16");
  if (tiles && (l7.d & (1u << 24))) f.insert("amx_tile");
  if (tiles && (l7.d & (1u << 25))) f.insert("amx_int8");
  if (tiles && (l7.d & (1u << 22))) f.insert("amx_bf16");
}
#elif defined(__aarch64__)
void DetectCpu(Hardware* hw) {
  hw->cpu_architecture = "aarch64";
  auto& f = hw->cpu_features;
  unsigned long cap = getauxval(AT_HWCAP), cap2 = getauxval(AT_HWCAP2);
  if (cap & HWCAP_ASIMD) f.insert("neon");
  if (cap & HWCAP_ASIMDHP) f.insert("fp16");
  if (cap & HWCAP_ASIMDDP) f.insert("dotprod");
  if (cap & HWCAP_SVE) f.insert("sve");
#ifdef HWCAP2_I8MM
  if (cap2 & HWCAP2_I8MM) f.insert("i8mm");
#endif
#ifdef HWCAP2_BF16
  if (cap2 & HWCAP2_BF16) f.insert("bf16");
#endif
#ifdef HWCAP2_SVE2
  if (cap2 & HWCAP2_SVE2) f.insert("sve2");
#endif
}
#else
void DetectCpu(Hardware*) {}
#endif

// The cgroup v2 memory.max of this process, in MB; 0 when there is none ("max") or it is unreadable.
int64_t CgroupMemoryMb() {
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string text;
  if (!(in >> text) || text == "max") return 0;
  int64_t bytes = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), bytes);
  if (ec != std::errc() || bytes <= 0) return 0;
  return bytes >> 20;
}

bool HasNvidiaDriver() {
  std::error_code ec;
  return std::filesystem::exists("/dev/nvidiactl", ec) ||
         std::filesystem::exists("/proc/driver/nvidia/version", ec);
}

std::vector<std::string> SplitList(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t at = s.find(sep);
    std::string_view part = s.substr(0, at);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

std::string Join(const std::set<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : ",") + w;
  return out;
}

StatusOr<std::set<std::string>> KnownWords(const std::string& key, std::string_view value,
                                           const std::vector<std::string_view>& known) {
  std::set<std::string> out;
  for (const std::string& w : SplitList(value, ',')) {
    if (std::find(known.begin(), known.end(), w) == known.end()) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return InvalidArgument("hardware: " + key + ": unknown word " + Quoted(w) + " (known: " + list + ")");
    }
    out.insert(w);
  }
  return out;
}

}  // namespace

const std::vector<std::string_view>& KnownCpuFeatures() {
  static const std::vector<std::string_view> kWords = {
      // x86-64
      "amx_bf16", "amx_int8", "amx_tile", "avx", "avx2", "avx512_bf16", "avx512_fp16", "avx512_vnni",
      "avx512bw", "avx512f", "avx512vl", "avx_vnni", "f16c", "fma", "sse4_2",
      // aarch64
      "bf16", "dotprod", "fp16", "i8mm", "neon", "sve", "sve2"};
  return kWords;
}

StatusOr<Hardware> DetectHardware() {
  Hardware hw;
  hw.source = "detected";
  DetectCpu(&hw);
  hw.execution_providers.insert("cpu");
  for (const std::string& p : runtime::Engine::AvailableProviders()) {
    if (p == "CUDAExecutionProvider" && HasNvidiaDriver()) hw.execution_providers.insert("cuda");
  }
  struct sysinfo si {};
  if (sysinfo(&si) == 0) hw.memory_mb = static_cast<int64_t>((uint64_t{si.totalram} * si.mem_unit) >> 20);
  if (int64_t limit = CgroupMemoryMb(); limit > 0 && (hw.memory_mb == 0 || limit < hw.memory_mb)) {
    hw.memory_mb = limit;
  }
  return hw;
}

StatusOr<Hardware> ParseHardware(std::string_view spec) {
  Hardware hw;
  hw.source = "declared";
  hw.execution_providers.insert("cpu");
  std::set<std::string> seen;
  for (const std::string& item : SplitList(spec, ';')) {
    size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument("hardware: " + Quoted(item) + " is not key=value (keys: cpu_architecture, " +
                             "cpu_features, execution_providers, memory_mb)");
    }
    std::string key = item.substr(0, eq);
    std::string value = item.substr(eq + 1);
    while (!key.empty() && key.back() == ' ') key.pop_back();
    if (!seen.insert(key).second) return InvalidArgument("hardware: " + key + " is given twice");
    if (key == "cpu_architecture") {
      hw.cpu_architecture = SplitList(value, ',').empty() ? "" : SplitList(value, ',')[0];
      if (hw.cpu_architecture != "x86_64" && hw.cpu_architecture != "aarch64") {
        return InvalidArgument("hardware: cpu_architecture: unknown architecture " + Quoted(value) +
                               " (known: x86_64, aarch64)");
      }
    } else if (key == "cpu_features") {
      ASSIGN_OR_RETURN(hw.cpu_features, KnownWords(key, value, KnownCpuFeatures()));
    } else if (key == "execution_providers") {
      ASSIGN_OR_RETURN(hw.execution_providers, KnownWords(key, value, KnownExecutionProviders()));
      hw.execution_providers.insert("cpu");
    } else if (key == "memory_mb") {
      int64_t mb = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), mb);
      if (value.empty() || ec != std::errc() || p != value.data() + value.size() || mb <= 0) {
        return InvalidArgument("hardware: memory_mb: " + Quoted(value) + " is not a positive number of MB");
      }
      hw.memory_mb = mb;
    } else {
      return InvalidArgument("hardware: unknown key " + Quoted(key) +
                             " (known: cpu_architecture, cpu_features, execution_providers, memory_mb)");
    }
  }
  return hw;
}

std::string HardwareString(const Hardware& hw) {
  std::string out;
  if (!hw.cpu_architecture.empty()) out += "cpu_architecture=" + hw.cpu_architecture + ";";
  out += "cpu_features=" + Join(hw.cpu_features) + ";";
  out += "execution_providers=" + Join(hw.execution_providers);
  if (hw.memory_mb > 0) out += ";memory_mb=" + std::to_string(hw.memory_mb);
  return out;
}

}  // namespace continuum::packages
