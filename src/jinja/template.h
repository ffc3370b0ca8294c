// A parsed Jinja template, rendered the way @huggingface/jinja (transformers.js) renders chat templates.
//
//   hearth::jinja::Template t(source);           // Error "template syntax error at line N: ..."
//   std::string s = t.render(context_json);      // Error "template error at line N: ..."
//
// The template is parsed once and may be rendered many times, concurrently.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace hearth::jinja {

struct Node;

class Template {
 public:
  explicit Template(const std::string& source);
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // `context` must be a JSON object; its keys become variables. A key that names a global (true, none,
  // range, namespace, ...) is an Error, as in the reference.
  std::string render(const nlohmann::ordered_json& context) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::jinja
