#include "cli/progress_line.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace hearth::cli {

ProgressLine::ProgressLine() : tty_(::isatty(2) == 1) {}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = long(std::lround(s));
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
}

void ProgressLine::update(const std::string& label, double done, double total, const std::string& unit, double rate,
                          double eta, const std::string& detail) {
  const auto now = std::chrono::steady_clock::now();
  const auto min_gap = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  const bool last = total > 0 && done >= total;
  if (open_ && now - last_ < min_gap && !last) return;
  last_ = now;
  std::string line;
  if (total > 0) {
    const double share = std::min(1.0, done / total);
    const int width = 24, filled = int(share * width);
    line = fmt::format("{} [{}{}] {:3.0f}% {:.0f}/{:.0f} {}", label, std::string(size_t(filled), '#'),
                       std::string(size_t(width - filled), '.'), share * 100, done, total, unit);
  } else {
    line = fmt::format("{} {:.0f} {}", label, done, unit);
  }
  line += fmt::format(", {:.1f} {}/s, ETA {}", rate, unit, last ? "0s" : format_duration(eta));
  if (!detail.empty()) line += ", " + detail;
  if (tty_) std::fprintf(stderr, "\r\x1b[K%s", line.c_str());
  else std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  open_ = true;
}

void ProgressLine::finish() {
  if (open_ && tty_) std::fprintf(stderr, "\n");
  open_ = false;
}

}  // namespace hearth::cli
