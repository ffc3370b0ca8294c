// hearth: the command-line program. Dispatches to the registered subcommands (see command.h).
#include <cstdio>
#include <iostream>
#include <map>

#include "cli/command.h"
#include "core/error.h"
#include "core/utf8.h"

namespace hearth::cli {

std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, action] : actions)
      if (sub->parsed()) return (*action)();
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
