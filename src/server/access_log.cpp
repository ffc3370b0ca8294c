#include "server/access_log.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>

#include "core/error.h"

namespace hearth::server {
namespace {

std::string utc_time(std::chrono::system_clock::time_point when) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  const std::time_t secs = std::time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms % 1000));
}

// Text format: a field as one token (control characters and spaces would break the line apart).
std::string token(const std::string& s) {
  if (s.empty()) return "-";
  std::string out;
  for (unsigned char c : s) out += c <= ' ' || c == 127 ? '_' : char(c);
  return out;
}

double round3(double x) { return std::round(x * 1000) / 1000; }

}  // namespace

LogFormat parse_log_format(const std::string& name) {
  if (name == "json") return LogFormat::kJson;
  if (name == "text") return LogFormat::kText;
  if (name == "off") return LogFormat::kOff;
  fail("the log format must be json, text or off, not '{}'", name);
}

std::string format_access_record(const AccessRecord& r, LogFormat format, std::chrono::system_clock::time_point when) {
  if (format == LogFormat::kOff) return "";
  if (format == LogFormat::kText) {
    std::string line = fmt::format("{} {} {} {} {} {:.1f}ms", utc_time(when), token(r.request_id), token(r.method),
                                   token(r.path), r.status, r.duration_ms);
    if (!r.model.empty()) line += " model=" + token(r.model);
    if (r.tokens_in >= 0) line += fmt::format(" in={}", r.tokens_in);
    if (r.tokens_out >= 0) line += fmt::format(" out={}", r.tokens_out);
    if (r.ttft_ms >= 0) line += fmt::format(" ttft={:.1f}ms", r.ttft_ms);
    if (!r.priority.empty()) line += " priority=" + token(r.priority);
    line += " client=" + token(r.client) + " key=" + token(r.key) + '\n';
    return line;
  }
  nlohmann::ordered_json j;
  j["time"] = utc_time(when);
  j["request_id"] = r.request_id;
  j["method"] = r.method;
  j["path"] = r.path;
  j["status"] = r.status;
  j["duration_ms"] = round3(r.duration_ms);
  if (!r.model.empty()) j["model"] = r.model;
  if (r.tokens_in >= 0) j["tokens_in"] = r.tokens_in;
  if (r.tokens_out >= 0) j["tokens_out"] = r.tokens_out;
  if (r.ttft_ms >= 0) j["ttft_ms"] = round3(r.ttft_ms);
  if (!r.priority.empty()) j["priority"] = r.priority;
  j["client"] = r.client;
  j["key"] = r.key.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(r.key);
  // The path is the client's: bytes that are not UTF-8 become U+FFFD rather than failing the line.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + '\n';
}

void AccessLog::write(const AccessRecord& r) {
  if (format_ == LogFormat::kOff) return;
  const std::string line = format_access_record(r, format_, std::chrono::system_clock::now());
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace hearth::server
