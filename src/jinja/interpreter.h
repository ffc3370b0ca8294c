// Evaluates a parsed template over Values with the reference engine's semantics (scoping, filters,
// tests, methods, output conversion), within limits that keep hostile templates from exhausting the
// stack, memory or time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "jinja/ast.h"
#include "jinja/value.h"

namespace hearth::jinja {

inline constexpr int kMaxEvalDepth = 400;             // nested evaluations (recursive macros included)
inline constexpr uint64_t kMaxSteps = 2'000'000;      // evaluated nodes + loop iterations per render
inline constexpr size_t kMaxStringBytes = 16u << 20;  // any one string built while rendering
inline constexpr size_t kMaxArrayItems = 1u << 18;    // any one list built while rendering

// An Error that already names the template line it happened at.
class RenderError : public Error {
 public:
  using Error::Error;
};

// A variable scope. Shared because a `caller` block may outlive the statement that made it.
class Env {
 public:
  explicit Env(std::shared_ptr<Env> parent = nullptr) : parent_(std::move(parent)) {}
  void set(const std::string& name, Value v);
  // Nearest definition, or nullptr.
  const Value* lookup(const std::string& name) const;
  const Value* own(const std::string& name) const;

 private:
  std::shared_ptr<Env> parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};

class Interpreter {
 public:
  Interpreter() = default;
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // The global scope: literals (true, none, ...) and built-in functions.
  std::shared_ptr<Env> make_globals();
  std::string render(const NodeList& program, const std::shared_ptr<Env>& globals);

  Value eval(const Node& n, const std::shared_ptr<Env>& env);
  std::string block(const NodeList& stmts, const std::shared_ptr<Env>& env);
  Value call(const Value& fn, std::vector<Value>& args, KwArgs& kwargs, const std::shared_ptr<Env>& env);
  Value make_namespace(Object o);
  void check_string(size_t n) const;
  // Counts one unit of work against kMaxSteps.
  void tick(int line);

 private:
  Value eval_node(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_binary(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_unary(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_member(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_slice(const Value& object, const Node& n, const std::shared_ptr<Env>& env);
  Value eval_call(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_test(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_for(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_set(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_macro(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_call_block(const Node& n, const std::shared_ptr<Env>& env);
  Value apply_filter(const Value& operand, const Node& filter, const std::shared_ptr<Env>& env);
  Value apply_call_filter(const Value& operand, const Node& filter, const std::shared_ptr<Env>& env);
  void arguments(const NodeList& args, const std::shared_ptr<Env>& env, std::vector<Value>* positional,
                 KwArgs* kwargs);
  void bind_macro_arguments(const std::string& display_name, const NodeList& params, bool takes_kwargs,
                            bool takes_varargs, std::vector<Value>& args, KwArgs& kwargs,
                            const std::shared_ptr<Env>& scope);

  int depth_ = 0;
  uint64_t steps_ = 0;
  std::vector<std::weak_ptr<Object>> namespaces_;  // emptied at the end, breaking any reference cycles
};

// A test by name (`x is defined`, selectattr("k", "equalto", v)); nullptr when unknown.
using TestFn = bool (*)(const Value& operand, const Value& arg);
TestFn find_test(const std::string& name);

// Stable sort with a three-way comparator that may throw (JavaScript's Array.prototype.sort contract).
void stable_sort(std::vector<Value>& items, const std::function<int(const Value&, const Value&)>& compare);

// Shared by the replace() method and the |replace filter, and by dictsort() and |dictsort.
std::string string_replace(const std::string& s, const std::string& from, const std::string& to, double count);
Value string_method_replace(const std::string& s, std::vector<Value>& args, KwArgs& kwargs);
Value dictsort(const Object& o, std::vector<Value>& args, KwArgs& kwargs);

// Built-in members of a value (string methods, dict methods, `length`), Undefined when none.
Value builtin_member(const Value& object, const std::string& name);

}  // namespace hearth::jinja
