// Built-in members of values (string and dict methods), tests, and the global functions.
#include <cmath>
#include <ctime>

#include "jinja/interpreter.h"
#include "jinja/js_string.h"

namespace hearth::jinja {

namespace {

Value method(Function f) { return Value::function(std::move(f)); }

std::string title_case(std::string_view s) {
  // /\b\w/g: an ASCII word character not preceded by one.
  std::string out(s);
  auto word = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  for (size_t i = 0; i < out.size(); ++i)
    if (word(out[i]) && (i == 0 || !word(out[i - 1])) && out[i] >= 'a' && out[i] <= 'z') out[i] -= 32;
  return out;
}

std::string capitalize(std::string_view s) {
  if (s.empty()) return std::string();
  int n;
  decode_at(s, 0, &n);
  return js_upper(s.substr(0, static_cast<size_t>(n))) + std::string(s.substr(static_cast<size_t>(n)));
}

bool affix_match(const std::string& s, const Value& pattern, bool prefix, const char* name) {
  auto match = [&](const std::string& p) {
    if (p.size() > s.size()) return false;
    return prefix ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0;
  };
  if (pattern.is_string()) return match(pattern.str);
  if (pattern.is_array()) {
    for (const Value& item : *pattern.arr) {
      if (!item.is_string()) fail("{}() tuple elements must be strings", name);
      if (match(item.str)) return true;
    }
    return false;
  }
  fail("{}() argument must be a string or tuple of strings", name);
}

Array split(const std::string& s, const Value& sep, const Value& maxsplit_v) {
  if (!sep.is_string() && !sep.is_null() && !sep.is_undefined()) fail("split(): separator must be a string or none");
  double maxsplit = -1;
  if (!maxsplit_v.is_undefined()) {
    if (maxsplit_v.kind != Value::Kind::Int) fail("split(): maxsplit must be a number");
    maxsplit = maxsplit_v.num;
  }
  Array out;
  if (!sep.is_string()) {  // runs of whitespace
    const std::string_view text = js_trim_start(s);
    size_t i = 0;
    while (i < text.size()) {
      size_t start = i;
      int n;
      while (i < text.size() && !js_space(decode_at(text, i, &n))) i += n;
      if (maxsplit != -1 && static_cast<double>(out.size()) >= maxsplit) {
        out.push_back(Value::string(std::string(text.substr(start))));
        return out;
      }
      out.push_back(Value::string(std::string(text.substr(start, i - start))));
      while (i < text.size() && js_space(decode_at(text, i, &n))) i += n;
    }
    return out;
  }
  if (sep.str.empty()) fail("split(): empty separator");
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep.str, start);
    if (at == std::string::npos) break;
    parts.push_back(s.substr(start, at - start));
    start = at + sep.str.size();
  }
  parts.push_back(s.substr(start));
  if (maxsplit != -1 && static_cast<double>(parts.size()) > maxsplit) {
    const size_t keep = maxsplit < 0 ? 0 : static_cast<size_t>(maxsplit);
    std::string rest;
    for (size_t i = keep; i < parts.size(); ++i) rest += (i > keep ? sep.str : "") + parts[i];
    parts.resize(keep);
    parts.push_back(rest);
  }
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return out;
}

}  // namespace

std::string string_replace(const std::string& s, const std::string& from, const std::string& to, double count) {
  if (count == 0) return s;
  double remaining = count < 0 || std::isnan(count) ? HUGE_VAL : count;
  std::string out;
  if (from.empty()) {  // inserted at every code point boundary, ends included
    size_t i = 0;
    while (true) {
      if (remaining > 0) out += to, --remaining;
      if (i >= s.size()) break;
      int n;
      decode_at(s, i, &n);
      out.append(s, i, static_cast<size_t>(n));
      i += static_cast<size_t>(n);
    }
    return out;
  }
  size_t start = 0;
  while (remaining > 0) {
    const size_t at = s.find(from, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out += to;
    start = at + from.size();
    --remaining;
    if (out.size() > kMaxStringBytes)
      fail(ErrorKind::kResourceExhausted, "string too long (over {} bytes)", kMaxStringBytes);
  }
  out.append(s, start, std::string::npos);
  return out;
}

Value string_method_replace(const std::string& s, std::vector<Value>& args, KwArgs& kwargs) {
  if (args.size() < 2) fail("replace() requires at least two arguments");
  if (!args[0].is_string() || !args[1].is_string()) fail("replace() arguments must be strings");
  Value count = Value::null();
  if (args.size() > 2) count = args[2];
  else if (const Value* c = kwargs.find("count")) count = *c;
  if (count.kind != Value::Kind::Int && !count.is_null()) fail("replace() count argument must be a number or none");
  const std::string out = string_replace(s, args[0].str, args[1].str, count.is_null() ? -1 : count.num);
  if (out.size() > kMaxStringBytes)
    fail(ErrorKind::kResourceExhausted, "string too long (over {} bytes)", kMaxStringBytes);
  return Value::string(out);
}

namespace {

Value string_member(const Value& self, const std::string& name) {
  const std::string s = self.str;
  if (name == "length") return Value::integer(static_cast<double>(utf16_length(s)));
  if (name == "upper")
    return method([s](Interpreter&, std::vector<Value>&, KwArgs&, const std::shared_ptr<Env>&) {
      return Value::string(js_upper(s));
    });
  if (name == "lower")
    return method([s](Interpreter&, std::vector<Value>&, KwArgs&, const std::shared_ptr<Env>&) {
      return Value::string(js_lower(s));
    });
  // strip/lstrip/rstrip take no characters argument in the reference: they always trim whitespace.
  if (name == "strip")
    return method([s](Interpreter&, std::vector<Value>&, KwArgs&, const std::shared_ptr<Env>&) {
      return Value::string(std::string(js_trim(s)));
    });
  if (name == "lstrip")
    return method([s](Interpreter&, std::vector<Value>&, KwArgs&, const std::shared_ptr<Env>&) {
      return Value::string(std::string(js_trim_start(s)));
    });
  if (name == "rstrip")
    return method([s](Interpreter&, std::vector<Value>&, KwArgs&, const std::shared_ptr<Env>&) {
      return Value::string(std::string(js_trim_end(s)));
    });
  if (name == "title")
    return method([s](Interpreter&, std::vector<Value>&, KwArgs&, const std::shared_ptr<Env>&) {
      return Value::string(title_case(s));
    });
  if (name == "capitalize")
    return method([s](Interpreter&, std::vector<Value>&, KwArgs&, const std::shared_ptr<Env>&) {
      return Value::string(capitalize(s));
    });
  if (name == "startswith" || name == "endswith") {
    const bool prefix = name == "startswith";
    return method([s, prefix](Interpreter&, std::vector<Value>& args, KwArgs&, const std::shared_ptr<Env>&) {
      const char* fname = prefix ? "startswith" : "endswith";
      if (args.empty()) fail("{}() requires an argument", fname);
      return Value::boolean(affix_match(s, args[0], prefix, fname));
    });
  }
  if (name == "split")
    return method([s](Interpreter&, std::vector<Value>& args, KwArgs&, const std::shared_ptr<Env>&) {
      return Value::array(split(s, args.size() > 0 ? args[0] : Value::null(), args.size() > 1 ? args[1] : Value()));
    });
  if (name == "replace")
    return method([s](Interpreter&, std::vector<Value>& args, KwArgs& kwargs, const std::shared_ptr<Env>&) {
      return string_method_replace(s, args, kwargs);
    });
  return Value();
}

Value pairs_of(const Object& o) {
  Array items;
  items.reserve(o.size());
  for (const auto& [k, v] : o.entries) items.push_back(Value::array({Value::string(k), v}));
  return Value::array(std::move(items));
}

}  // namespace

Value dictsort(const Object& o, std::vector<Value>& args, KwArgs& kwargs) {
  auto arg = [&](size_t i, const char* name, Value fallback) {
    if (i < args.size()) return args[i];
    if (const Value* v = kwargs.find(name)) return *v;
    return fallback;
  };
  const Value case_sensitive = arg(0, "case_sensitive", Value::boolean(false));
  if (case_sensitive.kind != Value::Kind::Bool) fail("dictsort: case_sensitive must be a boolean");
  const Value by = arg(1, "by", Value::string("key"));
  if (!by.is_string() || (by.str != "key" && by.str != "value")) fail("dictsort: by must be 'key' or 'value'");
  const Value reverse = arg(2, "reverse", Value::boolean(false));
  if (reverse.kind != Value::Kind::Bool) fail("dictsort: reverse must be a boolean");
  Value items = pairs_of(o);
  const size_t index = by.str == "key" ? 0 : 1;
  const bool cs = case_sensitive.num != 0, rev = reverse.num != 0;
  stable_sort(*items.arr, [&](const Value& a, const Value& b) {
    const int r = compare_values((*a.arr)[index], (*b.arr)[index], cs);
    return rev ? -r : r;
  });
  return items;
}

namespace {

Value object_member(const Value& self, const std::string& name) {
  const std::shared_ptr<Object> o = self.obj;
  if (name == "get")
    return method([o](Interpreter&, std::vector<Value>& args, KwArgs& kwargs, const std::shared_ptr<Env>&) {
      if (args.empty() || !args[0].is_string())
        fail("get(): key must be a string, got {}", args.empty() ? "nothing" : kind_name(args[0].kind));
      if (const Value* v = o->find(args[0].str)) return *v;
      if (args.size() > 1) return args[1];
      if (const Value* d = kwargs.find("default")) return *d;
      return Value::null();
    });
  if (name == "items")
    return method([o](Interpreter&, std::vector<Value>&, KwArgs&, const std::shared_ptr<Env>&) { return pairs_of(*o); });
  if (name == "keys")
    return method([o](Interpreter&, std::vector<Value>&, KwArgs&, const std::shared_ptr<Env>&) {
      Array keys;
      for (const auto& [k, v] : o->entries) keys.push_back(Value::string(k));
      return Value::array(std::move(keys));
    });
  if (name == "values")
    return method([o](Interpreter&, std::vector<Value>&, KwArgs&, const std::shared_ptr<Env>&) {
      Array values;
      for (const auto& [k, v] : o->entries) values.push_back(v);
      return Value::array(std::move(values));
    });
  if (name == "dictsort")
    return method([o](Interpreter&, std::vector<Value>& args, KwArgs& kwargs, const std::shared_ptr<Env>&) {
      return dictsort(*o, args, kwargs);
    });
  return Value();
}

}  // namespace

Value builtin_member(const Value& object, const std::string& name) {
  switch (object.kind) {
    case Value::Kind::String: return string_member(object, name);
    case Value::Kind::Array:
    case Value::Kind::Tuple:
      return name == "length" ? Value::integer(static_cast<double>(object.arr->size())) : Value();
    case Value::Kind::Object: return object_member(object, name);
    default: return Value();
  }
}

namespace {

bool test_odd(const Value& v, const Value&) {
  if (v.kind != Value::Kind::Int) fail("cannot test 'odd' on {}", kind_name(v.kind));
  return std::fmod(v.num, 2) != 0;
}
bool test_even(const Value& v, const Value&) {
  if (v.kind != Value::Kind::Int) fail("cannot test 'even' on {}", kind_name(v.kind));
  return std::fmod(v.num, 2) == 0;
}
bool test_in(const Value& v, const Value& container) {
  if (container.is_array()) {
    for (const Value& item : *container.arr)
      if (strict_equal(item, v)) return true;
    return false;
  }
  if (container.is_string() && v.is_string()) return container.str.find(v.str) != std::string::npos;
  if (container.is_attribute_container() && v.is_string()) return container.obj->find(v.str) != nullptr;
  return false;
}

struct NamedTest {
  const char* name;
  TestFn fn;
};

constexpr NamedTest kTests[] = {
    {"boolean", [](const Value& v, const Value&) { return v.kind == Value::Kind::Bool; }},
    {"callable", [](const Value& v, const Value&) { return v.kind == Value::Kind::Function; }},
    {"odd", test_odd},
    {"even", test_even},
    {"false", [](const Value& v, const Value&) { return v.kind == Value::Kind::Bool && v.num == 0; }},
    {"true", [](const Value& v, const Value&) { return v.kind == Value::Kind::Bool && v.num != 0; }},
    {"none", [](const Value& v, const Value&) { return v.is_null(); }},
    {"string", [](const Value& v, const Value&) { return v.is_string(); }},
    {"number", [](const Value& v, const Value&) { return v.is_number(); }},
    {"integer", [](const Value& v, const Value&) { return v.kind == Value::Kind::Int; }},
    // Matches the reference: tuples are not "iterable" there, namespaces are not mappings.
    {"iterable", [](const Value& v, const Value&) { return v.kind == Value::Kind::Array || v.is_string(); }},
    {"mapping", [](const Value& v, const Value&) { return v.is_object(); }},
    {"sequence", [](const Value& v, const Value&) { return v.is_array() || v.is_object() || v.is_string(); }},
    {"lower", [](const Value& v, const Value&) { return v.is_string() && v.str == js_lower(v.str); }},
    {"upper", [](const Value& v, const Value&) { return v.is_string() && v.str == js_upper(v.str); }},
    {"defined", [](const Value& v, const Value&) { return !v.is_undefined(); }},
    {"undefined", [](const Value& v, const Value&) { return v.is_undefined(); }},
    {"equalto", [](const Value& a, const Value& b) { return strict_equal(a, b); }},
    {"eq", [](const Value& a, const Value& b) { return strict_equal(a, b); }},
    {"in", test_in},
};

}  // namespace

TestFn find_test(const std::string& name) {
  for (const auto& t : kTests)
    if (name == t.name) return t.fn;
  return nullptr;
}

void stable_sort(std::vector<Value>& items, const std::function<int(const Value&, const Value&)>& compare) {
  // Bottom-up merge sort: stays in bounds whatever the comparator answers, and stable like V8's TimSort.
  std::vector<Value> buffer(items.size());
  for (size_t width = 1; width < items.size(); width *= 2) {
    for (size_t lo = 0; lo < items.size(); lo += 2 * width) {
      const size_t mid = std::min(lo + width, items.size()), hi = std::min(lo + 2 * width, items.size());
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) buffer[k++] = compare(items[j], items[i]) < 0 ? items[j++] : items[i++];
      while (i < mid) buffer[k++] = items[i++];
      while (j < hi) buffer[k++] = items[j++];
    }
    items.swap(buffer);
  }
}

namespace {

std::string strftime_js(const std::string& format) {
  static const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                  "July",    "August",   "September", "October", "November", "December"};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  auto pad2 = [](int n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      out += format[i];
      continue;
    }
    const char c = format[i + 1];
    switch (c) {
      case 'Y': out += std::to_string(tm.tm_year + 1900); break;
      case 'm': out += pad2(tm.tm_mon + 1); break;
      case 'd': out += pad2(tm.tm_mday); break;
      case 'b': out += std::string(kMonths[tm.tm_mon]).substr(0, 3); break;
      case 'B': out += kMonths[tm.tm_mon]; break;
      case 'H': out += pad2(tm.tm_hour); break;
      case 'M': out += pad2(tm.tm_min); break;
      case '%': out += '%'; break;
      default: out += format.substr(i, 2);  // the reference leaves other directives as written
    }
    ++i;
  }
  return out;
}

Value range_fn(Interpreter&, std::vector<Value>& args, KwArgs&, const std::shared_ptr<Env>&) {
  if (args.empty() || args.size() > 3) fail("range() takes 1 to 3 arguments");
  for (const Value& a : args)
    if (!a.is_number()) fail("range() arguments must be numbers, got {}", kind_name(a.kind));
  double start = 0, stop, step = 1;
  if (args.size() == 1) stop = args[0].num;
  else start = args[0].num, stop = args[1].num;
  if (args.size() == 3) step = args[2].num;
  if (step == 0) fail("range() step must not be zero");
  if (std::isnan(start) || std::isnan(stop) || std::isnan(step)) return Value::array({});
  const double count = std::ceil((stop - start) / step);
  if (count > static_cast<double>(kMaxArrayItems))
    fail(ErrorKind::kResourceExhausted, "range() too long ({} items; the limit is {})", count, kMaxArrayItems);
  Array out;
  for (double i = start; step > 0 ? i < stop : i > stop; i += step) {
    out.push_back(i == std::trunc(i) ? Value::integer(i) : Value::floating(i));
  }
  return Value::array(std::move(out));
}

}  // namespace

std::shared_ptr<Env> Interpreter::make_globals() {
  auto env = std::make_shared<Env>();
  env->set("false", Value::boolean(false));
  env->set("true", Value::boolean(true));
  env->set("none", Value::null());
  env->set("False", Value::boolean(false));
  env->set("True", Value::boolean(true));
  env->set("None", Value::null());
  env->set("raise_exception",
           Value::function([](Interpreter&, std::vector<Value>& args, KwArgs&, const std::shared_ptr<Env>&) -> Value {
             throw RenderError("template raised an exception: " + (args.empty() ? "undefined" : raw_string(args[0])));
           }));
  env->set("range", Value::function(range_fn));
  env->set("strftime_now",
           Value::function([](Interpreter&, std::vector<Value>& args, KwArgs&, const std::shared_ptr<Env>&) {
             if (args.empty() || !args[0].is_string()) fail("strftime_now() takes a format string");
             return Value::string(strftime_js(args[0].str));
           }));
  return env;
}

}  // namespace hearth::jinja
