// The codec allocates from what a body carries, never from what it declares: a shape that asks
// for far more elements than "data" holds is refused before the tensor buffer exists. The
// allocations of a parse are counted by replacing the global operator new in this test binary
// (its own binary, so that the hook touches no other test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "api/v2_codec.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_allocated{0};  // bytes requested while counting
std::atomic<size_t> g_largest{0};    // the largest single request while counting

void* CountedAlloc(size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocated.fetch_add(n, std::memory_order_relaxed);
    size_t prev = g_largest.load(std::memory_order_relaxed);
    while (n > prev && !g_largest.compare_exchange_weak(prev, n, std::memory_order_relaxed)) {
    }
  }
  return std::malloc(n ? n : 1);
}
}  // namespace

void* operator new(size_t n) {
  if (void* p = CountedAlloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  if (void* p = CountedAlloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, const std::nothrow_t&) noexcept { return CountedAlloc(n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return CountedAlloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace continuum::v2 {
namespace {

using ::testing::HasSubstr;

struct Counted {
  size_t allocated;
  size_t largest;
};

// Parses `body` twice: the first call sizes the per-thread parser for it, the second is counted.
Counted ParseCounted(const std::string& body, std::optional<size_t> json_length, Status* status) {
  (void)ParseInferRequest(body, json_length);
  g_allocated = 0;
  g_largest = 0;
  g_counting = true;
  auto r = ParseInferRequest(body, json_length);
  g_counting = false;
  *status = r.status();
  return {g_allocated.load(), g_largest.load()};
}

// A request declaring `declared` elements whose "data" holds three, padded with spaces so that
// the body is longer than the declared count (a body of N bytes can hold up to about N / 2
// elements, so the declared count alone says nothing) and still small enough for the reused
// per-thread parser.
std::string Declaring(std::string_view dtype, std::string_view shape, std::string_view data, size_t pad) {
  return R"({"inputs":[{"name":"x","datatype":")" + std::string(dtype) + R"(","shape":)" +
         std::string(shape) + R"(,"data":)" + std::string(data) + std::string(pad, ' ') + "}]}";
}

constexpr int64_t kDeclared = 150000;
constexpr size_t kPad = 200000;
// Messages, the request's few small objects: far below what the declared shape would take
// (150000 x 8 bytes for FP64, 150000 x 4 bytes of BYTES length prefixes).
constexpr size_t kSmall = 32 << 10;

TEST(V2CodecAllocation, DeclaredCountBeyondTheDataIsRefusedBeforeAllocating) {
  struct Case {
    const char* name;
    std::string body;
  } cases[] = {
      {"flat FP64", Declaring("FP64", "[150000]", "[1,2,3]", kPad)},
      {"nested FP32", Declaring("FP32", "[150000,1]", "[[1],[2],[3]]", kPad)},
      {"BYTES", Declaring("BYTES", "[150000]", R"(["a","b","c"])", kPad)},
      {"nested BYTES", Declaring("BYTES", "[50000,3]", R"([["a","b","c"]])", kPad)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_GT(c.body.size(), static_cast<size_t>(kDeclared));
    Status st;
    Counted n = ParseCounted(c.body, std::nullopt, &st);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_THAT(st.message(), HasSubstr("inputs[0].data: holds 3 elements but shape"));
    EXPECT_LT(n.largest, kSmall) << "largest allocation";
    EXPECT_LT(n.allocated, kSmall) << "bytes allocated";
  }
}

TEST(V2CodecAllocation, BinarySizeIsCheckedAgainstTheSectionBeforeCopying) {
  // binary_data_size matches the declared shape (150000 x FP64) but the section holds 24 bytes.
  std::string json = R"({"inputs":[{"name":"x","datatype":"FP64","shape":[150000],)"
                     R"("parameters":{"binary_data_size":1200000}}]})";
  std::string body = json + std::string(24, '\0');
  Status st;
  Counted n = ParseCounted(body, json.size(), &st);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("binary section too short"));
  EXPECT_LT(n.largest, kSmall);
}

TEST(V2CodecAllocation, AMatchingRequestAllocatesItsTensorOnce) {
  // The counting does not hide the real allocation: a request that carries its elements gets
  // its buffer of exactly that size.
  std::string data = "[";
  for (int i = 0; i < 20000; ++i) data += i ? ",1" : "1";
  data += "]";
  std::string body = Declaring("FP64", "[20000]", data, 0);
  Status st;
  Counted n = ParseCounted(body, std::nullopt, &st);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_GE(n.largest, 20000u * 8);
}

}  // namespace
}  // namespace continuum::v2
