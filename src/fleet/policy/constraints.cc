// The constraint parser: a tokenizer and a recursive-descent parser that builds the tree the
// evaluator (constraint_eval.cc) walks. Every error names its byte offset.
#include "fleet/policy/constraints.h"

#include <utility>

namespace continuum::fleet {
namespace {

struct Token {
  enum class Kind {
    kEnd,
    kWord,
    kString,
    kLParen,
    kRParen,
    kLBracket,
    kRBracket,
    kComma,
    kOp,
    kAnd,
    kOr,
    kNot,
    kIn
  };
  Kind kind = Kind::kEnd;
  size_t offset = 0;
  std::string text;  // kWord, kString (unescaped); the operator for kOp
  Constraint::Op op = Constraint::Op::kEq;
};

bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == ':' || c == '/' || c == '-';
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

Status ErrorAt(size_t offset, std::string_view what) {
  return InvalidArgument("constraint: at " + std::to_string(offset) + ": " + std::string(what));
}

// What a token is, for "got ..." in messages.
std::string Describe(const Token& t) {
  switch (t.kind) {
    case Token::Kind::kEnd: return "the end";
    case Token::Kind::kString: return "the string " + Quoted(t.text);
    default: return Quoted(t.text);
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  StatusOr<std::vector<Token>> Run() {
    std::vector<Token> out;
    while (true) {
      while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
      ASSIGN_OR_RETURN(Token t, Next());
      bool end = t.kind == Token::Kind::kEnd;
      out.push_back(std::move(t));
      if (end) return out;
    }
  }

 private:
  Token Make(Token::Kind kind, size_t length) {
    Token t{kind, pos_, std::string(text_.substr(pos_, length))};
    pos_ += length;
    return t;
  }

  Token MakeOp(Constraint::Op op, size_t length) {
    Token t = Make(Token::Kind::kOp, length);
    t.op = op;
    return t;
  }

  bool Peek2(char a, char b) const {
    return pos_ + 1 < text_.size() && text_[pos_] == a && text_[pos_ + 1] == b;
  }

  StatusOr<Token> Next() {
    using K = Token::Kind;
    using Op = Constraint::Op;
    if (pos_ >= text_.size()) return Token{K::kEnd, pos_, ""};
    char c = text_[pos_];
    switch (c) {
      case '(': return Make(K::kLParen, 1);
      case ')': return Make(K::kRParen, 1);
      case '[': return Make(K::kLBracket, 1);
      case ']': return Make(K::kRBracket, 1);
      case ',': return Make(K::kComma, 1);
      case '"': return String();
      case '=':
        if (Peek2('=', '=')) return MakeOp(Op::kEq, 2);
        return ErrorAt(pos_, "expected '==' (a single '=' is not an operator)");
      case '!': return Peek2('!', '=') ? MakeOp(Op::kNe, 2) : Make(K::kNot, 1);
      case '<': return Peek2('<', '=') ? MakeOp(Op::kLe, 2) : MakeOp(Op::kLt, 1);
      case '>': return Peek2('>', '=') ? MakeOp(Op::kGe, 2) : MakeOp(Op::kGt, 1);
      case '&':
        if (Peek2('&', '&')) return Make(K::kAnd, 2);
        return ErrorAt(pos_, "expected '&&'");
      case '|':
        if (Peek2('|', '|')) return Make(K::kOr, 2);
        return ErrorAt(pos_, "expected '||'");
      default: break;
    }
    if (!IsWordChar(c)) {
      return ErrorAt(pos_, "unexpected character " + Quoted(text_.substr(pos_, 1)) +
                               "; expected a name, a value, an operator, '(', ')', '[', ']' or ','");
    }
    size_t end = pos_;
    while (end < text_.size() && IsWordChar(text_[end])) ++end;
    Token t = Make(K::kWord, end - pos_);
    if (t.text == "and") t.kind = K::kAnd;
    if (t.text == "or") t.kind = K::kOr;
    if (t.text == "not") t.kind = K::kNot;
    if (t.text == "in") t.kind = K::kIn;
    return t;
  }

  // "..." with \" and \\ escapes.
  StatusOr<Token> String() {
    Token t{Token::Kind::kString, pos_, ""};
    size_t k = pos_ + 1;
    while (true) {
      if (k >= text_.size()) return ErrorAt(t.offset, "a string that is not closed (expected '\"')");
      char c = text_[k];
      if (c == '"') break;
      if (c == '\\') {
        if (k + 1 >= text_.size() || (text_[k + 1] != '"' && text_[k + 1] != '\\')) {
          return ErrorAt(k, "expected \\\" or \\\\ (the only escapes in a string)");
        }
        c = text_[++k];
      }
      t.text.push_back(c);
      ++k;
    }
    pos_ = k + 1;
    return t;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

// The recursive-descent parser over the tokens; builds Constraint::nodes_ bottom up.
class ConstraintParser {
 public:
  using K = Token::Kind;
  using Node = Constraint::Node;

  ConstraintParser(std::vector<Token> tokens, const ConstraintLimits& limits)
      : tokens_(std::move(tokens)), limits_(limits) {}

  StatusOr<std::vector<Node>> Run() {
    ASSIGN_OR_RETURN(size_t root, ParseOr(0));
    (void)root;  // the root is the last node
    if (At().kind != K::kEnd) {
      return ErrorAt(At().offset, "expected 'and', 'or', '&&', '||' or the end, got " + Describe(At()));
    }
    return std::move(nodes_);
  }

 private:
  const Token& At() const { return tokens_[pos_]; }
  const Token& Take() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }

  size_t Add(Node n) {
    nodes_.push_back(std::move(n));
    return nodes_.size() - 1;
  }

  // or := and (("||" | "or") and)*, and the same one level down.
  StatusOr<size_t> ParseOr(size_t depth) { return ParseList(depth, K::kOr, Node::Kind::kOr); }
  StatusOr<size_t> ParseAnd(size_t depth) { return ParseList(depth, K::kAnd, Node::Kind::kAnd); }

  StatusOr<size_t> ParseList(size_t depth, K separator, Node::Kind kind) {
    std::vector<size_t> children;
    while (true) {
      StatusOr<size_t> child = kind == Node::Kind::kOr ? ParseAnd(depth) : ParseUnary(depth);
      if (!child.ok()) return child.status();
      children.push_back(*child);
      if (At().kind != separator) break;
      Take();
    }
    if (children.size() == 1) return children[0];
    Node n;
    n.kind = kind;
    n.children = std::move(children);
    return Add(std::move(n));
  }

  // unary := ("!" | "not") unary | "(" expr ")" | test
  StatusOr<size_t> ParseUnary(size_t depth) {
    const Token& t = At();
    if (t.kind == K::kNot || t.kind == K::kLParen) {
      if (depth + 1 > limits_.max_depth) {
        return ErrorAt(t.offset, "nested deeper than " + std::to_string(limits_.max_depth) + " levels");
      }
    }
    if (t.kind == K::kNot) {
      Take();
      ASSIGN_OR_RETURN(size_t child, ParseUnary(depth + 1));
      Node n;
      n.kind = Node::Kind::kNot;
      n.children = {child};
      return Add(std::move(n));
    }
    if (t.kind == K::kLParen) {
      size_t open = Take().offset;
      ASSIGN_OR_RETURN(size_t inner, ParseOr(depth + 1));
      if (At().kind != K::kRParen) {
        return ErrorAt(At().offset, "expected ')' to close the '(' at " + std::to_string(open) + ", got " +
                                        Describe(At()));
      }
      Take();
      return inner;
    }
    return ParseTest();
  }

  // test := NAME op value | NAME in set-or-range | NAME
  StatusOr<size_t> ParseTest() {
    const Token& t = At();
    if (t.kind != K::kWord || !IsValidPropertyName(t.text)) {
      std::string got = t.kind == K::kWord ? Quoted(t.text) + " (names are [a-z0-9_.-]{1,64})" : Describe(t);
      return ErrorAt(t.offset, "expected a property name, '(', '!' or 'not', got " + got);
    }
    if (++terms_ > limits_.max_terms) {
      return ErrorAt(t.offset, "more than " + std::to_string(limits_.max_terms) + " tests");
    }
    Node n;
    n.name = Take().text;
    if (At().kind == K::kOp) {
      n.kind = Node::Kind::kCompare;
      n.op = Take().op;
      ASSIGN_OR_RETURN(Constraint::Literal v, ParseValue("after " + std::string(OpText(n.op))));
      n.values.push_back(std::move(v));
    } else if (At().kind == K::kIn) {
      Take();
      RETURN_IF_ERROR(ParseIn(n));
    } else if (At().kind == K::kWord || At().kind == K::kString) {
      return ErrorAt(At().offset, "expected an operator (==, !=, <, <=, >, >=) or 'in' after " + n.name +
                                      ", got " + Describe(At()));
    } else {
      n.kind = Node::Kind::kTruthy;
    }
    return Add(std::move(n));
  }

  StatusOr<Constraint::Literal> ParseValue(std::string_view context) {
    const Token& t = At();
    if (t.kind != K::kWord && t.kind != K::kString) {
      return ErrorAt(t.offset, "expected a value (a word, a number or a \"string\") " + std::string(context) +
                                   ", got " + Describe(t));
    }
    return Constraint::Literal{Take().text, t.kind == K::kString};
  }

  // After `in`: "(" v, ... ")" is a set; "[" or "(" then two values then "]" or ")" a range, except
  // that "(" a, b ")" is a set.
  Status ParseIn(Node& n) {
    const Token& open = At();
    if (open.kind != K::kLParen && open.kind != K::kLBracket) {
      return ErrorAt(open.offset,
                     "expected '(' (a set or a range) or '[' (a range) after 'in', got " + Describe(open));
    }
    size_t open_at = Take().offset;
    bool bracket = open.kind == K::kLBracket;
    while (true) {
      ASSIGN_OR_RETURN(Constraint::Literal v, ParseValue(n.values.empty() ? "after '('" : "after ','"));
      n.values.push_back(std::move(v));
      if (At().kind != K::kComma) break;
      Take();
    }
    const Token& close = At();
    std::string where = " (opened at " + std::to_string(open_at) + ")";
    if (close.kind != K::kRParen && close.kind != K::kRBracket) {
      return ErrorAt(close.offset, "expected ',', ')' or ']'" + where + ", got " + Describe(close));
    }
    bool set = !bracket && close.kind == K::kRParen;
    if (!set && n.values.size() != 2) {
      return ErrorAt(close.offset,
                     "a range has exactly two bounds, got " + std::to_string(n.values.size()) + where);
    }
    n.kind = set ? Node::Kind::kSet : Node::Kind::kRange;
    n.low_inclusive = bracket;
    n.high_inclusive = close.kind == K::kRBracket;
    Take();
    return Status::Ok();
  }

  std::vector<Token> tokens_;
  ConstraintLimits limits_;
  size_t pos_ = 0;
  size_t terms_ = 0;
  std::vector<Node> nodes_;
};

StatusOr<Constraint> Constraint::Parse(std::string_view text, const ConstraintLimits& limits) {
  if (text.size() > limits.max_text_bytes) {
    return ErrorAt(limits.max_text_bytes, "longer than " + std::to_string(limits.max_text_bytes) + " bytes");
  }
  Constraint c;
  c.text_ = std::string(text);
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Lexer(text).Run());
  if (tokens.size() == 1) return c;  // only kEnd: matches every node
  ASSIGN_OR_RETURN(c.nodes_, ConstraintParser(std::move(tokens), limits).Run());
  return c;
}

std::string_view OpText(Constraint::Op op) {
  switch (op) {
    case Constraint::Op::kEq: return "==";
    case Constraint::Op::kNe: return "!=";
    case Constraint::Op::kLt: return "<";
    case Constraint::Op::kLe: return "<=";
    case Constraint::Op::kGt: return ">";
    case Constraint::Op::kGe: return ">=";
  }
  return "?";
}

}  // namespace continuum::fleet
