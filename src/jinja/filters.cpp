// Filters (`x | name` and `x | name(args)`), dispatched by operand kind the way the reference does, so that
// the same filter on the same kind of value behaves (and fails) alike.
#include <cmath>
#include <set>

#include "jinja/interpreter.h"
#include "jinja/js_string.h"

namespace hearth::jinja {

namespace {

[[noreturn]] void unsupported(const std::string& name, const Value& operand) {
  fail(ErrorKind::kUnsupported, "unsupported filter '{}' for {}", name, kind_name(operand.kind));
}

std::string indent_lines(const std::string& s, size_t width, bool first, bool blank) {
  const std::string pad(width, ' ');
  std::string out;
  size_t start = 0, line = 0;
  while (true) {
    const size_t nl = s.find('\n', start);
    const std::string_view part(s.data() + start, (nl == std::string::npos ? s.size() : nl) - start);
    if ((line > 0 || first) && (!part.empty() || blank)) out += pad;
    out += part;
    if (out.size() > kMaxStringBytes)
      fail(ErrorKind::kResourceExhausted, "indent: result too long (over {} bytes)", kMaxStringBytes);
    if (nl == std::string::npos) break;
    out += '\n';
    start = nl + 1;
    ++line;
  }
  return out;
}

// "a.b.0": nested attributes, integer parts indexing lists; Undefined when any step is missing.
Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (v.is_attribute_container()) {
      const Value* next = v.obj->find(part);
      if (!next) return Value();
      v = *next;
    } else if (v.is_array()) {
      const double index = js_parse_int(part);
      if (std::isnan(index) || index < 0 || index >= static_cast<double>(v.arr->size())) return Value();
      v = Value((*v.arr)[static_cast<size_t>(index)]);
    } else {
      return Value();
    }
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

Value round_number(const Value& operand, const std::vector<Value>& args, const KwArgs& kwargs) {
  // Not in the reference (it has no |round); Python Jinja's semantics: a float, half away from zero by default.
  const Value* precision_v = !args.empty() ? &args[0] : kwargs.find("precision");
  const Value* method_v = args.size() > 1 ? &args[1] : kwargs.find("method");
  const double precision = precision_v && precision_v->is_number() ? precision_v->num : 0;
  const std::string method = method_v && method_v->is_string() ? method_v->str : "common";
  const double scale = std::pow(10.0, precision);
  double x = operand.num * scale;
  if (method == "common") x = std::round(x);
  else if (method == "floor") x = std::floor(x);
  else if (method == "ceil") x = std::ceil(x);
  else fail("round(): method must be 'common', 'floor' or 'ceil'");
  return Value::floating(x / scale);
}

}  // namespace

Value Interpreter::apply_filter(const Value& operand, const Node& filter, const std::shared_ptr<Env>& env) {
  if (filter.kind == NodeKind::Call) return apply_call_filter(operand, filter, env);
  if (filter.kind != NodeKind::Ident) fail(ErrorKind::kUnsupported, "unsupported filter expression");
  const std::string& name = filter.name;
  if (name == "safe") return operand;
  if (name == "tojson") return Value::string(to_json(operand, JsonOptions{}));
  switch (operand.kind) {
    case Value::Kind::Array:
    case Value::Kind::Tuple: {
      const Array& a = *operand.arr;
      if (name == "list") return operand;
      if (name == "first") return a.empty() ? Value() : a.front();
      if (name == "last") return a.empty() ? Value() : a.back();
      if (name == "length") return Value::integer(static_cast<double>(a.size()));
      if (name == "reverse") return Value::array(Array(a.rbegin(), a.rend()));
      if (name == "sort") {
        Array items = a;
        stable_sort(items, [](const Value& x, const Value& y) { return compare_values(x, y, false); });
        return Value::array(std::move(items));
      }
      if (name == "join") {
        std::string s;
        for (const Value& v : a) s += raw_string(v, true);
        check_string(s.size());
        return Value::string(std::move(s));
      }
      if (name == "string") {
        JsonOptions o;
        o.undefined_as_null = false;
        return Value::string(to_json(operand, o));
      }
      if (name == "unique") {
        Array out;
        for (const Value& v : a) {
          bool seen = false;
          for (const Value& u : out)
            if (strict_equal(u, v) || (u.is_number() && v.is_number() && std::isnan(u.num) && std::isnan(v.num))) seen = true;
          if (!seen) out.push_back(v);
        }
        return Value::array(std::move(out));
      }
      break;
    }
    case Value::Kind::String: {
      const std::string& s = operand.str;
      if (name == "length") return Value::integer(static_cast<double>(utf16_length(s)));
      if (name == "upper") return Value::string(js_upper(s));
      if (name == "lower") return Value::string(js_lower(s));
      if (name == "title" || name == "capitalize") {
        std::vector<Value> none;
        KwArgs no_kwargs;
        return call(builtin_member(operand, name), none, no_kwargs, env);
      }
      if (name == "trim") return Value::string(std::string(js_trim(s)));
      if (name == "indent") return Value::string(indent_lines(s, 4, false, false));
      if (name == "join" || name == "string") return operand;
      if (name == "int") {
        const double v = js_parse_int(s);
        return Value::integer(std::isnan(v) ? 0 : v);
      }
      if (name == "float") {
        const double v = js_parse_float(s);
        return Value::floating(std::isnan(v) ? 0 : v);
      }
      break;
    }
    case Value::Kind::Int:
    case Value::Kind::Float: {
      const bool is_int = operand.kind == Value::Kind::Int;
      if (name == "abs") return is_int ? Value::integer(std::fabs(operand.num)) : Value::floating(std::fabs(operand.num));
      if (name == "int") return Value::integer(std::floor(operand.num));
      if (name == "float") return Value::floating(operand.num);
      if (name == "string") return Value::string(display(operand));
      if (name == "round") return round_number(operand, {}, KwArgs{});
      break;
    }
    case Value::Kind::Object: {
      if (name == "length") return Value::integer(static_cast<double>(operand.obj->size()));
      const Value member = builtin_member(operand, name);
      if (member.kind == Value::Kind::Function) {
        std::vector<Value> none;
        KwArgs no_kwargs;
        return call(member, none, no_kwargs, env);
      }
      break;
    }
    case Value::Kind::Bool: {
      const bool b = operand.num != 0;
      if (name == "bool") return Value::boolean(b);
      if (name == "int") return Value::integer(b ? 1 : 0);
      if (name == "float") return Value::floating(b ? 1 : 0);
      if (name == "string") return Value::string(b ? "true" : "false");
      break;
    }
    default: break;
  }
  unsupported(name, operand);
}

Value Interpreter::apply_call_filter(const Value& operand, const Node& filter, const std::shared_ptr<Env>& env) {
  if (filter.a->kind != NodeKind::Ident) fail(ErrorKind::kUnsupported, "unsupported filter expression");
  const std::string& name = filter.a->name;
  std::vector<Value> args;
  KwArgs kwargs;
  auto evaluate_args = [&] { arguments(filter.args, env, &args, &kwargs); };
  auto arg = [&](size_t i, const char* key) -> const Value* {
    if (i < args.size()) return &args[i];
    return kwargs.find(key);
  };

  if (name == "tojson") {
    evaluate_args();
    JsonOptions o;
    if (const Value* indent = kwargs.find("indent"); indent && !indent->is_null()) {
      if (indent->kind != Value::Kind::Int) fail("tojson: indent must be an integer");
      if (indent->num < 0 || indent->num > 64) fail("tojson: indent must be between 0 and 64");
      o.indent = static_cast<int>(indent->num);
    }
    if (const Value* v = kwargs.find("ensure_ascii")) {
      if (v->kind != Value::Kind::Bool) fail("tojson: ensure_ascii must be a boolean");
      o.ensure_ascii = v->num != 0;
    }
    if (const Value* v = kwargs.find("sort_keys")) {
      if (v->kind != Value::Kind::Bool) fail("tojson: sort_keys must be a boolean");
      o.sort_keys = v->num != 0;
    }
    if (const Value* v = kwargs.find("separators"); v && !v->is_null()) {
      if (!v->is_array() || v->arr->size() != 2 || !(*v->arr)[0].is_string() || !(*v->arr)[1].is_string())
        fail("tojson: separators must be a pair of strings");
      o.has_separators = true;
      o.item_sep = (*v->arr)[0].str;
      o.key_sep = (*v->arr)[1].str;
    }
    return Value::string(to_json(operand, o));
  }
  if (name == "join") {
    std::vector<std::string> parts;
    if (operand.is_string()) {
      for (size_t i = 0; i < operand.str.size();) {
        int n;
        decode_at(operand.str, i, &n);
        parts.push_back(operand.str.substr(i, static_cast<size_t>(n)));
        i += static_cast<size_t>(n);
      }
    } else if (operand.is_array()) {
      for (const Value& v : *operand.arr) parts.push_back(raw_string(v, true));
    } else {
      unsupported(name, operand);
    }
    evaluate_args();
    const Value* sep = arg(0, "separator");
    if (sep && !sep->is_string()) fail("join: separator must be a string");
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i) out += sep ? sep->str : "";
      out += parts[i];
      check_string(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "int" || name == "float") {
    evaluate_args();
    const bool to_int = name == "int";
    const Value* d = arg(0, "default");
    const Value fallback = d ? *d : (to_int ? Value::integer(0) : Value::floating(0));
    if (operand.is_string()) {
      const double v = to_int ? js_parse_int(operand.str) : js_parse_float(operand.str);
      if (std::isnan(v)) return fallback;
      return to_int ? Value::integer(v) : Value::floating(v);
    }
    if (operand.is_number()) return operand;
    if (operand.kind == Value::Kind::Bool) return to_int ? Value::integer(operand.num) : Value::floating(operand.num);
    unsupported(name, operand);
  }
  if (name == "default") {
    evaluate_args();
    const Value fallback = !args.empty() ? args[0] : Value::string("");
    const Value* boolean = arg(1, "boolean");
    if (boolean && boolean->kind != Value::Kind::Bool) fail("default: the boolean flag must be a boolean");
    if (operand.is_undefined() || (boolean && boolean->num != 0 && !operand.truthy())) return fallback;
    return operand;
  }
  if (operand.is_array()) {
    const Array& items = *operand.arr;
    if (name == "sort") {
      evaluate_args();
      const Value* reverse = arg(0, "reverse");
      const Value* case_sensitive = arg(1, "case_sensitive");
      const Value* attribute = arg(2, "attribute");
      if (reverse && reverse->kind != Value::Kind::Bool) fail("sort: reverse must be a boolean");
      if (case_sensitive && case_sensitive->kind != Value::Kind::Bool) fail("sort: case_sensitive must be a boolean");
      if (attribute && !attribute->is_string() && attribute->kind != Value::Kind::Int && !attribute->is_null())
        fail("sort: attribute must be a string, an integer or none");
      const bool rev = reverse && reverse->num != 0, cs = case_sensitive && case_sensitive->num != 0;
      const std::string path = !attribute || attribute->is_null() ? std::string()
                               : attribute->is_string()           ? attribute->str
                                                                  : js_number(attribute->num);
      const bool by_attribute = attribute && !attribute->is_null();
      Array sorted = items;
      stable_sort(sorted, [&](const Value& x, const Value& y) {
        const int r = by_attribute ? compare_values(attribute_path(x, path), attribute_path(y, path), cs)
                                   : compare_values(x, y, cs);
        return rev ? -r : r;
      });
      return Value::array(std::move(sorted));
    }
    if (name == "selectattr" || name == "rejectattr") {
      const bool select = name == "selectattr";
      for (const Value& item : items)
        if (!item.is_attribute_container()) fail("{} can only be applied to a list of mappings", name);
      for (const auto& a : filter.args)
        if (a->kind != NodeKind::String) fail("the arguments of {} must be string literals", name);
      evaluate_args();
      if (args.empty()) fail("{} needs an attribute name", name);
      TestFn test = nullptr;
      if (args.size() > 1) {
        test = find_test(args[1].str);
        if (!test) fail(ErrorKind::kUnsupported, "unsupported test '{}'", args[1].str);
      }
      const Value test_arg = args.size() > 2 ? args[2] : Value();
      Array out;
      for (const Value& item : items) {
        const Value* a = item.obj->find(args[0].str);
        const bool r = a ? (test ? test(*a, test_arg) : a->truthy()) : false;
        if (r == select) out.push_back(item);
      }
      return Value::array(std::move(out));
    }
    if (name == "map") {
      evaluate_args();
      const Value* attribute = kwargs.find("attribute");
      if (!attribute) fail(ErrorKind::kUnsupported, "map: only map(attribute=...) is supported");
      if (!attribute->is_string()) fail("map: attribute must be a string");
      const Value* fallback = kwargs.find("default");
      Array out;
      for (const Value& item : items) {
        if (!item.is_attribute_container()) fail("map: the items must be mappings");
        Value v = attribute_path(item, attribute->str);
        out.push_back(v.is_undefined() && fallback ? *fallback : v);
      }
      return Value::array(std::move(out));
    }
    unsupported(name, operand);
  }
  if (operand.is_string()) {
    if (name == "indent") {
      evaluate_args();
      const Value* width = arg(0, "width");
      if (width && width->kind != Value::Kind::Int) fail("indent: width must be an integer");
      const double w = width ? width->num : 4;
      if (w < 0 || w > 1024) fail("indent: width must be between 0 and 1024");
      const Value* first = arg(1, "first");
      const Value* blank = arg(2, "blank");
      std::string out = indent_lines(operand.str, w > 0 ? static_cast<size_t>(w) : 0, first && first->truthy(),
                                     blank && blank->truthy());
      check_string(out.size());
      return Value::string(std::move(out));
    }
    if (name == "replace") {
      evaluate_args();
      return string_method_replace(operand.str, args, kwargs);
    }
    unsupported(name, operand);
  }
  if (operand.is_number() && name == "round") {
    evaluate_args();
    return round_number(operand, args, kwargs);
  }
  if (operand.is_object()) {
    const Value member = builtin_member(operand, name);
    if (member.kind == Value::Kind::Function) {
      evaluate_args();
      return call(member, args, kwargs, env);
    }
  }
  unsupported(name, operand);
}

}  // namespace hearth::jinja
