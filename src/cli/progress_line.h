// One progress line on stderr for long operations (indexing, later downloads): on a terminal it redraws itself
// in place ("\r"), at most ten times a second; elsewhere (a log, CI) it prints a plain line every few seconds,
// so logs stay readable. finish() ends the line.
#pragma once

#include <chrono>
#include <string>

namespace hearth::cli {

class ProgressLine {
 public:
  ProgressLine();
  // `done` of `total` units (total 0 = unknown), `rate` units per second, `eta` seconds (< 0 unknown),
  // `detail` appended as is.
  void update(const std::string& label, double done, double total, const std::string& unit, double rate, double eta,
              const std::string& detail = "");
  void finish();

 private:
  bool tty_;
  bool open_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// 95 -> "1m35s", 3.2 -> "3s", 7300 -> "2h01m".
std::string format_duration(double seconds);

}  // namespace hearth::cli
