// Helpers shared by the `hearth bench …` commands: wall-clock timing, percentiles, peak memory, input files.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace hearth::cli {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void restart() { start_ = std::chrono::steady_clock::now(); }
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  double ms() const { return seconds() * 1e3; }

 private:
  std::chrono::steady_clock::time_point start_;
};

// The p-th percentile (0..100) of `values`, interpolating linearly between closest ranks; 0 for no values.
double percentile(std::vector<double> values, double p);

// CPU time (user + system) this process has used so far, all threads together, in seconds. Divided by the wall
// time of a measurement it says how many cores the process actually got: on a shared machine, fewer than the
// threads it ran.
double process_cpu_seconds();

// Peak resident set size of this process so far, in MiB (getrusage ru_maxrss).
double peak_rss_mb();

// A memory figure of this process from /proc/self/status, in MiB: "VmHWM" (peak resident set), "VmRSS" (now).
// 0 where /proc is not there.
double proc_status_mb(const std::string& field);

// Total size of the regular files under `path` (recursively), in bytes.
uint64_t folder_bytes(const std::string& path);

// A fresh folder under the system's temporary directory, removed with its contents when the object goes.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The non-empty lines of a text file (a trailing '\r' is dropped). Error naming the file if it cannot be read,
// holds no line, or a line is not valid UTF-8.
std::vector<std::string> read_lines(const std::string& path);

}  // namespace hearth::cli
