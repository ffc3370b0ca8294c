#include "server/auth.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/sha256.h"

namespace hearth::server {
namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

std::string key_id(std::string_view key) { return "key_" + sha256_hex(key).substr(0, 8); }

std::vector<std::string> read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read the API key file '{}'", path);
  std::vector<std::string> keys;
  for (std::string line; std::getline(in, line);) {
    const std::string key = trim(line);
    if (key.empty() || key[0] == '#') continue;
    keys.push_back(key);
  }
  if (in.bad()) fail("cannot read the API key file '{}'", path);
  if (keys.empty()) fail("the API key file '{}' holds no key (one per line; '#' starts a comment)", path);
  return keys;
}

KeyRing::KeyRing(std::vector<std::string> keys, std::string admin_key) {
  has_admin_ = !admin_key.empty();
  if (has_admin_) keys.push_back(std::move(admin_key));
  for (const std::string& k : keys) {
    if (k.empty()) fail("an API key must not be empty");
    digests_.push_back(sha256(k));
    ids_.push_back(key_id(k));
  }
}

KeyRing::Match KeyRing::check(std::string_view presented) const {
  const std::array<uint8_t, 32> given = sha256(presented);
  // Every digest is compared whole; the index of the match is chosen with masks, not branches.
  size_t found = 0;  // index + 1 of the matching key, 0 for none
  for (size_t k = 0; k < digests_.size(); ++k) {
    unsigned diff = 0;
    for (size_t b = 0; b < given.size(); ++b) diff |= unsigned(given[b] ^ digests_[k][b]);
    const size_t equal = size_t(1) & ((diff - 1) >> 8);  // 1 when diff == 0 (diff < 256)
    const size_t mask = size_t(0) - equal;
    found = ((k + 1) & mask) | (found & ~mask);
  }
  Match m;
  if (found == 0) return m;
  m.ok = true;
  m.admin = has_admin_ && found == digests_.size();
  m.id = ids_[found - 1];
  return m;
}

RateLimiter::RateLimiter(double per_minute, double burst)
    : rate_(per_minute > 0 ? per_minute / 60.0 : 0), burst_(burst > 0 ? burst : std::max(1.0, per_minute)) {}

void RateLimiter::prune(Clock::time_point now) {
  std::erase_if(buckets_, [&](const auto& kv) {
    const double idle = std::chrono::duration<double>(now - kv.second.updated).count();
    return kv.second.tokens + idle * rate_ >= burst_;
  });
}

bool RateLimiter::take(const std::string& who, Clock::time_point now, int* retry_after) {
  if (!enabled()) return true;
  std::lock_guard<std::mutex> lock(mu_);
  // Callers who stopped calling are forgotten once their bucket is full again, so the map holds only the
  // recently active ones (per-address buckets on an open server would otherwise grow without bound).
  if (buckets_.size() >= prune_at_) {
    prune(now);
    prune_at_ = std::max<size_t>(4096, 2 * buckets_.size());  // amortized: a scan per doubling at most
  }
  auto [it, fresh] = buckets_.try_emplace(who, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double idle = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(burst_, b.tokens + std::max(0.0, idle) * rate_);
    b.updated = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  if (retry_after) *retry_after = std::max(1, int(std::ceil((1 - b.tokens) / rate_)));
  return false;
}

}  // namespace hearth::server
