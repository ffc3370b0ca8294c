// SHA-256 (FIPS 180-4): API key digests (server/auth), content and chunk hashes and the vector index file's
// checksum (context). One implementation for all of them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth {

// Incremental digest, for data that arrives in pieces (a file read in blocks): update() any number of times,
// then digest() once. A value; not thread-safe.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view data);
  void update(const void* data, size_t size) { update(std::string_view(static_cast<const char*>(data), size)); }
  // The digest of everything updated so far. Call once: it pads the state.
  std::array<uint8_t, 32> digest();

 private:
  uint32_t state_[8];
  uint8_t block_[64];
  size_t block_used_ = 0;
  uint64_t total_bytes_ = 0;
};

std::array<uint8_t, 32> sha256(std::string_view data);
// 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);
std::string to_hex(const std::array<uint8_t, 32>& digest);

}  // namespace hearth
