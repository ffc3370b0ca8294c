#include "cli/pull_progress.h"

#include <fmt/format.h>

#include "cli/progress_line.h"

namespace hearth::cli {
namespace {

std::string megabytes(int64_t bytes) { return fmt::format("{:.1f} MB", double(bytes) / 1e6); }

}  // namespace

hub::PullResult pull_with_progress(const hub::HubRef& ref, const std::string& revision) {
  ProgressLine line;
  std::string current;
  const hub::PullResult r = hub::pull(ref, revision, hub::hub_options_from_env(), [&](const hub::PullProgress& p) {
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
    fmt::print(stderr, "{}: up to date in the hub cache{}\n", ref.text(),
               r.commit.empty() ? " (offline)" : fmt::format(" (commit {})", r.commit.substr(0, 12)));
  else
    fmt::print(stderr, "{}: {} file{} downloaded ({}), commit {}\n", ref.text(), r.files_downloaded,
               r.files_downloaded == 1 ? "" : "s", megabytes(r.bytes_downloaded), r.commit.substr(0, 12));
  return r;
}

}  // namespace hearth::cli
