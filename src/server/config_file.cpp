#include "server/config_file.h"

#include <fmt/format.h>

#include <toml++/toml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace hearth::server {
namespace {

std::string where(const std::string& source, const toml::source_region& region) {
  return region.begin.line ? fmt::format("{}:{}", source, region.begin.line) : source;
}

// A scalar's command-line text; Error for anything else.
std::string scalar_text(const toml::node& v, const std::string& source, const std::string& key) {
  if (const auto* s = v.as_string()) return s->get();
  if (const auto* i = v.as_integer()) return std::to_string(i->get());
  if (const auto* f = v.as_floating_point()) return fmt::format("{}", f->get());
  if (const auto* b = v.as_boolean()) return b->get() ? "true" : "false";
  fail("{}: '{}' must be a string, number or boolean", where(source, v.source()), key);
}

std::string string_field(const toml::node& v, const std::string& source, const std::string& key) {
  if (const auto* s = v.as_string()) return s->get();
  fail("{}: '{}' must be a string", where(source, v.source()), key);
}

// A string, or an array of strings, as a list.
std::vector<std::string> strings_field(const toml::node& v, const std::string& source, const char* key,
                                       const char* hint) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(string_field(v, source, key));
  } else if (const auto* a = v.as_array()) {
    for (const toml::node& e : *a) out.push_back(string_field(e, source, key));
  } else {
    fail("{}: '{}' must be a string or an array of strings{}", where(source, v.source()), key, hint);
  }
  return out;
}

ModelSpec model_table(const toml::table& t, const std::string& source) {
  const std::string at = where(source, t.source());
  ModelSpec spec;
  bool has_id = false;
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    if (key == "path") {
      spec.path = string_field(v, source, "path");
    } else if (key == "id") {
      spec.id = string_field(v, source, "id");
      has_id = true;
    } else if (key == "aliases") {
      spec.aliases = strings_field(v, source, "aliases", "");
    } else if (key == "ttl") {
      const auto* i = v.as_integer();
      if (!i || i->get() < 0) fail("{}: 'ttl' must be a number of seconds >= 0 (0: never unloaded)", where(source, v.source()));
      spec.ttl_seconds = i->get();
    } else if (key == "draft") {
      spec.draft = string_field(v, source, "draft");
    } else if (key == "parallel" || key == "context") {
      // Bounds as the flags': a slot count the engine can schedule, a context a KV cache can be sized for.
      const int64_t most = key == "parallel" ? 256 : (int64_t(1) << 20);
      const auto* i = v.as_integer();
      if (!i || i->get() < 1 || i->get() > most)
        fail("{}: '{}' must be a whole number from 1 to {}", where(source, v.source()), key, most);
      (key == "parallel" ? spec.parallel : spec.context) = int(i->get());
    } else if (key == "lora") {
      spec.lora = strings_field(v, source, "lora", " ([NAME=]FILE[:SCALE])");
    } else if (key == "preload") {
      const auto* b = v.as_boolean();
      if (!b) fail("{}: 'preload' must be true or false", where(source, v.source()));
      spec.preload = b->get();
    } else {
      fail("{}: unknown key '{}' in [[model]] (id, path, aliases, ttl, draft, parallel, context, lora, preload)", where(source, v.source()), key);
    }
  }
  if (spec.path.empty()) fail("{}: a [[model]] table needs a path", at);
  if (!has_id) spec.id = parse_model_spec(spec.path).id;
  return spec;
}

}  // namespace

ConfigFile parse_config(std::string_view text, const std::string& source,
                        const std::function<bool(const std::string&)>& is_option) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    fail("{}: {}", where(source, e.source()), e.description());
  }
  ConfigFile out;
  for (auto&& [k, v] : root) {
    const std::string key(k.str());
    if (key == "model" && v.is_array_of_tables()) {
      for (const toml::node& t : *v.as_array()) out.models.push_back(model_table(*t.as_table(), source));
      continue;
    }
    if (key == "config") fail("{}: a configuration file cannot name another ('config')", where(source, v.source()));
    if (!is_option(key))
      fail("{}: unknown key '{}' (the keys are the long flags of hearth serve, [[model]] tables and [stack])",
           where(source, v.source()), key);
    if (const auto* a = v.as_array()) {
      for (const toml::node& e : *a) out.args.push_back("--" + key + "=" + scalar_text(e, source, key));
    } else if (const auto* t = v.as_table()) {
      for (auto&& [tk, tv] : *t) out.args.push_back("--" + key + "=" + std::string(tk.str()) + "=" + scalar_text(tv, source, key));
    } else {
      out.args.push_back("--" + key + "=" + scalar_text(v, source, key));
    }
  }
  return out;
}

ConfigFile read_config_file(const std::string& path, const std::function<bool(const std::string&)>& is_option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "{}: cannot open the configuration file", path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path, is_option);
}

std::string default_config_path() {
  namespace fs = std::filesystem;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  const fs::path base = xdg && *xdg ? fs::path(xdg) : fs::path(home && *home ? home : ".") / ".config";
  return (base / "hearth" / "serve.toml").string();
}

}  // namespace hearth::server
