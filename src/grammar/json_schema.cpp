#include "grammar/json_schema.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <map>
#include <set>
#include <vector>

#include "core/error.h"
#include "grammar/gbnf.h"

namespace hearth::grammar {
namespace {

using Json = nlohmann::ordered_json;  // keeps the schema's property order, which the output follows

// A GBNF string literal of UTF-8 text.
std::string literal(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      out += fmt::format("\\x{:02X}", c);
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

// x{min,max} in GBNF, max < 0 meaning unbounded.
std::string repetition(long min, long max) {
  if (max < 0) return min == 0 ? "*" : min == 1 ? "+" : fmt::format("{{{},}}", min);
  return min == max ? fmt::format("{{{}}}", min) : fmt::format("{{{},{}}}", min, max);
}

// The primitive rules, added to a grammar when first used, with the primitives each refers to.
struct Primitive {
  const char* body;
  std::vector<std::string> uses;
};
const std::map<std::string, Primitive>& primitive_rules() {
  static const std::map<std::string, Primitive> rules = {
      {"boolean", {R"("true" | "false")", {}}},
      {"null", {R"("null")", {}}},
      {"int-part", {R"("0" | [1-9] [0-9]{0,15})", {}}},
      {"integer", {R"("-"? int-part)", {"int-part"}}},
      {"number", {R"("-"? int-part ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,2})?)", {"int-part"}}},
      {"char", {R"([^"\\\x00-\x1F] | "\\" ["\\/bfnrt])", {}}},
      // Formats, as ajv-formats checks them: every date below exists (29 February is left out, as it
      // exists only in leap years); date-time needs a time zone.
      {"date", {R"([0-9]{4} "-" (("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01]) | ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30") | "02-" ("0" [1-9] | "1" [0-9] | "2" [0-8])))", {}}},
      {"time", {R"(([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9]))", {}}},
      {"date-time", {R"(date "T" time)", {"date", "time"}}},
      {"hex", {R"([0-9a-f])", {}}},
      {"uuid", {R"(hex{8} "-" hex{4} "-" hex{4} "-" hex{4} "-" hex{12})", {"hex"}}},
      {"email-part", {R"([a-zA-Z0-9_+-]{1,16})", {}}},
      {"email-label", {R"([a-zA-Z0-9]{1,16} ("-" [a-zA-Z0-9]{1,16}){0,2})", {}}},
      {"email", {R"(email-part ("." email-part){0,2} "@" email-label ("." email-label){1,3})", {"email-part", "email-label"}}},
  };
  return rules;
}

const std::set<std::string, std::less<>> kAnnotations = {"title", "description", "default", "examples",
                                                         "$schema", "$id", "$comment"};
const std::set<std::string, std::less<>> kKeywords = {
    "type", "properties", "required", "additionalProperties", "enum", "const", "items", "minItems", "maxItems",
    "minLength", "maxLength", "anyOf", "oneOf", "$ref", "$defs", "definitions", "format"};

class SchemaCompiler {
 public:
  SchemaCompiler(const Json& document, const JsonGrammarOptions& options) : doc_(document), opt_(options) {
    if (opt_.max_whitespace < 0) fail("JSON schema: max_whitespace must be >= 0");
    rules_.emplace_back("ws", fmt::format("[ \\t\\n]{{0,{}}}", opt_.max_whitespace));
    names_.insert("ws");
  }

  std::string schema_grammar() {
    const std::string root = compile(doc_, "#", "root");
    return text(root);
  }
  std::string object_grammar() { return text(any_object()); }

 private:
  std::string text(const std::string& root) {
    std::string out = "root ::= " + root + "\n";
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out;
  }

  std::string primitive(const std::string& name) {
    if (names_.insert(name).second) {
      const Primitive& p = primitive_rules().at(name);
      for (const auto& used : p.uses) primitive(used);
      rules_.emplace_back(name, p.body);
    }
    return name;
  }

  // A new rule named after `hint` (made unique).
  std::string add_rule(const std::string& hint, const std::string& body) {
    const std::string name = unique_name(hint);
    rules_.emplace_back(name, body);
    return name;
  }
  std::string unique_name(const std::string& hint) {
    std::string base;
    for (char c : hint) base += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    if (base.empty()) base = "r";
    std::string name = "s-" + base;  // "s-" keeps them apart from the primitives
    for (int i = 2; !names_.insert(name).second; ++i) name = fmt::format("s-{}-{}", base, i);
    return name;
  }

  std::string string_rule(long min, long max) {
    primitive("char");
    const std::string body = "\"\\\"\" char" + repetition(min, max) + " \"\\\"\"";
    auto it = strings_.find(body);
    if (it != strings_.end()) return it->second;
    return strings_[body] = add_rule(max < 0 && min == 0 ? "string" : fmt::format("string-{}-{}", min, max), body);
  }

  std::string any_value() {
    if (!names_.count("value")) {
      names_.insert("value");
      const std::string obj = any_object(), arr = any_array();
      rules_.emplace_back("value", obj + " | " + arr + " | " + default_string() + " | " + primitive("number") +
                                       " | " + primitive("boolean") + " | " + primitive("null"));
    }
    return "value";
  }
  std::string default_string() { return string_rule(0, opt_.max_string_length); }
  std::string list(const std::string& open, const std::string& item, long min, long max, const std::string& close) {
    // open ws (item ws ("," ws item ws){min-1, max-1})? close
    const std::string more = fmt::format("(\",\" ws {} ws){}", item, repetition(std::max(0L, min - 1), max < 0 ? -1 : max - 1));
    const std::string body = item + " ws " + more;
    if (max == 0) return literal(open) + " ws " + literal(close);
    return literal(open) + " ws " + (min == 0 ? "(" + body + ")?" : body) + " " + literal(close);
  }
  std::string any_object() {
    if (!names_.count("object")) {
      names_.insert("object");
      const std::string kv = default_string() + " ws \":\" ws " + any_value();
      rules_.emplace_back("object", list("{", kv, 0, opt_.max_items, "}"));
    }
    return "object";
  }
  std::string any_array() {
    if (!names_.count("array")) {
      names_.insert("array");
      rules_.emplace_back("array", list("[", any_value(), 0, opt_.max_items, "]"));
    }
    return "array";
  }

  static long count(const Json& s, const char* key, const std::string& path, long fallback) {
    if (!s.contains(key)) return fallback;
    const Json& v = s[key];
    if (!v.is_number_integer() || v.get<long>() < 0) fail("JSON schema: {}/{} must be a non-negative integer", path, key);
    if (v.get<long>() > 4096) fail(ErrorKind::kUnsupported, "JSON schema: {}/{} above 4096 is not supported", path, key);
    return v.get<long>();
  }

  // Subschemas nest by recursion here; a bound keeps a hostile schema from overflowing the stack.
  static constexpr int kMaxDepth = 128;

  std::string compile(const Json& s, const std::string& path, const std::string& hint) {
    if (depth_ >= kMaxDepth) fail(ErrorKind::kUnsupported, "JSON schema: nested deeper than {} (at {})", kMaxDepth, path);
    ++depth_;
    try {
      std::string rule = compile_unchecked(s, path, hint);
      --depth_;
      return rule;
    } catch (...) {
      --depth_;
      throw;
    }
  }

  std::string compile_unchecked(const Json& s, const std::string& path, const std::string& hint) {
    if (s.is_boolean()) {
      if (s.get<bool>()) return any_value();
      fail(ErrorKind::kUnsupported, "JSON schema: {} is the schema false, which no value matches", path);
    }
    if (!s.is_object()) fail("JSON schema: {} must be an object or a boolean", path);
    for (const auto& [key, value] : s.items()) {
      if (!kKeywords.count(key) && !kAnnotations.count(key))
        fail(ErrorKind::kUnsupported, "JSON schema: unsupported keyword '{}' (at {})", key, path);
      if (key == "$ref")
        for (const auto& [other, unused] : s.items())
          if (other != "$ref" && !kAnnotations.count(other) && other != "$defs" && other != "definitions")
            fail(ErrorKind::kUnsupported, "JSON schema: keyword '{}' beside '$ref' (at {})", other, path);
    }
    if (s.contains("$ref")) return reference(s["$ref"], path);
    if (s.contains("const")) return literal(s["const"].dump());
    if (s.contains("enum")) {
      const Json& e = s["enum"];
      if (!e.is_array() || e.empty()) fail("JSON schema: {}/enum must be a non-empty array", path);
      std::string body;
      for (const auto& v : e) body += (body.empty() ? "" : " | ") + literal(v.dump());
      return add_rule(hint, body);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      const Json& alts = s[key];
      if (!alts.is_array() || alts.empty()) fail("JSON schema: {}/{} must be a non-empty array", path, key);
      if (s.contains("type")) fail(ErrorKind::kUnsupported, "JSON schema: '{}' beside 'type' (at {})", key, path);
      std::string body;
      for (size_t i = 0; i < alts.size(); ++i)
        body += (i ? " | " : "") + compile(alts[i], fmt::format("{}/{}/{}", path, key, i), fmt::format("{}-{}", hint, i));
      return add_rule(hint, body);
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      const Json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const auto& x : t) {
          if (!x.is_string()) fail("JSON schema: {}/type must be a string or an array of strings", path);
          types.push_back(x.get<std::string>());
        }
      } else {
        fail("JSON schema: {}/type must be a string or an array of strings", path);
      }
    } else if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required")) {
      types.push_back("object");
    } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
      types.push_back("array");
    } else if (s.contains("minLength") || s.contains("maxLength") || s.contains("format")) {
      types.push_back("string");
    } else {
      return any_value();
    }
    if (types.size() == 1) return typed(s, types[0], path, hint);
    std::string body;
    for (const auto& t : types) body += (body.empty() ? "" : " | ") + typed(s, t, path, hint + "-" + t);
    return add_rule(hint, body);
  }

  std::string typed(const Json& s, const std::string& type, const std::string& path, const std::string& hint) {
    if (type == "boolean" || type == "null" || type == "number" || type == "integer") return primitive(type);
    if (type == "string") return string_of(s, path);
    if (type == "array") {
      const Guarded guarded(*this);
      const long min = count(s, "minItems", path, 0), max = count(s, "maxItems", path, opt_.max_items);
      if (max >= 0 && max < min) {
        if (!s.contains("maxItems")) return add_rule(hint, list("[", items(s, path, hint), min, min, "]"));
        fail("JSON schema: {} has maxItems below minItems", path);
      }
      return add_rule(hint, list("[", items(s, path, hint), min, max, "]"));
    }
    if (type == "object") {
      const Guarded guarded(*this);
      return object_of(s, path, hint);
    }
    fail(ErrorKind::kUnsupported, "JSON schema: unsupported type '{}' (at {})", type, path);
  }

  std::string items(const Json& s, const std::string& path, const std::string& hint) {
    if (!s.contains("items")) return any_value();
    if (s["items"].is_array()) fail(ErrorKind::kUnsupported, "JSON schema: 'items' as an array (tuple form) at {}", path);
    return compile(s["items"], path + "/items", hint + "-item");
  }

  std::string string_of(const Json& s, const std::string& path) {
    if (s.contains("format")) {
      if (s.contains("minLength") || s.contains("maxLength"))
        fail(ErrorKind::kUnsupported, "JSON schema: 'format' together with a length limit (at {})", path);
      const Json& f = s["format"];
      const std::string name = f.is_string() ? f.get<std::string>() : f.dump();
      if (name != "date" && name != "date-time" && name != "uuid" && name != "email")
        fail(ErrorKind::kUnsupported, "JSON schema: unsupported format '{}' (at {})", name, path);
      const std::string rule = "string-" + name;
      if (names_.insert(rule).second) rules_.emplace_back(rule, "\"\\\"\" " + primitive(name) + " \"\\\"\"");
      return rule;
    }
    const long min = count(s, "minLength", path, 0);
    long max = count(s, "maxLength", path, opt_.max_string_length);
    if (max >= 0 && max < min) {
      if (s.contains("maxLength")) fail("JSON schema: {} has maxLength below minLength", path);
      max = min;
    }
    return string_rule(min, max);
  }

  std::string object_of(const Json& s, const std::string& path, const std::string& hint) {
    struct Property {
      std::string key, value;
      bool required;
    };
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) fail("JSON schema: {}/required must be an array of strings", path);
      for (const auto& r : s["required"]) {
        if (!r.is_string()) fail("JSON schema: {}/required must be an array of strings", path);
        required.insert(r.get<std::string>());
      }
    }
    std::vector<Property> props;
    if (s.contains("properties")) {
      if (!s["properties"].is_object()) fail("JSON schema: {}/properties must be an object", path);
      for (const auto& [key, sub] : s["properties"].items())
        props.push_back({key, compile(sub, path + "/properties/" + key, hint + "-" + key), required.count(key) > 0});
    }
    for (const auto& r : required) {
      bool listed = false;
      for (const auto& p : props) listed = listed || p.key == r;
      if (!listed) props.push_back({r, any_value(), true});
    }
    const Json additional = s.contains("additionalProperties") ? s["additionalProperties"] : Json(true);
    if (!additional.is_boolean() && !additional.is_object())
      fail("JSON schema: {}/additionalProperties must be a boolean or a schema", path);
    if (props.empty()) {
      // A map: any keys, values of the additionalProperties schema (or none at all when it is false).
      if (additional.is_boolean() && !additional.get<bool>()) return add_rule(hint, "\"{\" ws \"}\"");
      const std::string value = additional.is_boolean() ? any_value()
                                                        : compile(additional, path + "/additionalProperties", hint + "-value");
      const std::string kv = default_string() + " ws \":\" ws " + value;
      return add_rule(hint, list("{", kv, 0, opt_.max_items, "}"));
    }
    if (additional.is_object()) (void)compile(additional, path + "/additionalProperties", hint + "-value");  // checked, not generated
    // first[i]: properties i.. with none written yet; rest[i]: properties i.. after one was written (each
    // present one preceded by a comma). Required ones cannot be skipped, so every output has them all.
    const size_t n = props.size();
    std::vector<std::string> first(n + 1, "\"\""), rest(n + 1, "\"\"");
    for (size_t i = n; i-- > 0;) {
      const Property& p = props[i];
      const std::string kv = literal(Json(p.key).dump()) + " ws \":\" ws " + p.value + " ws";
      const std::string rest_body = p.required ? "\",\" ws " + kv + " " + rest[i + 1]
                                               : "(\",\" ws " + kv + ")? " + rest[i + 1];
      rest[i] = add_rule(hint + "-rest-" + std::to_string(i), rest_body);
      const std::string first_body = p.required ? kv + " " + rest[i + 1] : kv + " " + rest[i + 1] + " | " + first[i + 1];
      first[i] = add_rule(hint + "-first-" + std::to_string(i), first_body);
    }
    return add_rule(hint, "\"{\" ws " + first[0] + " \"}\"");
  }

  std::string reference(const Json& ref, const std::string& path) {
    if (!ref.is_string()) fail("JSON schema: {}/$ref must be a string", path);
    const std::string r = ref.get<std::string>();
    if (unguarded_.count(r))
      fail(ErrorKind::kUnsupported,
           "JSON schema: $ref '{}' (at {}) refers to itself before any '[' or '{{' (a cycle that matches nothing)", r, path);
    if (auto it = refs_.find(r); it != refs_.end()) return it->second;
    if (r != "#" && r.rfind("#/$defs/", 0) != 0 && r.rfind("#/definitions/", 0) != 0)
      fail(ErrorKind::kUnsupported, "JSON schema: $ref '{}' (at {}): only '#/$defs/...' and '#/definitions/...' are supported", r, path);
    const Json* target = nullptr;
    try {
      target = &doc_.at(Json::json_pointer(r.substr(1)));
    } catch (const std::exception&) {
      fail("JSON schema: $ref '{}' (at {}) points at nothing", r, path);
    }
    // Named before it is compiled, so a recursive reference finds the rule.
    const std::string name = unique_name("ref-" + r.substr(r.rfind('/') + 1));
    refs_[r] = name;
    rules_.emplace_back(name, "");
    const size_t slot = rules_.size() - 1;
    unguarded_.insert(r);
    try {
      rules_[slot].second = compile(*target, r, name);
    } catch (...) {
      unguarded_.erase(r);
      throw;
    }
    unguarded_.erase(r);
    return name;
  }

  // While an array's or object's items compile, the references being compiled around it have consumed a
  // bracket, so one of them recurring is fine (a tree); within the same bracket it is a left-recursive cycle.
  class Guarded {
   public:
    explicit Guarded(SchemaCompiler& c) : c_(c), saved_(std::move(c.unguarded_)) { c_.unguarded_.clear(); }
    ~Guarded() { c_.unguarded_ = std::move(saved_); }
    Guarded(const Guarded&) = delete;
    Guarded& operator=(const Guarded&) = delete;

   private:
    SchemaCompiler& c_;
    std::set<std::string> saved_;
  };

  const Json& doc_;
  JsonGrammarOptions opt_;
  std::vector<std::pair<std::string, std::string>> rules_;
  std::set<std::string> names_;
  std::map<std::string, std::string> strings_, refs_;
  std::set<std::string> unguarded_;  // references being compiled with no bracket consumed since they began
  int depth_ = 0;
};

Json parse_schema(std::string_view text) {
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("JSON schema: not valid JSON: {}", e.what());
  }
}

}  // namespace

std::string json_schema_to_gbnf(std::string_view schema, const JsonGrammarOptions& options) {
  const Json doc = parse_schema(schema);
  return SchemaCompiler(doc, options).schema_grammar();
}

std::string json_object_gbnf(const JsonGrammarOptions& options) {
  const Json doc = Json::object();
  return SchemaCompiler(doc, options).object_grammar();
}

std::shared_ptr<const Grammar> compile_json_schema(std::string_view schema, const JsonGrammarOptions& options) {
  return parse_gbnf(json_schema_to_gbnf(schema, options));
}

std::shared_ptr<const Grammar> json_object_grammar(const JsonGrammarOptions& options) {
  return parse_gbnf(json_object_gbnf(options));
}

}  // namespace hearth::grammar
