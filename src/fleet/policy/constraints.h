// Placement constraints: a small expression language over node properties (properties.h), in the
// spirit of Open Horizon's constraint expressions, that an operator writes on a deployment
// ("tier == edge && memory_gb >= 8") and the hub evaluates against every node's properties.
//
//   expr    := or
//   or      := and (("||" | "or") and)*
//   and     := unary (("&&" | "and") unary)*
//   unary   := ("!" | "not") unary | "(" expr ")" | test
//   test    := NAME op value
//            | NAME "in" "(" value ("," value)* ")"               set membership
//            | NAME "in" ("[" | "(") value "," value ("]" | ")")  range; [ ] inclusive, ( ) exclusive
//            | NAME                                                a bool property that is true
//   op      := "==" | "!=" | "<" | "<=" | ">" | ">="
//   value   := "double-quoted string" (\" and \\ escapes) | bare word [A-Za-z0-9_.:/-]+
//              (numbers, versions, true and false are bare words)
//
// After `in`, "(" starts a set unless it holds exactly two values and closes with "]": `x in (a, b)`
// is a set, `x in (1.0, 2.0]` a range. and, or, not and in are keywords, never property names.
//
// Contracts:
// - Parse refuses malformed text with "constraint: at OFFSET: what was expected" (a byte offset)
//   and bounds the text, the nesting and the number of tests (ConstraintLimits).
// - Comparison follows the property's type (the literal is read as that type): versions part by
//   part, int and float numerically, strings byte-wise (== != in, and < <= > >= lexicographically),
//   bools only == and !=, lists: == and in mean "contains", != "does not contain".
// - Evaluate never fails: a missing property, a value of the wrong type or an operator that does
//   not apply to the type is a non-match with a reason ("memory_gb: not set"); `not` inverts it.
// - Empty (or all-blank) text matches every node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "fleet/policy/properties.h"

namespace continuum::fleet {

struct ConstraintLimits {
  size_t max_text_bytes = 4096;
  size_t max_depth = 32;   // nesting of parentheses and not
  size_t max_terms = 256;  // tests (NAME op value, NAME in ..., NAME)
};

class Constraint {
 public:
  static StatusOr<Constraint> Parse(std::string_view text, const ConstraintLimits& limits = {});

  struct Result {
    bool match = false;
    std::string reason;
  };
  // reason: the satisfied tests when it matched ("tier == edge and memory_gb (16) >= 8"), else the
  // first test that failed, with the node's value ("memory_gb is 4, not >= 8").
  Result Evaluate(const Properties& p) const;
  const std::string& text() const { return text_; }

  // One node of the expression tree; public for the parser and evaluator in constraints.cc.
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };
  struct Literal {
    std::string text;
    bool quoted = false;
  };
  struct Node {
    enum class Kind { kOr, kAnd, kNot, kCompare, kSet, kRange, kTruthy } kind = Kind::kTruthy;
    std::vector<size_t> children;                      // kOr, kAnd, kNot: indices into nodes_
    std::string name;                                  // tests: the property
    Op op = Op::kEq;                                   // kCompare
    std::vector<Literal> values;                       // kCompare: 1; kSet: 1 or more; kRange: 2 (low, high)
    bool low_inclusive = true, high_inclusive = true;  // kRange
  };

 private:
  Result EvaluateNode(size_t index, const Properties& p) const;

  std::string text_;
  std::vector<Node> nodes_;  // the root is the last; empty for the empty constraint
  friend class ConstraintParser;
};

// The operator as written ("==", "<=").
std::string_view OpText(Constraint::Op op);

}  // namespace continuum::fleet
