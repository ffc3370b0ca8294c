// Runs the reference Jinja engine (@huggingface/jinja, in node) on a batch of templates, for parity tests.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "test_util.h"

namespace hearth::test {

struct ReferenceResult {
  bool ok = false;
  std::string out;    // when ok
  std::string error;  // when not
};

inline bool node_available() { return std::system("node --version > /dev/null 2>&1") == 0; }

// cases: [{"template": ..., "context": {...}}]. Fails the calling test (returns empty) if node fails.
inline std::vector<ReferenceResult> reference_render(const nlohmann::ordered_json& cases) {
  namespace fs = std::filesystem;
  static int counter = 0;
  const fs::path dir = fs::temp_directory_path() /
                       ("hearth_jinja_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::create_directories(dir);
  const fs::path in = dir / "cases.json", out = dir / "results.json";
  std::ofstream(in) << cases.dump();
  const std::string cmd = "node '" + source_dir() + "/tests/jinja/jinja_render.js' '" + node_dir() +
                          "/node_modules' '" + in.string() + "' '" + out.string() + "'";
  std::vector<ReferenceResult> results;
  if (std::system(cmd.c_str()) != 0) {
    ADD_FAILURE() << "reference renderer failed: " << cmd;
    fs::remove_all(dir);
    return results;
  }
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  for (const auto& r : nlohmann::json::parse(ss.str())) {
    ReferenceResult rr;
    rr.ok = r.at("ok").get<bool>();
    if (rr.ok) rr.out = r.at("out").get<std::string>();
    else rr.error = r.at("error").get<std::string>();
    results.push_back(std::move(rr));
  }
  fs::remove_all(dir);
  return results;
}

}  // namespace hearth::test

#define HEARTH_REQUIRE_NODE_BINARY()                                                   \
  do {                                                                                 \
    HEARTH_REQUIRE_NODE();                                                             \
    if (!::hearth::test::node_available()) GTEST_SKIP() << "node is not installed"; \
  } while (0)
