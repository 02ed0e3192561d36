// Evaluating a parsed constraint against a node's properties, with the reason operators read in
// `hub plan`: the satisfied tests, or the first test that failed and the node's value.
#include <optional>
#include <string>

#include "fleet/policy/constraints.h"

namespace continuum::fleet {
namespace {

using Literal = Constraint::Literal;
using Node = Constraint::Node;
using Op = Constraint::Op;
using Result = Constraint::Result;

// Values in reasons are cut to this many bytes (at a UTF-8 boundary) and "...".
constexpr size_t kShownBytes = 64;

std::string Shorten(std::string s) {
  if (s.size() <= kShownBytes) return s;
  size_t cut = kShownBytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s + "...";
}

std::string Show(const PropertyValue& v) { return Shorten(PropertyToString(v)); }

std::string Show(const Literal& l) {
  if (!l.quoted) return Shorten(l.text);
  std::string out = "\"";
  for (char c : Shorten(l.text)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string ShowValues(const Node& n, char open, char close) {
  std::string out(1, open);
  for (size_t k = 0; k < n.values.size(); ++k) {
    if (k > 0) out += ", ";
    out += Show(n.values[k]);
  }
  return out + close;
}

std::string ShowSetOrRange(const Node& n) {
  if (n.kind == Node::Kind::kSet) return "in " + ShowValues(n, '(', ')');
  return "in " + ShowValues(n, n.low_inclusive ? '[' : '(', n.high_inclusive ? ']' : ')');
}

template <typename T>
int Order(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

// How a scalar value orders against a literal read as the value's type: <0, 0, >0; nullopt with
// `why` set when the literal is not of that type. Bools give 0 or 1 (equal or not).
std::optional<int> CompareScalar(const PropertyValue& v, std::string_view lit, std::string* why) {
  switch (v.type) {
    case PropertyType::kString:
    case PropertyType::kList: return Order(std::string_view(v.s), lit);
    case PropertyType::kInt:
      if (std::optional<int64_t> i = ParseIntText(lit)) return Order(v.i, *i);
      if (std::optional<double> d = ParseNumberText(lit)) return Order(static_cast<double>(v.i), *d);
      *why = "not a number";
      return std::nullopt;
    case PropertyType::kFloat:
      if (std::optional<double> d = ParseNumberText(lit)) return Order(v.f, *d);
      *why = "not a number";
      return std::nullopt;
    case PropertyType::kBool:
      if (lit == "true" || lit == "false") return (lit == "true") == v.b ? 0 : 1;
      *why = "not true or false";
      return std::nullopt;
    case PropertyType::kVersion:
      if (std::optional<std::vector<int64_t>> parts = ParseVersion(lit))
        return CompareVersions(v.version, *parts);
      *why = "not a version";
      return std::nullopt;
  }
  *why = "of no known type";
  return std::nullopt;
}

bool Holds(Op op, int order) {
  switch (op) {
    case Op::kEq: return order == 0;
    case Op::kNe: return order != 0;
    case Op::kLt: return order < 0;
    case Op::kLe: return order <= 0;
    case Op::kGt: return order > 0;
    case Op::kGe: return order >= 0;
  }
  return false;
}

std::string Mismatch(const std::string& name, const PropertyValue& v, const Literal& lit,
                     const std::string& why) {
  return name + " is " + Show(v) + " (" + std::string(PropertyTypeName(v.type)) + "), not comparable with " +
         Show(lit) + " (" + why + ")";
}

// A list property: == contains, != does not contain.
Result CompareList(const Node& n, const PropertyValue& v) {
  const Literal& lit = n.values[0];
  if (n.op != Op::kEq && n.op != Op::kNe) {
    return {false, n.name + " is a list: only ==, != and in apply, not " + std::string(OpText(n.op))};
  }
  bool contains = false;
  for (const std::string& item : v.list) contains = contains || item == lit.text;
  bool match = contains == (n.op == Op::kEq);
  if (contains) return {match, n.name + " " + Show(v) + " contains " + Show(lit)};
  return {match, n.name + " " + Show(v) + " does not contain " + Show(lit)};
}

Result Compare(const Node& n, const PropertyValue& v) {
  if (v.type == PropertyType::kList) return CompareList(n, v);
  const Literal& lit = n.values[0];
  if (v.type == PropertyType::kBool && n.op != Op::kEq && n.op != Op::kNe) {
    return {false, n.name + " is a bool: only == and != apply, not " + std::string(OpText(n.op))};
  }
  std::string why;
  std::optional<int> order = CompareScalar(v, lit.text, &why);
  if (!order) return {false, Mismatch(n.name, v, lit, why)};
  std::string op(OpText(n.op));
  if (!Holds(n.op, *order)) return {false, n.name + " is " + Show(v) + ", not " + op + " " + Show(lit)};
  if (n.op == Op::kEq) return {true, n.name + " == " + Show(lit)};
  return {true, n.name + " (" + Show(v) + ") " + op + " " + Show(lit)};
}

// Whether `item` (a scalar, or one item of a list) is among the set's values.
std::optional<bool> InSet(const Node& n, const PropertyValue& item, const Literal** bad, std::string* why) {
  for (const Literal& lit : n.values) {
    std::optional<int> order = CompareScalar(item, lit.text, why);
    if (!order) {
      *bad = &lit;
      return std::nullopt;
    }
    if (*order == 0) return true;
  }
  return false;
}

Result Set(const Node& n, const PropertyValue& v) {
  if (v.type == PropertyType::kBool) return {false, n.name + " is a bool: only == and != apply, not in"};
  const Literal* bad = nullptr;
  std::string why;
  bool found = false;
  if (v.type == PropertyType::kList) {
    for (const std::string& item : v.list)
      found = found || InSet(n, StringValue(item), &bad, &why).value_or(false);
  } else {
    std::optional<bool> in = InSet(n, v, &bad, &why);
    if (!in) return {false, Mismatch(n.name, v, *bad, why)};
    found = *in;
  }
  if (!found) return {false, n.name + " is " + Show(v) + ", not " + ShowSetOrRange(n)};
  return {true, n.name + " (" + Show(v) + ") " + ShowSetOrRange(n)};
}

Result Range(const Node& n, const PropertyValue& v) {
  if (v.type == PropertyType::kBool || v.type == PropertyType::kList) {
    return {false, n.name + " is a " + std::string(PropertyTypeName(v.type)) + ": a range does not apply"};
  }
  std::string why;
  std::optional<int> low = CompareScalar(v, n.values[0].text, &why);
  if (!low) return {false, Mismatch(n.name, v, n.values[0], why)};
  std::optional<int> high = CompareScalar(v, n.values[1].text, &why);
  if (!high) return {false, Mismatch(n.name, v, n.values[1], why)};
  bool match = (n.low_inclusive ? *low >= 0 : *low > 0) && (n.high_inclusive ? *high <= 0 : *high < 0);
  if (!match) return {false, n.name + " is " + Show(v) + ", not " + ShowSetOrRange(n)};
  return {true, n.name + " (" + Show(v) + ") " + ShowSetOrRange(n)};
}

Result Test(const Node& n, const Properties& p) {
  auto it = p.find(n.name);
  if (it == p.end()) return {false, n.name + ": not set"};
  const PropertyValue& v = it->second;
  switch (n.kind) {
    case Node::Kind::kCompare: return Compare(n, v);
    case Node::Kind::kSet: return Set(n, v);
    case Node::Kind::kRange: return Range(n, v);
    default: break;
  }
  if (v.type != PropertyType::kBool) return {false, n.name + " is " + Show(v) + ", not a bool"};
  if (!v.b) return {false, n.name + " is false"};
  return {true, n.name};
}

}  // namespace

Constraint::Result Constraint::Evaluate(const Properties& p) const {
  if (nodes_.empty()) return {true, "no constraint"};
  return EvaluateNode(nodes_.size() - 1, p);
}

// And: every child, the first failure; or: the first match, else every failure ("; "); not: the
// child's reason, inverted.
Constraint::Result Constraint::EvaluateNode(size_t index, const Properties& p) const {
  const Node& n = nodes_[index];
  switch (n.kind) {
    case Node::Kind::kAnd:
    case Node::Kind::kOr: {
      bool is_and = n.kind == Node::Kind::kAnd;
      std::string reasons;
      for (size_t child : n.children) {
        Result r = EvaluateNode(child, p);
        if (r.match != is_and) return r;
        if (!reasons.empty()) reasons += is_and ? " and " : "; ";
        reasons += r.reason;
      }
      return {is_and, reasons};
    }
    case Node::Kind::kNot: {
      Result r = EvaluateNode(n.children[0], p);
      if (r.match) return {false, "not (" + r.reason + ")"};
      return {true, r.reason};
    }
    default: return Test(n, p);
  }
}

}  // namespace continuum::fleet
