// hearth: the command-line program. Dispatches to the registered subcommands (see command.h).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <map>
#include <string_view>

#include "cli/command.h"
#include "core/error.h"
#include "core/utf8.h"

namespace hearth::cli {

std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

namespace {

// The commands that take positional texts, and where their texts go.
std::map<const CLI::App*, std::vector<std::string>*>& text_arguments() {
  static std::map<const CLI::App*, std::vector<std::string>*> targets;
  return targets;
}

// No option reads "[a,b]" as a list or swallows the arguments after its value: each occurrence takes one
// value, verbatim (lists are asked for with an explicit delimiter).
void one_value_per_option(CLI::App& app) {
  for (CLI::Option* opt : app.get_options())
    if (!opt->get_positional() && opt->get_allow_extra_args()) opt->allow_extra_args(false);
  for (CLI::App* sub : app.get_subcommands({})) one_value_per_option(*sub);
}

// "-x", "--name", "--name=value": what a mistyped option looks like. "- item", "-5 degrees" or "-" cannot be
// options and are texts.
bool looks_like_an_option(std::string_view arg) {
  if (arg.size() < 2 || arg[0] != '-') return false;
  std::string_view name = arg.substr(arg[1] == '-' ? 2 : 1);
  name = name.substr(0, name.find('='));
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// An argument that looks like an option but is none, where texts are expected: says how to give it as text.
class UnknownOption : public CLI::ParseError {
 public:
  explicit UnknownOption(const std::string& arg)
      : CLI::ParseError("UnknownOption", "unknown option '" + arg + "' (a text that starts with '-' goes after '--')",
                        CLI::ExitCodes::ExtrasError) {}
};

}  // namespace

void add_text_arguments(CLI::App& app, std::vector<std::string>* texts, const std::string& description) {
  app.allow_extras();
  app.footer("Positionals:\n  TEXT ...  " + description +
             ". Each argument is one text, taken verbatim; put a text that starts with '-' after '--'.");
  text_arguments()[&app] = texts;
}

std::vector<std::string> read_texts(const std::vector<std::string>& positional) {
  std::vector<std::string> texts = positional;
  if (texts.empty()) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      texts.push_back(line);
    }
  }
  for (size_t i = 0; i < texts.size(); ++i)
    if (!utf8_valid(texts[i])) fail("input {} is not valid UTF-8", i + 1);
  return texts;
}

}  // namespace hearth::cli

int main(int argc, char** argv) {
  using namespace hearth::cli;
  CLI::App app{"hearth: a local AI runtime (embeddings, chat and completion on your own machine)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hearth 0.1.0");

  // Build the command tree; intermediate groups ("bench", "dev") are created on demand.
  std::map<std::string, CLI::App*> groups;
  CommandAction selected;
  std::vector<std::pair<CLI::App*, CommandAction*>> actions;
  std::vector<CommandAction> storage(command_registry().size());
  size_t index = 0;
  for (auto& spec : command_registry()) {
    CLI::App* parent = &app;
    std::string key;
    for (size_t i = 0; i + 1 < spec.path.size(); ++i) {
      key += spec.path[i] + " ";
      auto it = groups.find(key);
      if (it == groups.end()) {
        CLI::App* g = parent->add_subcommand(spec.path[i], spec.path[i] + " commands");
        g->require_subcommand(1);
        it = groups.emplace(key, g).first;
      }
      parent = it->second;
    }
    CLI::App* sub = parent->add_subcommand(spec.path.back(), spec.description);
    storage[index] = spec.setup(*sub);
    actions.emplace_back(sub, &storage[index]);
    ++index;
  }

  one_value_per_option(app);

  // Everything after the first "--" is positional text, whatever it looks like.
  std::vector<std::string> after_dashes;
  int parsed_argc = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--") {
      after_dashes.assign(argv + i + 1, argv + argc);
      parsed_argc = i;
      break;
    }
  CommandAction* chosen = nullptr;
  try {
    app.parse(parsed_argc, argv);
    for (auto& [sub, action] : actions) {
      if (!sub->parsed()) continue;
      chosen = action;
      auto target = text_arguments().find(sub);
      std::vector<std::string> extras = sub->remaining();
      if (target == text_arguments().end()) {
        extras.insert(extras.end(), after_dashes.begin(), after_dashes.end());
        if (!extras.empty()) throw CLI::ExtrasError(extras);
        break;
      }
      for (const std::string& text : extras)
        if (looks_like_an_option(text)) throw UnknownOption(text);
      *target->second = std::move(extras);
      target->second->insert(target->second->end(), after_dashes.begin(), after_dashes.end());
      break;
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (chosen) return (*chosen)();
  } catch (const hearth::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "hearth: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "hearth: error: out of memory\n");
    return 1;
  }
  return 0;
}
