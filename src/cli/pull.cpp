// hearth pull OWNER/REPO[:FILE_OR_QUANT] [--revision REV]: a model from the Hugging Face Hub into the hub cache
// (docs/models.md), with a progress line on stderr; the path to open is printed on stdout.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/progress_line.h"
#include "core/error.h"
#include "hub/hub_client.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string model;
  std::string revision = "main";
};

std::string megabytes(int64_t bytes) { return fmt::format("{:.1f} MB", double(bytes) / 1e6); }

int run_pull(const Options& o) {
  const auto ref = hub::parse_hub_ref(o.model);
  if (!ref) fail("'{}' is not a Hugging Face model name: expected OWNER/REPO or OWNER/REPO:QUANT", o.model);
  ProgressLine line;
  std::string current;
  const hub::PullResult r = hub::pull(*ref, o.revision, hub::hub_options_from_env(), [&](const hub::PullProgress& p) {
    if (p.stage != hub::PullProgress::Stage::kDownloading) return true;
    if (p.file != current) {
      line.finish();
      current = p.file;
      if (p.resumed_from > 0) fmt::print(stderr, "{}: resuming at {}\n", p.file, megabytes(p.resumed_from));
    }
    const double rate = p.bytes_per_second / 1e6;
    const double eta = rate > 0 && p.total > 0 ? double(p.total - p.done) / p.bytes_per_second : -1;
    line.update(fmt::format("[{}/{}] {}", p.file_index, p.file_count, p.file), double(p.done) / 1e6,
                double(p.total) / 1e6, "MB", rate, eta);
    return true;
  });
  line.finish();
  if (r.files_downloaded == 0)
    fmt::print(stderr, "{}: up to date in the hub cache{}\n", ref->text(),
               r.commit.empty() ? " (offline)" : fmt::format(" (commit {})", r.commit.substr(0, 12)));
  else
    fmt::print(stderr, "{}: {} file{} downloaded ({}), commit {}\n", ref->text(), r.files_downloaded,
               r.files_downloaded == 1 ? "" : "s", megabytes(r.bytes_downloaded), r.commit.substr(0, 12));
  fmt::print("{}\n", r.path);
  return 0;
}

CommandRegistration reg({"pull"}, "Download a model from the Hugging Face Hub (GGUF by quant, or a safetensors folder)",
                        [](CLI::App& app) {
                          auto o = std::make_shared<Options>();
                          app.add_option("model", o->model, "OWNER/REPO, OWNER/REPO:QUANT (e.g. :Q4_K_M) or OWNER/REPO:FILE")
                              ->required();
                          app.add_option("--revision", o->revision, "Branch, tag or commit")->capture_default_str();
                          return [o] { return run_pull(*o); };
                        });

}  // namespace
}  // namespace hearth::cli
