#include "jinja/parser.h"

#include <cstdlib>
#include <initializer_list>
#include <string>

#include "core/error.h"

namespace hearth::jinja {
namespace {

class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  NodeList program() {
    NodeList body;
    while (cur_ < t_.size()) body.push_back(any());
    return body;
  }

 private:
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxParseDepth) p.error("template nested too deeply");
    }
    ~DepthGuard() { --p.depth_; }
  };

  int line() const {
    if (t_.empty()) return 1;
    return t_[cur_ < t_.size() ? cur_ : t_.size() - 1].line;
  }
  [[noreturn]] void error(const std::string& what) const {
    fail("template syntax error at line {}: {}", line(), what);
  }
  bool is(Tok type, size_t ahead = 0) const { return cur_ + ahead < t_.size() && t_[cur_ + ahead].type == type; }
  bool is_ident(const char* name, size_t ahead = 0) const {
    return is(Tok::Identifier, ahead) && t_[cur_ + ahead].value == name;
  }
  bool is_statement(std::initializer_list<const char*> names) const {
    if (!is(Tok::OpenStatement) || !is(Tok::Identifier, 1)) return false;
    for (const char* n : names)
      if (t_[cur_ + 1].value == n) return true;
    return false;
  }
  const Token& expect(Tok type, const char* what) {
    if (cur_ >= t_.size()) error(std::string("unexpected end of template: expected ") + what);
    const Token& tok = t_[cur_];
    if (tok.type != type) error(std::string("expected ") + what + ", got " + describe(tok));
    ++cur_;
    return tok;
  }
  void expect_ident(const char* name) {
    if (!is_ident(name)) error(std::string("expected '") + name + "'");
    ++cur_;
  }
  static std::string describe(const Token& tok) {
    if (tok.type == Tok::Identifier || tok.type == Tok::Number) return "'" + tok.value + "'";
    if (tok.type == Tok::String) return "a string";
    return tok_name(tok.type);
  }
  NodePtr node(NodeKind kind, int line) const {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = line;
    return n;
  }
  // Parses statements until one of `names` opens; `opener` names the block for the error at end of input.
  void body_until(NodeList& out, std::initializer_list<const char*> names, const char* opener, int opener_line) {
    while (!is_statement(names)) {
      if (cur_ >= t_.size())
        fail("template syntax error at line {}: '{}' block is never closed", opener_line, opener);
      out.push_back(any());
    }
  }
  void end_block(const char* end_name) {
    expect(Tok::OpenStatement, "'{%'");
    expect_ident(end_name);
    expect(Tok::CloseStatement, "'%}'");
  }

  NodePtr any() {
    DepthGuard guard(*this);
    const Token& tok = t_[cur_];
    switch (tok.type) {
      case Tok::Comment: {
        auto n = node(NodeKind::Comment, tok.line);
        n->name = tok.value;
        ++cur_;
        return n;
      }
      case Tok::Text: {
        auto n = node(NodeKind::String, tok.line);
        n->name = tok.value;
        ++cur_;
        return n;
      }
      case Tok::OpenStatement: return statement();
      case Tok::OpenExpression: {
        ++cur_;
        auto e = expression();
        expect(Tok::CloseExpression, "'}}'");
        return e;
      }
      default: error("unexpected " + describe(tok));
    }
  }

  NodePtr statement() {
    expect(Tok::OpenStatement, "'{%'");
    if (!is(Tok::Identifier)) error("expected a statement name after '{%'");
    const std::string name = t_[cur_].value;
    const int at = t_[cur_].line;
    ++cur_;
    if (name == "set") return set_statement(at);
    if (name == "if") {
      auto n = if_statement(at);
      end_block("endif");
      return n;
    }
    if (name == "for") {
      auto n = for_statement(at);
      end_block("endfor");
      return n;
    }
    if (name == "macro") {
      auto n = node(NodeKind::Macro, at);
      auto callee = primary();
      if (callee->kind != NodeKind::Ident) error("expected a name after 'macro'");
      n->name = callee->name;
      n->args = arguments(true);
      expect(Tok::CloseStatement, "'%}'");
      body_until(n->body, {"endmacro"}, "macro", at);
      end_block("endmacro");
      return n;
    }
    if (name == "call") {
      auto n = node(NodeKind::CallBlock, at);
      if (is(Tok::OpenParen)) n->args = arguments(true);
      auto callee = primary();
      if (callee->kind != NodeKind::Ident) error("expected a macro name after 'call'");
      auto call = node(NodeKind::Call, at);
      call->a = std::move(callee);
      call->args = arguments(false);
      n->a = std::move(call);
      expect(Tok::CloseStatement, "'%}'");
      body_until(n->body, {"endcall"}, "call", at);
      end_block("endcall");
      return n;
    }
    if (name == "break" || name == "continue") {
      expect(Tok::CloseStatement, "'%}'");
      return node(name == "break" ? NodeKind::Break : NodeKind::Continue, at);
    }
    if (name == "filter") {
      auto n = node(NodeKind::FilterBlock, at);
      auto f = primary();
      if (f->kind == NodeKind::Ident && is(Tok::OpenParen)) f = call_expression(std::move(f));
      n->a = std::move(f);
      expect(Tok::CloseStatement, "'%}'");
      body_until(n->body, {"endfilter"}, "filter", at);
      end_block("endfilter");
      return n;
    }
    fail(ErrorKind::kUnsupported, "template syntax error at line {}: unsupported statement '{}'", at, name);
  }

  NodePtr set_statement(int at) {
    auto n = node(NodeKind::Set, at);
    n->a = expression_sequence(false);
    if (is(Tok::Equals)) {
      ++cur_;
      n->b = expression_sequence(false);
    } else {
      expect(Tok::CloseStatement, "'%}' or '='");
      body_until(n->body, {"endset"}, "set", at);
      expect(Tok::OpenStatement, "'{%'");
      expect_ident("endset");
    }
    expect(Tok::CloseStatement, "'%}'");
    return n;
  }

  NodePtr if_statement(int at) {
    DepthGuard guard(*this);
    auto n = node(NodeKind::If, at);
    n->a = expression();
    expect(Tok::CloseStatement, "'%}'");
    body_until(n->body, {"elif", "else", "endif"}, "if", at);
    if (is_statement({"elif"})) {
      const int elif_line = t_[cur_].line;
      cur_ += 2;
      n->alt.push_back(if_statement(elif_line));
    } else if (is_statement({"else"})) {
      cur_ += 2;
      expect(Tok::CloseStatement, "'%}'");
      body_until(n->alt, {"endif"}, "if", at);
    }
    return n;
  }

  NodePtr for_statement(int at) {
    auto n = node(NodeKind::For, at);
    n->a = expression_sequence(true);
    if (n->a->kind != NodeKind::Ident && n->a->kind != NodeKind::TupleLit)
      error("expected a name or a tuple of names as the loop variable");
    if (!is_ident("in")) error("expected 'in' after the loop variable");
    ++cur_;
    auto iterable = expression();
    if (iterable->kind == NodeKind::Select) {  // for x in xs if cond
      n->b = std::move(iterable->a);
      n->c = std::move(iterable->b);
    } else {
      n->b = std::move(iterable);
    }
    expect(Tok::CloseStatement, "'%}'");
    body_until(n->body, {"endfor", "else"}, "for", at);
    if (is_statement({"else"})) {
      cur_ += 2;
      expect(Tok::CloseStatement, "'%}'");
      body_until(n->alt, {"endfor"}, "for", at);
    }
    return n;
  }

  NodePtr expression_sequence(bool primary_only) {
    const int at = line();
    NodePtr first = primary_only ? primary() : expression();
    if (!is(Tok::Comma)) return first;
    auto tuple = node(NodeKind::TupleLit, at);
    tuple->args.push_back(std::move(first));
    while (is(Tok::Comma)) {
      ++cur_;
      tuple->args.push_back(primary_only ? primary() : expression());
    }
    return tuple;
  }

  NodePtr expression() {
    DepthGuard guard(*this);
    const int at = line();
    auto a = logical_or();
    if (!is_ident("if")) return a;
    ++cur_;
    auto test = logical_or();
    if (is_ident("else")) {
      ++cur_;
      auto n = node(NodeKind::Ternary, at);
      n->a = std::move(test);
      n->b = std::move(a);
      n->c = expression();
      return n;
    }
    auto n = node(NodeKind::Select, at);
    n->a = std::move(a);
    n->b = std::move(test);
    return n;
  }

  NodePtr binary(std::string op, NodePtr left, NodePtr right, int at) {
    auto n = node(NodeKind::Binary, at);
    n->name = std::move(op);
    n->a = std::move(left);
    n->b = std::move(right);
    return n;
  }

  NodePtr logical_or() {
    auto left = logical_and();
    while (is_ident("or")) {
      const int at = line();
      ++cur_;
      left = binary("or", std::move(left), logical_and(), at);
    }
    return left;
  }

  NodePtr logical_and() {
    auto left = logical_not();
    while (is_ident("and")) {
      const int at = line();
      ++cur_;
      left = binary("and", std::move(left), logical_not(), at);
    }
    return left;
  }

  NodePtr logical_not() {
    if (!is_ident("not")) return comparison();
    DepthGuard guard(*this);
    auto n = node(NodeKind::Unary, line());
    ++cur_;
    n->name = "not";
    n->a = logical_not();
    return n;
  }

  NodePtr comparison() {
    auto left = additive();
    while (true) {
      const int at = line();
      std::string op;
      if (is_ident("not") && is_ident("in", 1)) {
        op = "not in";
        cur_ += 2;
      } else if (is_ident("in")) {
        op = "in";
        ++cur_;
      } else if (is(Tok::Comparison)) {
        op = t_[cur_++].value;
      } else {
        break;
      }
      left = binary(op, std::move(left), additive(), at);
    }
    return left;
  }

  NodePtr additive() {
    auto left = multiplicative();
    while (is(Tok::Additive)) {
      const int at = line();
      std::string op = t_[cur_++].value;
      left = binary(op, std::move(left), multiplicative(), at);
    }
    return left;
  }

  NodePtr multiplicative() {
    auto left = power();
    while (is(Tok::Multiplicative)) {
      const int at = line();
      std::string op = t_[cur_++].value;
      left = binary(op, std::move(left), power(), at);
    }
    return left;
  }

  NodePtr power() {
    auto left = test();
    while (is(Tok::Power)) {
      const int at = line();
      ++cur_;
      left = binary("**", std::move(left), test(), at);
    }
    return left;
  }

  NodePtr test() {
    auto operand = filter();
    while (is_ident("is")) {
      auto n = node(NodeKind::Test, line());
      ++cur_;
      if (is_ident("not")) {
        n->flag = true;
        ++cur_;
      }
      auto name = primary();
      if (name->kind != NodeKind::Ident) error("expected a test name after 'is'");
      n->name = name->name;
      n->a = std::move(operand);
      operand = std::move(n);
    }
    return operand;
  }

  NodePtr filter() {
    auto operand = unary_sign();
    while (is(Tok::Pipe)) {
      auto n = node(NodeKind::Filter, line());
      ++cur_;
      auto f = primary();
      if (f->kind != NodeKind::Ident) error("expected a filter name after '|'");
      if (is(Tok::OpenParen)) f = call_expression(std::move(f));
      n->a = std::move(operand);
      n->b = std::move(f);
      operand = std::move(n);
    }
    return operand;
  }

  NodePtr unary_sign() {
    if ((is(Tok::Unary) || is(Tok::Additive)) && (t_[cur_].value == "-" || t_[cur_].value == "+")) {
      DepthGuard guard(*this);
      auto n = node(NodeKind::Unary, line());
      n->name = t_[cur_++].value;
      n->a = unary_sign();
      return n;
    }
    auto member = member_chain(primary());
    if (is(Tok::OpenParen)) return call_expression(std::move(member));
    return member;
  }

  NodePtr call_expression(NodePtr callee) {
    DepthGuard guard(*this);
    auto n = node(NodeKind::Call, line());
    n->a = std::move(callee);
    n->args = arguments(false);
    NodePtr expr = member_chain(std::move(n));
    if (is(Tok::OpenParen)) return call_expression(std::move(expr));
    return expr;
  }

  // (a, b=1, *xs, **kw); `parameters` for macro/caller declarations, where only names and defaults are allowed.
  NodeList arguments(bool parameters) {
    expect(Tok::OpenParen, "'('");
    NodeList args;
    bool saw_keyword = false, saw_spread = false;
    std::vector<std::string> names;
    while (!is(Tok::CloseParen)) {
      if (cur_ >= t_.size()) error("unexpected end of template in an argument list");
      const int at = line();
      const bool kw_spread = is(Tok::Power);
      const bool spread = is(Tok::Multiplicative) && t_[cur_].value == "*";
      if (parameters && (kw_spread || spread)) error("argument unpacking is not allowed in parameter declarations");
      if (kw_spread) {
        ++cur_;
        auto n = node(NodeKind::KwSpread, at);
        n->a = expression();
        args.push_back(std::move(n));
        if (is(Tok::Comma)) ++cur_;
        if (!is(Tok::CloseParen)) error("'**' must be applied to the final argument");
        break;
      }
      NodePtr arg;
      if (spread) {
        if (saw_spread) error("only one '*' argument unpacking is allowed");
        saw_spread = true;
        ++cur_;
        arg = node(NodeKind::Spread, at);
        arg->a = expression();
      } else {
        arg = expression();
        if (is(Tok::Equals)) {
          ++cur_;
          if (arg->kind != NodeKind::Ident) error("expected a name before '=' in an argument list");
          auto kw = node(NodeKind::KwArg, at);
          kw->name = arg->name;
          kw->a = expression();
          arg = std::move(kw);
        }
        if (parameters) {
          if (arg->kind != NodeKind::Ident && arg->kind != NodeKind::KwArg) error("expected a parameter name");
          for (const auto& prev : names)
            if (prev == arg->name) error("duplicate parameter name '" + arg->name + "'");
          names.push_back(arg->name);
        }
        if (arg->kind == NodeKind::KwArg) saw_keyword = true;
        else if (saw_keyword)
          error(parameters ? "non-default parameter follows a default one" : "positional argument follows keyword argument");
        else if (saw_spread) error("positional argument follows '*' unpacking");
      }
      args.push_back(std::move(arg));
      if (is(Tok::Comma)) ++cur_;
    }
    ++cur_;
    return args;
  }

  NodePtr member_chain(NodePtr object) {
    while (is(Tok::Dot) || is(Tok::OpenSquare)) {
      DepthGuard guard(*this);
      auto n = node(NodeKind::Member, line());
      const bool computed = is(Tok::OpenSquare);
      ++cur_;
      if (computed) {
        n->b = subscript();
        expect(Tok::CloseSquare, "']'");
      } else {
        n->b = primary();
        if (n->b->kind != NodeKind::Ident && n->b->kind != NodeKind::Int)
          error("expected a name or an integer after '.'");
      }
      n->flag = computed;
      n->a = std::move(object);
      object = std::move(n);
    }
    return object;
  }

  // What is inside [...]: an index expression or a slice start:stop:step.
  NodePtr subscript() {
    const int at = line();
    NodePtr parts[3];
    size_t count = 0;
    bool slice = false;
    while (!is(Tok::CloseSquare)) {
      if (cur_ >= t_.size()) error("unexpected end of template in '[...]'");
      if (count >= 3) error("a slice takes at most 3 parts");
      if (is(Tok::Colon)) {
        ++count;
        ++cur_;
        slice = true;
      } else {
        parts[count++] = expression();
        if (is(Tok::Colon)) {
          ++cur_;
          slice = true;
        }
      }
    }
    if (count == 0) error("expected an index or a slice inside '[]'");
    if (!slice) return std::move(parts[0]);
    auto n = node(NodeKind::Slice, at);
    n->a = std::move(parts[0]);
    n->b = std::move(parts[1]);
    n->c = std::move(parts[2]);
    return n;
  }

  NodePtr primary() {
    if (cur_ >= t_.size()) error("unexpected end of template: expected an expression");
    DepthGuard guard(*this);
    const Token& tok = t_[cur_++];
    switch (tok.type) {
      case Tok::Number: {
        const bool is_float = tok.value.find('.') != std::string::npos;
        auto n = node(is_float ? NodeKind::Float : NodeKind::Int, tok.line);
        n->num = std::strtod(tok.value.c_str(), nullptr);
        return n;
      }
      case Tok::String: {
        auto n = node(NodeKind::String, tok.line);
        n->name = tok.value;
        while (is(Tok::String)) n->name += t_[cur_++].value;  // adjacent literals concatenate
        return n;
      }
      case Tok::Identifier: {
        auto n = node(NodeKind::Ident, tok.line);
        n->name = tok.value;
        return n;
      }
      case Tok::OpenParen: {
        auto e = expression_sequence(false);
        expect(Tok::CloseParen, "')'");
        return e;
      }
      case Tok::OpenSquare: {
        auto n = node(NodeKind::ArrayLit, tok.line);
        while (!is(Tok::CloseSquare)) {
          if (cur_ >= t_.size()) error("unexpected end of template in a list literal");
          n->args.push_back(expression());
          if (is(Tok::Comma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      case Tok::OpenCurly: {
        auto n = node(NodeKind::ObjectLit, tok.line);
        while (!is(Tok::CloseCurly)) {
          if (cur_ >= t_.size()) error("unexpected end of template in a dict literal");
          n->args.push_back(expression());
          expect(Tok::Colon, "':' in a dict literal");
          n->args.push_back(expression());
          if (is(Tok::Comma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      default: --cur_; error("unexpected " + describe(tok));
    }
  }

  const std::vector<Token>& t_;
  size_t cur_ = 0;
  int depth_ = 0;
};

}  // namespace

NodeList parse(const std::vector<Token>& tokens) { return Parser(tokens).program(); }

}  // namespace hearth::jinja
