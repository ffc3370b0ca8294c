// The JSON-schema compiler: each supported keyword, checked through the language of the grammar it gives, and
// each unsupported keyword refused by name.
#include "grammar/json_schema.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "grammar/gbnf.h"
#include "grammar/matcher.h"

namespace hearth::grammar {
namespace {

struct Case {
  const char* schema;
  std::vector<const char*> good, bad;
};

void check(const Case& c, const JsonGrammarOptions& options = {}) {
  SCOPED_TRACE(c.schema);
  auto g = compile_json_schema(c.schema, options);
  for (const char* s : c.good) EXPECT_TRUE(matches(g, s)) << "should accept: " << s;
  for (const char* s : c.bad) EXPECT_FALSE(matches(g, s)) << "should refuse: " << s;
}

TEST(JsonSchema, Primitives) {
  check({R"({"type":"string"})", {R"("")", R"("a b")", R"("q\"\n")"}, {R"(a)", R"("a)", "\"\n\"", R"("\q")"}});
  check({R"({"type":"integer"})", {"0", "-12", "1234567890"}, {"01", "1.5", "-", "1e3", "+1"}});
  check({R"({"type":"number"})", {"0", "-1.25", "3e10", "2.5E-3"}, {"1.", ".5", "1e", "NaN", "1e100"}});
  check({R"({"type":"boolean"})", {"true", "false"}, {"True", "1"}});
  check({R"({"type":"null"})", {"null"}, {"nil", ""}});
  check({R"({"type":["integer","null"]})", {"3", "null"}, {"\"3\"", "true"}});
  check({R"({})", {"1", "{\"a\": [true, null]}", "\"x\""}, {"", "{a}"}});
  check({R"(true)", {"[]"}, {"["}});
}

TEST(JsonSchema, StringLengthsAndFormats) {
  check({R"({"type":"string","minLength":2,"maxLength":3})", {R"("ab")", R"("a\"c")", "\"\xc3\xa9\xc3\xa9\""},
         {R"("a")", R"("abcd")"}});
  check({R"({"maxLength":1})", {R"("")", R"("x")"}, {R"("xy")"}});
  check({R"({"type":"string","format":"date"})", {R"("2024-02-28")", R"("1999-12-31")", R"("2023-04-30")"},
         {R"("2024-02-30")", R"("2024-04-31")", R"("2024-13-01")", R"("24-01-01")"}});
  check({R"({"type":"string","format":"date-time"})", {R"("2024-01-05T10:20:30Z")", R"("2024-01-05T23:59:59.123+02:00")"},
         {R"("2024-01-05T24:00:00Z")", R"("2024-01-05T10:20:30")", R"("2024-01-05 10:20:30Z")"}});
  check({R"({"type":"string","format":"uuid"})", {R"("123e4567-e89b-12d3-a456-426614174000")"},
         {R"("123e4567e89b12d3a456426614174000")", R"("123E4567-e89b-12d3-a456-42661417400")"}});
  check({R"({"type":"string","format":"email"})", {R"("a.b+c@example.co.uk")", R"("x@a-b.io")"},
         {R"("a@b")", R"("@b.com")", R"("a@-b.com")", R"("a b@c.com")"}});
}

TEST(JsonSchema, StringAndArrayBoundsFromOptions) {
  JsonGrammarOptions o;
  o.max_string_length = 3;
  o.max_items = 2;
  o.max_whitespace = 0;
  check({R"({"type":"array","items":{"type":"string"}})", {R"([])", R"(["abc","d"])"}, {R"(["abcd"])", R"(["a","b","c"])", R"([ "a"])"}}, o);
}

TEST(JsonSchema, Objects) {
  const char* s = R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"}},
                     "required":["b"]})";
  check({s, {R"({"b":""})", R"({"a":1,"b":"x"})", R"({ "a": 1, "b": "x", "c": true })", R"({"b":"x","c":false})"},
         {R"({})", R"({"a":1})", R"({"b":"x","a":1})", R"({"b":"x",})", R"({"b":"x","d":1})", R"({,"b":"x"})"}});
  check({R"({"type":"object","properties":{"a":{"type":"null"}}})", {R"({})", R"({"a":null})"}, {R"({"a":1})"}});
  check({R"({"type":"object","additionalProperties":{"type":"integer"}})", {R"({})", R"({"x":1,"y":2})"},
         {R"({"x":"1"})"}});
  check({R"({"type":"object","additionalProperties":false})", {R"({})"}, {R"({"x":1})"}});
  check({R"({"type":"object"})", {R"({})", R"({"k":[1,{"z":null}]})"}, {R"([])"}});
  check({R"({"type":"object","required":["id"]})", {R"({"id":[1]})"}, {R"({})"}});
}

TEST(JsonSchema, Arrays) {
  check({R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3})", {"[1]", "[1, 2,3]"},
         {"[]", "[1,2,3,4]", "[\"a\"]", "[1,]"}});
  check({R"({"type":"array","maxItems":0})", {"[]"}, {"[1]"}});
  check({R"({"type":"array","minItems":2})", {"[1,\"a\"]", "[null,null,null]"}, {"[1]"}});
}

TEST(JsonSchema, EnumConstAnyOfOneOf) {
  check({R"({"enum":["red","green",3,null]})", {R"("red")", "3", "null"}, {R"("blue")", "4"}});
  check({R"({"const":{"v":1}})", {R"({"v":1})"}, {R"({"v":2})", R"({ "v":1})"}});
  check({R"({"anyOf":[{"type":"integer"},{"type":"string","maxLength":1}]})", {"1", R"("a")"}, {R"("ab")", "true"}});
  check({R"({"oneOf":[{"type":"boolean"},{"type":"null"}]})", {"true", "null"}, {"1"}});
}

TEST(JsonSchema, References) {
  check({R"({"$defs":{"p":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}},
            "type":"array","items":{"$ref":"#/$defs/p"}})", {R"([{"x":1},{"x":2}])"}, {R"([{"y":1}])"}});
  check({R"({"definitions":{"n":{"type":"integer"}},"$ref":"#/definitions/n"})", {"5"}, {"\"5\""}});
  // Recursive: a tree of nodes.
  check({R"({"$defs":{"node":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},
            "required":["kids"]}},"$ref":"#/$defs/node"})", {R"({"kids":[{"kids":[]},{"kids":[{"kids":[]}]}]})"},
         {R"({"kids":[{}]})"}});
}

TEST(JsonSchema, JsonObject) {
  auto g = json_object_grammar();
  EXPECT_TRUE(matches(g, R"({"a": [1, 2.5, "x", {"b": null}], "c": false})"));
  EXPECT_FALSE(matches(g, "[1]"));
  EXPECT_FALSE(matches(g, "\"x\""));
}

// The kind and message of the Error compiling `schema` throws.
std::pair<ErrorKind, std::string> error_of(const char* schema) {
  try {
    compile_json_schema(schema);
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  }
  return {ErrorKind::kCancelled, "no error"};
}

TEST(JsonSchema, UnsupportedKeywordsAreNamed) {
  for (const char* kw : {"pattern", "minimum", "maximum", "exclusiveMinimum", "multipleOf", "allOf", "not",
                         "if", "patternProperties", "minProperties", "uniqueItems", "contains", "prefixItems",
                         "dependentRequired", "propertyNames", "unevaluatedProperties"}) {
    const std::string schema = std::string(R"({"type":"object","properties":{"x":{")") + kw + R"(":1}}})";
    const auto [kind, message] = error_of(schema.c_str());
    EXPECT_EQ(kind, ErrorKind::kUnsupported) << kw;
    EXPECT_NE(message.find(std::string("unsupported keyword '") + kw + "' (at #/properties/x)"), std::string::npos)
        << message;
  }
  EXPECT_NE(error_of(R"({"type":"string","format":"ipv4"})").second.find("unsupported format 'ipv4'"), std::string::npos);
  EXPECT_NE(error_of(R"({"type":"decimal"})").second.find("unsupported type 'decimal'"), std::string::npos);
  EXPECT_NE(error_of(R"({"$ref":"http://x/y.json"})").second.find("$ref 'http://x/y.json'"), std::string::npos);
  EXPECT_EQ(error_of(R"({"items":[{"type":"integer"}]})").first, ErrorKind::kUnsupported);
  EXPECT_EQ(error_of(R"(false)").first, ErrorKind::kUnsupported);
}

TEST(JsonSchema, CyclesThatMatchNothingAreRefused) {
  // A reference reaching itself before any bracket would be a left-recursive rule: refused by the compiler,
  // never handed to the grammar parser as a broken grammar.
  for (const char* schema : {R"({"$ref":"#"})", R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})",
                             R"({"$defs":{"a":{"anyOf":[{"type":"integer"},{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"})"}) {
    const auto [kind, message] = error_of(schema);
    EXPECT_EQ(kind, ErrorKind::kUnsupported) << schema << ": " << message;
    EXPECT_NE(message.find("refers to itself before any"), std::string::npos) << message;
  }
}

TEST(JsonSchema, DeepNestingIsRefusedNotOverflowed) {
  std::string deep;
  for (int i = 0; i < 20000; ++i) deep += R"({"items":)";
  deep += "{}" + std::string(20000, '}');
  const auto [kind, message] = error_of(deep.c_str());
  EXPECT_EQ(kind, ErrorKind::kUnsupported);
  EXPECT_NE(message.find("nested deeper than 128"), std::string::npos) << message.substr(0, 200);
}

TEST(JsonSchema, MalformedSchemasAreInvalidArguments) {
  for (const char* s : {R"({"type":5})", R"({"enum":[]})", R"({"minLength":-1})", R"({"type":"string","minLength":3,"maxLength":2})",
                        R"({"$ref":"#/$defs/missing"})", R"({"required":"a"})", R"({"properties":[]})", "{", "[1]"}) {
    const auto [kind, message] = error_of(s);
    EXPECT_EQ(kind, ErrorKind::kInvalidArgument) << s << ": " << message;
  }
}

}  // namespace
}  // namespace hearth::grammar
