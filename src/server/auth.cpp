#include "server/auth.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace hearth::server {
namespace {

constexpr uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void compress(uint32_t h[8], const uint8_t block[64]) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i)
    w[i] = uint32_t(block[4 * i]) << 24 | uint32_t(block[4 * i + 1]) << 16 | uint32_t(block[4 * i + 2]) << 8 |
           uint32_t(block[4 * i + 3]);
  for (int i = 16; i < 64; ++i) {
    const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < 64; ++i) {
    const uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[i] + w[i];
    const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

std::array<uint8_t, 32> sha256(std::string_view data) {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  size_t i = 0;
  for (; i + 64 <= data.size(); i += 64) compress(h, reinterpret_cast<const uint8_t*>(data.data() + i));
  // The tail, a 1 bit, zeros, and the length in bits (big-endian): one or two more blocks.
  uint8_t tail[128] = {};
  const size_t rest = data.size() - i;
  if (rest > 0) std::memcpy(tail, data.data() + i, rest);  // an empty view's data() may be null
  tail[rest] = 0x80;
  const size_t blocks = rest + 1 + 8 <= 64 ? 1 : 2;
  const uint64_t bits = uint64_t(data.size()) * 8;
  for (int b = 0; b < 8; ++b) tail[blocks * 64 - 1 - b] = uint8_t(bits >> (8 * b));
  for (size_t b = 0; b < blocks; ++b) compress(h, tail + 64 * b);
  std::array<uint8_t, 32> out;
  for (int w = 0; w < 8; ++w)
    for (int b = 0; b < 4; ++b) out[size_t(4 * w + b)] = uint8_t(h[w] >> (24 - 8 * b));
  return out;
}

std::string sha256_hex(std::string_view data) {
  std::string hex;
  for (uint8_t b : sha256(data)) hex += fmt::format("{:02x}", b);
  return hex;
}

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
