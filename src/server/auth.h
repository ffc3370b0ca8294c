// Who may call the server, and how often: API keys (several, from flags and key files; an optional admin key for
// /admin/*) and a per-key token-bucket rate limit. Plain C++ without HTTP, so the tests drive it directly.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hearth::server {

// The name a key goes by in logs: "key_" and the first 8 hex digits of its SHA-256. Never the key itself.
std::string key_id(std::string_view key);

// The keys of a key file: one per line, surrounding blanks trimmed; blank lines and lines starting with '#' are
// skipped. Error (kInvalidArgument) when the file cannot be read or holds no key.
std::vector<std::string> read_key_file(const std::string& path);

class KeyRing {
 public:
  // `keys`: accepted everywhere a key is needed; `admin_key` ("" for none): accepted everywhere too, and the only
  // key accepted on /admin/* when it is set. Empty keys are an error (kInvalidArgument).
  KeyRing(std::vector<std::string> keys, std::string admin_key);

  // Any key configured: requests then need one.
  bool enabled() const { return !digests_.empty(); }
  bool has_admin_key() const { return has_admin_; }
  bool has_api_keys() const { return digests_.size() > (has_admin_ ? 1u : 0u); }  // keys besides the admin key

  struct Match {
    bool ok = false;     // a configured key
    bool admin = false;  // the admin key
    std::string id;      // key_id of the key that matched ("" when none did)
  };
  // Compares the presented key with every configured key, in time that depends only on how many keys there are:
  // each comparison is of fixed-length SHA-256 digests, with no early exit, so neither which key matched nor how
  // much of one matched shows in the timing.
  Match check(std::string_view presented) const;

 private:
  std::vector<std::array<uint8_t, 32>> digests_;  // the admin key last, when there is one
  std::vector<std::string> ids_;
  bool has_admin_ = false;
};

// Token buckets, one per caller (a key id, or a client address on a server without keys): each holds up to
// `burst` requests and refills at `per_minute` / 60 per second. Thread-safe.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // per_minute <= 0: no limit. burst <= 0: per_minute (a minute's allowance at once).
  RateLimiter(double per_minute, double burst);

  bool enabled() const { return rate_ > 0; }
  // Takes one request from `who`'s bucket. False when it is empty; then `retry_after` is the whole seconds until
  // it holds one again (at least 1).
  bool take(const std::string& who, Clock::time_point now, int* retry_after);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
  };
  void prune(Clock::time_point now);  // drops buckets that have refilled completely (they equal a new one)

  const double rate_;   // tokens per second
  const double burst_;  // bucket capacity
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  size_t prune_at_ = 4096;
};

}  // namespace hearth::server
