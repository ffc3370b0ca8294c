// The access log: one line per request on stderr, JSON (default) or text, written whole with one call under a
// lock so that lines of concurrent requests never interleave. Keys never appear, only their key_id.
#pragma once

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace hearth::server {

enum class LogFormat { kJson, kText, kOff };

// "json", "text" or "off"; Error (kInvalidArgument) otherwise.
LogFormat parse_log_format(const std::string& name);

struct AccessRecord {
  std::string request_id, method, path, model, client, key, priority;  // "" when not known / not applicable
  int status = 0;
  double duration_ms = 0;
  double ttft_ms = -1;                   // generation: time to the first text; < 0 when none
  int tokens_in = -1, tokens_out = -1;   // < 0 when not applicable
};

// The line (with its newline). JSON: {"time","request_id","method","path","status","duration_ms", and when
// known "model","tokens_in","tokens_out","ttft_ms","priority","client","key"}; time is UTC with milliseconds
// (2026-01-31T12:00:00.123Z).
std::string format_access_record(const AccessRecord& r, LogFormat format, std::chrono::system_clock::time_point when);

class AccessLog {
 public:
  explicit AccessLog(LogFormat format, std::FILE* out = stderr) : format_(format), out_(out) {}
  bool enabled() const { return format_ != LogFormat::kOff; }
  void write(const AccessRecord& r);

 private:
  const LogFormat format_;
  std::FILE* const out_;
  std::mutex mu_;
};

}  // namespace hearth::server
