#include "jinja/value.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "jinja/js_string.h"

namespace hearth::jinja {

namespace {
// Nesting beyond this in tojson/display means a cyclic namespace (or a hostile input), not real data.
constexpr int kMaxJsonDepth = 256;
// Shared lists can make a small value print enormously (a list holding itself twice, 30 levels deep).
constexpr size_t kMaxJsonBytes = 16u << 20;

void check_size(const std::string& out) {
  if (out.size() > kMaxJsonBytes)
    fail(ErrorKind::kResourceExhausted, "value too large to print (over {} bytes)", kMaxJsonBytes);
}
}  // namespace

const Value* Object::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k == key) return &v;
  return nullptr;
}

void Object::set(const std::string& key, Value value) {
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(key, std::move(value));
}

const Value* KwArgs::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k == key) return &v;
  return nullptr;
}

Value Value::array(jinja::Array items, bool tuple) {
  Value v = make(tuple ? Kind::Tuple : Kind::Array);
  v.arr = std::make_shared<jinja::Array>(std::move(items));
  return v;
}

Value Value::object(jinja::Object o) {
  Value v = make(Kind::Object);
  v.obj = std::make_shared<jinja::Object>(std::move(o));
  return v;
}

Value Value::namespace_(jinja::Object o) {
  Value v = make(Kind::Namespace);
  v.obj = std::make_shared<jinja::Object>(std::move(o));
  return v;
}

Value Value::function(jinja::Function f) {
  Value v = make(Kind::Function);
  v.fn = std::make_shared<jinja::Function>(std::move(f));
  return v;
}

bool Value::truthy() const {
  switch (kind) {
    case Kind::Undefined:
    case Kind::Null: return false;
    case Kind::Bool:
    case Kind::Int:
    case Kind::Float: return num != 0 && !std::isnan(num);
    case Kind::String: return !str.empty();
    case Kind::Array:
    case Kind::Tuple: return !arr->empty();
    case Kind::Object: return obj->size() > 0;
    case Kind::Namespace:
    case Kind::Function: return true;  // a JavaScript Map or function is always truthy
  }
  return false;
}

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::Undefined: return "UndefinedValue";
    case Value::Kind::Null: return "NullValue";
    case Value::Kind::Bool: return "BooleanValue";
    case Value::Kind::Int: return "IntegerValue";
    case Value::Kind::Float: return "FloatValue";
    case Value::Kind::String: return "StringValue";
    case Value::Kind::Array: return "ArrayValue";
    case Value::Kind::Tuple: return "TupleValue";
    case Value::Kind::Object: return "ObjectValue";
    case Value::Kind::Namespace: return "NamespaceValue";
    case Value::Kind::Function: return "FunctionValue";
  }
  return "?";
}

namespace {

// A canonical array index ("0", "17", not "07"), which JavaScript enumerates before other keys.
bool array_index_key(const std::string& k, uint64_t* index) {
  if (k.empty() || k.size() > 10 || (k.size() > 1 && k[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : k) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v >= 4294967295ull) return false;
  *index = v;
  return true;
}

}  // namespace

Value from_json(const nlohmann::ordered_json& j) {
  using T = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case T::null: return Value::null();
    case T::boolean: return Value::boolean(j.get<bool>());
    case T::number_integer: return Value::integer(static_cast<double>(j.get<int64_t>()));
    case T::number_unsigned: return Value::integer(static_cast<double>(j.get<uint64_t>()));
    case T::number_float: {
      const double d = j.get<double>();
      return std::isfinite(d) && d == std::trunc(d) ? Value::integer(d) : Value::floating(d);
    }
    case T::string: return Value::string(j.get<std::string>());
    case T::array: {
      Array items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e));
      return Value::array(std::move(items));
    }
    case T::object: {
      std::vector<std::pair<uint64_t, const std::string*>> indexed;
      Object o;
      for (const auto& [k, v] : j.items()) {
        uint64_t idx;
        if (array_index_key(k, &idx)) indexed.emplace_back(idx, &k);
      }
      std::sort(indexed.begin(), indexed.end());
      for (const auto& [idx, k] : indexed) o.set(*k, from_json(j.at(*k)));
      for (const auto& [k, v] : j.items()) {
        uint64_t idx;
        if (!array_index_key(k, &idx)) o.set(k, from_json(v));
      }
      return Value::object(std::move(o));
    }
    default: fail("unsupported JSON value in template context");
  }
}

std::string js_number(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x == 0) return "0";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  std::string out;
  if (s[0] == '-') out += '-', s.remove_prefix(1);
  const size_t e = s.find('e');
  std::string digits;
  for (char c : s.substr(0, e))
    if (c != '.') digits += c;
  const int n = std::atoi(std::string(s.substr(e + 1)).c_str()) + 1;  // decimal point position
  const int k = static_cast<int>(digits.size());
  if (k <= n && n <= 21) {
    out += digits + std::string(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<size_t>(n)) + "." + digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(static_cast<size_t>(-n), '0') + digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{}", n - 1 >= 0 ? "+" : "-", std::abs(n - 1));
  }
  return out;
}

namespace {

std::string display_float(double x) {
  if (x == 0 && std::signbit(x)) return "-0.0";
  if (std::isfinite(x) && x == std::trunc(x)) {
    if (std::fabs(x) >= 1e21) return js_number(x);  // toFixed falls back to toString there
    return fmt::format("{:.1f}", x);
  }
  return js_number(x);
}

}  // namespace

std::string display(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::Null: return "undefined";
    case Value::Kind::Bool: return v.num != 0 ? "true" : "false";
    case Value::Kind::Int: return js_number(v.num);
    case Value::Kind::Float: return display_float(v.num);
    case Value::Kind::String: return v.str;
    case Value::Kind::Array:
    case Value::Kind::Tuple:
    case Value::Kind::Object:
    case Value::Kind::Namespace: {
      JsonOptions o;
      o.undefined_as_null = false;
      return to_json(v, o);
    }
    case Value::Kind::Function: return "[function]";
  }
  return "";
}

std::string raw_string(const Value& v, bool empty_nullish) {
  switch (v.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::Null: return empty_nullish ? "" : "undefined";
    case Value::Kind::Bool: return v.num != 0 ? "true" : "false";
    case Value::Kind::Int:
    case Value::Kind::Float: return js_number(v.num);
    case Value::Kind::String: return v.str;
    case Value::Kind::Array:
    case Value::Kind::Tuple: {
      std::string out;
      for (size_t i = 0; i < v.arr->size(); ++i) {
        if (i) out += ',';
        out += display((*v.arr)[i]);
        check_size(out);
      }
      return out;
    }
    case Value::Kind::Object:
    case Value::Kind::Namespace: return "[object Map]";
    case Value::Kind::Function: return "[function]";
  }
  return "";
}

void json_quote(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += ch;
    }
  }
  out += '"';
}

namespace {

std::string ascii_safe(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    int n;
    const char32_t cp = decode_at(s, i, &n);
    i += n;
    if (cp < 0x7F) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
    } else {
      const uint32_t u = static_cast<uint32_t>(cp) - 0x10000;
      out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (u >> 10), 0xDC00 + (u & 0x3FF));
    }
  }
  return out;
}

// An approximation of String.prototype.localeCompare (ICU root collation) for sort_keys: punctuation
// before digits before letters, letters compared case-insensitively first, lowercase first on ties.
int locale_compare(const std::string& a, const std::string& b) {
  auto weight = [](unsigned char c) -> int {
    if (c >= 'a' && c <= 'z') return 3000 + (c - 'a') * 2;
    if (c >= 'A' && c <= 'Z') return 3000 + (c - 'A') * 2;
    if (c >= '0' && c <= '9') return 2000 + c;
    if (c >= 0x80) return 4000 + c;
    return 1000 + c;
  };
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const int wa = weight(static_cast<unsigned char>(a[i])), wb = weight(static_cast<unsigned char>(b[i]));
    if (wa != wb) return wa < wb ? -1 : 1;
  }
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) {
      const bool la = a[i] >= 'a' && a[i] <= 'z';
      return la ? -1 : 1;
    }
  }
  return 0;
}

void to_json_rec(std::string& out, const Value& v, const JsonOptions& o, int depth) {
  if (depth > kMaxJsonDepth)
    fail(ErrorKind::kResourceExhausted, "value nested too deeply for tojson (cyclic namespace?)");
  switch (v.kind) {
    case Value::Kind::Null: out += "null"; return;
    case Value::Kind::Undefined: out += o.undefined_as_null ? "null" : "undefined"; return;
    case Value::Kind::Bool: out += v.num != 0 ? "true" : "false"; return;
    case Value::Kind::Int:
    case Value::Kind::Float: out += std::isfinite(v.num) ? js_number(v.num) : "null"; return;
    case Value::Kind::String: {
      if (!o.ensure_ascii) {
        json_quote(out, v.str);
      } else {
        std::string q;
        json_quote(q, v.str);
        out += ascii_safe(q);
      }
      return;
    }
    case Value::Kind::Function: fail("cannot convert a function to JSON");
    default: break;
  }
  const std::string indent_unit(static_cast<size_t>(std::max(o.indent, 0)), ' ');
  std::string base_pad = "\n";
  for (int i = 0; i < depth; ++i) base_pad += indent_unit;
  const std::string child_pad = base_pad + indent_unit;
  const std::string item_sep = o.has_separators ? o.item_sep : (o.indent ? "," : ", ");
  const std::string key_sep = o.has_separators ? o.key_sep : ": ";
  if (v.is_array()) {
    const bool pretty = o.indent && !v.arr->empty();
    out += '[';
    for (size_t i = 0; i < v.arr->size(); ++i) {
      if (i) out += item_sep;
      if (pretty) out += child_pad;
      to_json_rec(out, (*v.arr)[i], o, depth + 1);
      check_size(out);
    }
    if (pretty) out += base_pad;
    out += ']';
    return;
  }
  std::vector<const std::pair<std::string, Value>*> entries;
  for (const auto& e : v.obj->entries) entries.push_back(&e);
  if (o.sort_keys)
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto* a, const auto* b) { return locale_compare(a->first, b->first) < 0; });
  const bool pretty = o.indent && !entries.empty();
  out += '{';
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) out += item_sep;
    if (pretty) out += child_pad;
    std::string key;
    json_quote(key, entries[i]->first);
    out += o.ensure_ascii ? ascii_safe(key) : key;
    out += key_sep;
    to_json_rec(out, entries[i]->second, o, depth + 1);
    check_size(out);
  }
  if (pretty) out += base_pad;
  out += '}';
}

enum class Raw { Nullish, Bool, Number, String, Reference };

Raw raw_kind(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::Null: return Raw::Nullish;
    case Value::Kind::Bool: return Raw::Bool;
    case Value::Kind::Int:
    case Value::Kind::Float: return Raw::Number;
    case Value::Kind::String: return Raw::String;
    default: return Raw::Reference;
  }
}

const void* identity(const Value& v) {
  if (v.arr) return v.arr.get();
  if (v.obj) return v.obj.get();
  return v.fn.get();
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options) {
  std::string out;
  to_json_rec(out, v, options, 0);
  return out;
}

bool strict_equal(const Value& a, const Value& b) {
  const Raw ra = raw_kind(a), rb = raw_kind(b);
  if (ra != rb) return false;
  switch (ra) {
    case Raw::Nullish: return true;
    case Raw::Bool:
    case Raw::Number: return a.num == b.num;
    case Raw::String: return a.str == b.str;
    case Raw::Reference: return identity(a) == identity(b);
  }
  return false;
}

bool loose_equal(const Value& a, const Value& b) {
  const Raw ra = raw_kind(a), rb = raw_kind(b);
  if (ra == rb) return strict_equal(a, b);
  if (ra == Raw::Nullish || rb == Raw::Nullish) return false;
  // Booleans compare as numbers; objects as their primitive (string) form; strings against numbers as numbers.
  auto as_primitive = [](const Value& v) {
    if (v.kind == Value::Kind::Bool) return Value::integer(v.num);
    if (raw_kind(v) == Raw::Reference) return Value::string(raw_string(v));
    return v;
  };
  const Value pa = as_primitive(a), pb = as_primitive(b);
  if (raw_kind(pa) == raw_kind(pb)) return strict_equal(pa, pb);
  const double na = pa.is_string() ? js_to_number(pa.str) : pa.num;
  const double nb = pb.is_string() ? js_to_number(pb.str) : pb.num;
  return na == nb;
}

int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_null() && b.is_null()) return 0;
  if (a.is_null() || b.is_null()) fail("cannot compare {} with {}", kind_name(a.kind), kind_name(b.kind));
  if (a.is_undefined() && b.is_undefined()) return 0;
  if (a.is_undefined() || b.is_undefined())
    fail("cannot compare {} with {}", kind_name(a.kind), kind_name(b.kind));
  auto numeric = [](const Value& v) {
    return v.kind == Value::Kind::Int || v.kind == Value::Kind::Float || v.kind == Value::Kind::Bool;
  };
  if (numeric(a) && numeric(b)) return a.num < b.num ? -1 : a.num > b.num ? 1 : 0;
  if (a.kind != b.kind) fail("cannot compare different types: {} and {}", kind_name(a.kind), kind_name(b.kind));
  if (a.kind != Value::Kind::String) fail("cannot compare type: {}", kind_name(a.kind));
  if (case_sensitive) return a.str < b.str ? -1 : a.str > b.str ? 1 : 0;
  const std::string la = js_lower(a.str), lb = js_lower(b.str);
  return la < lb ? -1 : la > lb ? 1 : 0;
}

}  // namespace hearth::jinja
