// Runs the built `hearth` program as a separate process, the way a user runs it, for the CLI tests.
#pragma once

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

namespace hearth::test {

struct ProcessResult {
  int code = -1;  // exit status; -1 when the process could not start or did not exit normally
  std::string out, err;
};

enum class Stderr { kSeparate, kMerged };  // kMerged: stderr interleaved into `out`, `err` stays empty

// Runs `hearth <args>` through the shell (the caller quotes paths in `args`) with `stdin_text` on stdin.
inline ProcessResult run_hearth(const std::string& args, const std::string& stdin_text = "",
                                Stderr mode = Stderr::kSeparate) {
  static int serial = 0;  // a fresh file name per run, so that no run reads what an earlier one left
  const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(++serial);
  const auto tmp = std::filesystem::temp_directory_path();
  const std::string in_path = (tmp / ("hearth_cli_in_" + tag)).string();
  const std::string err_path = (tmp / ("hearth_cli_err_" + tag)).string();
  std::ofstream(in_path, std::ios::binary) << stdin_text;
  const std::string redirect = mode == Stderr::kMerged ? " 2>&1" : " 2> '" + err_path + "'";
  const std::string cmd = "'" + hearth_binary() + "' " + args + " < '" + in_path + "'" + redirect;
  ProcessResult r;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    std::array<char, 65536> buf;
    for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) r.out.append(buf.data(), n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  if (mode == Stderr::kSeparate) {
    std::ifstream e(err_path, std::ios::binary);
    r.err.assign(std::istreambuf_iterator<char>(e), {});
    std::filesystem::remove(err_path);
  }
  std::filesystem::remove(in_path);
  return r;
}

}  // namespace hearth::test
