// The names of an enum's values in one table, read both ways: value -> name where a
// configuration, a header or a log is written, name -> value where one is parsed.
//
//   constexpr EnumName<Tier> kTierNames[] = {{Tier::kDevice, "device"}, {Tier::kEdge, "edge"}};
//   NameOf(kTierNames, Tier::kEdge)  // "edge"
//   ValueOf(kTierNames, "edge")      // Tier::kEdge; nullopt for a name not in the table
//   NameList(kTierNames)             // "device or edge", as errors list the choices
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace continuum {

template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

// The name of `value`; `unknown` for a value the table does not hold.
template <typename E, size_t N>
constexpr std::string_view NameOf(const EnumName<E> (&table)[N], E value, std::string_view unknown = "?") {
  for (const EnumName<E>& e : table) {
    if (e.value == value) return e.name;
  }
  return unknown;
}

// The value named `name` exactly (case and spaces count).
template <typename E, size_t N>
constexpr std::optional<E> ValueOf(const EnumName<E> (&table)[N], std::string_view name) {
  for (const EnumName<E>& e : table) {
    if (e.name == name) return e.value;
  }
  return std::nullopt;
}

// The names in table order, joined by `sep` and the last one by `last`: "a, b or c".
template <typename E, size_t N>
std::string NameList(const EnumName<E> (&table)[N], std::string_view sep = ", ",
                     std::string_view last = " or ") {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i > 0) out += i + 1 == N ? last : sep;
    out += table[i].name;
  }
  return out;
}

}  // namespace continuum
