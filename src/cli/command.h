// Subcommand registry. Each src/cli/<name>.cpp registers itself with a static CommandRegistration:
//
//   static CommandRegistration reg({"bench", "embed"}, "Benchmark embeddings", [](CLI::App& app) {
//     auto opts = std::make_shared<Options>();
//     app.add_option("-m,--model", opts->model, "...");
//     return [opts] { return run(*opts); };   // called after parsing; returns the exit code
//   });
//
// hearth::Error thrown by a command is printed as one line on stderr with exit code 1 (see main.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace hearth::cli {

using CommandAction = std::function<int()>;
using CommandSetup = std::function<CommandAction(CLI::App&)>;

struct CommandSpec {
  std::vector<std::string> path;  // {"embed"} or {"bench", "embed"}
  std::string description;
  CommandSetup setup;
};

std::vector<CommandSpec>& command_registry();

struct CommandRegistration {
  CommandRegistration(std::vector<std::string> path, std::string description, CommandSetup setup) {
    command_registry().push_back({std::move(path), std::move(description), std::move(setup)});
  }
};

// Declares that the command takes texts or prompts as positional arguments, each taken verbatim into *texts.
// They are not a CLI11 option, because CLI11 reads an argument in brackets ("[a,b]") as a list: the command
// keeps the arguments CLI11 leaves over, and every argument after "--" (the way to give a text that starts
// with '-'). An unknown "-x" before "--" is still an error, so a mistyped option is never embedded as text.
void add_text_arguments(CLI::App& app, std::vector<std::string>* texts, const std::string& description);

// Reads inputs the way every text-taking command does: the positional texts if any, else one per line of
// stdin (a trailing '\r' is dropped). Throws Error on invalid UTF-8, naming the input's index.
std::vector<std::string> read_texts(const std::vector<std::string>& positional);

}  // namespace hearth::cli
