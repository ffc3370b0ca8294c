#include "jinja/interpreter.h"

#include <fmt/format.h>

#include <cmath>

#include "jinja/js_string.h"

namespace hearth::jinja {

namespace {

// break/continue unwind to the enclosing loop; they are not errors.
struct LoopSignal {
  bool is_break;
};

const char* node_name(NodeKind k) {
  switch (k) {
    case NodeKind::Slice: return "slice";
    case NodeKind::KwArg: return "keyword argument";
    case NodeKind::Spread: return "'*' unpacking";
    case NodeKind::KwSpread: return "'**' unpacking";
    default: return "expression";
  }
}

}  // namespace

void Env::set(const std::string& name, Value v) {
  for (auto& [k, val] : vars_) {
    if (k == name) {
      val = std::move(v);
      return;
    }
  }
  vars_.emplace_back(name, std::move(v));
}

const Value* Env::own(const std::string& name) const {
  for (const auto& [k, v] : vars_)
    if (k == name) return &v;
  return nullptr;
}

const Value* Env::lookup(const std::string& name) const {
  for (const Env* e = this; e != nullptr; e = e->parent_.get())
    if (const Value* v = e->own(name)) return v;
  return nullptr;
}

Interpreter::~Interpreter() {
  for (auto& weak : namespaces_)
    if (auto ns = weak.lock()) ns->entries.clear();
}

Value Interpreter::make_namespace(Object o) {
  Value v = Value::namespace_(std::move(o));
  namespaces_.push_back(v.obj);
  return v;
}

void Interpreter::check_string(size_t n) const {
  if (n > kMaxStringBytes)
    fail(ErrorKind::kResourceExhausted, "rendered text too long (over {} bytes)", kMaxStringBytes);
}

std::string Interpreter::render(const NodeList& program, const std::shared_ptr<Env>& globals) {
  try {
    return block(program, globals);
  } catch (const LoopSignal& s) {
    throw RenderError(fmt::format("template error: '{}' outside a loop", s.is_break ? "break" : "continue"));
  }
}

std::string Interpreter::block(const NodeList& stmts, const std::shared_ptr<Env>& env) {
  std::string out;
  for (const auto& stmt : stmts) {
    const Value v = eval(*stmt, env);
    if (v.is_null() || v.is_undefined()) continue;
    if (v.is_string()) out += v.str;
    else out += display(v);
    check_string(out.size());
  }
  return out;
}

void Interpreter::tick(int line) {
  if (++steps_ > kMaxSteps)
    throw RenderError(
        fmt::format("template error at line {}: too many steps (over {}; runaway loop?)", line, kMaxSteps),
        ErrorKind::kResourceExhausted);
}

Value Interpreter::eval(const Node& n, const std::shared_ptr<Env>& env) {
  tick(n.line);
  struct Depth {
    int& d;
    explicit Depth(int& depth) : d(depth) { ++d; }
    ~Depth() { --d; }
  } depth(depth_);
  if (depth_ > kMaxEvalDepth)
    throw RenderError(
        fmt::format("template error at line {}: recursion too deep (over {} levels)", n.line, kMaxEvalDepth),
        ErrorKind::kResourceExhausted);
  try {
    return eval_node(n, env);
  } catch (const RenderError&) {
    throw;
  } catch (const Error& e) {
    throw RenderError(fmt::format("template error at line {}: {}", n.line, e.what()), e.kind());
  }
}

Value Interpreter::eval_node(const Node& n, const std::shared_ptr<Env>& env) {
  switch (n.kind) {
    case NodeKind::String: return Value::string(n.name);
    case NodeKind::Int: return Value::integer(n.num);
    case NodeKind::Float: return Value::floating(n.num);
    case NodeKind::Comment: return Value::null();
    case NodeKind::ArrayLit:
    case NodeKind::TupleLit: {
      Array items;
      for (const auto& e : n.args) items.push_back(eval(*e, env));
      return Value::array(std::move(items), n.kind == NodeKind::TupleLit);
    }
    case NodeKind::ObjectLit: {
      Object o;
      for (size_t i = 0; i + 1 < n.args.size(); i += 2) {
        const Value key = eval(*n.args[i], env);
        if (!key.is_string()) fail("dict keys must be strings, got {}", kind_name(key.kind));
        o.set(key.str, eval(*n.args[i + 1], env));
      }
      return Value::object(std::move(o));
    }
    case NodeKind::Ident: {
      // Every scope of the reference has its own `namespace`, so only the innermost scope can shadow it.
      if (n.name == "namespace") {
        if (const Value* v = env->own(n.name)) return *v;
        return Value::function([](Interpreter& in, std::vector<Value>& args, KwArgs& kwargs, const std::shared_ptr<Env>&) {
          if (args.size() > 1) fail("namespace() takes at most 1 positional argument, got {}", args.size());
          Object o;
          if (args.size() == 1) {
            const Value& src = args[0];
            if (src.is_object()) {
              for (const auto& [k, v] : src.obj->entries) o.set(k, v);
            } else if (src.is_array()) {
              for (const Value& pair : *src.arr) {
                if (!pair.is_array() || pair.arr->size() != 2 || !(*pair.arr)[0].is_string())
                  fail("namespace() expects a mapping or a list of [key, value] pairs");
                o.set((*pair.arr)[0].str, (*pair.arr)[1]);
              }
            } else {
              fail("namespace(): '{}' object is not iterable", kind_name(src.kind));
            }
          }
          for (const auto& [k, v] : kwargs.entries) o.set(k, v);
          return in.make_namespace(std::move(o));
        });
      }
      const Value* v = env->lookup(n.name);
      return v ? *v : Value();
    }
    case NodeKind::Member: return eval_member(n, env);
    case NodeKind::Call: return eval_call(n, env);
    case NodeKind::Unary: return eval_unary(n, env);
    case NodeKind::Binary: return eval_binary(n, env);
    case NodeKind::Filter: return apply_filter(eval(*n.a, env), *n.b, env);
    case NodeKind::FilterBlock: return apply_filter(Value::string(block(n.body, env)), *n.a, env);
    case NodeKind::Test: return eval_test(n, env);
    case NodeKind::Select: return eval(*n.b, env).truthy() ? eval(*n.a, env) : Value();
    case NodeKind::Ternary: return eval(*n.a, env).truthy() ? eval(*n.b, env) : eval(*n.c, env);
    case NodeKind::If: return Value::string(block(eval(*n.a, env).truthy() ? n.body : n.alt, env));
    case NodeKind::For: return eval_for(n, env);
    case NodeKind::Set: return eval_set(n, env);
    case NodeKind::Macro: return eval_macro(n, env);
    case NodeKind::CallBlock: return eval_call_block(n, env);
    case NodeKind::Break: throw LoopSignal{true};
    case NodeKind::Continue: throw LoopSignal{false};
    default: fail("unexpected {} here", node_name(n.kind));
  }
}

Value Interpreter::eval_unary(const Node& n, const std::shared_ptr<Env>& env) {
  const Value v = eval(*n.a, env);
  if (n.name == "not") return Value::boolean(!v.truthy());
  if (v.is_number() || v.kind == Value::Kind::Bool) {
    const double r = (n.name == "-" ? -1 : 1) * v.num;
    return v.kind == Value::Kind::Float ? Value::floating(r) : Value::integer(r);
  }
  fail("unary '{}' is not defined for {}", n.name, kind_name(v.kind));
}

Value Interpreter::eval_binary(const Node& n, const std::shared_ptr<Env>& env) {
  const std::string& op = n.name;
  const Value left = eval(*n.a, env);
  if (op == "and") return left.truthy() ? eval(*n.b, env) : left;
  if (op == "or") return left.truthy() ? left : eval(*n.b, env);
  const Value right = eval(*n.b, env);
  if (op == "==") return Value::boolean(loose_equal(left, right));
  if (op == "!=") return Value::boolean(!loose_equal(left, right));
  const bool membership = op == "in" || op == "not in";
  if (left.is_undefined() || right.is_undefined()) {
    if (right.is_undefined() && membership) return Value::boolean(op == "not in");
    fail("cannot apply '{}' to an undefined value", op);
  }
  if (left.is_null() || right.is_null()) fail("cannot apply '{}' to none", op);
  if (op == "~") {
    std::string s = raw_string(left) + raw_string(right);
    check_string(s.size());
    return Value::string(std::move(s));
  }
  const bool numeric_l = left.is_number() || left.kind == Value::Kind::Bool;
  const bool numeric_r = right.is_number() || right.kind == Value::Kind::Bool;
  if (op == "**" && numeric_l && numeric_r) {
    const double a = left.num, b = right.num;
    if (a == 0 && b < 0) fail("0.0 cannot be raised to a negative power");
    const double r = std::pow(a, b);
    if (!std::isfinite(r)) fail("exponentiation result is not a finite real number");
    const bool is_float = left.kind == Value::Kind::Float || right.kind == Value::Kind::Float || b < 0;
    return is_float ? Value::floating(r) : Value::integer(r);
  }
  if (left.is_number() && right.is_number()) {
    const double a = left.num, b = right.num;
    const bool is_float = left.kind == Value::Kind::Float || right.kind == Value::Kind::Float;
    auto num = [is_float](double r) { return is_float ? Value::floating(r) : Value::integer(r); };
    if (op == "+") return num(a + b);
    if (op == "-") return num(a - b);
    if (op == "*") return num(a * b);
    if (op == "/") return Value::floating(a / b);
    if (op == "//") return num(std::floor(a / b));
    if (op == "%") return num(std::fmod(a, b));
    if (op == "<") return Value::boolean(a < b);
    if (op == ">") return Value::boolean(a > b);
    if (op == ">=") return Value::boolean(a >= b);
    if (op == "<=") return Value::boolean(a <= b);
  } else if (left.is_array() && right.is_array()) {
    if (op == "+") {
      if (left.arr->size() + right.arr->size() > kMaxArrayItems)
        fail(ErrorKind::kResourceExhausted, "list too long (over {} items)", kMaxArrayItems);
      Array items = *left.arr;
      items.insert(items.end(), right.arr->begin(), right.arr->end());
      return Value::array(std::move(items));
    }
  } else if (right.is_array()) {
    if (membership) {
      bool found = false;
      for (const Value& item : *right.arr)
        if (strict_equal(item, left)) found = true;
      return Value::boolean(found == (op == "in"));
    }
  }
  if ((left.is_string() || right.is_string()) && op == "+") {
    std::string s = raw_string(left) + raw_string(right);
    check_string(s.size());
    return Value::string(std::move(s));
  }
  if (left.is_string() && right.is_string() && membership)
    return Value::boolean((right.str.find(left.str) != std::string::npos) == (op == "in"));
  if (left.is_string() && right.is_object() && membership)
    return Value::boolean((right.obj->find(left.str) != nullptr) == (op == "in"));
  fail("unsupported operator '{}' between {} and {}", op, kind_name(left.kind), kind_name(right.kind));
}

Value Interpreter::eval_member(const Node& n, const std::shared_ptr<Env>& env) {
  const Value object = eval(*n.a, env);
  Value property;
  if (n.flag) {
    if (n.b->kind == NodeKind::Slice) return eval_slice(object, *n.b, env);
    property = eval(*n.b, env);
  } else if (n.b->kind == NodeKind::Int) {
    property = Value::integer(n.b->num);
  } else {
    property = Value::string(n.b->name);
  }
  if (object.is_attribute_container()) {
    if (!property.is_string()) fail("cannot access a mapping with {}", kind_name(property.kind));
    if (const Value* v = object.obj->find(property.str)) return *v;
    return object.is_object() ? builtin_member(object, property.str) : Value();
  }
  if (object.is_array() || object.is_string()) {
    if (property.kind == Value::Kind::Int) {
      if (object.is_string()) {
        std::string ch;
        return utf16_at(object.str, property.num, &ch) ? Value::string(ch) : Value();
      }
      double k = std::trunc(property.num);
      const double len = static_cast<double>(object.arr->size());
      if (k < 0) k += len;
      if (k < 0 || k >= len) return Value();
      return (*object.arr)[static_cast<size_t>(k)];
    }
    if (property.is_string()) return builtin_member(object, property.str);
    fail("cannot index {} with {}", kind_name(object.kind), kind_name(property.kind));
  }
  if (!property.is_string()) fail("cannot access {} with {}", kind_name(object.kind), kind_name(property.kind));
  return Value();
}

Value Interpreter::eval_slice(const Value& object, const Node& n, const std::shared_ptr<Env>& env) {
  if (!object.is_array() && !object.is_string()) fail("only lists and strings can be sliced, not {}", kind_name(object.kind));
  Value parts[3];
  const Node* nodes[3] = {n.a.get(), n.b.get(), n.c.get()};
  for (int i = 0; i < 3; ++i) {
    if (nodes[i]) parts[i] = eval(*nodes[i], env);
    if (!parts[i].is_undefined() && parts[i].kind != Value::Kind::Int) fail("slice indices must be integers");
  }
  std::vector<std::string> chars;  // a string slices by code points (Array.from)
  if (object.is_string()) {
    for (size_t i = 0; i < object.str.size();) {
      int len;
      decode_at(object.str, i, &len);
      chars.push_back(object.str.substr(i, static_cast<size_t>(len)));
      i += static_cast<size_t>(len);
    }
  }
  const double size = object.is_string() ? static_cast<double>(chars.size()) : static_cast<double>(object.arr->size());
  const double step = parts[2].is_undefined() ? 1 : parts[2].num;
  double start, stop;
  if (step >= 0) {
    start = parts[0].is_undefined() ? 0 : parts[0].num;
    stop = parts[1].is_undefined() ? size : parts[1].num;
    start = start < 0 ? std::max(size + start, 0.0) : std::min(start, size);
    stop = stop < 0 ? std::max(size + stop, 0.0) : std::min(stop, size);
  } else {
    start = parts[0].is_undefined() ? size - 1 : parts[0].num;
    stop = parts[1].is_undefined() ? -1 : parts[1].num;
    start = start < 0 ? std::max(size + start, -1.0) : std::min(start, size - 1);
    stop = stop < -1 ? std::max(size + stop, -1.0) : std::min(stop, size - 1);
  }
  Array items;
  std::string text;
  const double dir = step > 0 ? 1 : step < 0 ? -1 : 0;
  for (double i = start; dir * i < dir * stop; i += step) {
    const auto k = static_cast<size_t>(i);
    if (object.is_string()) text += chars[k];
    else items.push_back((*object.arr)[k]);
  }
  return object.is_string() ? Value::string(std::move(text)) : Value::array(std::move(items));
}

void Interpreter::arguments(const NodeList& args, const std::shared_ptr<Env>& env, std::vector<Value>* positional,
                            KwArgs* kwargs) {
  for (const auto& a : args) {
    if (a->kind == NodeKind::Spread) {
      const Value v = eval(*a->a, env);
      if (!v.is_array()) fail("cannot unpack {} with '*'", kind_name(v.kind));
      positional->insert(positional->end(), v.arr->begin(), v.arr->end());
    } else if (a->kind != NodeKind::KwArg && a->kind != NodeKind::KwSpread) {
      positional->push_back(eval(*a, env));
    }
  }
  auto add = [kwargs](const std::string& k, Value v) {
    if (kwargs->find(k)) fail("got multiple values for keyword argument '{}'", k);
    kwargs->entries.emplace_back(k, std::move(v));
  };
  for (const auto& a : args) {
    if (a->kind == NodeKind::KwArg) {
      add(a->name, eval(*a->a, env));
    } else if (a->kind == NodeKind::KwSpread) {
      const Value v = eval(*a->a, env);
      if (!v.is_object()) fail("argument after '**' must be a mapping, not {}", kind_name(v.kind));
      for (const auto& [k, val] : v.obj->entries) add(k, val);
    }
  }
}

Value Interpreter::call(const Value& fn, std::vector<Value>& args, KwArgs& kwargs, const std::shared_ptr<Env>& env) {
  if (fn.kind != Value::Kind::Function) fail("cannot call {} (not a function)", kind_name(fn.kind));
  return (*fn.fn)(*this, args, kwargs, env);
}

Value Interpreter::eval_call(const Node& n, const std::shared_ptr<Env>& env) {
  std::vector<Value> args;
  KwArgs kwargs;
  arguments(n.args, env, &args, &kwargs);
  const Value fn = eval(*n.a, env);
  if (fn.kind != Value::Kind::Function) {
    if (n.a->kind == NodeKind::Ident) fail("'{}' is undefined or not callable", n.a->name);
    if (n.a->kind == NodeKind::Member && !n.a->flag && n.a->b->kind == NodeKind::Ident)
      fail(ErrorKind::kUnsupported, "unsupported method '{}' (on a {})", n.a->b->name,
           kind_name(eval(*n.a->a, env).kind));
    fail("cannot call {} (not a function)", kind_name(fn.kind));
  }
  return call(fn, args, kwargs, env);
}

Value Interpreter::eval_test(const Node& n, const std::shared_ptr<Env>& env) {
  const Value operand = eval(*n.a, env);
  const TestFn test = find_test(n.name);
  if (!test) fail(ErrorKind::kUnsupported, "unsupported test '{}'", n.name);
  const bool r = test(operand, Value());
  return Value::boolean(n.flag ? !r : r);
}

namespace {

void bind_target(const Node& target, const Value& v, Env& scope) {
  if (target.kind == NodeKind::Ident) {
    scope.set(target.name, v);
    return;
  }
  if (v.kind != Value::Kind::Array) fail("cannot unpack {}", kind_name(v.kind));
  if (target.args.size() != v.arr->size())
    fail("too {} items to unpack", target.args.size() > v.arr->size() ? "few" : "many");
  for (size_t j = 0; j < target.args.size(); ++j) {
    if (target.args[j]->kind != NodeKind::Ident) fail("can only unpack into names");
    scope.set(target.args[j]->name, (*v.arr)[j]);
  }
}

}  // namespace

Value Interpreter::eval_for(const Node& n, const std::shared_ptr<Env>& env) {
  auto scope = std::make_shared<Env>(env);
  Value iterable = eval(*n.b, scope);
  if (iterable.is_object()) {
    Array keys;
    for (const auto& [k, v] : iterable.obj->entries) keys.push_back(Value::string(k));
    iterable = Value::array(std::move(keys));
  }
  if (!iterable.is_array()) fail("cannot loop over {}", kind_name(iterable.kind));
  Array filtered;
  if (n.c) {
    for (const Value& item : *iterable.arr) {
      tick(n.line);
      auto test_scope = std::make_shared<Env>(scope);
      bind_target(*n.a, item, *test_scope);
      if (eval(*n.c, test_scope).truthy()) filtered.push_back(item);
    }
  }
  const Array& items = n.c ? filtered : *iterable.arr;
  std::string out;
  bool no_iteration = true;
  const auto count = static_cast<double>(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    tick(n.line);
    const auto d = static_cast<double>(i);
    Object loop;
    using Entry = std::pair<std::string, Value>;  // spelled out: clang 14 will not convert the braced pairs
    loop.entries = {
        Entry{"index", Value::integer(d + 1)},
        Entry{"index0", Value::integer(d)},
        Entry{"revindex", Value::integer(count - d)},
        Entry{"revindex0", Value::integer(count - d - 1)},
        Entry{"first", Value::boolean(i == 0)},
        Entry{"last", Value::boolean(i + 1 == items.size())},
        Entry{"length", Value::integer(count)},
        Entry{"previtem", i > 0 ? items[i - 1] : Value()},
        Entry{"nextitem", i + 1 < items.size() ? items[i + 1] : Value()},
    };
    scope->set("loop", Value::object(std::move(loop)));
    bind_target(*n.a, items[i], *scope);
    // As in the reference, an iteration left by break/continue contributes none of its output.
    try {
      out += block(n.body, scope);
      check_string(out.size());
    } catch (const LoopSignal& s) {
      if (s.is_break) break;
      continue;
    }
    no_iteration = false;
  }
  if (no_iteration) out += block(n.alt, scope);
  return Value::string(std::move(out));
}

Value Interpreter::eval_set(const Node& n, const std::shared_ptr<Env>& env) {
  const Value rhs = n.b ? eval(*n.b, env) : Value::string(block(n.body, env));
  const Node& target = *n.a;
  if (target.kind == NodeKind::Ident) {
    env->set(target.name, rhs);
  } else if (target.kind == NodeKind::TupleLit) {
    if (!rhs.is_array()) fail("cannot unpack {} in set", kind_name(rhs.kind));
    if (rhs.arr->size() != target.args.size())
      fail("too {} items to unpack in set", target.args.size() > rhs.arr->size() ? "few" : "many");
    for (size_t i = 0; i < target.args.size(); ++i) {
      if (target.args[i]->kind != NodeKind::Ident) fail("can only unpack into names in set");
      env->set(target.args[i]->name, (*rhs.arr)[i]);
    }
  } else if (target.kind == NodeKind::Member) {
    const Value object = eval(*target.a, env);
    if (object.kind != Value::Kind::Namespace) fail("cannot assign an attribute of {} (only of a namespace)", kind_name(object.kind));
    if (target.flag || target.b->kind != NodeKind::Ident) fail("can only assign a namespace attribute by name");
    object.obj->set(target.b->name, rhs);
  } else {
    fail("invalid target for set");
  }
  return Value::null();
}

void Interpreter::bind_macro_arguments(const std::string& display_name, const NodeList& params, bool takes_kwargs,
                                       bool takes_varargs, std::vector<Value>& args, KwArgs& kwargs,
                                       const std::shared_ptr<Env>& scope) {
  std::vector<std::pair<std::string, const Node*>> pending_defaults;
  KwArgs remaining = kwargs;
  for (size_t i = 0; i < params.size(); ++i) {
    const Node& p = *params[i];
    const std::string& name = p.name;
    const Node* default_value = p.kind == NodeKind::KwArg ? p.a.get() : nullptr;
    Value v;
    bool given = false;
    if (i < args.size()) {
      v = args[i];
      given = true;
    } else {
      for (auto it = remaining.entries.begin(); it != remaining.entries.end(); ++it) {
        if (it->first == name) {
          v = it->second;
          given = true;
          remaining.entries.erase(it);
          break;
        }
      }
    }
    if (!given && default_value) pending_defaults.emplace_back(name, default_value);
    scope->set(name, v);
  }
  if (takes_kwargs) {
    Object o;
    for (auto& [k, v] : remaining.entries) o.set(k, v);
    scope->set("kwargs", Value::object(std::move(o)));
  } else if (!remaining.entries.empty()) {
    fail("macro {} takes no keyword argument '{}'", display_name, remaining.entries.front().first);
  }
  if (takes_varargs) {
    Array rest;
    for (size_t i = params.size(); i < args.size(); ++i) rest.push_back(args[i]);
    scope->set("varargs", Value::array(std::move(rest)));
  } else if (args.size() > params.size()) {
    fail("macro {} takes not more than {} argument(s)", display_name, params.size());
  }
  for (const auto& [name, node] : pending_defaults) scope->set(name, eval(*node, scope));
}

namespace {

// Whether a macro body reads `name` (kwargs / varargs) without declaring it as a parameter.
bool reads_name(const NodeList& params, const NodeList& body, const std::string& name) {
  for (const auto& p : params)
    if (p->name == name) return false;
  std::vector<const Node*> stack;
  for (const auto& n : body) stack.push_back(n.get());
  for (const auto& p : params)
    if (p->a) stack.push_back(p->a.get());
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (n->kind == NodeKind::Ident && n->name == name) return true;
    for (const Node* c : {n->a.get(), n->b.get(), n->c.get()})
      if (c) stack.push_back(c);
    for (const NodeList* list : {&n->args, &n->body, &n->alt})
      for (const auto& c : *list) stack.push_back(c.get());
  }
  return false;
}

}  // namespace

Value Interpreter::eval_macro(const Node& n, const std::shared_ptr<Env>& env) {
  const bool takes_kwargs = reads_name(n.args, n.body, "kwargs");
  const bool takes_varargs = reads_name(n.args, n.body, "varargs");
  const Node* node = &n;
  env->set(n.name, Value::function([node, takes_kwargs, takes_varargs](Interpreter& in, std::vector<Value>& args,
                                                                       KwArgs& kwargs, const std::shared_ptr<Env>& site) {
    // The macro's scope hangs off the call site's, as in the reference (not off its definition's).
    auto scope = std::make_shared<Env>(site);
    in.bind_macro_arguments("'" + node->name + "'", node->args, takes_kwargs, takes_varargs, args, kwargs, scope);
    return Value::string(in.block(node->body, scope));
  }));
  return Value::null();
}

Value Interpreter::eval_call_block(const Node& n, const std::shared_ptr<Env>& env) {
  const bool takes_kwargs = reads_name(n.args, n.body, "kwargs");
  const bool takes_varargs = reads_name(n.args, n.body, "varargs");
  const Node* node = &n;
  const Value caller = Value::function([node, env, takes_kwargs, takes_varargs](
                                           Interpreter& in, std::vector<Value>& args, KwArgs& kwargs,
                                           const std::shared_ptr<Env>&) {
    auto scope = std::make_shared<Env>(env);
    in.bind_macro_arguments("None", node->args, takes_kwargs, takes_varargs, args, kwargs, scope);
    return Value::string(in.block(node->body, scope));
  });
  const Node& call_node = *n.a;
  std::vector<Value> args;
  KwArgs kwargs;
  arguments(call_node.args, env, &args, &kwargs);
  const Value fn = eval(*call_node.a, env);
  if (fn.kind != Value::Kind::Function) fail("'{}' is undefined or not callable", call_node.a->name);
  auto site = std::make_shared<Env>(env);
  site->set("caller", caller);
  return call(fn, args, kwargs, site);
}

}  // namespace hearth::jinja
