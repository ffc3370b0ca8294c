// The value model of the Jinja interpreter. It mirrors the reference engine (@huggingface/jinja, what
// transformers.js renders chat templates with), because byte-exact parity depends on its JavaScript
// semantics: every number is an IEEE double tagged integer or float, null and undefined are distinct
// kinds that compare equal, arrays and mappings compare by identity, and mappings keep insertion order.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::jinja {

struct Value;
class Env;
class Interpreter;

using Array = std::vector<Value>;

// An insertion-ordered string-keyed mapping (a JavaScript Map).
struct Object {
  std::vector<std::pair<std::string, Value>> entries;

  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value value);
  size_t size() const;  // defined below Value, which must be complete for it
};

struct KwArgs {
  std::vector<std::pair<std::string, Value>> entries;
  const Value* find(std::string_view key) const;
};

// A callable: built-in functions, bound string/dict methods, macros and `caller`.
// `env` is the environment of the call site (macros see it, as in the reference).
using Function = std::function<Value(Interpreter&, std::vector<Value>& args, KwArgs& kwargs,
                                     const std::shared_ptr<Env>& env)>;

struct Value {
  enum class Kind : uint8_t { Undefined, Null, Bool, Int, Float, String, Array, Tuple, Object, Namespace, Function };

  Kind kind = Kind::Undefined;
  double num = 0;  // Bool (0/1), Int and Float
  std::string str;
  std::shared_ptr<jinja::Array> arr;    // Array, Tuple
  std::shared_ptr<jinja::Object> obj;   // Object, Namespace (a namespace is mutable through every alias)
  std::shared_ptr<jinja::Function> fn;  // Function

  static Value undefined() { return Value(); }
  static Value null() { return make(Kind::Null); }
  static Value boolean(bool b) { Value v = make(Kind::Bool); v.num = b ? 1 : 0; return v; }
  static Value integer(double n) { Value v = make(Kind::Int); v.num = n; return v; }
  static Value floating(double n) { Value v = make(Kind::Float); v.num = n; return v; }
  static Value string(std::string s) { Value v = make(Kind::String); v.str = std::move(s); return v; }
  static Value array(jinja::Array items, bool tuple = false);
  static Value object(jinja::Object o);
  static Value namespace_(jinja::Object o);
  static Value function(jinja::Function f);

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_null() const { return kind == Kind::Null; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float; }
  bool is_array() const { return kind == Kind::Array || kind == Kind::Tuple; }
  bool is_object() const { return kind == Kind::Object; }
  bool is_attribute_container() const { return kind == Kind::Object || kind == Kind::Namespace; }

  bool truthy() const;

 private:
  static Value make(Kind k) { Value v; v.kind = k; return v; }
};

inline size_t Object::size() const { return entries.size(); }

// The reference's type names ("StringValue", ...), used in error messages.
const char* kind_name(Value::Kind k);

// JSON (ordered, as parsed) to a Value, the way JSON.parse + the reference's conversion would see it:
// integral numbers become integers, integer-like keys come first in ascending order (JavaScript property order).
Value from_json(const nlohmann::ordered_json& j);

// JavaScript's Number.prototype.toString.
std::string js_number(double x);

// How a value prints when rendered ({{ x }}): the reference's RuntimeValue.toString.
std::string display(const Value& v);
// How the underlying JavaScript value converts to a string (String(value.value)): used by `~`, `+` and join.
// `empty_nullish` gives "" for null/undefined (Array.prototype.join) instead of "undefined".
std::string raw_string(const Value& v, bool empty_nullish = false);

struct JsonOptions {
  int indent = 0;  // 0: single line
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool has_separators = false;
  std::string item_sep, key_sep;
  bool undefined_as_null = true;
};
// The reference's toJSON (Python json.dumps-like spacing: ", " and ": " on one line).
std::string to_json(const Value& v, const JsonOptions& options);

// JSON.stringify of one string.
void json_quote(std::string& out, std::string_view s);

// JavaScript's loose (==) and strict (===) equality of the underlying values.
bool loose_equal(const Value& a, const Value& b);
bool strict_equal(const Value& a, const Value& b);

// The reference's compareRuntimeValues: -1/0/1, Error for incomparable kinds.
int compare_values(const Value& a, const Value& b, bool case_sensitive);

}  // namespace hearth::jinja
