// fake_hub OWNER/REPO=DIR [OWNER/REPO=DIR …]: the tests' loopback Hugging Face Hub (fake_hub.h) as a program, for
// scripts that pull end to end (tests/hub/pull_end_to_end.sh). Every file under DIR becomes a file of the repo
// (weights — .gguf, .safetensors, .bin — stored as LFS files, the rest as small git files). Prints
// "listening on http://127.0.0.1:PORT" and serves until SIGTERM or SIGINT. Loopback only, a free port.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "hub/fake_hub.h"

namespace {

std::atomic<bool> stop{false};

void on_signal(int) { stop = true; }

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: fake_hub OWNER/REPO=DIR [OWNER/REPO=DIR ...]\n");
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  hearth::test::FakeHub hub;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (eq == std::string::npos || !fs::is_directory(arg.substr(eq + 1))) {
      std::fprintf(stderr, "fake_hub: '%s' is not OWNER/REPO=DIR with DIR a folder\n", arg.c_str());
      return 2;
    }
    const std::string repo = arg.substr(0, eq);
    const fs::path dir = arg.substr(eq + 1);
    std::map<std::string, hearth::test::FakeHub::File> files;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::ifstream f(e.path(), std::ios::binary);
      std::string content((std::istreambuf_iterator<char>(f)), {});
      const std::string ext = e.path().extension().string();
      const bool lfs = ext == ".gguf" || ext == ".safetensors" || ext == ".bin";
      files[e.path().lexically_relative(dir).generic_string()] = {std::move(content), lfs};
    }
    // A commit id of the right shape (40 hex digits), the same for the same repo name.
    hub.add_repo(repo, hearth::sha256_hex(repo).substr(0, 40), std::move(files));
  }
  std::printf("listening on %s\n", hub.url().c_str());
  std::fflush(stdout);
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return 0;
}
