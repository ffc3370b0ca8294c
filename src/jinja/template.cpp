#include "jinja/template.h"

#include "core/error.h"
#include "jinja/interpreter.h"
#include "jinja/lexer.h"
#include "jinja/parser.h"

namespace hearth::jinja {

struct Template::Impl {
  NodeList program;
};

Template::Template(const std::string& source) : impl_(std::make_unique<Impl>()) {
  impl_->program = parse(tokenize(source));
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const nlohmann::ordered_json& context) const {
  if (!context.is_object() && !context.is_null()) fail("template context must be a JSON object");
  Interpreter interpreter;
  auto globals = interpreter.make_globals();
  if (context.is_object()) {
    for (const auto& [key, value] : context.items()) {
      if (key == "namespace" || globals->own(key)) fail("template context: variable '{}' is already declared", key);
      globals->set(key, from_json(value));
    }
  }
  return interpreter.render(impl_->program, globals);
}

}  // namespace hearth::jinja
