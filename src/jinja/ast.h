// The syntax tree of a template: one node type with a kind tag, since the evaluator switches on kinds anyway.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace hearth::jinja {

struct Node;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

enum class NodeKind {
  // statements
  If,          // a = test, body, alt (an elif is an If alone in alt)
  For,         // a = loop target, b = iterable, c = select test (for ... if c) or null, body, alt (else)
  Break,
  Continue,
  Set,         // a = target, b = value (null for a block set: body)
  Macro,       // name, args = parameters, body
  CallBlock,   // a = call expression, args = caller parameters, body
  FilterBlock, // a = filter (identifier or call), body
  Comment,
  // expressions
  Int,         // num
  Float,       // num
  String,      // name = the text (also template text outside tags)
  ArrayLit,    // args
  TupleLit,    // args
  ObjectLit,   // args = key, value, key, value ...
  Ident,       // name
  Member,      // a = object, b = property, flag = computed ([...])
  Call,        // a = callee, args
  Unary,       // name = operator, a
  Binary,      // name = operator, a, b
  Filter,      // a = operand, b = filter (identifier or call)
  Test,        // a = operand, name = test, flag = negated
  Select,      // a = value, b = condition (`a if b` without else)
  Ternary,     // a = condition, b = if true, c = if false
  Slice,       // a, b, c = start, stop, step (each may be null)
  KwArg,       // name = key, a = value
  Spread,      // a  (*args)
  KwSpread,    // a  (**kwargs)
};

struct Node {
  NodeKind kind;
  int line = 0;
  std::string name;
  double num = 0;
  bool flag = false;
  NodePtr a, b, c;
  NodeList args, body, alt;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();
};

// Iterative, so that a hostile template's long left-deep chain (a+a+a+...) cannot exhaust the stack when freed.
inline Node::~Node() {
  std::vector<NodePtr> pending;
  auto take = [&pending](Node& n) {
    for (NodePtr* p : {&n.a, &n.b, &n.c})
      if (*p) pending.push_back(std::move(*p));
    for (NodeList* list : {&n.args, &n.body, &n.alt}) {
      for (auto& child : *list)
        if (child) pending.push_back(std::move(child));
      list->clear();
    }
  };
  take(*this);
  while (!pending.empty()) {
    NodePtr n = std::move(pending.back());
    pending.pop_back();
    take(*n);
  }
}

}  // namespace hearth::jinja
