// A read-only memory map of a whole file. Owns the mapping; data() stays valid for the object's lifetime.
// Thread-safe for concurrent reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hearth {

class MappedFile {
 public:
  // Throws Error naming the path if the file cannot be opened or mapped. An empty file maps to size() == 0.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole (small) file into a string; throws Error naming the path on failure.
std::string read_file(const std::string& path);

// Writes a file atomically: to a temporary beside it, fsync, then rename over the target, so a crash or a
// full disk never leaves a truncated file under the final name. Throws Error on failure.
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace hearth
