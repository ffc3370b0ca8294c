// Unit tests of the Jinja interpreter: constructs with hand-written expected output (these run without
// node), error messages, and the limits that keep hostile templates from crashing or hanging the process.
#include <gtest/gtest.h>

#include <ctime>
#include <string>

#include "core/error.h"
#include "jinja/template.h"
#include "jinja/value.h"

namespace hearth::jinja {
namespace {

using json = nlohmann::ordered_json;

std::string render(const std::string& tmpl, const json& ctx = json::object()) { return Template(tmpl).render(ctx); }

// The Error message of rendering `tmpl`, or "" when it renders.
std::string error_of(const std::string& tmpl, const json& ctx = json::object()) {
  try {
    render(tmpl, ctx);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Jinja, TextAndExpressions) {
  EXPECT_EQ(render("Hello {{ name }}!\n", {{"name", "you"}}), "Hello you!");  // one trailing newline dropped
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ 7 / 2 }} {{ 2 ** 3 }} {{ 7 % 4 }} {{ 'a' ~ 1 }}"), "7 3 3.5 8 3 a1");
  EXPECT_EQ(render("{{ 1.0 }} {{ 2.5 }} {{ true }} {{ none }}|{{ missing }}"), "1.0 2.5 true |");
  EXPECT_EQ(render("{{ [1, 'a'] }} {{ {'k': [none]} }}"), "[1, \"a\"] {\"k\": [null]}");
}

TEST(Jinja, WhitespaceControl) {
  // lstrip_blocks + trim_blocks are on, as transformers renders chat templates.
  EXPECT_EQ(render("  {% if true %}\n  x\n  {% endif %}\ny"), "  x\ny");
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("a\n  {%- if true -%}\n  b\n{%- endif %}"), "ab");
  EXPECT_EQ(render("a {#- note -#} b"), "ab");
  EXPECT_EQ(render("{% generation %}g{% endgeneration %}"), "g");
}

TEST(Jinja, Conditionals) {
  const std::string t = "{% if x > 1 %}big{% elif x == 1 %}one{% else %}small{% endif %}";
  EXPECT_EQ(render(t, {{"x", 5}}), "big");
  EXPECT_EQ(render(t, {{"x", 1}}), "one");
  EXPECT_EQ(render(t, {{"x", 0}}), "small");
  EXPECT_EQ(render("{{ 'y' if ok else 'n' }}", {{"ok", false}}), "n");
}

TEST(Jinja, Loops) {
  const json ctx = {{"xs", {"a", "b", "c"}}};
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", ctx),
            "1a,2b,3c");
  EXPECT_EQ(render("{% for x in xs %}{{ loop.revindex0 }}{{ loop.first }}{% endfor %}", ctx), "2true1false0false");
  EXPECT_EQ(render("{% for x in xs if x != 'b' %}{{ x }}{{ loop.length }}{% endfor %}", ctx), "a2c2");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }} {% endfor %}", {{"d", {{"b", 1}, {"a", 2}}}}),
            "b=1 a=2 ");
  EXPECT_EQ(render("{% for x in xs %}{% if x == 'b' %}{% continue %}{% endif %}{{ x }}{% endfor %}", ctx), "ac");
  EXPECT_EQ(render("{% for x in xs[::-1] %}{{ x }}{% endfor %}", ctx), "cba");
}

TEST(Jinja, SetNamespaceMacroCall) {
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"),
            "6");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set s %}in{{ 'side' }}{% endset %}[{{ s }}]"), "[inside]");
  EXPECT_EQ(render("{% macro m(x, y='d') %}{{ x }}-{{ y }}{% endmacro %}{{ m(1) }} {{ m(2, y='e') }}"), "1-d 2-e");
  EXPECT_EQ(render("{% macro w() %}({{ caller() }}){% endmacro %}{% call w() %}body{% endcall %}"), "(body)");
}

TEST(Jinja, FiltersTestsMethods) {
  EXPECT_EQ(render("{{ '  x ' | trim }}{{ 'ab' | upper }}{{ [3, 1, 2] | sort | join(',') }}{{ 'abc' | length }}"),
            "xAB1,2,33");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | tojson(indent=2) }}"), "{\n  \"b\": 1,\n  \"a\": 2\n}");
  EXPECT_EQ(render("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='c') | join }}",
                   {{"msgs", {{{"role", "user"}, {"c", "u"}}, {{"role", "bot"}, {"c", "b"}}}}}),
            "u");
  EXPECT_EQ(render("{{ x is defined }}{{ y is none }}{{ 's' is string }}{{ 1 is number }}", {{"x", 1}, {"y", nullptr}}),
            "truetruetruetrue");
  EXPECT_EQ(render("{{ 'a,b'.split(',') }}{{ 'Hi'.startswith('H') }}{{ d.get('k', 'z') }}", {{"d", json::object()}}),
            "[\"a\", \"b\"]truez");
}

TEST(Jinja, ExtensionsBeyondTheReference) {
  // The reference crashes on these; we give the Python Jinja answer instead.
  EXPECT_EQ(render("[{{ [] | first }}]"), "[]");
  EXPECT_EQ(render("{{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 2.1 | round(0, 'ceil') }}"), "2.57 3.0 3.0");
  EXPECT_EQ(render("{{ msgs | selectattr('r', 'in', 'user system') | list | length }}",
                   {{"msgs", {{{"r", "user"}}, {{"r", "tool"}}, {{"r", "system"}}}}}),
            "2");
}

TEST(Jinja, StrftimeNow) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char expected[32];
  std::strftime(expected, sizeof expected, "%Y-%m-%d %B", &tm);
  const std::string out = render("{{ strftime_now('%Y-%m-%d %B') }}|{{ strftime_now('%% %q') }}");
  EXPECT_EQ(out, std::string(expected) + "|% %q");
}

TEST(Jinja, NumbersPrintLikeJavaScript) {
  EXPECT_EQ(js_number(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(js_number(1e21), "1e+21");
  EXPECT_EQ(js_number(1e-7), "1e-7");
  EXPECT_EQ(js_number(123.0), "123");
  EXPECT_EQ(js_number(-0.000001), "-0.000001");
  EXPECT_EQ(js_number(1.5e300), "1.5e+300");
}

TEST(Jinja, ErrorsNameTheConstructAndLine) {
  EXPECT_EQ(error_of("a\nb\n{{ x | xyz }}", {{"x", "s"}}),
            "template error at line 3: unsupported filter 'xyz' for StringValue");
  EXPECT_EQ(error_of("\n{% frob %}"), "template syntax error at line 2: unsupported statement 'frob'");
  EXPECT_EQ(error_of("{% for x in y %}\n\nx"), "template syntax error at line 1: 'for' block is never closed");
  EXPECT_EQ(error_of("line\n{{ raise_exception('Only user and assistant roles are supported') }}"),
            "template raised an exception: Only user and assistant roles are supported");
  EXPECT_EQ(error_of("{{ 1 is frobbed }}"), "template error at line 1: unsupported test 'frobbed'");
  EXPECT_EQ(error_of("{{ nope() }}"), "template error at line 1: 'nope' is undefined or not callable");
  EXPECT_EQ(error_of("{{ 'x'.zfill(3) }}"), "template error at line 1: unsupported method 'zfill' (on a StringValue)");
  EXPECT_EQ(error_of("{% if true %}\n  {% else %}\n{{ 'a' < 'b' }}{% endif %}"), "");  // the else branch is not evaluated
  EXPECT_NE(error_of("x\n\n  {{ a ; }}").find("line 3"), std::string::npos);
  EXPECT_NE(error_of("{{ 'unterminated }}").find("unterminated string"), std::string::npos);
  EXPECT_NE(error_of(std::string("{{ '\xff' }}")).find("not valid UTF-8"), std::string::npos);
  EXPECT_NE(error_of("{% break %}").find("outside a loop"), std::string::npos);
  EXPECT_NE(error_of("x", {{"true", 1}}).find("already declared"), std::string::npos);
  EXPECT_THROW(Template("x").render(json::array()), Error);
}

TEST(JinjaLimits, DeepNesting) {
  // Nesting beyond the parser's limit.
  EXPECT_NE(error_of("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("nested too deeply"),
            std::string::npos);
  std::string ifs;
  for (int i = 0; i < 2000; ++i) ifs += "{% if true %}";
  EXPECT_NE(error_of(ifs).find("nested too deeply"), std::string::npos);
}

TEST(JinjaLimits, LongChain) {
  // A very long left-deep chain parses without recursion; evaluating (and freeing) it must not overflow.
  std::string chain = "{{ 1";
  for (int i = 0; i < 50000; ++i) chain += "+1";
  EXPECT_NE(error_of(chain + " }}").find("recursion too deep"), std::string::npos);
}

TEST(JinjaLimits, Recursion) {
  // Unbounded recursion.
  EXPECT_NE(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").find("recursion too deep"), std::string::npos);
}

TEST(JinjaLimits, RunawayLoops) {
  // Runaway loops and allocations.
  EXPECT_NE(error_of("{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}")
                .find("too many steps"),
            std::string::npos);
}

TEST(JinjaLimits, Growth) {
  EXPECT_NE(error_of("{{ range(100000000000) }}").find("too long"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                     "{% endfor %}")
                .find("too long"),
            std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}")
                .find("too long"),
            std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(l=['xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx']) %}{% for i in range(30) %}"
                     "{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l }}")
                .find("too large"),
            std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(s='\n\n\n\n\n\n\n\n') %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}"
                     "{% endfor %}{{ ns.s | indent(1000, blank=true) }}")
                .find("too long"),
            std::string::npos);
  // A namespace that contains itself.
  EXPECT_NE(error_of("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns | tojson }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 'a' | indent(100000000) }}").find("width"), std::string::npos);
  EXPECT_NE(error_of("{{ x | tojson(indent=-1) }}", {{"x", {1}}}).find("indent"), std::string::npos);
}

TEST(Jinja, TruncatedTemplatesNeverReadPastTheEnd) {
  const std::string full =
      "{%- set ns = namespace(a=1) -%}{# c #}{% for m in messages if m.role != 'x' %}{{ m['content'] | trim ~ "
      "\"\\n\" }}{% else %}{{ [1, 2][::-1] | tojson(indent=2) }}{% endfor %}{{ {'k': (1, 2)} }}";
  for (size_t n = 0; n <= full.size(); ++n) {
    try {
      render(full.substr(0, n), {{"messages", json::array()}});
    } catch (const Error&) {
    }
  }
  SUCCEED();
}

}  // namespace
}  // namespace hearth::jinja
